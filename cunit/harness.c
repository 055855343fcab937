/* harness: main() for every CUnit program.  See harness.h. */
#include "config.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit/harness.h"
#include "xmalloc.h"

static char *tmpdir;
static char *corpusdir;

CU_pSuite harness_suite(const char *name, CU_InitializeFunc init,
                        CU_CleanupFunc cleanup)
{
    CU_pSuite s = CU_add_suite(name, init, cleanup);
    if (!s) {
        fprintf(stderr, "cannot add suite %s: %s\n", name, CU_get_error_msg());
        exit(2);
    }
    return s;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

int harness_rmtree(const char *path)
{
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static pid_t tmpdir_owner;

/* Only the process that made the directory removes it: forked children
 * that exit() must not pull it from under their parent. */
static void atexit_tmpdir(void)
{
    if (getpid() == tmpdir_owner && tmpdir && !getenv("HARNESS_KEEP_TMP"))
        harness_rmtree(tmpdir);
}

const char *harness_tmpdir(void)
{
    if (tmpdir) return tmpdir;
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char *templ = xasprintf("%s/cunit-XXXXXX", base);
    if (!mkdtemp(templ)) {
        perror("mkdtemp");
        exit(2);
    }
    tmpdir = templ;
    tmpdir_owner = getpid();
    atexit(atexit_tmpdir);
    return tmpdir;
}

const char *harness_srcdir(void)
{
    const char *s = getenv("TOP_SRCDIR");
    return s && *s ? s : ".";
}

const char *harness_corpusdir(void)
{
    if (corpusdir) return corpusdir;
    char *p = xasprintf("%s/../shared/corpus", harness_srcdir());
    struct stat st;
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
        corpusdir = p;
        return corpusdir;
    }
    free(p);
    return NULL;
}

int main(int argc, char **argv)
{
    (void)argc; (void)argv;
    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
        return 2;
    }
    register_tests();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() +
                      CU_get_number_of_suites_failed() +
                      CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (ran == 0) {
        fprintf(stderr, "no test ran\n");
        return 1;
    }
    return failed ? 1 : 0;
}
