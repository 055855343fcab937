/* Tests for the core runtime: xmalloc, buf, strarray, hash, error, log. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "hash.h"
#include "log.h"
#include "strarray.h"
#include "xmalloc.h"

static void test_xmalloc(void)
{
    char *s = xstrdup("hello");
    CU_ASSERT_STRING_EQUAL(s, "hello");
    free(s);
    s = xstrndup("hello world", 5);
    CU_ASSERT_STRING_EQUAL(s, "hello");
    free(s);
    s = xstrndup("hi", 10);
    CU_ASSERT_STRING_EQUAL(s, "hi");
    free(s);
    CU_ASSERT_PTR_NULL(xstrdupnull(NULL));
    s = strconcat("a", "bc", "", "d", (char *)NULL);
    CU_ASSERT_STRING_EQUAL(s, "abcd");
    free(s);
    s = xasprintf("%d-%s", 42, "x");
    CU_ASSERT_STRING_EQUAL(s, "42-x");
    xfree(s);
    CU_ASSERT_PTR_NULL(s);
    int *z = xcalloc(10, sizeof(int));
    for (int i = 0; i < 10; i++) CU_ASSERT_EQUAL(z[i], 0);
    free(z);
}

static void test_buf_basic(void)
{
    struct buf b = BUF_INITIALIZER;
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "");
    CU_ASSERT_EQUAL(buf_len(&b), 0);
    buf_appendcstr(&b, "abc");
    buf_putc(&b, 'd');
    buf_printf(&b, "%05d", 7);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "abcd00007");
    CU_ASSERT_EQUAL(buf_len(&b), 9);
    buf_insertmap(&b, 0, "XY", 2);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "XYabcd00007");
    buf_remove(&b, 2, 4);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "XY00007");
    buf_remove(&b, 5, 100);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "XY000");
    buf_truncate(&b, 2);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "XY");
    buf_tolower(&b);
    CU_ASSERT_TRUE(buf_equalcstr(&b, "xy"));
    CU_ASSERT_FALSE(buf_equalcstr(&b, "xyz"));
    buf_setcstr(&b, "line\r\n");
    buf_trim(&b);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "line");
    char *r = buf_release(&b);
    CU_ASSERT_STRING_EQUAL(r, "line");
    free(r);
    CU_ASSERT_EQUAL(buf_len(&b), 0);
    buf_free(&b);
}

static void test_buf_append_u64(void)
{
    struct buf b = BUF_INITIALIZER;
    buf_append_u64(&b, 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "0");
    buf_putc(&b, ' ');
    buf_append_u64(&b, 4294967295u);
    buf_putc(&b, ' ');
    buf_append_u64(&b, 18446744073709551615ull);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "0 4294967295 18446744073709551615");
    CU_ASSERT_EQUAL(buf_len(&b), strlen(buf_cstring(&b)));
    char want[32];
    for (unsigned long long v = 1; v < 10000000000000000000ull; v = v * 7 + 3) {
        buf_reset(&b);
        buf_append_u64(&b, v);
        snprintf(want, sizeof(want), "%llu", v);
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), want);
    }
    buf_free(&b);
}

static void test_buf_binary_and_growth(void)
{
    struct buf b = BUF_INITIALIZER, c = BUF_INITIALIZER;
    buf_ensure(&b, 10); /* a fresh buffer is terminated after ensure */
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "");
    buf_appendmap(&b, "a\0b", 3);
    CU_ASSERT_EQUAL(buf_len(&b), 3);
    CU_ASSERT_EQUAL(memcmp(buf_base(&b), "a\0b", 3), 0);
    CU_ASSERT_EQUAL(buf_base(&b)[3], '\0');
    for (int i = 0; i < 100000; i++) buf_putc(&c, (char)('a' + i % 26));
    CU_ASSERT_EQUAL(buf_len(&c), 100000);
    CU_ASSERT_EQUAL(buf_base(&c)[99999], (char)('a' + 99999 % 26));
    CU_ASSERT_EQUAL(buf_cstring(&c)[100000], '\0');
    buf_setcstr(&b, "abc");
    buf_setcstr(&c, "abd");
    CU_ASSERT_TRUE(buf_cmp(&b, &c) < 0);
    buf_setcstr(&c, "ab");
    CU_ASSERT_TRUE(buf_cmp(&b, &c) > 0);
    buf_setcstr(&c, "abc");
    CU_ASSERT_EQUAL(buf_cmp(&b, &c), 0);
    buf_truncate(&b, 5); /* zero-extends */
    CU_ASSERT_EQUAL(buf_len(&b), 5);
    CU_ASSERT_EQUAL(buf_base(&b)[4], '\0');
    buf_free(&b);
    buf_free(&c);
}

static void test_strarray(void)
{
    struct strarray sa = STRARRAY_INITIALIZER;
    strarray_split(&sa, " a, b ,,c ", ",", 1);
    CU_ASSERT_EQUAL(sa.count, 3);
    CU_ASSERT_STRING_EQUAL(strarray_nth(&sa, 0), "a");
    CU_ASSERT_STRING_EQUAL(strarray_nth(&sa, 1), "b");
    CU_ASSERT_STRING_EQUAL(strarray_nth(&sa, 2), "c");
    CU_ASSERT_PTR_NULL(strarray_nth(&sa, 3));
    CU_ASSERT_PTR_NULL(strarray_nth(&sa, -1));
    CU_ASSERT_PTR_NULL(sa.data[3]);
    char *j = strarray_join(&sa, "|");
    CU_ASSERT_STRING_EQUAL(j, "a|b|c");
    free(j);
    strarray_insert(&sa, 1, "x");
    CU_ASSERT_STRING_EQUAL(strarray_nth(&sa, 1), "x");
    CU_ASSERT_EQUAL(strarray_find(&sa, "c", 0), 3);
    CU_ASSERT_EQUAL(strarray_find(&sa, "C", 0), -1);
    CU_ASSERT_EQUAL(strarray_find_case(&sa, "C", 0), 3);
    CU_ASSERT_EQUAL(strarray_add(&sa, "a"), 0);
    CU_ASSERT_EQUAL(sa.count, 4);
    char *r = strarray_remove(&sa, 0);
    CU_ASSERT_STRING_EQUAL(r, "a");
    free(r);
    strarray_append(&sa, "b");
    strarray_sort(&sa, NULL);
    strarray_uniq(&sa);
    j = strarray_join(&sa, ",");
    CU_ASSERT_STRING_EQUAL(j, "b,c,x");
    free(j);
    strarray_sort(&sa, strcasecmp);
    strarray_truncate(&sa, 1);
    CU_ASSERT_EQUAL(sa.count, 1);
    strarray_free(&sa);

    /* without trimming, empty fields are kept */
    strarray_split(&sa, "a::b", ":", 0);
    CU_ASSERT_EQUAL(sa.count, 3);
    CU_ASSERT_STRING_EQUAL(strarray_nth(&sa, 1), "");
    strarray_free(&sa);
}

static void count_cb(const char *key, void *value, void *rock)
{
    (void)key;
    *(long *)rock += (long)(size_t)value;
}

static void test_hash(void)
{
    struct hash_table t = HASH_TABLE_INITIALIZER;
    hash_init(&t, 4, 0);
    char key[32];
    for (long i = 1; i <= 5000; i++) {
        snprintf(key, sizeof(key), "key%ld", i);
        CU_ASSERT_PTR_NULL(hash_insert(&t, key, (void *)(size_t)i));
    }
    CU_ASSERT_EQUAL(hash_count(&t), 5000);
    CU_ASSERT_EQUAL((size_t)hash_lookup(&t, "key1234"), 1234);
    CU_ASSERT_PTR_NULL(hash_lookup(&t, "KEY1234"));
    CU_ASSERT_EQUAL((size_t)hash_insert(&t, "key1", (void *)(size_t)7), 1);
    CU_ASSERT_EQUAL((size_t)hash_del(&t, "key2"), 2);
    CU_ASSERT_PTR_NULL(hash_del(&t, "key2"));
    CU_ASSERT_EQUAL(hash_count(&t), 4999);
    long sum = 0;
    hash_enumerate(&t, count_cb, &sum);
    CU_ASSERT_EQUAL(sum, 5000L * 5001 / 2 - 1 - 2 + 7);
    hash_free(&t, NULL);

    struct hash_table u = HASH_TABLE_INITIALIZER;
    u.nocase = 1;
    hash_insert(&u, "Alice", xstrdup("v"));
    CU_ASSERT_STRING_EQUAL(hash_lookup(&u, "ALICE"), "v");
    hash_free(&u, free);
}

static void test_error(void)
{
    CU_ASSERT_STRING_EQUAL(error_message(0), "Success");
    CU_ASSERT_STRING_EQUAL(error_message(CYRERR_MAILBOX_NONEXISTENT), "Mailbox does not exist");
    CU_ASSERT_STRING_EQUAL(error_name(CYRERR_NOTFOUND), "CYRERR_NOTFOUND");
    CU_ASSERT_STRING_EQUAL(error_message(-1), "Unknown error");
    CU_ASSERT_STRING_EQUAL(error_message(-999999), "Unknown error");
    CU_ASSERT_TRUE(strlen(error_message(2)) > 0); /* ENOENT via strerror */
    CU_ASSERT_TRUE(CYRERR_IO < 0);
}

static void test_log(void)
{
    CU_ASSERT_EQUAL(log_facility_from_name("local6"), LOG_LOCAL6);
    CU_ASSERT_EQUAL(log_facility_from_name("MAIL"), LOG_MAIL);
    CU_ASSERT_EQUAL(log_facility_from_name("bogus"), -1);
    log_init("/usr/lib/cyrus/test_core", 0);
    CU_ASSERT_STRING_EQUAL(log_ident(), "test_core");
    xsyslog(LOG_DEBUG, "test", "key=<%s>", "value\r\ninjected");
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("core", NULL, NULL);
    ADD_TEST(s, test_xmalloc);
    ADD_TEST(s, test_buf_basic);
    ADD_TEST(s, test_buf_binary_and_growth);
    ADD_TEST(s, test_buf_append_u64);
    ADD_TEST(s, test_strarray);
    ADD_TEST(s, test_hash);
    ADD_TEST(s, test_error);
    ADD_TEST(s, test_log);
}
