/* prot_literal: counted reads off a prot stream (IMAP literals, APPEND and
 * LMTP spooling) without unbounded memory.  See prot.h.
 *
 * Built on the public prot_read() only. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "prot.h"
#include "xmalloc.h"

#define COPY_CHUNK PROT_BUFSIZE

struct prot_literal {
    uint64_t len;
    char *mem;        /* in memory (len + 1 bytes, NUL-terminated), or NULL */
    int fd;           /* the unlinked spill file, or -1 */
    void *map;        /* mmap of fd, made on demand */
};

/* Write all of data to fd; 0 or an errno. */
static int write_all(int fd, const void *data, size_t n)
{
    const char *s = data;
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : EIO;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read n bytes from p, handing each chunk to fd (unless fd < 0 or a write
 * failed already: then the bytes are dropped).  Returns 0, the read error,
 * or CYRERR_IO after a failed write (having still consumed all n bytes). */
static int stream_to_fd(struct prot *p, uint64_t n, int fd)
{
    char *chunk = xmalloc(COPY_CHUNK);
    int werr = fd < 0;
    int r = 0;
    while (n) {
        size_t want = n > COPY_CHUNK ? COPY_CHUNK : (size_t)n;
        ssize_t got = prot_read(p, chunk, want);
        if (got <= 0) {
            r = got == 0 ? CYRERR_EOF : (int)got;
            break;
        }
        n -= (uint64_t)got;
        if (!werr && write_all(fd, chunk, (size_t)got)) werr = 1;
    }
    free(chunk);
    if (r) return r;
    return werr ? CYRERR_IO : 0;
}

int prot_copy_to_fd(struct prot *p, uint64_t n, int fd)
{
    if (fd < 0) return CYRERR_BADARGS;
    return stream_to_fd(p, n, fd);
}

/* An anonymous file in dir: O_TMPFILE where the file system has it, else a
 * named file that is unlinked at once. */
static int spill_open(const char *dir)
{
    if (!dir || !*dir) {
        dir = getenv("TMPDIR");
        if (!dir || !*dir) dir = "/tmp";
    }
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    if (errno == ENOENT || errno == ENOTDIR || errno == EACCES) return -1;
#endif
    char *templ = xasprintf("%s/prot-literal-XXXXXX", dir);
    int tfd = mkostemp(templ, O_CLOEXEC);
    if (tfd >= 0) unlink(templ);
    free(templ);
    return tfd;
}

int prot_read_literal(struct prot *p, uint64_t n, size_t mem_max,
                      const char *tmpdir, struct prot_literal **lit_r)
{
    *lit_r = NULL;
    struct prot_literal *lit = xzmalloc(sizeof(*lit));
    lit->len = n;
    lit->fd = -1;
    if (n <= mem_max && n < SIZE_MAX) {
        lit->mem = xmalloc((size_t)n + 1);
        size_t have = 0;
        while (have < n) {
            ssize_t got = prot_read(p, lit->mem + have, (size_t)n - have);
            if (got <= 0) {
                prot_literal_free(&lit);
                return got == 0 ? CYRERR_EOF : (int)got;
            }
            have += (size_t)got;
        }
        lit->mem[n] = '\0';
        *lit_r = lit;
        return 0;
    }
    lit->fd = spill_open(tmpdir);
    int r = stream_to_fd(p, n, lit->fd);
    if (r) {
        prot_literal_free(&lit);
        return r;
    }
    *lit_r = lit;
    return 0;
}

uint64_t prot_literal_len(const struct prot_literal *lit) { return lit->len; }
int prot_literal_in_memory(const struct prot_literal *lit) { return lit->mem != NULL; }
int prot_literal_fd(const struct prot_literal *lit) { return lit->fd; }

const char *prot_literal_base(struct prot_literal *lit)
{
    if (lit->mem) return lit->mem;
    if (lit->len == 0) return "";
    if (lit->map) return lit->map;
    if (lit->len > SIZE_MAX) return NULL;
    void *m = mmap(NULL, (size_t)lit->len, PROT_READ, MAP_PRIVATE, lit->fd, 0);
    if (m == MAP_FAILED) return NULL;
    lit->map = m;
    return m;
}

ssize_t prot_literal_pread(const struct prot_literal *lit, void *buf,
                           size_t n, uint64_t off)
{
    if (off >= lit->len) return 0;
    if (n > lit->len - off) n = (size_t)(lit->len - off);
    if (n > SSIZE_MAX) n = SSIZE_MAX;
    if (lit->mem) {
        memcpy(buf, lit->mem + off, n);
        return (ssize_t)n;
    }
    for (;;) {
        ssize_t got = pread(lit->fd, buf, n, (off_t)off);
        if (got >= 0) return got;
        if (errno != EINTR) return CYRERR_IO;
    }
}

int prot_literal_copy_to_fd(const struct prot_literal *lit, int fd)
{
    if (lit->mem) return write_all(fd, lit->mem, (size_t)lit->len) ? CYRERR_IO : 0;
    char *chunk = xmalloc(COPY_CHUNK);
    uint64_t off = 0;
    int r = 0;
    while (off < lit->len) {
        ssize_t got = prot_literal_pread(lit, chunk, COPY_CHUNK, off);
        if (got <= 0 || write_all(fd, chunk, (size_t)got)) {
            r = CYRERR_IO;
            break;
        }
        off += (uint64_t)got;
    }
    free(chunk);
    return r;
}

void prot_literal_free(struct prot_literal **litp)
{
    if (!litp || !*litp) return;
    struct prot_literal *lit = *litp;
    if (lit->map) munmap(lit->map, (size_t)lit->len);
    if (lit->fd >= 0) close(lit->fd);
    free(lit->mem);
    free(lit);
    *litp = NULL;
}
