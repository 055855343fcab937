/* harness: the shared main() of every CUnit program under cunit/.
 *
 * A test file defines register_tests(), which adds its suites with
 * harness_suite() and its tests with ADD_TEST().  main() runs them all in
 * verbose mode and exits 1 when any test or suite set-up failed.
 *
 * Helpers: harness_tmpdir() makes a private temporary directory that is
 * removed when the program exits; harness_srcdir() is the source tree's top
 * (from TOP_SRCDIR, set by `make check`), for fixtures such as the corpus.
 */
#ifndef CUNIT_HARNESS_H
#define CUNIT_HARNESS_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

void register_tests(void);

CU_pSuite harness_suite(const char *name, CU_InitializeFunc init,
                        CU_CleanupFunc cleanup);
#define ADD_TEST(suite, fn) CU_add_test((suite), #fn, (fn))

/* A fresh directory under $TMPDIR (or /tmp), removed recursively at exit.
 * Borrowed; valid until exit. */
const char *harness_tmpdir(void);
/* Remove a tree (like rm -rf).  Returns 0 or -1. */
int harness_rmtree(const char *path);
/* The top of the source tree; "." when unknown. */
const char *harness_srcdir(void);
/* Path of a file in the shared corpus folder beside the checkout
 * (../shared/corpus), or NULL when it is not there. */
const char *harness_corpusdir(void);

/* Suites that run once per cyrusdb backend (cunit/harness_backend.c, for
 * programs linked with the store): write and read an imapd.conf whose
 * configdirectory is <tmpdir>/<backend>-conf, followed by the option lines
 * of `fmt` (printf-style, may be NULL); a Berkeley backend also gets its
 * environment in <tmpdir>/<backend>-env.  0 or -1.  The cleanup closes the
 * environment and forgets the configuration; it returns 0. */
int harness_backend_setup(const char *backend, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *harness_backend_confdir(void);   /* of the last set-up; borrowed */
int harness_backend_cleanup(void);

#endif
