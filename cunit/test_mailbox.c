/* Tests for imap/store/mailbox: formats, create/open/lock, append, quota,
 * flags, expunge, cleanup, views.  Several processes at once are in
 * test_mailbox_concurrency.c; recovery, I/O faults and reconstruct in
 * test_mailbox_recovery.c; the kill test in test_mailbox_crash.c.  Shared
 * helpers: mailbox_fixture.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cunit/mailbox_fixture.h"
#include "error.h"
#include "libconfig.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/mailbox.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/mailbox_io.h"
#include "imap/store/msgcache.h"
#include "imap/store/quota.h"

/* ---- helpers ------------------------------------------------------------ */

static void sha1(const void *p, size_t n, unsigned char *out)
{
    unsigned int len = 0;
    EVP_Digest(p, n, out, &len, EVP_sha1(), NULL);
}

/* ---- formats ------------------------------------------------------------- */

static void test_record_codec(void)
{
    struct mailbox_record r, d;
    memset(&r, 0, sizeof(r));
    r.uid = 77;
    r.system_flags = MAILBOX_FLAG_SEEN | MAILBOX_FLAG_EXPUNGED;
    r.user_flags[0] = 0x80000001u;
    r.user_flags[7] = 0x40000000u;
    r.internaldate = -5;
    r.modseq = 0x0102030405060708ULL;
    r.size = 12345;
    r.header_size = 99;
    r.cache_offset = 1ULL << 40;
    r.cache_len = 17;
    r.cache_sum = 0xdeadbeef;
    for (int i = 0; i < MAILBOX_GUID_LEN; i++) r.guid[i] = (unsigned char)(i * 7);
    r.last_updated = 1700000000;
    unsigned char buf[MBX_RECORD_SIZE];
    mailbox_rec_encode(&r, buf);
    CU_ASSERT_EQUAL(mailbox_rec_decode(buf, 3, &d), 0);
    r.recno = 3;
    CU_ASSERT_EQUAL(memcmp(&r, &d, sizeof(r)), 0);
    /* any single damaged byte is caught */
    for (int i = 0; i < MBX_RECORD_SIZE; i++) {
        buf[i] ^= 0x10;
        CU_ASSERT_EQUAL(mailbox_rec_decode(buf, 3, &d), CYRERR_CORRUPT);
        buf[i] ^= 0x10;
    }
    /* uid 0 is never valid */
    r.uid = 0;
    mailbox_rec_encode(&r, buf);
    CU_ASSERT_EQUAL(mailbox_rec_decode(buf, 0, &d), CYRERR_CORRUPT);
}

static void test_header_slots(void)
{
    struct mbx_header h, got;
    memset(&h, 0, sizeof(h));
    h.seq = 10;
    h.uidvalidity = 42;
    h.uidnext = 5;
    h.num_records = 4;
    h.cache_size = MBX_CACHE_HDR_SIZE;
    h.highestmodseq = 9;
    unsigned char area[MBX_HEADER_SIZE];
    memset(area, 0, sizeof(area));
    mailbox_hdr_encode(&h, area);
    int slot = -1;
    CU_ASSERT_EQUAL(mailbox_hdr_pick(area, -1, &got, &slot), 0);
    CU_ASSERT_EQUAL(slot, 0);
    CU_ASSERT_EQUAL(got.uidvalidity, 42);
    h.seq = 11;
    h.uidnext = 6;
    h.num_records = 5;
    mailbox_hdr_encode(&h, area + MBX_SLOT_SIZE);
    CU_ASSERT_EQUAL(mailbox_hdr_pick(area, -1, &got, &slot), 0);
    CU_ASSERT_EQUAL(slot, 1);
    CU_ASSERT_EQUAL(got.uidnext, 6);
    CU_ASSERT_EQUAL(mailbox_hdr_pick(area, 1, &got, &slot), 0);   /* avoid the newer */
    CU_ASSERT_EQUAL(slot, 0);
    area[MBX_SLOT_SIZE + 30] ^= 1;                               /* torn newer slot */
    CU_ASSERT_EQUAL(mailbox_hdr_pick(area, -1, &got, &slot), 0);
    CU_ASSERT_EQUAL(slot, 0);
    area[5] ^= 1;
    CU_ASSERT_EQUAL(mailbox_hdr_pick(area, -1, &got, &slot), CYRERR_CORRUPT);
    /* impossible values are refused even with a good checksum */
    h.num_records = 10;
    h.uidnext = 3;
    mailbox_hdr_encode(&h, area);
    CU_ASSERT_EQUAL(mailbox_hdr_decode(area, &got), CYRERR_CORRUPT);
}

static void test_meta_text(void)
{
    struct mbx_meta m, p;
    mailbox_meta_init(&m);
    mailbox_meta_init(&p);
    m.name = xstrdup("user.alice");
    m.uniqueid = xstrdup("0123456789abcdef0123456789abcdef");
    m.quotaroot = xstrdup("user.alice");
    strarray_append(&m.keywords, "$Forwarded");
    strarray_append(&m.keywords, "Junk");
    struct buf t = BUF_INITIALIZER;
    mailbox_meta_format(&m, &t);
    CU_ASSERT_EQUAL(mailbox_meta_parse(buf_base(&t), buf_len(&t), &p), 0);
    CU_ASSERT_STRING_EQUAL(p.name, "user.alice");
    CU_ASSERT_STRING_EQUAL(p.quotaroot, "user.alice");
    CU_ASSERT_EQUAL(p.keywords.count, 2);
    CU_ASSERT_STRING_EQUAL(strarray_nth(&p.keywords, 1), "Junk");
    /* damaged: one byte changed, truncated, wrong magic */
    struct buf bad = BUF_INITIALIZER;
    buf_setmap(&bad, buf_base(&t), buf_len(&t));
    bad.s[12] = 'X';
    CU_ASSERT_EQUAL(mailbox_meta_parse(buf_base(&bad), buf_len(&bad), &p), CYRERR_CORRUPT);
    CU_ASSERT_PTR_NULL(p.name);
    CU_ASSERT_EQUAL(mailbox_meta_parse(buf_base(&t), buf_len(&t) - 3, &p), CYRERR_CORRUPT);
    CU_ASSERT_EQUAL(mailbox_meta_parse("CYRHDR02\n", 9, &p), CYRERR_CORRUPT);
    CU_ASSERT_EQUAL(mailbox_meta_parse("", 0, &p), CYRERR_CORRUPT);
    /* a keyword that is not an atom */
    mailbox_meta_free(&m);
    mailbox_meta_init(&m);
    m.name = xstrdup("x");
    m.uniqueid = xstrdup("u");
    strarray_append(&m.keywords, "bad word");
    mailbox_meta_format(&m, &t);
    CU_ASSERT_EQUAL(mailbox_meta_parse(buf_base(&t), buf_len(&t), &p), CYRERR_CORRUPT);
    buf_free(&bad);
    buf_free(&t);
    mailbox_meta_free(&m);
    mailbox_meta_free(&p);
}

static void test_keyword_names(void)
{
    CU_ASSERT_TRUE(mailbox_keyword_valid("$Forwarded"));
    CU_ASSERT_TRUE(mailbox_keyword_valid("a"));
    CU_ASSERT_FALSE(mailbox_keyword_valid(""));
    CU_ASSERT_FALSE(mailbox_keyword_valid(NULL));
    CU_ASSERT_FALSE(mailbox_keyword_valid("\\Seen"));
    CU_ASSERT_FALSE(mailbox_keyword_valid("a b"));
    CU_ASSERT_FALSE(mailbox_keyword_valid("a(b"));
    CU_ASSERT_FALSE(mailbox_keyword_valid("a]"));
    CU_ASSERT_FALSE(mailbox_keyword_valid("a%"));
    CU_ASSERT_FALSE(mailbox_keyword_valid("caf\xc3\xa9"));
    char *longname = xzmalloc(MAILBOX_KEYWORD_MAXLEN + 2);
    memset(longname, 'k', MAILBOX_KEYWORD_MAXLEN);
    CU_ASSERT_TRUE(mailbox_keyword_valid(longname));
    longname[MAILBOX_KEYWORD_MAXLEN] = 'k';
    CU_ASSERT_FALSE(mailbox_keyword_valid(longname));
    free(longname);
}

static void test_header_len(void)
{
    CU_ASSERT_EQUAL(mailbox_header_len("A: b\r\n\r\nbody", 12), 8);
    CU_ASSERT_EQUAL(mailbox_header_len("A: b\n\nbody", 10), 6);
    CU_ASSERT_EQUAL(mailbox_header_len("\r\nbody", 6), 2);
    CU_ASSERT_EQUAL(mailbox_header_len("A: b\r\nC: d", 10), 10);
    CU_ASSERT_EQUAL(mailbox_header_len("", 0), 0);
    CU_ASSERT_EQUAL(mailbox_header_len("A: b\r\n \r\nc", 10), 10);  /* " \r\n" is not empty */
    CU_ASSERT_EQUAL(mailbox_parse_msgname("12."), 12);
    CU_ASSERT_EQUAL(mailbox_parse_msgname("0."), 0);
    CU_ASSERT_EQUAL(mailbox_parse_msgname("012."), 0);
    CU_ASSERT_EQUAL(mailbox_parse_msgname("12"), 0);
    CU_ASSERT_EQUAL(mailbox_parse_msgname("12.x"), 0);
    CU_ASSERT_EQUAL(mailbox_parse_msgname("4294967295."), 4294967295u);
    CU_ASSERT_EQUAL(mailbox_parse_msgname("4294967296."), 0);
}

/* ---- create / open ------------------------------------------------------------ */

static void test_create_open(void)
{
    char *dir = mbfix_dir();
    struct mailbox_create_params p = { "feedfacefeedfacefeedfacefeedface", 12345, NULL, 100 };
    struct mailbox *mb = NULL;
    CU_ASSERT_EQUAL(mailbox_create_dir(dir, "user.test", &p, &mb), 0);
    CU_ASSERT_STRING_EQUAL(mailbox_name(mb), "user.test");
    CU_ASSERT_STRING_EQUAL(mailbox_uniqueid(mb), "feedfacefeedfacefeedfacefeedface");
    CU_ASSERT_PTR_NULL(mailbox_quotaroot(mb));
    CU_ASSERT_EQUAL(mailbox_lockmode(mb), MAILBOX_LOCK_NONE);
    struct mailbox_status st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.uidvalidity, 12345);
    CU_ASSERT_EQUAL(st.uidnext, 1);
    CU_ASSERT_EQUAL(st.exists, 0);
    CU_ASSERT_EQUAL(st.highestmodseq, 100);
    CU_ASSERT_EQUAL(st.generation, 1);
    CU_ASSERT_TRUE(mbfix_file_exists(dir, "cyrus.index"));
    CU_ASSERT_TRUE(mbfix_file_exists(dir, "cyrus.cache"));
    CU_ASSERT_TRUE(mbfix_file_exists(dir, "cyrus.header"));
    CU_ASSERT_TRUE(mbfix_file_exists(dir, "cyrus.lock"));
    CU_ASSERT_TRUE(mbfix_file_exists(dir, "cyrus.queue"));
    mailbox_close(&mb);
    CU_ASSERT_PTR_NULL(mb);

    CU_ASSERT_EQUAL(mailbox_create_dir(dir, "user.test", NULL, NULL), CYRERR_MAILBOX_EXISTS);
    CU_ASSERT_EQUAL(mailbox_create_dir(dir, "user", NULL, NULL), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(mailbox_create_dir(dir, "a..b", NULL, NULL), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(mailbox_create_dir("", "user.x", NULL, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mailbox_open_dir(dir, &mb), 0);
    st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.uidvalidity, 12345);
    mailbox_close(&mb);

    char *none = xasprintf("%s/nonexistent", harness_tmpdir());
    CU_ASSERT_EQUAL(mailbox_open_dir(none, &mb), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_PTR_NULL(mb);
    CU_ASSERT_EQUAL(mkdir(none, 0700), 0);   /* a directory without index */
    CU_ASSERT_EQUAL(mailbox_open_dir(none, &mb), CYRERR_MAILBOX_NONEXISTENT);
    /* ... in which a mailbox can then be created */
    CU_ASSERT_EQUAL(mailbox_create_dir(none, "shared.x", NULL, NULL), 0);
    free(none);
    free(dir);
}

static void test_partition_paths(void)
{
    char *conf = xasprintf("%s/imapd.conf", harness_tmpdir());
    FILE *f = fopen(conf, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "configdirectory: %s/conf\npartition-default: %s/part\n"
               "partition-other: %s/other\n", harness_tmpdir(), harness_tmpdir(),
            harness_tmpdir());
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(config_read(conf, NULL, NULL, NULL), 0);
    struct buf dir = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(mailbox_dir_for("user.alice.Sent", NULL, &dir), 0);
    char *want = xasprintf("%s/part/user/alice/Sent", harness_tmpdir());
    CU_ASSERT_STRING_EQUAL(buf_cstring(&dir), want);
    free(want);
    CU_ASSERT_EQUAL(mailbox_dir_for("user.alice", "nosuch", &dir), CYRERR_PARTITION_UNKNOWN);
    CU_ASSERT_EQUAL(mailbox_dir_for("user..alice", NULL, &dir), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(mailbox_dir_for("user.../etc", NULL, &dir), CYRERR_BADNAME);

    struct mailbox *mb = NULL;
    CU_ASSERT_EQUAL(mailbox_create("user.alice", NULL, NULL, &mb), 0);
    CU_ASSERT_PTR_NOT_NULL(mb);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mailbox_create("user.alice.Sent", "other", NULL, NULL), 0);
    CU_ASSERT_EQUAL(mailbox_create("user.alice", NULL, NULL, NULL), CYRERR_MAILBOX_EXISTS);
    CU_ASSERT_EQUAL(mailbox_open("user.alice", NULL, &mb), 0);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mailbox_open("user.alice.Sent", "other", &mb), 0);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mailbox_open("user.alice.Sent", NULL, &mb), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mailbox_open("user.bob", "nosuch", &mb), CYRERR_PARTITION_UNKNOWN);
    buf_free(&dir);
    config_reset();
    free(conf);
}

/* ---- append ----------------------------------------------------------------------- */

static void test_append_and_read(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    struct mailbox_status st0 = mbfix_status(mb);
    char *texts[3];
    struct mailbox_append_msg m[3];
    memset(m, 0, sizeof(m));
    const char *kw[] = { "$Forwarded", "Work" };
    for (int i = 0; i < 3; i++) {
        texts[i] = mbfix_msg(i);
        m[i].data = texts[i];
        m[i].len = strlen(texts[i]);
        m[i].internaldate = 1000000 + i;
    }
    m[1].system_flags = MAILBOX_FLAG_SEEN | MAILBOX_FLAG_FLAGGED;
    m[2].keywords = kw;
    m[2].nkeywords = 2;
    struct mailbox_append_result res;
    CU_ASSERT_EQUAL_FATAL(mailbox_append(mb, m, 3, 0, &res), 0);
    CU_ASSERT_EQUAL(res.first_uid, 1);
    CU_ASSERT_EQUAL(res.last_uid, 3);
    CU_ASSERT_EQUAL(res.uidvalidity, st0.uidvalidity);
    CU_ASSERT_EQUAL(res.modseq, st0.highestmodseq + 1);

    struct mailbox_status st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.exists, 3);
    CU_ASSERT_EQUAL(st.uidnext, 4);
    CU_ASSERT_EQUAL(st.seen, 1);
    CU_ASSERT_EQUAL(st.flagged, 1);
    CU_ASSERT_EQUAL(st.num_keywords, 2);
    CU_ASSERT_EQUAL(st.highestmodseq, res.modseq);
    CU_ASSERT_EQUAL(st.quota_used, m[0].len + m[1].len + m[2].len);

    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    struct buf cache = BUF_INITIALIZER, want = BUF_INITIALIZER, path = BUF_INITIALIZER;
    for (int i = 0; i < 3; i++) {
        struct mailbox_record rec;
        CU_ASSERT_EQUAL(mailbox_read_record(mb, (uint32_t)i, &rec), 0);
        CU_ASSERT_EQUAL(rec.uid, (uint32_t)i + 1);
        CU_ASSERT_EQUAL(rec.size, m[i].len);
        CU_ASSERT_EQUAL(rec.internaldate, 1000000 + i);
        CU_ASSERT_EQUAL(rec.modseq, res.modseq);
        CU_ASSERT_EQUAL(rec.system_flags, m[i].system_flags);
        const char *body = strstr(texts[i], "\r\n\r\n");
        CU_ASSERT_EQUAL(rec.header_size, (uint32_t)(body - texts[i]) + 4);
        unsigned char g[MAILBOX_GUID_LEN];
        sha1(texts[i], m[i].len, g);
        CU_ASSERT_EQUAL(memcmp(g, rec.guid, MAILBOX_GUID_LEN), 0);
        CU_ASSERT_EQUAL(mailbox_read_cache(mb, &rec, &cache), 0);
        buf_reset(&want);
        msgcache_build(texts[i], m[i].len, &want);
        CU_ASSERT_EQUAL(buf_cmp(&cache, &want), 0);
        mailbox_message_path(mb, rec.uid, &path);
        FILE *f = fopen(buf_cstring(&path), "r");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        char got[512];
        size_t n = fread(got, 1, sizeof(got), f);
        fclose(f);
        CU_ASSERT_EQUAL(n, m[i].len);
        CU_ASSERT_EQUAL(memcmp(got, texts[i], n), 0);
    }
    struct mailbox_record rec;
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 3, &rec), 0);
    CU_ASSERT_EQUAL(rec.user_flags[0], 3u);
    CU_ASSERT_STRING_EQUAL(mailbox_keyword_name(mb, 0), "$Forwarded");
    CU_ASSERT_STRING_EQUAL(mailbox_keyword_name(mb, 1), "Work");
    CU_ASSERT_PTR_NULL(mailbox_keyword_name(mb, 2));
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 4, &rec), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(mailbox_read_record(mb, 3, &rec), CYRERR_NOTFOUND);
    mailbox_unlock(mb);
    /* reading needs a lock */
    CU_ASSERT_EQUAL(mailbox_read_record(mb, 0, &rec), CYRERR_BADARGS);

    /* the queue is left empty */
    char *q = xasprintf("%s/cyrus.queue", dir);
    int entries = 0;
    FILE *ls = NULL;
    char *cmd = xasprintf("ls -A %s | wc -l", q);
    ls = popen(cmd, "r");
    if (ls) {
        if (fscanf(ls, "%d", &entries) != 1) entries = -1;
        pclose(ls);
    }
    CU_ASSERT_EQUAL(entries, 0);
    free(cmd);
    free(q);
    for (int i = 0; i < 3; i++) free(texts[i]);
    buf_free(&cache);
    buf_free(&want);
    buf_free(&path);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

static int calls;
static void counting_encoder(const char *base, size_t len, struct buf *out)
{
    calls++;
    buf_printf(out, "len=%zu", len);
    (void)base;
}

static void test_append_sources(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    char *text = mbfix_msg(7);
    size_t len = strlen(text);
    char *spool = xasprintf("%s.spool", dir);   /* beside the mailbox directory */
    FILE *f = fopen(spool, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);

    struct mailbox_append_msg m;
    memset(&m, 0, sizeof(m));
    m.source = MAILBOX_SRC_PATH;
    m.path = spool;
    struct mailbox_append_result res;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, MAILBOX_APPEND_LINK, &res), 0);
    struct buf path = BUF_INITIALIZER;
    mailbox_message_path(mb, res.first_uid, &path);
    struct stat st;
    CU_ASSERT_EQUAL(stat(buf_cstring(&path), &st), 0);
    CU_ASSERT_EQUAL(st.st_nlink, 2);     /* hard-linked, not copied */
    CU_ASSERT_EQUAL((size_t)st.st_size, len);

    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), 0);   /* copied */
    mailbox_message_path(mb, res.first_uid, &path);
    CU_ASSERT_EQUAL(stat(buf_cstring(&path), &st), 0);
    CU_ASSERT_EQUAL(st.st_nlink, 1);

    int fd = open(spool, O_RDONLY);
    CU_ASSERT_FATAL(fd >= 0);
    char skip[4];
    CU_ASSERT_EQUAL(read(fd, skip, 4), 4);   /* the position does not matter */
    m.source = MAILBOX_SRC_FD;
    m.fd = fd;
    /* own cache record and GUID; a custom encoder is not called */
    unsigned char guid[MAILBOX_GUID_LEN];
    sha1(text, len, guid);
    m.guid = guid;
    m.cache = "opaque";
    m.cache_len = 6;
    mailbox_set_cache_encoder(counting_encoder);
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), 0);
    CU_ASSERT_EQUAL(calls, 0);
    close(fd);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    struct mailbox_record rec;
    struct buf cache = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, res.first_uid, &rec), 0);
    CU_ASSERT_EQUAL(rec.size, len);
    CU_ASSERT_EQUAL(memcmp(rec.guid, guid, MAILBOX_GUID_LEN), 0);
    CU_ASSERT_EQUAL(mailbox_read_cache(mb, &rec, &cache), 0);
    CU_ASSERT_TRUE(buf_equalcstr(&cache, "opaque"));
    mailbox_unlock(mb);

    /* the encoder hook builds missing cache records, from files too */
    m.guid = NULL;
    m.cache = NULL;
    m.cache_len = 0;
    m.source = MAILBOX_SRC_PATH;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), 0);
    CU_ASSERT_EQUAL(calls, 1);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, res.first_uid, &rec), 0);
    CU_ASSERT_EQUAL(mailbox_read_cache(mb, &rec, &cache), 0);
    char *want = xasprintf("len=%zu", len);
    CU_ASSERT_TRUE(buf_equalcstr(&cache, want));
    free(want);
    mailbox_unlock(mb);
    mailbox_set_cache_encoder(NULL);
    CU_ASSERT_PTR_EQUAL(mailbox_cache_encoder(), msgcache_build);

    /* an empty message is a message */
    memset(&m, 0, sizeof(m));
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), 0);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, res.first_uid, &rec), 0);
    CU_ASSERT_EQUAL(rec.size, 0);
    CU_ASSERT_EQUAL(rec.header_size, 0);
    mailbox_unlock(mb);

    buf_free(&cache);
    buf_free(&path);
    free(text);
    free(spool);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

static void test_append_bad_input(void)
{
    struct mailbox *mb = mbfix_new(NULL);
    struct mailbox_append_msg m;
    memset(&m, 0, sizeof(m));
    m.data = "x";
    m.len = 1;
    struct mailbox_append_result res;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 0, 0, &res), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mailbox_append(mb, NULL, 1, 0, &res), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0x80, &res), CYRERR_BADARGS);
    m.system_flags = MAILBOX_FLAG_EXPUNGED;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), CYRERR_BADARGS);
    m.system_flags = 0x20;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), CYRERR_BADARGS);
    m.system_flags = 0;
    const char *bad[] = { "ok", "not ok" };
    m.keywords = bad;
    m.nkeywords = 2;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), CYRERR_BADARGS);
    m.keywords = NULL;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), CYRERR_BADARGS);
    m.nkeywords = 0;
    m.data = NULL;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), CYRERR_BADARGS);
    m.source = MAILBOX_SRC_PATH;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), CYRERR_BADARGS);
    m.path = "/nonexistent/file";
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), CYRERR_NOTFOUND);
    m.source = MAILBOX_SRC_FD;
    m.fd = -1;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), CYRERR_BADARGS);
    m.source = (enum mailbox_source)7;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), CYRERR_BADARGS);
    m.source = MAILBOX_SRC_DATA;
    m.data = "x";
    m.cache_len = 3;   /* a length without a record */
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), CYRERR_BADARGS);
    m.cache_len = 0;
    /* a shared lock cannot be upgraded behind the caller's back */
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), CYRERR_BADARGS);
    mailbox_unlock(mb);
    /* nothing of all that became visible */
    struct mailbox_status st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.exists, 0);
    CU_ASSERT_EQUAL(st.uidnext, 1);
    /* under an explicit exclusive lock it works, and the lock is kept */
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE), 0);
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), 0);
    CU_ASSERT_EQUAL(mailbox_lockmode(mb), MAILBOX_LOCK_EXCLUSIVE);
    CU_ASSERT_EQUAL(mailbox_lock(mb, (enum mailbox_lockmode)9), CYRERR_BADARGS);
    mailbox_unlock(mb);
    CU_ASSERT_EQUAL(res.first_uid, 1);
    mailbox_close(&mb);
}

static void test_keywords(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    uint32_t bit;
    CU_ASSERT_EQUAL(mailbox_keyword_bit(mb, "Work", 1, &bit), CYRERR_BADARGS);   /* no lock */
    CU_ASSERT_EQUAL(mailbox_keyword_bit(mb, "Work", 0, &bit), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE), 0);
    CU_ASSERT_EQUAL(mailbox_keyword_bit(mb, "bad name", 1, &bit), CYRERR_BADARGS);
    for (uint32_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "kw%u", i);
        CU_ASSERT_EQUAL(mailbox_keyword_bit(mb, name, 1, &bit), 0);
        CU_ASSERT_EQUAL(bit, i);
    }
    CU_ASSERT_EQUAL(mailbox_keyword_bit(mb, "one-too-many", 1, &bit), CYRERR_LIMIT);
    CU_ASSERT_EQUAL(mailbox_keyword_bit(mb, "KW200", 0, &bit), 0);   /* any case */
    CU_ASSERT_EQUAL(bit, 200);
    mailbox_unlock(mb);
    /* a message carrying the last keyword */
    const char *kw[] = { "kw255", "KW0" };
    struct mailbox_append_msg m;
    memset(&m, 0, sizeof(m));
    m.data = "A: b\r\n\r\nc";
    m.len = 9;
    m.keywords = kw;
    m.nkeywords = 2;
    struct mailbox_append_result res;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), 0);
    const char *newkw[] = { "brand-new" };
    m.keywords = newkw;
    m.nkeywords = 1;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, NULL), CYRERR_LIMIT);
    mailbox_close(&mb);

    /* the names persist, and another handle sees them */
    CU_ASSERT_EQUAL(mailbox_open_dir(dir, &mb), 0);
    CU_ASSERT_EQUAL(mailbox_num_keywords(mb), MAILBOX_MAX_KEYWORDS);
    CU_ASSERT_STRING_EQUAL(mailbox_keyword_name(mb, 255), "kw255");
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    struct mailbox_record rec;
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, res.first_uid, &rec), 0);
    CU_ASSERT_EQUAL(rec.user_flags[0], 1u);
    CU_ASSERT_EQUAL(rec.user_flags[7], 0x80000000u);
    struct mailbox_status st;
    mailbox_status(mb, &st);
    CU_ASSERT_EQUAL(st.exists, 1);
    mailbox_unlock(mb);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

/* ---- quota ------------------------------------------------------------------------ */

static void quota_used_is(const char *root, long long bytes, long long msgs)
{
    struct quota q;
    quota_init(&q, NULL);
    CU_ASSERT_EQUAL(quota_read(root, &q), 0);
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], bytes);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], msgs);
    quota_free(&q);
}

static void test_quota(void)
{
    char *db = xasprintf("%s/quotas.db", harness_tmpdir());
    CU_ASSERT_EQUAL_FATAL(quota_open_backend("flat", db), 0);
    long long limits[QUOTA_NUMRESOURCES] = { 1, 3 };   /* 1 KiB, 3 messages */
    CU_ASSERT_EQUAL_FATAL(quota_setlimits("user.q", limits), 0);
    char *dir = mbfix_dir();
    struct mailbox_create_params p = { NULL, 0, "user.q", 0 };
    struct mailbox *mb;
    CU_ASSERT_EQUAL_FATAL(mailbox_create_dir(dir, "user.q", &p, &mb), 0);
    CU_ASSERT_STRING_EQUAL(mailbox_quotaroot(mb), "user.q");

    struct mailbox_append_msg m;
    memset(&m, 0, sizeof(m));
    m.data = "Subject: q\r\n\r\n0123456789\r\n";
    m.len = strlen(m.data);
    long long one = (long long)m.len;
    for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, NULL), 0);
    quota_used_is("user.q", 3 * one, 3);
    /* the fourth message is over the message limit, unless told to ignore */
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, NULL), CYRERR_QUOTA_EXCEEDED);
    quota_used_is("user.q", 3 * one, 3);
    CU_ASSERT_EQUAL(mbfix_status(mb).exists, 3);
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, MAILBOX_APPEND_IGNOREQUOTA, NULL), 0);
    quota_used_is("user.q", 4 * one, 4);
    /* expunge gives it back */
    uint32_t uids[] = { 1, 2 };
    CU_ASSERT_EQUAL(mailbox_expunge(mb, uids, 2, MAILBOX_EXPUNGE_ANY, NULL, NULL, NULL), 0);
    quota_used_is("user.q", 2 * one, 2);
    /* storage: 1 KiB */
    char big[2000];
    memset(big, 'x', sizeof(big));
    m.data = big;
    m.len = sizeof(big);
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, NULL), CYRERR_QUOTA_EXCEEDED);
    /* a root that is gone no longer limits */
    CU_ASSERT_EQUAL(quota_delete("user.q"), 0);
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, NULL), 0);
    /* moving the mailbox to another root; other handles follow */
    struct mailbox *other;
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &other), 0);
    CU_ASSERT_EQUAL(mailbox_set_quotaroot(mb, "user.other"), 0);
    CU_ASSERT_STRING_EQUAL(mailbox_quotaroot(mb), "user.other");
    CU_ASSERT_EQUAL(mailbox_lock(other, MAILBOX_LOCK_SHARED), 0);
    CU_ASSERT_STRING_EQUAL(mailbox_quotaroot(other), "user.other");
    mailbox_unlock(other);
    mailbox_close(&other);
    CU_ASSERT_EQUAL(mailbox_set_quotaroot(mb, "bad..root"), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(mailbox_set_quotaroot(mb, NULL), 0);
    CU_ASSERT_PTR_NULL(mailbox_quotaroot(mb));
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    quota_close();
    free(dir);
    free(db);
}

/* ---- flags and expunge -------------------------------------------------------- */

struct outcomes {
    int changed, unchanged, modified;
    uint64_t modseq;
};

static void count_outcome(void *rock, const struct mailbox_record *rec,
                          enum mailbox_store_outcome o)
{
    struct outcomes *c = rock;
    if (o == MAILBOX_STORE_CHANGED) {
        c->changed++;
        c->modseq = rec->modseq;
    } else if (o == MAILBOX_STORE_UNCHANGED) {
        c->unchanged++;
    } else {
        c->modified++;
    }
}

static void test_store(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    for (int i = 1; i <= 5; i++) CU_ASSERT_EQUAL(mbfix_add(mb, i, 0), (uint32_t)i);
    struct mailbox_status st = mbfix_status(mb);
    uint64_t m0 = st.highestmodseq;

    struct mailbox_flags fl;
    memset(&fl, 0, sizeof(fl));
    fl.system = MAILBOX_FLAG_SEEN | MAILBOX_FLAG_FLAGGED;
    uint32_t uids[] = { 5, 2, 2, 9, 4 };   /* unsorted, duplicate, unknown */
    struct outcomes c = { 0 };
    uint64_t modseq = 0;
    CU_ASSERT_EQUAL(mailbox_store(mb, uids, 5, MAILBOX_STORE_ADD, &fl, 0, count_outcome, &c,
                                  &modseq), 0);
    CU_ASSERT_EQUAL(c.changed, 3);
    CU_ASSERT_EQUAL(modseq, m0 + 1);
    CU_ASSERT_EQUAL(c.modseq, modseq);
    st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.seen, 3);
    CU_ASSERT_EQUAL(st.flagged, 3);
    CU_ASSERT_EQUAL(st.highestmodseq, m0 + 1);

    /* the same again: nothing changes, no new MODSEQ */
    memset(&c, 0, sizeof(c));
    CU_ASSERT_EQUAL(mailbox_store(mb, uids, 5, MAILBOX_STORE_ADD, &fl, 0, count_outcome, &c,
                                  &modseq), 0);
    CU_ASSERT_EQUAL(c.unchanged, 3);
    CU_ASSERT_EQUAL(c.changed, 0);
    CU_ASSERT_EQUAL(modseq, 0);
    CU_ASSERT_EQUAL(mbfix_status(mb).highestmodseq, m0 + 1);

    /* UNCHANGEDSINCE: uid 2 was changed at m0+1 */
    fl.system = MAILBOX_FLAG_SEEN;
    memset(&c, 0, sizeof(c));
    uint32_t two[] = { 1, 2 };
    CU_ASSERT_EQUAL(mailbox_store(mb, two, 2, MAILBOX_STORE_REMOVE, &fl, m0, count_outcome, &c,
                                  NULL), 0);
    CU_ASSERT_EQUAL(c.modified, 1);
    CU_ASSERT_EQUAL(c.unchanged, 1);   /* uid 1 had no \Seen */

    /* REPLACE, with keywords */
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE), 0);
    uint32_t bit;
    CU_ASSERT_EQUAL(mailbox_keyword_bit(mb, "$Label1", 1, &bit), 0);
    memset(&fl, 0, sizeof(fl));
    fl.system = MAILBOX_FLAG_ANSWERED | MAILBOX_FLAG_DRAFT;
    fl.user[0] = 1u << bit;
    CU_ASSERT_EQUAL(mailbox_store(mb, uids, 5, MAILBOX_STORE_REPLACE, &fl, 0, NULL, NULL, NULL), 0);
    CU_ASSERT_EQUAL(mailbox_lockmode(mb), MAILBOX_LOCK_EXCLUSIVE);
    mailbox_unlock(mb);
    st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.seen, 0);
    CU_ASSERT_EQUAL(st.flagged, 0);
    CU_ASSERT_EQUAL(st.answered, 3);
    CU_ASSERT_EQUAL(st.draft, 3);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    struct mailbox_record rec;
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 4, &rec), 0);
    CU_ASSERT_EQUAL(rec.system_flags, MAILBOX_FLAG_ANSWERED | MAILBOX_FLAG_DRAFT);
    CU_ASSERT_EQUAL(rec.user_flags[0], 1u);
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 3, &rec), 0);
    CU_ASSERT_EQUAL(rec.system_flags, 0);
    mailbox_unlock(mb);

    /* bad input */
    memset(&fl, 0, sizeof(fl));
    fl.system = MAILBOX_FLAG_EXPUNGED;
    CU_ASSERT_EQUAL(mailbox_store(mb, uids, 5, MAILBOX_STORE_ADD, &fl, 0, NULL, NULL, NULL),
                    CYRERR_BADARGS);
    fl.system = 0;
    fl.user[0] = 2;    /* keyword 1 has no name */
    CU_ASSERT_EQUAL(mailbox_store(mb, uids, 5, MAILBOX_STORE_ADD, &fl, 0, NULL, NULL, NULL),
                    CYRERR_BADARGS);
    fl.user[0] = 0;
    CU_ASSERT_EQUAL(mailbox_store(mb, uids, 5, (enum mailbox_store_op)5, &fl, 0, NULL, NULL, NULL),
                    CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mailbox_store(mb, NULL, 5, MAILBOX_STORE_ADD, &fl, 0, NULL, NULL, NULL),
                    CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mailbox_store(mb, NULL, 0, MAILBOX_STORE_ADD, NULL, 0, NULL, NULL, NULL),
                    CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    CU_ASSERT_EQUAL(mailbox_store(mb, uids, 5, MAILBOX_STORE_ADD, &fl, 0, NULL, NULL, NULL),
                    CYRERR_BADARGS);
    mailbox_unlock(mb);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

static void count_rec(void *rock, const struct mailbox_record *rec)
{
    (*(int *)rock)++;
    CU_ASSERT_TRUE(rec->system_flags & MAILBOX_FLAG_EXPUNGED);
}

static void test_expunge(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    for (int i = 1; i <= 6; i++) mbfix_add(mb, i, i % 2 ? MAILBOX_FLAG_DELETED : MAILBOX_FLAG_SEEN);
    struct mailbox_status st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.deleted, 3);
    uint64_t before_bytes = st.quota_used;

    /* UID EXPUNGE: only listed messages that have \Deleted */
    uint32_t some[] = { 1, 2 };
    size_t n = 0;
    int cbs = 0;
    CU_ASSERT_EQUAL(mailbox_expunge(mb, some, 2, 0, count_rec, &cbs, &n), 0);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(cbs, 1);
    /* EXPUNGE: the rest of \Deleted */
    CU_ASSERT_EQUAL(mailbox_expunge(mb, NULL, 0, 0, NULL, NULL, &n), 0);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(mailbox_expunge(mb, NULL, 0, 0, NULL, NULL, &n), 0);
    CU_ASSERT_EQUAL(n, 0);
    /* MOVE-style: regardless of \Deleted */
    uint32_t six[] = { 6, 5 };
    CU_ASSERT_EQUAL(mailbox_expunge(mb, six, 2, MAILBOX_EXPUNGE_ANY, NULL, NULL, &n), 0);
    CU_ASSERT_EQUAL(n, 1);   /* 5 is gone already */
    CU_ASSERT_EQUAL(mailbox_expunge(mb, six, 2, 0x40, NULL, NULL, &n), CYRERR_BADARGS);

    st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.exists, 2);
    CU_ASSERT_EQUAL(st.expunged, 4);
    CU_ASSERT_EQUAL(st.deleted, 0);
    CU_ASSERT_EQUAL(st.seen, 2);
    CU_ASSERT_EQUAL(st.num_records, 6);
    CU_ASSERT_TRUE(st.quota_used < before_bytes && st.quota_used > 0);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    struct mailbox_record rec;
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 6, &rec), 0);
    CU_ASSERT_TRUE(rec.system_flags & MAILBOX_FLAG_EXPUNGED);
    CU_ASSERT_EQUAL(rec.modseq, st.highestmodseq);
    mailbox_unlock(mb);
    /* flags of expunged messages cannot change */
    struct mailbox_flags fl;
    memset(&fl, 0, sizeof(fl));
    fl.system = MAILBOX_FLAG_FLAGGED;
    struct outcomes c = { 0 };
    CU_ASSERT_EQUAL(mailbox_store(mb, six, 2, MAILBOX_STORE_ADD, &fl, 0, count_outcome, &c, NULL), 0);
    CU_ASSERT_EQUAL(c.changed + c.unchanged + c.modified, 0);
    CU_ASSERT_TRUE(mbfix_file_exists(dir, "6."));   /* until cleanup */
    mailbox_close(&mb);                        /* alone: close cleans up */
    CU_ASSERT_FALSE(mbfix_file_exists(dir, "6."));
    CU_ASSERT_FALSE(mbfix_file_exists(dir, "1."));
    CU_ASSERT_TRUE(mbfix_file_exists(dir, "2."));
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

/* ---- cleanup -------------------------------------------------------------------- */

static void test_cleanup(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    for (int i = 1; i <= 40; i++) mbfix_add(mb, i, i <= 20 ? MAILBOX_FLAG_DELETED : 0);
    struct mailbox *other;
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &other), 0);
    CU_ASSERT_EQUAL(mailbox_expunge(mb, NULL, 0, 0, NULL, NULL, NULL), 0);

    /* another handle is open: nothing is removed */
    struct mailbox_cleanup_stats cs;
    CU_ASSERT_EQUAL(mailbox_cleanup(mb, 0, &cs), 0);
    CU_ASSERT_EQUAL(cs.deferred, 1);
    CU_ASSERT_TRUE(mbfix_file_exists(dir, "1."));
    /* a lock held is refused */
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    CU_ASSERT_EQUAL(mailbox_cleanup(mb, 0, &cs), CYRERR_BADARGS);
    mailbox_unlock(mb);
    CU_ASSERT_EQUAL(mailbox_cleanup(mb, 0x10, &cs), CYRERR_BADARGS);
    mailbox_close(&other);

    /* alone: files go, then the index is rewritten (20 of 40 > 1/8) */
    struct mailbox_status st0 = mbfix_status(mb);
    CU_ASSERT_EQUAL(mailbox_cleanup(mb, 0, &cs), 0);
    CU_ASSERT_EQUAL(cs.deferred, 0);
    CU_ASSERT_EQUAL(cs.unlinked, 20);
    CU_ASSERT_EQUAL(cs.compacted, 1);
    CU_ASSERT_EQUAL(cs.dropped, 20);
    CU_ASSERT_FALSE(mbfix_file_exists(dir, "1."));
    CU_ASSERT_FALSE(mbfix_file_exists(dir, "cyrus.index.NEW"));
    struct mailbox_status st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.generation, st0.generation + 1);
    CU_ASSERT_EQUAL(st.num_records, 20);
    CU_ASSERT_EQUAL(st.exists, 20);
    CU_ASSERT_EQUAL(st.expunged, 0);
    CU_ASSERT_EQUAL(st.uidnext, 41);
    CU_ASSERT_EQUAL(st.highestmodseq, st0.highestmodseq);
    CU_ASSERT_EQUAL(st.quota_used, st0.quota_used);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    struct buf cache = BUF_INITIALIZER, want = BUF_INITIALIZER;
    for (uint32_t i = 0; i < 20; i++) {
        struct mailbox_record rec;
        CU_ASSERT_EQUAL(mailbox_read_record(mb, i, &rec), 0);
        CU_ASSERT_EQUAL(rec.uid, 21 + i);
        CU_ASSERT_EQUAL(mailbox_read_cache(mb, &rec, &cache), 0);
        char *text = mbfix_msg((int)rec.uid);
        buf_reset(&want);
        msgcache_build(text, strlen(text), &want);
        CU_ASSERT_EQUAL(buf_cmp(&cache, &want), 0);
        free(text);
    }
    mailbox_unlock(mb);
    buf_free(&cache);
    buf_free(&want);

    /* few expunged: files go, the index stays until forced */
    uint32_t one = 30;
    CU_ASSERT_EQUAL(mailbox_expunge(mb, &one, 1, MAILBOX_EXPUNGE_ANY, NULL, NULL, NULL), 0);
    CU_ASSERT_EQUAL(mailbox_cleanup(mb, 0, &cs), 0);
    CU_ASSERT_EQUAL(cs.unlinked, 1);
    CU_ASSERT_EQUAL(cs.compacted, 0);
    st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.unlinked, 1);
    CU_ASSERT_EQUAL(st.num_records, 20);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    CU_ASSERT_EQUAL(mailbox_cleanup(mb, MAILBOX_CLEANUP_COMPACT, &cs), 0);
    CU_ASSERT_EQUAL(cs.compacted, 1);
    CU_ASSERT_EQUAL(mbfix_status(mb).num_records, 19);
    /* appending goes on after the rewrite */
    CU_ASSERT_EQUAL(mbfix_add(mb, 41, 0), 41);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

/* ---- views -------------------------------------------------------------------------- */

static void test_view(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    for (int i = 1; i <= 5; i++) mbfix_add(mb, i, 0);
    struct mailbox *w;
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &w), 0);
    struct mailbox_view *v;
    CU_ASSERT_EQUAL_FATAL(mailbox_view_open(mb, &v), 0);
    CU_ASSERT_EQUAL(mailbox_view_count(v), 5);
    CU_ASSERT_EQUAL(mailbox_view_msg(v, 1)->uid, 1);
    CU_ASSERT_PTR_NULL(mailbox_view_msg(v, 6));
    CU_ASSERT_PTR_NULL(mailbox_view_msg(v, 0));
    CU_ASSERT_EQUAL(mailbox_view_seq(v, 4), 4);
    CU_ASSERT_EQUAL(mailbox_view_seq(v, 9), 0);

    struct mailbox_view_changes ch;
    CU_ASSERT_EQUAL(mailbox_view_update(v, MAILBOX_VIEW_EXPUNGE, &ch), 0);
    CU_ASSERT_EQUAL(ch.nexpunged + ch.nchanged, 0);
    CU_ASSERT_FALSE(ch.exists_changed);
    mailbox_view_changes_free(&ch);

    /* another handle appends, sets flags and expunges */
    mbfix_add(w, 6, 0);
    mbfix_add(w, 7, 0);
    struct mailbox_flags fl;
    memset(&fl, 0, sizeof(fl));
    fl.system = MAILBOX_FLAG_SEEN;
    uint32_t s[] = { 2, 6 };
    CU_ASSERT_EQUAL(mailbox_store(w, s, 2, MAILBOX_STORE_ADD, &fl, 0, NULL, NULL, NULL), 0);
    uint32_t e[] = { 3, 7 };
    CU_ASSERT_EQUAL(mailbox_expunge(w, e, 2, MAILBOX_EXPUNGE_ANY, NULL, NULL, NULL), 0);

    /* during FETCH: no EXPUNGE allowed, the numbering stays */
    CU_ASSERT_EQUAL(mailbox_view_update(v, 0, &ch), 0);
    CU_ASSERT_EQUAL(ch.nexpunged, 0);
    CU_ASSERT_TRUE(ch.exists_changed);
    CU_ASSERT_EQUAL(ch.exists, 6);            /* 1..6, 3 pending */
    CU_ASSERT_EQUAL(ch.nchanged, 1);          /* seq 2; 6 is new: EXISTS says it */
    if (ch.nchanged == 1) CU_ASSERT_EQUAL(ch.changed_seqs[0], 2);
    CU_ASSERT_TRUE(mailbox_view_msg(v, 3)->system_flags & MAILBOX_FLAG_EXPUNGED);
    CU_ASSERT_TRUE(mailbox_view_msg(v, 2)->system_flags & MAILBOX_FLAG_SEEN);
    mailbox_view_changes_free(&ch);

    /* now EXPUNGE may be sent */
    CU_ASSERT_EQUAL(mailbox_view_update(v, MAILBOX_VIEW_EXPUNGE, &ch), 0);
    CU_ASSERT_EQUAL(ch.nexpunged, 1);
    if (ch.nexpunged == 1) {
        CU_ASSERT_EQUAL(ch.expunged_seqs[0], 3);
        CU_ASSERT_EQUAL(ch.expunged_uids[0], 3);
    }
    CU_ASSERT_EQUAL(ch.exists, 5);
    CU_ASSERT_FALSE(ch.exists_changed);
    CU_ASSERT_EQUAL(ch.nchanged, 0);
    mailbox_view_changes_free(&ch);
    CU_ASSERT_EQUAL(mailbox_view_seq(v, 6), 5);
    CU_ASSERT_EQUAL(mailbox_view_seq(v, 7), 0);   /* never seen, never reported */

    /* several expunges are reported highest first */
    uint32_t e2[] = { 1, 4, 5 };
    CU_ASSERT_EQUAL(mailbox_expunge(w, e2, 3, MAILBOX_EXPUNGE_ANY, NULL, NULL, NULL), 0);
    CU_ASSERT_EQUAL(mailbox_view_update(v, MAILBOX_VIEW_EXPUNGE, &ch), 0);
    CU_ASSERT_EQUAL(ch.nexpunged, 3);
    if (ch.nexpunged == 3) {
        CU_ASSERT_EQUAL(ch.expunged_seqs[0], 4);
        CU_ASSERT_EQUAL(ch.expunged_seqs[1], 3);
        CU_ASSERT_EQUAL(ch.expunged_seqs[2], 1);
    }
    CU_ASSERT_EQUAL(ch.exists, 2);
    mailbox_view_changes_free(&ch);

    /* the session's own silent change is not reported back */
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE), 0);
    fl.system = MAILBOX_FLAG_FLAGGED;
    uint32_t two = 2;
    struct mailbox_record rec;
    CU_ASSERT_EQUAL(mailbox_store(mb, &two, 1, MAILBOX_STORE_ADD, &fl, 0, NULL, NULL, NULL), 0);
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 2, &rec), 0);
    mailbox_view_apply(v, &rec);
    CU_ASSERT_EQUAL(mailbox_view_update(v, MAILBOX_VIEW_EXPUNGE, &ch), 0);
    CU_ASSERT_EQUAL(ch.nchanged, 0);
    mailbox_view_changes_free(&ch);
    mailbox_unlock(mb);
    CU_ASSERT_TRUE(mailbox_view_msg(v, 1)->system_flags & MAILBOX_FLAG_FLAGGED);

    /* a STORE on many records restarts the change log: still right */
    for (int i = 8; i <= 60; i++) mbfix_add(w, i, 0);
    CU_ASSERT_EQUAL(mailbox_view_update(v, MAILBOX_VIEW_EXPUNGE, NULL), 0);
    CU_ASSERT_EQUAL(mailbox_view_count(v), 55);
    uint32_t all[60];
    for (int i = 0; i < 60; i++) all[i] = (uint32_t)i + 1;
    fl.system = MAILBOX_FLAG_ANSWERED;
    CU_ASSERT_EQUAL(mailbox_store(w, all, 60, MAILBOX_STORE_ADD, &fl, 0, NULL, NULL, NULL), 0);
    CU_ASSERT_EQUAL(mailbox_view_update(v, MAILBOX_VIEW_EXPUNGE, &ch), 0);
    CU_ASSERT_EQUAL(ch.nchanged, 55);
    mailbox_view_changes_free(&ch);
    CU_ASSERT_EQUAL(mailbox_view_update(v, 0x8, &ch), CYRERR_BADARGS);

    mailbox_view_free(&v);
    CU_ASSERT_PTR_NULL(v);
    mailbox_close(&w);
    mailbox_close(&mb);
    free(dir);
}

static void test_view_follows_rewrite(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    for (int i = 1; i <= 30; i++) mbfix_add(mb, i, i % 3 ? 0 : MAILBOX_FLAG_DELETED);
    struct mailbox *w;
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &w), 0);
    struct mailbox_view *v;
    CU_ASSERT_EQUAL_FATAL(mailbox_view_open(mb, &v), 0);
    CU_ASSERT_EQUAL(mailbox_expunge(w, NULL, 0, 0, NULL, NULL, NULL), 0);
    struct mailbox_flags fl;
    memset(&fl, 0, sizeof(fl));
    fl.system = MAILBOX_FLAG_SEEN;
    uint32_t one = 1;
    CU_ASSERT_EQUAL(mailbox_store(w, &one, 1, MAILBOX_STORE_ADD, &fl, 0, NULL, NULL, NULL), 0);
    /* forced cleanup while the view still numbers the expunged ones */
    struct mailbox_cleanup_stats cs;
    CU_ASSERT_EQUAL(mailbox_cleanup(w, MAILBOX_CLEANUP_FORCE, &cs), 0);
    CU_ASSERT_EQUAL(cs.compacted, 1);
    mbfix_add(w, 31, 0);
    struct mailbox_view_changes ch;
    CU_ASSERT_EQUAL(mailbox_view_update(v, 0, &ch), 0);
    CU_ASSERT_EQUAL(ch.exists, 31);
    CU_ASSERT_EQUAL(ch.nchanged, 1);
    mailbox_view_changes_free(&ch);
    CU_ASSERT_EQUAL(mailbox_view_update(v, MAILBOX_VIEW_EXPUNGE, &ch), 0);
    CU_ASSERT_EQUAL(ch.nexpunged, 10);
    CU_ASSERT_EQUAL(ch.exists, 21);
    mailbox_view_changes_free(&ch);
    for (uint32_t s = 1; s <= mailbox_view_count(v); s++) {
        const struct mailbox_view_msg *m = mailbox_view_msg(v, s);
        CU_ASSERT_NOT_EQUAL(m->uid % 3, 0);
        if (s > 1) CU_ASSERT_TRUE(m->uid > mailbox_view_msg(v, s - 1)->uid);
    }
    /* records read through the new numbering */
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    struct mailbox_record rec;
    const struct mailbox_view_msg *m = mailbox_view_msg(v, 21);
    CU_ASSERT_EQUAL(mailbox_read_record(mb, m->recno, &rec), 0);
    CU_ASSERT_EQUAL(rec.uid, 31);
    mailbox_unlock(mb);
    mailbox_view_free(&v);
    mailbox_close(&w);
    mailbox_close(&mb);
    free(dir);
}

/* ---- locks --------------------------------------------------------------------------- */

static void test_same_process_locks(void)
{
    char *dir;
    struct mailbox *a = mbfix_new(&dir), *b;
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &b), 0);
    CU_ASSERT_EQUAL(mailbox_lock(a, MAILBOX_LOCK_SHARED), 0);
    CU_ASSERT_EQUAL(mailbox_lock(b, MAILBOX_LOCK_SHARED), 0);   /* readers share */
    mailbox_unlock(b);
    CU_ASSERT_EQUAL(mailbox_lock(b, MAILBOX_LOCK_EXCLUSIVE), CYRERR_DEADLOCK);
    struct mailbox_append_msg m;
    memset(&m, 0, sizeof(m));
    m.data = "x";
    m.len = 1;
    CU_ASSERT_EQUAL(mailbox_append(b, &m, 1, 0, NULL), CYRERR_DEADLOCK);   /* would wait for a */
    mailbox_unlock(a);
    CU_ASSERT_EQUAL(mbfix_add(b, 1, 0), 1);
    mailbox_close(&a);
    mailbox_close(&b);
    free(dir);
}

static void test_delete(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    mbfix_add(mb, 1, 0);
    mbfix_add(mb, 2, MAILBOX_FLAG_DELETED);
    struct mailbox *other;
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &other), 0);
    CU_ASSERT_EQUAL(mailbox_delete(&mb), 0);
    CU_ASSERT_PTR_NULL(mb);
    CU_ASSERT_FALSE(mbfix_file_exists(dir, "cyrus.index"));
    CU_ASSERT_FALSE(mbfix_file_exists(dir, "1."));
    /* the other handle learns it at its next lock */
    CU_ASSERT_EQUAL(mailbox_lock(other, MAILBOX_LOCK_SHARED), CYRERR_MAILBOX_NONEXISTENT);
    mailbox_close(&other);
    struct stat st;
    CU_ASSERT_EQUAL(stat(dir, &st), -1);   /* directory removed */
    CU_ASSERT_EQUAL(mailbox_open_dir(dir, &mb), CYRERR_MAILBOX_NONEXISTENT);

    /* a handle on a mailbox deleted and created again does not follow */
    CU_ASSERT_EQUAL(mailbox_create_dir(dir, "user.test", NULL, &mb), 0);
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &other), 0);
    CU_ASSERT_EQUAL(mailbox_delete(&mb), 0);
    CU_ASSERT_EQUAL(mailbox_create_dir(dir, "user.test", NULL, &mb), 0);
    CU_ASSERT_EQUAL(mailbox_lock(other, MAILBOX_LOCK_SHARED), CYRERR_MAILBOX_NONEXISTENT);
    mailbox_close(&other);
    mailbox_close(&mb);

    /* a mailbox with a child keeps its directory */
    CU_ASSERT_EQUAL(mailbox_open_dir(dir, &mb), 0);
    char *child = xasprintf("%s/child", dir);
    CU_ASSERT_EQUAL(mailbox_create_dir(child, "user.test.child", NULL, NULL), 0);
    CU_ASSERT_EQUAL(mailbox_delete(&mb), 0);
    CU_ASSERT_EQUAL(stat(dir, &st), 0);
    CU_ASSERT_EQUAL(mailbox_open_dir(child, &mb), 0);
    mailbox_close(&mb);
    free(child);
    free(dir);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("mailbox_format", NULL, NULL);
    ADD_TEST(s, test_record_codec);
    ADD_TEST(s, test_header_slots);
    ADD_TEST(s, test_meta_text);
    ADD_TEST(s, test_keyword_names);
    ADD_TEST(s, test_header_len);
    s = harness_suite("mailbox", NULL, NULL);
    ADD_TEST(s, test_create_open);
    ADD_TEST(s, test_partition_paths);
    ADD_TEST(s, test_append_and_read);
    ADD_TEST(s, test_append_sources);
    ADD_TEST(s, test_append_bad_input);
    ADD_TEST(s, test_keywords);
    ADD_TEST(s, test_quota);
    ADD_TEST(s, test_store);
    ADD_TEST(s, test_expunge);
    ADD_TEST(s, test_cleanup);
    ADD_TEST(s, test_view);
    ADD_TEST(s, test_view_follows_rewrite);
    ADD_TEST(s, test_same_process_locks);
    ADD_TEST(s, test_delete);
}
