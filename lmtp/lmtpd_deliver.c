/* lmtpd_deliver: one message (the engine's spool file, trace headers
 * included) to every recipient of the transaction.
 *
 * The message is parsed once: its cache record, its GUID (SHA-1) and its
 * Message-ID are computed from the spool file and handed to every append,
 * so that no recipient parses or hashes it again.  Recipients are served in
 * RCPT order; each one's mailbox is chosen (lmtpd_resolve), checked against
 * the duplicate database, and appended to with mailbox_append(), which
 * returns only once the message is durable there.  With singleinstancestore
 * the first copy on a partition is written from the spool and the others on
 * that partition are hard links to it (the store copies instead when a link
 * cannot be made).  Handles of mailboxes are kept for the transaction, so
 * two recipients that land in one mailbox share one handle.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/evp.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/duplicate.h"
#include "imap/store/mailbox.h"
#include "imap/store/message.h"
#include "imap/store/msgcache.h"
#include "lmtp/lmtpd.h"

/* What every recipient's append shares. */
struct prepared {
    void *map;
    size_t len;
    struct buf cache;
    unsigned char guid[MAILBOX_GUID_LEN];
    char *msgid;                 /* Message-ID, or NULL */
};

/* Mailboxes opened during the transaction. */
struct openbox {
    char *name;
    struct mailbox *mb;
};

/* Single instance store: the first stored copy on each partition. */
struct sis_copy {
    char *partition;
    char *path;
};

struct delivery {
    const struct lmtpd_config *cfg;
    struct lmtpd_store *st;
    const struct lmtp_message *msg;
    struct prepared prep;
    struct openbox *boxes;
    size_t nboxes;
    struct sis_copy *copies;
    size_t ncopies;
};

/* ---- the message ------------------------------------------------------ */

static int check_message(const struct lmtpd_config *cfg, const struct lmtp_message *msg)
{
    const struct lmtp_spool_stats *stats = msg->stats;
    if (stats->nul) return CYRERR_MESSAGE_CONTAINSNUL;
    if (cfg->reject8bit && stats->header_8bit) return CYRERR_MESSAGE_CONTAINS8BIT;
    if (stats->bad_header_lines) return CYRERR_MESSAGE_BADHEADER;
    if (msg->size == 0 || msg->size >= UINT32_MAX) return CYRERR_TOOBIG;
    return 0;
}

static int prepare(const struct lmtpd_config *cfg, const struct lmtp_message *msg,
                   struct prepared *p)
{
    memset(p, 0, sizeof(*p));
    int r = check_message(cfg, msg);
    if (r) return r;
    p->len = (size_t)msg->size;
    p->map = mmap(NULL, p->len, PROT_READ, MAP_SHARED, msg->fd, 0);
    if (p->map == MAP_FAILED) {
        p->map = NULL;
        xsyslog(LOG_ERR, "lmtpd cannot map the spool file", "id=<%s> error=<%s>", msg->id,
                strerror(errno));
        return CYRERR_IO;
    }
    const char *base = p->map;
    msgcache_build(base, p->len, &p->cache);
    unsigned int dl = 0;
    if (!EVP_Digest(base, p->len, p->guid, &dl, EVP_sha1(), NULL) || dl != MAILBOX_GUID_LEN)
        fatal(EX_TEMPFAIL_CODE, "SHA-1 unavailable");
    if (msg->body_offset > msg->msg_offset && msg->body_offset <= msg->size) {
        struct buf v = BUF_INITIALIZER;
        if (message_header_get(base + msg->msg_offset,
                               (size_t)(msg->body_offset - msg->msg_offset), "Message-ID", &v) &&
            v.len)
            p->msgid = buf_release(&v);
        buf_free(&v);
    }
    return 0;
}

static void prepared_free(struct prepared *p)
{
    if (p->map) munmap(p->map, p->len);
    buf_free(&p->cache);
    free(p->msgid);
    memset(p, 0, sizeof(*p));
}

/* ---- mailboxes and copies ----------------------------------------------- */

static int get_box(struct delivery *d, const char *name, const char *partition,
                   struct mailbox **mbp)
{
    for (size_t i = 0; i < d->nboxes; i++)
        if (!strcmp(d->boxes[i].name, name)) {
            *mbp = d->boxes[i].mb;
            return 0;
        }
    struct mailbox *mb = NULL;
    int r = mailbox_open(name, partition, &mb);
    if (r) return r;
    d->boxes = xreallocarray(d->boxes, d->nboxes + 1, sizeof(*d->boxes));
    d->boxes[d->nboxes].name = xstrdup(name);
    d->boxes[d->nboxes].mb = mb;
    d->nboxes++;
    *mbp = mb;
    return 0;
}

static struct sis_copy *find_copy(struct delivery *d, const char *partition)
{
    for (size_t i = 0; i < d->ncopies; i++)
        if (!strcmp(d->copies[i].partition, partition)) return &d->copies[i];
    return NULL;
}

static void remember_copy(struct delivery *d, const char *partition, struct mailbox *mb,
                          uint32_t uid)
{
    struct buf path = BUF_INITIALIZER;
    mailbox_message_path(mb, uid, &path);
    d->copies = xreallocarray(d->copies, d->ncopies + 1, sizeof(*d->copies));
    d->copies[d->ncopies].partition = xstrdup(partition);
    d->copies[d->ncopies].path = buf_release(&path);
    d->ncopies++;
}

static void delivery_free(struct delivery *d)
{
    for (size_t i = 0; i < d->nboxes; i++) {
        mailbox_close(&d->boxes[i].mb);
        free(d->boxes[i].name);
    }
    free(d->boxes);
    for (size_t i = 0; i < d->ncopies; i++) {
        free(d->copies[i].partition);
        free(d->copies[i].path);
    }
    free(d->copies);
    prepared_free(&d->prep);
}

/* Append the message to `mb` on `partition`: a link to an earlier copy
 * when there is one (singleinstancestore), else from the spool. */
static int append_one(struct delivery *d, struct mailbox *mb, const char *partition,
                      int flags, struct mailbox_append_result *res)
{
    struct mailbox_append_msg m;
    memset(&m, 0, sizeof(m));
    m.internaldate = d->msg->received;
    m.cache = buf_base(&d->prep.cache);
    m.cache_len = buf_len(&d->prep.cache);
    m.guid = d->prep.guid;

    struct sis_copy *copy = d->cfg->single_instance ? find_copy(d, partition) : NULL;
    if (copy) {
        m.source = MAILBOX_SRC_PATH;
        m.path = copy->path;
        int r = mailbox_append(mb, &m, 1, flags | MAILBOX_APPEND_LINK, res);
        if (r != CYRERR_NOTFOUND) return r;
        /* the first copy is gone already (expunged): copy from the spool */
        xsyslog(LOG_INFO, "lmtpd single instance copy vanished", "path=<%s>", copy->path);
    }
    m.source = MAILBOX_SRC_FD;
    m.path = NULL;
    m.fd = d->msg->fd;
    int r = mailbox_append(mb, &m, 1, flags, res);
    if (!r && d->cfg->single_instance && d->msg->nrcpts > 1 && !copy)
        remember_copy(d, partition, mb, res->first_uid);
    return r;
}

/* ---- one recipient ----------------------------------------------------------- */

static void log_delivery(const struct delivery *d, const char *event, const char *mailbox,
                         uint32_t uid)
{
    xsyslog(LOG_NOTICE, event,
            "id=<%s> mailbox=<%s> uid=<%u> msgid=<%s> size=<%" PRIu64 ">", d->msg->id,
            mailbox, uid, d->prep.msgid ? d->prep.msgid : "", d->msg->size);
}

static void deliver_rcpt(struct delivery *d, const struct lmtp_rcpt *rcpt,
                         const struct lmtpd_sender *sender, struct lmtp_status *result)
{
    const struct lmtpd_addr *a = &rcpt->data->addr;
    const struct lmtpd_config *cfg = d->cfg;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    char *name = NULL;
    int r = lmtpd_resolve(cfg, d->st, a, sender, &name, &e);
    if (r) goto done;

    struct duplicate *dup = NULL;
    struct duplicate_key key = { .id = d->prep.msgid, .to = name, .extra = NULL };
    if (cfg->duplicate_suppression && d->prep.msgid) dup = lmtpd_store_duplicate(d->st);
    if (dup) {
        uint32_t olduid = 0;
        int seen = duplicate_check(dup, &key, NULL, &olduid);
        if (seen == 1) {
            log_delivery(d, "duplicate suppressed", name, olduid);
            lmtp_status_set(result, 250, "2.1.5", "Ok (duplicate suppressed)");
            goto out;
        }
        if (seen < 0) dup = NULL;   /* too long an id, or a database error */
    }

    int flags = 0;
    if (rcpt->ignorequota) {
        flags |= MAILBOX_APPEND_IGNOREQUOTA;
    } else if (!cfg->strict_quota) {
        /* not strict: refuse only a mailbox that is full already */
        r = lmtpd_quota_full(cfg, name, 0);
        if (r) goto done;
        flags |= MAILBOX_APPEND_IGNOREQUOTA;
    }
    struct mailbox *mb = NULL;
    r = get_box(d, name, e.partition, &mb);
    if (r) goto done;
    struct mailbox_append_result res;
    r = append_one(d, mb, e.partition, flags, &res);
    if (r) goto done;

    if (dup) {
        int mr = duplicate_mark(dup, &key, d->msg->received, res.first_uid);
        if (mr)
            xsyslog(LOG_ERR, "lmtpd duplicate mark failed", "mailbox=<%s> error=<%s>", name,
                    error_message(mr));
    }
    log_delivery(d, "delivered", name, res.first_uid);
done:
    if (r) {
        int lvl = r == CYRERR_IO || r == CYRERR_CORRUPT ? LOG_ERR : LOG_INFO;
        xsyslog(lvl, "lmtpd delivery failed", "id=<%s> rcpt=<%s> mailbox=<%s> error=<%s>",
                d->msg->id, rcpt->addr, name ? name : "", error_name(r));
    }
    lmtpd_status_for(cfg, r, !a->userid, result);
out:
    mboxlist_entry_free(&e);
    free(name);
}

void lmtpd_deliver(const struct lmtpd_config *cfg, struct lmtpd_store *st,
                   const struct lmtp_message *msg, const struct lmtpd_sender *sender,
                   struct lmtp_status *results)
{
    struct delivery d;
    memset(&d, 0, sizeof(d));
    d.cfg = cfg;
    d.st = st;
    d.msg = msg;
    int r = prepare(cfg, msg, &d.prep);
    if (r) {
        xsyslog(LOG_NOTICE, "lmtpd message refused", "id=<%s> error=<%s>", msg->id,
                error_name(r));
        for (size_t i = 0; i < msg->nrcpts; i++) lmtpd_status_for(cfg, r, 0, &results[i]);
    } else {
        for (size_t i = 0; i < msg->nrcpts; i++)
            deliver_rcpt(&d, msg->rcpts[i], sender, &results[i]);
    }
    delivery_free(&d);
}
