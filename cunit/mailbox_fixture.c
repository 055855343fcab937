/* mailbox_fixture: see mailbox_fixture.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cunit/harness.h"
#include "cunit/mailbox_fixture.h"
#include "strarray.h"
#include "xmalloc.h"

static int dircount;

/* A fresh directory path (not created) under the harness tmpdir. */
char *mbfix_dir(void)
{
    return xasprintf("%s/mb%d/user/test", harness_tmpdir(), ++dircount);
}

char *mbfix_msg(int i)
{
    return xasprintf("From: a%d@example.org\r\nTo: b@example.org\r\nSubject: message %d\r\n"
                     "Message-ID: <%d@test>\r\n\r\nbody of message %d\r\nline two\r\n",
                     i, i, i, i);
}

struct mailbox *mbfix_new(char **dirp)
{
    char *dir = mbfix_dir();
    struct mailbox *mb = NULL;
    CU_ASSERT_EQUAL_FATAL(mailbox_create_dir(dir, "user.test", NULL, &mb), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mb);
    if (dirp) *dirp = dir;
    else free(dir);
    return mb;
}

/* Append message i with flags; returns the UID (0 on failure). */
uint32_t mbfix_add(struct mailbox *mb, int i, uint32_t flags)
{
    char *text = mbfix_msg(i);
    struct mailbox_append_msg m;
    memset(&m, 0, sizeof(m));
    m.data = text;
    m.len = strlen(text);
    m.system_flags = flags;
    struct mailbox_append_result res;
    int r = mailbox_append(mb, &m, 1, 0, &res);
    free(text);
    CU_ASSERT_EQUAL(r, 0);
    if (r) return 0;
    CU_ASSERT_EQUAL(res.first_uid, res.last_uid);
    return res.first_uid;
}

struct mailbox_status mbfix_status(struct mailbox *mb)
{
    struct mailbox_status st;
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    mailbox_status(mb, &st);
    mailbox_unlock(mb);
    return st;
}

int mbfix_file_exists(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    struct stat st;
    int r = stat(p, &st) == 0;
    free(p);
    return r;
}

void mbfix_collect_fix(void *rock, const char *text)
{
    strarray_append((struct strarray *)rock, text);
}

unsigned mbfix_reconstruct_dry(const char *dir)
{
    unsigned n = 99;
    struct strarray fixes = { 0 };
    strarray_init(&fixes);
    CU_ASSERT_EQUAL(mailbox_reconstruct(dir, NULL, MAILBOX_RECONSTRUCT_DRYRUN, mbfix_collect_fix,
                                        &fixes, &n), 0);
    for (int i = 0; i < fixes.count; i++) fprintf(stderr, "  fix: %s\n", strarray_nth(&fixes, i));
    strarray_free(&fixes);
    return n;
}
