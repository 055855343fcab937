/* hash: string-keyed hash table.  See hash.h. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hash.h"
#include "xmalloc.h"

struct hash_entry {
    struct hash_entry *next;
    unsigned hash;
    void *value;
    char key[];
};

unsigned hash_string(const char *s, int nocase)
{
    unsigned h = 2166136261u;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (nocase) c = (unsigned char)tolower(c);
        h ^= c;
        h *= 16777619u;
    }
    return h;
}

void hash_init(struct hash_table *t, size_t size_hint, int nocase)
{
    size_t n = 16;
    while (n < size_hint) n *= 2;
    t->size = n;
    t->count = 0;
    t->nocase = nocase;
    t->buckets = xcalloc(n, sizeof(*t->buckets));
}

void hash_free(struct hash_table *t, void (*free_value)(void *))
{
    for (size_t i = 0; i < t->size; i++) {
        struct hash_entry *e = t->buckets ? t->buckets[i] : NULL;
        while (e) {
            struct hash_entry *next = e->next;
            if (free_value) free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = NULL;
    t->size = t->count = 0;
}

static int keyeq(const struct hash_table *t, const char *a, const char *b)
{
    return t->nocase ? !strcasecmp(a, b) : !strcmp(a, b);
}

static void grow(struct hash_table *t)
{
    size_t n = t->size * 2;
    struct hash_entry **nb = xcalloc(n, sizeof(*nb));
    for (size_t i = 0; i < t->size; i++) {
        struct hash_entry *e = t->buckets[i];
        while (e) {
            struct hash_entry *next = e->next;
            size_t j = e->hash & (n - 1);
            e->next = nb[j];
            nb[j] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->size = n;
}

void *hash_insert(struct hash_table *t, const char *key, void *value)
{
    if (!t->buckets) hash_init(t, 16, t->nocase);
    unsigned h = hash_string(key, t->nocase);
    for (struct hash_entry *e = t->buckets[h & (t->size - 1)]; e; e = e->next) {
        if (e->hash == h && keyeq(t, e->key, key)) {
            void *old = e->value;
            e->value = value;
            return old;
        }
    }
    if (t->count + 1 > t->size * 3 / 4) grow(t);
    size_t klen = strlen(key);
    struct hash_entry *e = xmalloc(sizeof(*e) + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    size_t i = h & (t->size - 1);
    e->next = t->buckets[i];
    t->buckets[i] = e;
    t->count++;
    return NULL;
}

void *hash_lookup(const struct hash_table *t, const char *key)
{
    if (!t->buckets) return NULL;
    unsigned h = hash_string(key, t->nocase);
    for (struct hash_entry *e = t->buckets[h & (t->size - 1)]; e; e = e->next)
        if (e->hash == h && keyeq(t, e->key, key)) return e->value;
    return NULL;
}

void *hash_del(struct hash_table *t, const char *key)
{
    if (!t->buckets) return NULL;
    unsigned h = hash_string(key, t->nocase);
    struct hash_entry **pp = &t->buckets[h & (t->size - 1)];
    for (; *pp; pp = &(*pp)->next) {
        struct hash_entry *e = *pp;
        if (e->hash == h && keyeq(t, e->key, key)) {
            void *v = e->value;
            *pp = e->next;
            free(e);
            t->count--;
            return v;
        }
    }
    return NULL;
}

void hash_enumerate(const struct hash_table *t,
                    void (*fn)(const char *key, void *value, void *rock),
                    void *rock)
{
    for (size_t i = 0; i < t->size; i++)
        for (struct hash_entry *e = t->buckets[i]; e; e = e->next)
            fn(e->key, e->value, rock);
}
