/* Tests for imap/store/seqset (UID sets). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "imap/store/seqset.h"

/* The canonical text of a set (static buffer, one at a time). */
static const char *fmt(const struct seqset *s)
{
    static struct buf b = BUF_INITIALIZER;
    buf_reset(&b);
    seqset_format(s, &b);
    return buf_cstring(&b);
}

static int parse(struct seqset *s, const char *text)
{
    return seqset_parse(text, strlen(text), 0, s);
}

static void test_parse_format(void)
{
    struct seqset s = SEQSET_INITIALIZER;
    CU_ASSERT_EQUAL(parse(&s, ""), 0);
    CU_ASSERT_TRUE(seqset_is_empty(&s));
    CU_ASSERT_STRING_EQUAL(fmt(&s), "");

    CU_ASSERT_EQUAL(parse(&s, "1:5,7,9:12"), 0);
    CU_ASSERT_STRING_EQUAL(fmt(&s), "1:5,7,9:12");
    CU_ASSERT_EQUAL(s.count, 3);
    CU_ASSERT_EQUAL(seqset_cardinality(&s), 10);

    /* unordered, overlapping, adjacent, reversed ranges become canonical */
    CU_ASSERT_EQUAL(parse(&s, "9:12,3,1:2,5:4,7,6,13"), 0);
    CU_ASSERT_STRING_EQUAL(fmt(&s), "1:7,9:13");
    CU_ASSERT_EQUAL(parse(&s, "5,5,5"), 0);
    CU_ASSERT_STRING_EQUAL(fmt(&s), "5");
    CU_ASSERT_EQUAL(parse(&s, "4294967295,1:4294967294"), 0);
    CU_ASSERT_STRING_EQUAL(fmt(&s), "1:4294967295");
    CU_ASSERT_EQUAL(seqset_cardinality(&s), 4294967295ULL);
    CU_ASSERT_EQUAL(parse(&s, "007"), 0);
    CU_ASSERT_STRING_EQUAL(fmt(&s), "7");

    static const char *const bad[] = {
        "0", "1:0", "0:3", "*", "1:*", "1,", ",1", "1,,2", "1:", ":1", "1:2:3",
        " 1", "1 ", "-1", "+1", "4294967296", "99999999999999999999", "a", "1;2", "1:2,x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_EQUAL(parse(&s, "1:3"), 0);
        if (parse(&s, bad[i]) != CYRERR_PARSE) CU_FAIL(bad[i]);
        CU_ASSERT_TRUE(seqset_is_empty(&s));   /* left empty on error */
    }

    /* length-bounded: the text need not be NUL-terminated */
    CU_ASSERT_EQUAL(seqset_parse("1:5,7xyz", 3, 0, &s), 0);
    CU_ASSERT_STRING_EQUAL(fmt(&s), "1:5");
    /* embedded NUL is not a number */
    CU_ASSERT_EQUAL(seqset_parse("1\0002", 3, 0, &s), CYRERR_PARSE);

    /* maxranges counts the written items */
    CU_ASSERT_EQUAL(seqset_parse("1,3,5", 5, 3, &s), 0);
    CU_ASSERT_EQUAL(seqset_parse("1,3,5,7", 7, 3, &s), CYRERR_LIMIT);
    CU_ASSERT_TRUE(seqset_is_empty(&s));
    seqset_free(&s);
}

static void test_add_remove(void)
{
    struct seqset s = SEQSET_INITIALIZER;
    seqset_add(&s, 5);
    seqset_add(&s, 7);
    CU_ASSERT_STRING_EQUAL(fmt(&s), "5,7");
    seqset_add(&s, 6);                         /* joins both neighbours */
    CU_ASSERT_STRING_EQUAL(fmt(&s), "5:7");
    CU_ASSERT_EQUAL(s.count, 1);
    seqset_add(&s, 0);                         /* ignored */
    CU_ASSERT_STRING_EQUAL(fmt(&s), "5:7");
    seqset_add_range(&s, 20, 10);              /* reversed */
    CU_ASSERT_STRING_EQUAL(fmt(&s), "5:7,10:20");
    seqset_add_range(&s, 0, 2);                /* 0 dropped from the range */
    CU_ASSERT_STRING_EQUAL(fmt(&s), "1:2,5:7,10:20");
    seqset_add_range(&s, 3, 9);                /* bridges everything */
    CU_ASSERT_STRING_EQUAL(fmt(&s), "1:20");
    seqset_add(&s, UINT32_MAX);
    seqset_add(&s, UINT32_MAX - 1);
    CU_ASSERT_STRING_EQUAL(fmt(&s), "1:20,4294967294:4294967295");

    seqset_remove(&s, 10);                     /* splits */
    CU_ASSERT_STRING_EQUAL(fmt(&s), "1:9,11:20,4294967294:4294967295");
    seqset_remove(&s, 1);                      /* trims the low end */
    seqset_remove(&s, 20);                     /* trims the high end */
    CU_ASSERT_STRING_EQUAL(fmt(&s), "2:9,11:19,4294967294:4294967295");
    seqset_remove(&s, 100);                    /* absent: no change */
    seqset_remove(&s, 0);
    CU_ASSERT_STRING_EQUAL(fmt(&s), "2:9,11:19,4294967294:4294967295");
    seqset_remove_range(&s, 5, 15);            /* across two ranges */
    CU_ASSERT_STRING_EQUAL(fmt(&s), "2:4,16:19,4294967294:4294967295");
    seqset_remove_range(&s, 1, UINT32_MAX);
    CU_ASSERT_TRUE(seqset_is_empty(&s));
    CU_ASSERT_STRING_EQUAL(fmt(&s), "");
    seqset_remove(&s, 3);                      /* on an empty set */
    CU_ASSERT_TRUE(seqset_is_empty(&s));
    seqset_free(&s);
}

static void test_membership(void)
{
    struct seqset s = SEQSET_INITIALIZER;
    CU_ASSERT_FALSE(seqset_contains(&s, 1));
    CU_ASSERT_EQUAL(seqset_first(&s), 0);
    CU_ASSERT_EQUAL(seqset_last(&s), 0);
    CU_ASSERT_EQUAL(seqset_next(&s, 0), 0);
    CU_ASSERT_EQUAL(parse(&s, "3:5,9,20:22"), 0);
    static const uint32_t in[] = { 3, 4, 5, 9, 20, 21, 22 };
    static const uint32_t out[] = { 0, 1, 2, 6, 8, 10, 19, 23, UINT32_MAX };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) CU_ASSERT_TRUE(seqset_contains(&s, in[i]));
    for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) CU_ASSERT_FALSE(seqset_contains(&s, out[i]));
    CU_ASSERT_EQUAL(seqset_first(&s), 3);
    CU_ASSERT_EQUAL(seqset_last(&s), 22);
    CU_ASSERT_EQUAL(seqset_next(&s, 0), 3);
    CU_ASSERT_EQUAL(seqset_next(&s, 3), 4);
    CU_ASSERT_EQUAL(seqset_next(&s, 5), 9);
    CU_ASSERT_EQUAL(seqset_next(&s, 9), 20);
    CU_ASSERT_EQUAL(seqset_next(&s, 22), 0);
    CU_ASSERT_EQUAL(seqset_next(&s, UINT32_MAX), 0);

    /* walking with next visits exactly the members */
    uint32_t n = 0, visited = 0;
    while ((n = seqset_next(&s, n))) visited++;
    CU_ASSERT_EQUAL(visited, seqset_cardinality(&s));
    seqset_free(&s);
}

static void test_union_subtract(void)
{
    struct seqset a = SEQSET_INITIALIZER, b = SEQSET_INITIALIZER, c = SEQSET_INITIALIZER;
    CU_ASSERT_EQUAL(parse(&a, "1:3,10:12"), 0);
    CU_ASSERT_EQUAL(parse(&b, "4,11:15,30"), 0);
    seqset_copy(&c, &a);
    CU_ASSERT_TRUE(seqset_equal(&a, &c));
    seqset_union(&c, &b);
    CU_ASSERT_STRING_EQUAL(fmt(&c), "1:4,10:15,30");
    CU_ASSERT_FALSE(seqset_equal(&a, &c));
    seqset_subtract(&c, &b);
    CU_ASSERT_STRING_EQUAL(fmt(&c), "1:3,10");
    seqset_union(&c, &c);                      /* self: no change */
    CU_ASSERT_STRING_EQUAL(fmt(&c), "1:3,10");
    seqset_subtract(&c, &c);                   /* self: empty */
    CU_ASSERT_TRUE(seqset_is_empty(&c));
    seqset_clear(&a);
    CU_ASSERT_TRUE(seqset_equal(&a, &c));
    seqset_free(&a);
    seqset_free(&b);
    seqset_free(&c);
}

/* Many random operations against a bitmap model. */
static void test_random_model(void)
{
    enum { N = 300 };
    unsigned char model[N + 2];
    struct seqset s = SEQSET_INITIALIZER, t = SEQSET_INITIALIZER;
    struct buf text = BUF_INITIALIZER;
    memset(model, 0, sizeof(model));
    srand(12345);
    for (int step = 0; step < 3000; step++) {
        uint32_t lo = (uint32_t)(rand() % N) + 1;
        uint32_t hi = lo + (uint32_t)(rand() % 8);
        if (hi > N) hi = N;
        int add = rand() % 3 != 0;
        if (add) seqset_add_range(&s, lo, hi);
        else seqset_remove_range(&s, lo, hi);
        for (uint32_t u = lo; u <= hi; u++) model[u] = (unsigned char)add;
        if (step % 100) continue;
        /* check members, canonical form and a round trip */
        for (uint32_t u = 0; u <= N + 1; u++)
            if (seqset_contains(&s, u) != (u >= 1 && u <= N && model[u])) {
                CU_FAIL("membership differs from the model");
                goto out;
            }
        for (size_t k = 1; k < s.count; k++)
            CU_ASSERT_TRUE(s.ranges[k].low > s.ranges[k - 1].high + 1);
        buf_reset(&text);
        seqset_format(&s, &text);
        CU_ASSERT_EQUAL(seqset_parse(text.s ? text.s : "", text.len, 0, &t), 0);
        CU_ASSERT_TRUE(seqset_equal(&s, &t));
    }
out:
    seqset_free(&s);
    seqset_free(&t);
    buf_free(&text);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("seqset", NULL, NULL);
    ADD_TEST(s, test_parse_format);
    ADD_TEST(s, test_add_remove);
    ADD_TEST(s, test_membership);
    ADD_TEST(s, test_union_subtract);
    ADD_TEST(s, test_random_model);
}
