/* children: master's process table.  See children.h. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "hash.h"
#include "master/children.h"
#include "xmalloc.h"

static void pid_key(pid_t pid, char *buf, size_t len)
{
    snprintf(buf, len, "%ld", (long)pid);
}

void children_init(struct children *c)
{
    hash_init(&c->by_pid, 64, 0);
}

void children_free(struct children *c)
{
    hash_free(&c->by_pid, free);
}

struct child *children_add(struct children *c, pid_t pid, enum child_kind kind)
{
    char key[32];
    struct child *ch = xzmalloc(sizeof(*ch));
    ch->pid = pid;
    ch->kind = kind;
    ch->state = kind == CHILD_SERVICE ? CHILD_STARTING : CHILD_RUNNING;
    ch->started_ms = children_now_ms();
    pid_key(pid, key, sizeof(key));
    struct child *old = hash_insert(&c->by_pid, key, ch);
    free(old);   /* a stale record of a reused pid: cannot happen once reaped */
    return ch;
}

struct child *children_find(const struct children *c, pid_t pid)
{
    char key[32];
    pid_key(pid, key, sizeof(key));
    return hash_lookup(&c->by_pid, key);
}

void children_remove(struct children *c, struct child *child)
{
    char key[32];
    pid_key(child->pid, key, sizeof(key));
    struct child *old = hash_del(&c->by_pid, key);
    free(old);
}

size_t children_count(const struct children *c)
{
    return hash_count(&c->by_pid);
}

struct foreach_rock {
    void (*fn)(struct child *, void *);
    void *rock;
};

static void foreach_one(const char *key, void *value, void *rock)
{
    (void)key;
    struct foreach_rock *fr = rock;
    fr->fn(value, fr->rock);
}

void children_foreach(const struct children *c,
                      void (*fn)(struct child *child, void *rock), void *rock)
{
    struct foreach_rock fr = { fn, rock };
    hash_enumerate(&c->by_pid, foreach_one, &fr);
}

size_t children_reap(struct child_exit **exits, size_t *nexits)
{
    size_t n = 0, alloc = 0;
    struct child_exit *list = NULL;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR) continue;
        if (pid <= 0) break;
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 8;
            list = xreallocarray(list, alloc, sizeof(*list));
        }
        list[n].pid = pid;
        list[n].status = status;
        n++;
    }
    *exits = list;
    *nexits = n;
    return n;
}

const char *children_status_text(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(buf, len, "status 0x%x", (unsigned)status);
    return buf;
}

int children_status_ok(int status)
{
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

long long children_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
