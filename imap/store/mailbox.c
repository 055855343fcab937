/* mailbox: creating, opening, locking and reading a mailbox; the
 * transaction primitives the other mailbox files build on.  See mailbox.h
 * for the API and mailbox_int.h for the formats and the write protocol. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/mailbox_io.h"
#include "imap/store/mboxname.h"
#include "imap/store/quota.h"

/* Open handles of this process, for the same-process deadlock check. */
static struct mailbox *open_list;

struct mailbox *mailbox_open_handles(void)
{
    return open_list;
}

static void registry_add(struct mailbox *mb)
{
    mb->next_open = open_list;
    open_list = mb;
}

static void registry_remove(struct mailbox *mb)
{
    for (struct mailbox **pp = &open_list; *pp; pp = &(*pp)->next_open) {
        if (*pp == mb) {
            *pp = mb->next_open;
            break;
        }
    }
    mb->next_open = NULL;
}

/* ---- paths ---------------------------------------------------------------- */

int mailbox_dir_for(const char *name, const char *partition, struct buf *dir)
{
    if (!name) return CYRERR_BADNAME;
    if (!partition || !*partition) partition = config_getstring(IMAPOPT_DEFAULTPARTITION);
    const char *pd = partition && *partition ? config_partitiondir(partition) : NULL;
    if (!pd || !*pd) return CYRERR_PARTITION_UNKNOWN;
    return mboxname_path(pd, name, config_getswitch(IMAPOPT_HASHIMAPSPOOL), dir);
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : -1;
    char *copy = xstrdup(path);
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(copy, 0777) < 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        *p = '/';
    }
    int r = mkdir(copy, 0777);
    free(copy);
    return r < 0 && errno != EEXIST ? -1 : 0;
}

static struct mailbox *mailbox_new(const char *dir)
{
    struct mailbox *mb = xzmalloc(sizeof(*mb));
    mailbox_meta_init(&mb->meta);
    mb->dir = xstrdup(dir);
    mb->dirfd = mb->lockfd = mb->indexfd = mb->cachefd = mb->changesfd = -1;
    return mb;
}

static void mailbox_free(struct mailbox *mb)
{
    mailbox_drop_files(mb);
    if (mb->lockfd >= 0) close(mb->lockfd);
    if (mb->dirfd >= 0) close(mb->dirfd);
    mailbox_meta_free(&mb->meta);
    free(mb->dir);
    free(mb);
}

/* ---- locks ------------------------------------------------------------------- */

int mailbox_lock_byte(int fd, int byte, short type, int wait)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    for (;;) {
        if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0) return 0;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EACCES) return CYRERR_LOCKED;
        return CYRERR_IO;
    }
}

int mailbox_lock_holder(struct mailbox *mb)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = MBX_LOCK_INDEX;
    fl.l_len = 1;
    if (fcntl(mb->lockfd, F_OFD_GETLK, &fl) < 0) return F_WRLCK;
    return fl.l_type;
}

int mailbox_lock_raw(struct mailbox *mb, enum mailbox_lockmode mode, int wait)
{
    short type = mode == MAILBOX_LOCK_SHARED ? F_RDLCK
               : mode == MAILBOX_LOCK_EXCLUSIVE ? F_WRLCK : F_UNLCK;
    int r = mailbox_lock_byte(mb->lockfd, MBX_LOCK_INDEX, type, wait);
    if (r == CYRERR_IO) mailbox_ioerr(mb, "lock", MBX_LOCK_FNAME);
    return r;
}

/* Would locking `mb` in `mode` wait for another handle of this process? */
static int registry_conflict(const struct mailbox *mb, enum mailbox_lockmode mode)
{
    for (const struct mailbox *o = open_list; o; o = o->next_open) {
        if (o == mb || o->lock_dev != mb->lock_dev || o->lock_ino != mb->lock_ino)
            continue;
        if (o->lockmode == MAILBOX_LOCK_NONE) continue;
        if (mode == MAILBOX_LOCK_EXCLUSIVE || o->lockmode == MAILBOX_LOCK_EXCLUSIVE)
            return 1;
    }
    return 0;
}

/* ---- files and mappings --------------------------------------------------------- */

void mailbox_drop_files(struct mailbox *mb)
{
    if (mb->imap) munmap((void *)mb->imap, mb->imap_len);
    if (mb->cmap) munmap((void *)mb->cmap, mb->cmap_len);
    mb->imap = mb->cmap = NULL;
    mb->imap_len = mb->cmap_len = 0;
    mb->imap_valid = mb->cmap_valid = 0;
    if (mb->indexfd >= 0) close(mb->indexfd);
    if (mb->cachefd >= 0) close(mb->cachefd);
    if (mb->changesfd >= 0) close(mb->changesfd);
    mb->indexfd = mb->cachefd = mb->changesfd = -1;
    mb->index_ino = 0;
}

static int open_rw_or_ro(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0 && (errno == EACCES || errno == EROFS))
        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    return fd;
}

int mailbox_open_files(struct mailbox *mb)
{
    mailbox_drop_files(mb);
    mb->indexfd = open_rw_or_ro(mb->dirfd, MBX_INDEX_FNAME);
    if (mb->indexfd < 0) {
        if (errno == ENOENT) return CYRERR_MAILBOX_NONEXISTENT;
        return mailbox_ioerr(mb, "open", MBX_INDEX_FNAME);
    }
    struct stat st;
    if (fstat(mb->indexfd, &st) < 0) return mailbox_ioerr(mb, "fstat", MBX_INDEX_FNAME);
    mb->index_ino = st.st_ino;
    mb->cachefd = open_rw_or_ro(mb->dirfd, MBX_CACHE_FNAME);
    if (mb->cachefd < 0) {
        if (errno == ENOENT) {
            xsyslog(LOG_ERR, "mailbox cache missing", "mailbox=<%s>", mb->dir);
            return CYRERR_CORRUPT;
        }
        return mailbox_ioerr(mb, "open", MBX_CACHE_FNAME);
    }
    return 0;
}

/* Map `fd` so that `need` bytes are covered; *valid becomes the file size
 * seen.  The mapping may run past the end of the file (with slack, so that
 * a growing file is remapped rarely), but nobody reads beyond *valid. */
static int map_file(int fd, const unsigned char **map, size_t *maplen, size_t *valid,
                    size_t need)
{
    if (*map && need <= *valid) return 0;
    struct stat st;
    if (fstat(fd, &st) < 0) return CYRERR_IO;
    size_t size = (size_t)st.st_size;
    if (size < need) return CYRERR_CORRUPT;
    *valid = size;
    if (*map && *maplen >= size) return 0;
    size_t len = size + size / 4 + 65536;
    len = (len + 65535) & ~(size_t)65535;
    if (*map) munmap((void *)*map, *maplen);
    *map = NULL;
    *maplen = 0;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        *valid = 0;
        return CYRERR_IO;
    }
    *map = p;
    *maplen = len;
    return 0;
}

int mailbox_map_index(struct mailbox *mb, size_t need)
{
    if (mb->indexfd < 0) return CYRERR_INTERNAL;
    int r = map_file(mb->indexfd, &mb->imap, &mb->imap_len, &mb->imap_valid, need);
    if (r == CYRERR_IO) return mailbox_ioerr(mb, "map", MBX_INDEX_FNAME);
    return r;
}

int mailbox_map_cache(struct mailbox *mb, size_t need)
{
    if (mb->cachefd < 0) return CYRERR_INTERNAL;
    int r = map_file(mb->cachefd, &mb->cmap, &mb->cmap_len, &mb->cmap_valid, need);
    if (r == CYRERR_IO) return mailbox_ioerr(mb, "map", MBX_CACHE_FNAME);
    return r;
}

int mailbox_write_slot(struct mailbox *mb, const struct mbx_header *h, int slot)
{
    unsigned char buf[MBX_SLOT_SIZE];
    mailbox_hdr_encode(h, buf);
    if (mailbox_io_pwrite(mb->indexfd, buf, sizeof(buf), (off_t)slot * MBX_SLOT_SIZE) < 0)
        return mailbox_ioerr(mb, "write header", MBX_INDEX_FNAME);
    return 0;
}

int mailbox_needs_recovery(const struct mailbox *mb)
{
    if (mb->hdr.flags & MBX_HF_DIRTY) return 1;
    uint64_t boot = mailbox_io_bootid();
    return boot && mb->hdr.bootid != boot;
}

/* Under a lock: follow a replaced index, read the header, check that the
 * files are as long as it says.  *need is set when recovery is called
 * for.  mailbox_refresh() also loads cyrus.header (new keywords). */
int mailbox_refresh_index(struct mailbox *mb, int *need)
{
    *need = 0;
    struct stat st;
    /* a mailbox deleted and created again has a new lock file: ours no
     * longer excludes anybody */
    if (fstatat(mb->dirfd, MBX_LOCK_FNAME, &st, 0) < 0 || st.st_ino != mb->lock_ino ||
        st.st_dev != mb->lock_dev)
        return CYRERR_MAILBOX_NONEXISTENT;
    if (fstatat(mb->dirfd, MBX_INDEX_FNAME, &st, 0) < 0) {
        if (errno == ENOENT) return CYRERR_MAILBOX_NONEXISTENT;
        return mailbox_ioerr(mb, "stat", MBX_INDEX_FNAME);
    }
    int r;
    if (mb->indexfd < 0 || st.st_ino != mb->index_ino) {
        r = mailbox_open_files(mb);
        if (r) return r;
    }
    r = mailbox_map_index(mb, MBX_HEADER_SIZE);
    if (r) return r;
    r = mailbox_hdr_pick(mb->imap, -1, &mb->hdr, &mb->slot);
    if (r) {
        xsyslog(LOG_ERR, "mailbox index header damaged", "mailbox=<%s>", mb->dir);
        return r;
    }
    if (mailbox_needs_recovery(mb)) *need = 1;
    if (mailbox_map_index(mb, MBX_HEADER_SIZE + (size_t)mb->hdr.num_records * MBX_RECORD_SIZE))
        *need = 1;
    uint64_t cid = 0;
    if (mailbox_map_cache(mb, MBX_CACHE_HDR_SIZE) ||
        mailbox_cachehdr_decode(mb->cmap, &cid) || cid != mb->hdr.cache_id ||
        mailbox_map_cache(mb, (size_t)mb->hdr.cache_size))
        *need = 1;
    return 0;
}

/* Reload cyrus.header when it was replaced or does not name every keyword
 * the index header counts. */
static int refresh_meta(struct mailbox *mb)
{
    int r;
    /* cyrus.header is replaced whole (rename) when a keyword or the quota
     * root changes: reload it when it is another file */
    struct stat hst;
    int meta_changed = fstatat(mb->dirfd, MBX_HEADER_FNAME, &hst, 0) == 0 &&
                       (hst.st_ino != mb->meta_ino || hst.st_mtime != mb->meta_mtime);
    if (!mb->meta.name || meta_changed ||
        mb->hdr.num_keywords > (uint32_t)mb->meta.keywords.count) {
        struct mbx_meta m;
        mailbox_meta_init(&m);
        r = mailbox_meta_read(mb->dirfd, &m);
        if (r) {
            mailbox_meta_free(&m);
            xsyslog(LOG_ERR, "mailbox header file unreadable", "mailbox=<%s> error=<%s>",
                    mb->dir, error_message(r));
            return r == CYRERR_NOTFOUND ? CYRERR_CORRUPT : r;
        }
        mailbox_meta_free(&mb->meta);
        mb->meta = m;
        if (fstatat(mb->dirfd, MBX_HEADER_FNAME, &hst, 0) == 0) {
            mb->meta_ino = hst.st_ino;
            mb->meta_mtime = hst.st_mtime;
        }
        if (mb->hdr.num_keywords > (uint32_t)mb->meta.keywords.count) {
            xsyslog(LOG_ERR, "mailbox keywords missing", "mailbox=<%s>", mb->dir);
            return CYRERR_CORRUPT;
        }
    }
    return 0;
}

int mailbox_refresh(struct mailbox *mb, int *need)
{
    int r = mailbox_refresh_index(mb, need);
    if (!r) r = refresh_meta(mb);
    return r;
}

static int lock_impl(struct mailbox *mb, enum mailbox_lockmode mode, int wait)
{
    if (mode == MAILBOX_LOCK_NONE) {
        mailbox_unlock(mb);
        return 0;
    }
    if (mode != MAILBOX_LOCK_SHARED && mode != MAILBOX_LOCK_EXCLUSIVE) return CYRERR_BADARGS;
    if (mb->txn) return CYRERR_BADARGS;
    if (mb->lockmode != MAILBOX_LOCK_NONE) mailbox_unlock(mb);
    if (registry_conflict(mb, mode)) return CYRERR_DEADLOCK;

    int r = mailbox_lock_raw(mb, mode, wait);
    if (r) return r;
    mb->lockmode = mode;
    int need = 0;
    r = mailbox_refresh(mb, &need);
    if (!r && need) {
        if (mode == MAILBOX_LOCK_SHARED) {
            /* a reader found a writer's mess: repair it exclusively */
            mailbox_lock_raw(mb, MAILBOX_LOCK_NONE, 0);
            mb->lockmode = MAILBOX_LOCK_NONE;
            r = mailbox_lock_raw(mb, MAILBOX_LOCK_EXCLUSIVE, 1);
            if (r) return r;
            mb->lockmode = MAILBOX_LOCK_EXCLUSIVE;
            r = mailbox_refresh(mb, &need);
            if (!r && need) r = mailbox_recover(mb, 0);
            if (!r) {
                r = mailbox_lock_raw(mb, MAILBOX_LOCK_SHARED, 1);  /* downgrade */
                if (!r) mb->lockmode = MAILBOX_LOCK_SHARED;
            }
        } else {
            r = mailbox_recover(mb, 0);
        }
    }
    if (r) {
        mailbox_lock_raw(mb, MAILBOX_LOCK_NONE, 0);
        mb->lockmode = MAILBOX_LOCK_NONE;
    }
    return r;
}

int mailbox_lock(struct mailbox *mb, enum mailbox_lockmode mode)
{
    return lock_impl(mb, mode, 1);
}

int mailbox_trylock_exclusive(struct mailbox *mb)
{
    return lock_impl(mb, MAILBOX_LOCK_EXCLUSIVE, 0);
}

void mailbox_unlock(struct mailbox *mb)
{
    if (!mb || mb->lockmode == MAILBOX_LOCK_NONE) return;
    if (mb->txn) {
        xsyslog(LOG_CRIT, "mailbox unlocked inside a transaction", "mailbox=<%s>",
                mb->meta.name ? mb->meta.name : mb->dir);
        mailbox_txn_abort(mb);
    }
    mailbox_lock_raw(mb, MAILBOX_LOCK_NONE, 0);
    mb->lockmode = MAILBOX_LOCK_NONE;
}

enum mailbox_lockmode mailbox_lockmode(const struct mailbox *mb)
{
    return mb->lockmode;
}

int mailbox_autolock(struct mailbox *mb, int *took)
{
    *took = 0;
    if (mb->lockmode == MAILBOX_LOCK_EXCLUSIVE) return 0;
    if (mb->lockmode == MAILBOX_LOCK_SHARED) return CYRERR_BADARGS;
    int r = mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE);
    if (!r) *took = 1;
    return r;
}

void mailbox_autounlock(struct mailbox *mb, int took)
{
    if (took) mailbox_unlock(mb);
}

/* ---- transactions ------------------------------------------------------------------ */

int mailbox_txn_begin(struct mailbox *mb)
{
    if (mb->lockmode != MAILBOX_LOCK_EXCLUSIVE || mb->txn) return CYRERR_BADARGS;
    if (mb->indexfd < 0) return CYRERR_INTERNAL;
    mb->txn_prev = mb->hdr;
    struct mbx_header d = mb->hdr;
    d.seq++;
    d.flags |= MBX_HF_DIRTY;
    int r = mailbox_write_slot(mb, &d, mb->slot ^ 1);
    if (r) return r;
    mb->hdr.seq = d.seq;
    mb->txn = 1;
    return 0;
}

int mailbox_txn_write_header(struct mailbox *mb)
{
    if (!mb->txn) return CYRERR_BADARGS;
    mb->hdr.seq++;
    mb->hdr.flags &= ~MBX_HF_DIRTY;
    mb->hdr.bootid = mailbox_io_bootid();
    return mailbox_write_slot(mb, &mb->hdr, mb->slot);
}

int mailbox_txn_commit(struct mailbox *mb)
{
    if (!mb->txn) return CYRERR_BADARGS;
    int r = mailbox_txn_write_header(mb);
    if (!r && mailbox_io_fdatasync(mb->indexfd) < 0)
        r = mailbox_ioerr(mb, "fdatasync", MBX_INDEX_FNAME);
    if (r) {
        mailbox_txn_abort(mb);
        return r;
    }
    mb->txn = 0;
    return 0;
}

void mailbox_txn_abort(struct mailbox *mb)
{
    if (!mb->txn) return;
    mb->txn = 0;
    struct mbx_header d = mb->txn_prev;
    d.seq = mb->hdr.seq + 1;
    d.flags |= MBX_HF_DIRTY;
    mb->hdr = d;
    /* Both slots now say DIRTY (if this write fails, the one written by
     * txn_begin still does): recovery cuts back to the previous state. */
    (void)mailbox_write_slot(mb, &d, mb->slot);
    int r = mailbox_recover(mb, 0);
    if (r)
        xsyslog(LOG_ERR, "mailbox recovery after failed transaction failed",
                "mailbox=<%s> error=<%s>", mb->meta.name ? mb->meta.name : mb->dir,
                error_message(r));
}

/* ---- change log --------------------------------------------------------------------- */

static int changes_open(struct mailbox *mb, int create)
{
    if (mb->changesfd >= 0) return 0;
    if (create)
        mb->changesfd = mailbox_io_openat(mb->dirfd, MBX_CHANGES_FNAME, O_RDWR | O_CREAT, 0666);
    else
        mb->changesfd = openat(mb->dirfd, MBX_CHANGES_FNAME, O_RDONLY | O_CLOEXEC);
    return mb->changesfd < 0 ? CYRERR_IO : 0;
}

int mailbox_changes_log(struct mailbox *mb, const uint32_t *recnos, size_t n)
{
    if (n == 0) return 0;
    /* Past a quarter of the records a full compare costs no more than the
     * log: restart the series, readers then compare everything once. */
    if (n > mb->hdr.num_records / 4 + 16 ||
        (uint64_t)mb->hdr.changes_len + n > MBX_CHANGES_MAX) {
        mb->hdr.changes_epoch++;
        mb->hdr.changes_len = 0;
        if (n > mb->hdr.num_records / 4 + 16 || n > MBX_CHANGES_MAX) return 0;
    }
    if (changes_open(mb, 1)) goto restart;
    unsigned char *buf = xmalloc(n * 4);
    for (size_t i = 0; i < n; i++) mailbox_put32(buf + 4 * i, recnos[i]);
    int r = mailbox_io_pwrite(mb->changesfd, buf, n * 4, (off_t)mb->hdr.changes_len * 4);
    free(buf);
    if (r < 0) goto restart;
    mb->hdr.changes_len += (uint32_t)n;
    return 0;
restart:
    /* the log is advisory: when it cannot be written, readers compare all */
    mb->hdr.changes_epoch++;
    mb->hdr.changes_len = 0;
    return 0;
}

int mailbox_changes_read(struct mailbox *mb, uint32_t from, uint32_t to,
                         uint32_t **recnosp)
{
    *recnosp = NULL;
    if (to < from || to > MBX_CHANGES_MAX) return CYRERR_BADARGS;
    if (to == from) return 0;
    if (changes_open(mb, 0)) return CYRERR_IO;
    size_t n = to - from;
    unsigned char *buf = xmalloc(n * 4);
    size_t got = 0;
    while (got < n * 4) {
        ssize_t r = pread(mb->changesfd, buf + got, n * 4 - got, (off_t)from * 4 + (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got != n * 4) {
        free(buf);
        return CYRERR_IO;
    }
    uint32_t *out = xmalloc(n * sizeof(*out));
    for (size_t i = 0; i < n; i++) out[i] = mailbox_get32(buf + 4 * i);
    free(buf);
    *recnosp = out;
    return 0;
}

/* ---- create / open / close -------------------------------------------------------------- */

static int open_dir_and_lock(struct mailbox *mb, int create_lock)
{
    mb->dirfd = open(mb->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mb->dirfd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return CYRERR_MAILBOX_NONEXISTENT;
        return mailbox_ioerr(mb, "open", mb->dir);
    }
    if (!create_lock && faccessat(mb->dirfd, MBX_INDEX_FNAME, F_OK, 0) < 0) {
        if (errno == ENOENT) return CYRERR_MAILBOX_NONEXISTENT;
        return mailbox_ioerr(mb, "access", MBX_INDEX_FNAME);
    }
    mb->lockfd = openat(mb->dirfd, MBX_LOCK_FNAME, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (mb->lockfd < 0) return mailbox_ioerr(mb, "open", MBX_LOCK_FNAME);
    struct stat st;
    if (fstat(mb->lockfd, &st) < 0) return mailbox_ioerr(mb, "fstat", MBX_LOCK_FNAME);
    mb->lock_dev = st.st_dev;
    mb->lock_ino = st.st_ino;
    /* the session lock: "this handle may hold sequence numbers" */
    int r = mailbox_lock_byte(mb->lockfd, MBX_LOCK_SESSION, F_RDLCK, 1);
    if (r) return mailbox_ioerr(mb, "lock", MBX_LOCK_FNAME);
    return 0;
}

static int write_new_file(struct mailbox *mb, const char *tmpname, const char *name,
                          const void *data, size_t len)
{
    int fd = mailbox_io_openat(mb->dirfd, tmpname, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) return mailbox_ioerr(mb, "create", tmpname);
    if (mailbox_io_write(fd, data, len) < 0 || mailbox_io_fsync(fd) < 0) {
        int r = mailbox_ioerr(mb, "write", tmpname);
        close(fd);
        unlinkat(mb->dirfd, tmpname, 0);
        return r;
    }
    close(fd);
    if (mailbox_io_renameat(mb->dirfd, tmpname, mb->dirfd, name, 0) < 0) {
        int r = mailbox_ioerr(mb, "rename", tmpname);
        unlinkat(mb->dirfd, tmpname, 0);
        return r;
    }
    return 0;
}

static int sync_parent(const char *dir)
{
    char *parent = xstrdup(dir);
    char *slash = strrchr(parent, '/');
    int r = 0;
    if (slash && slash != parent) {
        *slash = '\0';
        int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || mailbox_io_fsync(fd) < 0) r = CYRERR_IO;
        if (fd >= 0) close(fd);
    }
    free(parent);
    return r;
}

int mailbox_create_dir(const char *dir, const char *name,
                       const struct mailbox_create_params *p, struct mailbox **mbp)
{
    if (mbp) *mbp = NULL;
    if (!dir || !*dir) return CYRERR_BADARGS;
    if (!name || mboxname_valid(name)) return CYRERR_BADNAME;
    if (p && p->quotaroot && *p->quotaroot && !quota_root_valid(p->quotaroot))
        return CYRERR_BADNAME;
    if (make_dirs(dir) < 0) {
        xsyslog(LOG_ERR, "mailbox directory creation failed", "dir=<%s> error=<%s>",
                dir, strerror(errno));
        return CYRERR_IO;
    }
    struct mailbox *mb = mailbox_new(dir);
    int r = open_dir_and_lock(mb, 1);
    if (r) goto fail;
    r = mailbox_lock_raw(mb, MAILBOX_LOCK_EXCLUSIVE, 1);
    if (r) goto fail;
    mb->lockmode = MAILBOX_LOCK_EXCLUSIVE;
    if (faccessat(mb->dirfd, MBX_INDEX_FNAME, F_OK, 0) == 0) {
        r = CYRERR_MAILBOX_EXISTS;
        goto fail;
    }

    mb->meta.name = xstrdup(name);
    mb->meta.uniqueid = p && p->uniqueid && *p->uniqueid ? xstrdup(p->uniqueid)
                                                         : mailbox_make_uniqueid();
    mb->meta.quotaroot = p && p->quotaroot && *p->quotaroot ? xstrdup(p->quotaroot) : NULL;
    r = mailbox_meta_write(mb->dirfd, &mb->meta);
    if (r) goto fail;

    struct mbx_header h;
    memset(&h, 0, sizeof(h));
    h.seq = 1;
    h.generation = 1;
    h.uidvalidity = p && p->uidvalidity ? p->uidvalidity : (uint32_t)time(NULL);
    h.uidnext = 1;
    h.highestmodseq = p && p->highestmodseq ? p->highestmodseq : 1;
    h.cache_size = MBX_CACHE_HDR_SIZE;
    h.cache_id = mailbox_random64();
    h.bootid = mailbox_io_bootid();

    unsigned char chdr[MBX_CACHE_HDR_SIZE];
    mailbox_cachehdr_encode(h.cache_id, chdr);
    r = write_new_file(mb, MBX_CACHE_NEW, MBX_CACHE_FNAME, chdr, sizeof(chdr));
    if (r) goto fail;
    if (mailbox_io_mkdirat(mb->dirfd, MBX_QUEUE_DIR, 0777) < 0 && errno != EEXIST) {
        r = mailbox_ioerr(mb, "mkdir", MBX_QUEUE_DIR);
        goto fail;
    }
    unsigned char ihdr[MBX_HEADER_SIZE];
    memset(ihdr, 0, sizeof(ihdr));
    mailbox_hdr_encode(&h, ihdr);
    /* the index appears last: it is what makes the mailbox exist */
    r = write_new_file(mb, MBX_INDEX_NEW, MBX_INDEX_FNAME, ihdr, sizeof(ihdr));
    if (r) goto fail;
    if (mailbox_io_fsync(mb->dirfd) < 0 || sync_parent(dir)) {
        r = mailbox_ioerr(mb, "fsync", dir);
        goto fail;
    }
    int need;
    r = mailbox_refresh(mb, &need);
    if (r) goto fail;
    mailbox_lock_raw(mb, MAILBOX_LOCK_NONE, 0);
    mb->lockmode = MAILBOX_LOCK_NONE;
    registry_add(mb);
    if (mbp) *mbp = mb;
    else mailbox_close(&mb);
    return 0;
fail:
    mailbox_free(mb);
    return r;
}

int mailbox_create(const char *name, const char *partition,
                   const struct mailbox_create_params *p, struct mailbox **mbp)
{
    if (mbp) *mbp = NULL;
    struct buf dir = BUF_INITIALIZER;
    int r = mailbox_dir_for(name, partition, &dir);
    if (!r) r = mailbox_create_dir(buf_cstring(&dir), name, p, mbp);
    buf_free(&dir);
    return r;
}

int mailbox_open_dir(const char *dir, struct mailbox **mbp)
{
    *mbp = NULL;
    if (!dir || !*dir) return CYRERR_BADARGS;
    struct mailbox *mb = mailbox_new(dir);
    int r = open_dir_and_lock(mb, 0);
    if (r) {
        mailbox_free(mb);
        return r;
    }
    registry_add(mb);
    r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
    if (r) {
        registry_remove(mb);
        mailbox_free(mb);
        return r;
    }
    mailbox_unlock(mb);
    *mbp = mb;
    return 0;
}

int mailbox_handle_attach(const char *dir, struct mailbox **mbp)
{
    *mbp = NULL;
    struct mailbox *mb = mailbox_new(dir);
    int r = open_dir_and_lock(mb, 1);
    if (r) {
        mailbox_free(mb);
        return r;
    }
    registry_add(mb);
    *mbp = mb;
    return 0;
}

void mailbox_handle_free(struct mailbox *mb)
{
    if (!mb) return;
    mailbox_unlock(mb);
    registry_remove(mb);
    mailbox_free(mb);
}

int mailbox_open(const char *name, const char *partition, struct mailbox **mbp)
{
    *mbp = NULL;
    struct buf dir = BUF_INITIALIZER;
    int r = mailbox_dir_for(name, partition, &dir);
    if (!r) r = mailbox_open_dir(buf_cstring(&dir), mbp);
    buf_free(&dir);
    return r;
}

void mailbox_close(struct mailbox **mbp)
{
    struct mailbox *mb = *mbp;
    if (!mb) return;
    *mbp = NULL;
    mailbox_unlock(mb);
    if (mb->indexfd >= 0 &&
        (mb->hdr.expunged > mb->hdr.unlinked ||
         (mb->hdr.unlinked && (uint64_t)mb->hdr.unlinked * 8 >= mb->hdr.num_records))) {
        struct mailbox_cleanup_stats st;
        int r = mailbox_cleanup(mb, 0, &st);
        if (r)
            xsyslog(LOG_WARNING, "mailbox cleanup failed", "mailbox=<%s> error=<%s>",
                    mb->meta.name ? mb->meta.name : mb->dir, error_message(r));
    }
    registry_remove(mb);
    mailbox_free(mb);
}

int mailbox_delete(struct mailbox **mbp)
{
    struct mailbox *mb = *mbp;
    if (!mb) return CYRERR_BADARGS;
    int took;
    int r = mailbox_autolock(mb, &took);
    if (r) {
        mailbox_close(mbp);
        return r;
    }
    /* the index goes first: from then on the mailbox does not exist */
    if (mailbox_io_unlinkat(mb->dirfd, MBX_INDEX_FNAME, 0) < 0) {
        r = mailbox_ioerr(mb, "unlink", MBX_INDEX_FNAME);
        mailbox_unlock(mb);
        mailbox_close(mbp);
        return r;
    }
    (void)mailbox_io_fsync(mb->dirfd);
    int qfd = openat(mb->dirfd, MBX_QUEUE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (qfd >= 0) {
        DIR *qd = fdopendir(qfd);
        if (qd) {
            struct dirent *de;
            while ((de = readdir(qd)))
                if (de->d_name[0] != '.') unlinkat(qfd, de->d_name, 0);
            closedir(qd);
        } else {
            close(qfd);
        }
        unlinkat(mb->dirfd, MBX_QUEUE_DIR, AT_REMOVEDIR);
    }
    int dfd = dup(mb->dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (mailbox_parse_msgname(de->d_name) ||
                (!strncmp(de->d_name, "cyrus.", 6) && strcmp(de->d_name, MBX_QUEUE_DIR)))
                unlinkat(mb->dirfd, de->d_name, 0);
        }
        closedir(d);
    } else if (dfd >= 0) {
        close(dfd);
    }
    char *dir = xstrdup(mb->dir);
    mb->hdr.expunged = mb->hdr.unlinked = 0;   /* no cleanup at close */
    mailbox_unlock(mb);
    mailbox_close(mbp);
    if (rmdir(dir) < 0 && errno != ENOTEMPTY && errno != EEXIST)
        xsyslog(LOG_WARNING, "mailbox directory not removed", "dir=<%s> error=<%s>",
                dir, strerror(errno));
    free(dir);
    return 0;
}

/* ---- what a handle tells ---------------------------------------------------------------- */

const char *mailbox_name(const struct mailbox *mb) { return mb->meta.name; }
const char *mailbox_dir(const struct mailbox *mb) { return mb->dir; }
const char *mailbox_uniqueid(const struct mailbox *mb) { return mb->meta.uniqueid; }
const char *mailbox_quotaroot(const struct mailbox *mb) { return mb->meta.quotaroot; }

void mailbox_status(const struct mailbox *mb, struct mailbox_status *st)
{
    const struct mbx_header *h = &mb->hdr;
    memset(st, 0, sizeof(*st));
    st->uidvalidity = h->uidvalidity;
    st->uidnext = h->uidnext;
    st->exists = h->exists;
    st->expunged = h->expunged;
    st->unlinked = h->unlinked;
    st->answered = h->answered;
    st->flagged = h->flagged;
    st->deleted = h->deleted;
    st->draft = h->draft;
    st->seen = h->seen;
    st->num_records = h->num_records;
    st->generation = h->generation;
    st->num_keywords = (uint32_t)mb->meta.keywords.count;
    st->highestmodseq = h->highestmodseq;
    st->quota_used = h->quota_used;
}

int mailbox_set_quotaroot(struct mailbox *mb, const char *root)
{
    if (root && *root && !quota_root_valid(root)) return CYRERR_BADNAME;
    int took;
    int r = mailbox_autolock(mb, &took);
    if (r) return r;
    char *old = mb->meta.quotaroot;
    mb->meta.quotaroot = root && *root ? xstrdup(root) : NULL;
    r = mailbox_meta_write(mb->dirfd, &mb->meta);
    if (r) {
        free(mb->meta.quotaroot);
        mb->meta.quotaroot = old;
    } else {
        free(old);
    }
    mailbox_autounlock(mb, took);
    return r;
}

uint32_t mailbox_num_keywords(const struct mailbox *mb)
{
    return (uint32_t)mb->meta.keywords.count;
}

const char *mailbox_keyword_name(const struct mailbox *mb, uint32_t bit)
{
    return strarray_nth(&mb->meta.keywords, (int)bit);
}

int mailbox_keyword_bit(struct mailbox *mb, const char *name, int create, uint32_t *bitp)
{
    if (!mailbox_keyword_valid(name)) return CYRERR_BADARGS;
    int i = strarray_find_case(&mb->meta.keywords, name, 0);
    if (i >= 0) {
        *bitp = (uint32_t)i;
        return 0;
    }
    if (!create) return CYRERR_NOTFOUND;
    if (mb->lockmode != MAILBOX_LOCK_EXCLUSIVE) return CYRERR_BADARGS;
    if (mb->meta.keywords.count >= MAILBOX_MAX_KEYWORDS) return CYRERR_LIMIT;
    i = strarray_append(&mb->meta.keywords, name);
    int r = mailbox_meta_write(mb->dirfd, &mb->meta);
    if (r) {
        free(strarray_remove(&mb->meta.keywords, i));
        return r;
    }
    /* the next header written tells readers to load the new name */
    mb->hdr.num_keywords = (uint32_t)mb->meta.keywords.count;
    *bitp = (uint32_t)i;
    return 0;
}

/* ---- records ----------------------------------------------------------------------------- */

uint32_t mailbox_num_records(const struct mailbox *mb)
{
    return mb->hdr.num_records;
}

int mailbox_read_record(struct mailbox *mb, uint32_t recno, struct mailbox_record *rec)
{
    if (mb->lockmode == MAILBOX_LOCK_NONE) return CYRERR_BADARGS;
    if (recno >= mb->hdr.num_records) return CYRERR_NOTFOUND;
    size_t off = MBX_HEADER_SIZE + (size_t)recno * MBX_RECORD_SIZE;
    int r = mailbox_map_index(mb, off + MBX_RECORD_SIZE);
    if (r) return r;
    r = mailbox_rec_decode(mb->imap + off, recno, rec);
    if (r)
        xsyslog(LOG_ERR, "mailbox record damaged", "mailbox=<%s> recno=<%u>",
                mb->meta.name ? mb->meta.name : mb->dir, recno);
    return r;
}

int mailbox_find_recno(struct mailbox *mb, uint32_t uid, uint32_t *recnop)
{
    if (mb->lockmode == MAILBOX_LOCK_NONE) return CYRERR_BADARGS;
    uint32_t lo = 0, hi = mb->hdr.num_records;
    if (hi == 0) return CYRERR_NOTFOUND;
    int r = mailbox_map_index(mb, MBX_HEADER_SIZE + (size_t)hi * MBX_RECORD_SIZE);
    if (r) return r;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t u = mailbox_get32(mb->imap + MBX_HEADER_SIZE + (size_t)mid * MBX_RECORD_SIZE);
        if (u == uid) {
            *recnop = mid;
            return 0;
        }
        if (u < uid) lo = mid + 1;
        else hi = mid;
    }
    return CYRERR_NOTFOUND;
}

int mailbox_find_uid(struct mailbox *mb, uint32_t uid, struct mailbox_record *rec)
{
    uint32_t recno;
    int r = mailbox_find_recno(mb, uid, &recno);
    if (r) return r;
    r = mailbox_read_record(mb, recno, rec);
    if (!r && rec->uid != uid) r = CYRERR_CORRUPT;
    return r;
}

int mailbox_write_record(struct mailbox *mb, const struct mailbox_record *rec)
{
    unsigned char buf[MBX_RECORD_SIZE];
    mailbox_rec_encode(rec, buf);
    off_t off = MBX_HEADER_SIZE + (off_t)rec->recno * MBX_RECORD_SIZE;
    if (mailbox_io_pwrite(mb->indexfd, buf, sizeof(buf), off) < 0)
        return mailbox_ioerr(mb, "write record", MBX_INDEX_FNAME);
    return 0;
}

int mailbox_read_cache(struct mailbox *mb, const struct mailbox_record *rec, struct buf *out)
{
    buf_reset(out);
    if (mb->lockmode == MAILBOX_LOCK_NONE) return CYRERR_BADARGS;
    uint64_t end = rec->cache_offset + rec->cache_len;
    if (rec->cache_offset < MBX_CACHE_HDR_SIZE || end > mb->hdr.cache_size) return CYRERR_CORRUPT;
    int r = mailbox_map_cache(mb, (size_t)end);
    if (r) return r;
    const unsigned char *p = mb->cmap + rec->cache_offset;
    if (mailbox_checksum(p, rec->cache_len) != rec->cache_sum) {
        xsyslog(LOG_ERR, "mailbox cache record damaged", "mailbox=<%s> uid=<%u>",
                mb->meta.name ? mb->meta.name : mb->dir, rec->uid);
        return CYRERR_CORRUPT;
    }
    buf_setmap(out, p, rec->cache_len);
    return 0;
}

void mailbox_message_path(const struct mailbox *mb, uint32_t uid, struct buf *path)
{
    buf_reset(path);
    buf_printf(path, "%s/%u.", mb->dir, uid);
}

int mailbox_install_new_files(struct mailbox *mb)
{
    if (mailbox_io_renameat(mb->dirfd, MBX_CACHE_NEW, mb->dirfd, MBX_CACHE_FNAME, 0) < 0)
        return mailbox_ioerr(mb, "rename", MBX_CACHE_NEW);
    /* a crash here leaves the new cache with the old index: the next
     * locker sees the cache id differ and finishes the job (recovery) */
    if (mailbox_io_renameat(mb->dirfd, MBX_INDEX_NEW, mb->dirfd, MBX_INDEX_FNAME, 0) < 0)
        return mailbox_ioerr(mb, "rename", MBX_INDEX_NEW);
    if (mailbox_io_fsync(mb->dirfd) < 0) return mailbox_ioerr(mb, "fsync", mb->dir);
    int r = mailbox_open_files(mb);
    if (r) return r;
    int need;
    return mailbox_refresh(mb, &need);
}
