/* hash: a string-keyed hash table with chaining.
 *
 * Keys are copied into the table; values are opaque pointers owned by the
 * caller (hash_free() takes an optional destructor for them).  The table
 * grows as it fills, so lookups stay O(1).  Iteration order is unspecified.
 */
#ifndef LIB_HASH_H
#define LIB_HASH_H

#include <stddef.h>

struct hash_entry;

struct hash_table {
    size_t size;     /* buckets */
    size_t count;    /* entries */
    int nocase;      /* keys compared case-insensitively */
    struct hash_entry **buckets;
};

#define HASH_TABLE_INITIALIZER { 0, 0, 0, NULL }

void hash_init(struct hash_table *t, size_t size_hint, int nocase);
void hash_free(struct hash_table *t, void (*free_value)(void *));

/* Insert or replace; returns the previous value (or NULL). */
void *hash_insert(struct hash_table *t, const char *key, void *value);
void *hash_lookup(const struct hash_table *t, const char *key);
/* Remove; returns the value that was stored (or NULL). */
void *hash_del(struct hash_table *t, const char *key);
static inline size_t hash_count(const struct hash_table *t) { return t->count; }

/* Call fn for each entry; fn must not change the table. */
void hash_enumerate(const struct hash_table *t,
                    void (*fn)(const char *key, void *value, void *rock),
                    void *rock);

/* FNV-1a, exposed for other modules that need a stable string hash. */
unsigned hash_string(const char *s, int nocase);

#endif
