/* mailbox_fixture: helpers shared by the mailbox suites (test_mailbox,
 * test_mailbox_concurrency, test_mailbox_recovery): fresh mailboxes under
 * the harness's temporary directory, small distinct messages, and checks.
 * Failures are CUnit assertions; returned strings belong to the caller. */
#ifndef CUNIT_MAILBOX_FIXTURE_H
#define CUNIT_MAILBOX_FIXTURE_H

#include <stdint.h>

#include "imap/store/mailbox.h"

/* A fresh directory path (not created) under the harness tmpdir. */
char *mbfix_dir(void);
/* Message number i: distinct headers and body, CRLF lines. */
char *mbfix_msg(int i);
/* A new mailbox "user.test" in a fresh directory (*dirp gets its path
 * when dirp is not NULL). */
struct mailbox *mbfix_new(char **dirp);
/* Append message i with `flags`; its UID, or 0 after a failed assertion. */
uint32_t mbfix_add(struct mailbox *mb, int i, uint32_t flags);
/* The index header under a shared lock. */
struct mailbox_status mbfix_status(struct mailbox *mb);
int mbfix_file_exists(const char *dir, const char *name);
/* reconstruct callback collecting the fixes into a struct strarray. */
void mbfix_collect_fix(void *rock, const char *text);
/* What a dry-run reconstruct of `dir` would fix (printed); 0 when clean. */
unsigned mbfix_reconstruct_dry(const char *dir);

#endif
