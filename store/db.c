/*
 * db.c -- creating, opening and growing a store.
 *
 * A store is a directory holding one LMDB environment (data.mdb, lock.mdb)
 * with the named databases listed in docs/FORMAT.md.  LMDB gives us what the
 * store promises: one writer and many readers across threads and processes,
 * readers that never block, and crash safety by copy-on-write pages with two
 * alternating meta pages (no log to replay).
 *
 * Where we go beyond plain LMDB:
 *  1. The map grows by itself.  LMDB fails a write with MDB_MAP_FULL when the
 *     memory map is too small; cvs__write then aborts, grows the map and runs
 *     the whole write again, so MDB_MAP_FULL never reaches the caller.  Growth
 *     by another process shows up as MDB_MAP_RESIZED on txn begin and is
 *     adopted the same way.  The map starts small (64 MiB) so that growth is
 *     exercised on every real import rather than only on huge ones.
 *  2. A meta record with a magic and a format version is checked on open.
 *  3. MDB_NOTLS, so a read snapshot (cvs_txn) is not tied to its thread.
 *  4. A writer says who it is.  LMDB's writer lock is a mutex in lock.mdb
 *     that a write waits on silently, for as long as the other writer
 *     takes (a build's encoding pass holds it for minutes), with no way to
 *     ask whether it is taken or by whom.  So each write transaction also
 *     holds a POSIX record lock (fcntl F_SETLK) on one byte of data.mdb far
 *     past its end (WRITER_BYTE: LMDB locks nothing in data.mdb), taken
 *     once LMDB's lock is ours and released just before the commit, and a
 *     write about to begin looks at it first (F_GETLK, which names the
 *     holder's pid): while another process holds it, the write polls until
 *     it is free, telling the handle's wait_fn after CVS_WAIT_NOTICE_S
 *     seconds, then takes LMDB's lock as before.  The record lock only
 *     reports: LMDB's lock alone keeps writers apart, so a writer that
 *     does not take it (an older cvstore, mdb tools) is still waited for,
 *     only silently; and the lock goes away with its process, so a writer
 *     that crashed leaves nothing behind.  Released before the commit, not
 *     after, because a POSIX lock belongs to the process: a thread of the
 *     same process that takes LMDB's lock after our commit takes this one
 *     too, and our late release would drop it under that thread.  What it
 *     therefore cannot see: a commit (its fsync: seconds after a build),
 *     during which a write about to begin, or a recall deciding whether to
 *     store its time (query/memory.c), sees no other writer and then waits
 *     on LMDB's lock unannounced; a writer in this same process (POSIX
 *     locks do not exclude their own process); and a writer whose process
 *     closes another descriptor of data.mdb mid-write (a second handle on
 *     the store, closed meanwhile), which drops every lock the process
 *     held on the file.  Each only loses the notice, never the exclusion,
 *     which LMDB's lock keeps.
 *  5. A handle stays in its process.  LMDB forbids using an environment
 *     after fork(), and says nothing when it is (core/fork.c has what goes
 *     wrong: the parent's snapshot markers overwritten, purges under the
 *     child's reads, locks held forever).  A handle records the process
 *     it was opened in, and every snapshot and write of another process
 *     fails with CVS_EFORK ("open the store again in this process").
 *     Closing such a handle (cvs_db_close, cvs_txn_end) releases nothing
 *     of LMDB's: ending the parent's read transaction would free its
 *     reader slot under it, and closing lock.mdb's descriptor would drop
 *     the POSIX locks of a handle the child opened on the same store
 *     (locks belong to the process, not the descriptor).  Its memory is
 *     left too (a lock in it may be held by a thread the child does not
 *     have): one handle's worth per fork, until the child exits.
 *  6. A store is not made on a file system with less than
 *     CREATE_MIN_FREE bytes free.  LMDB writes its lock file (lock.mdb,
 *     32 KiB) through a shared memory map, where a full disk is not an
 *     error return but a SIGBUS, which cvs_fault_exit can only turn into a
 *     message; data.mdb's writes are pwrite(2)s, which fail cleanly.
 *  7. A create killed between claiming its files and committing its
 *     header leaves files that hold no store.  An open says an init was
 *     interrupted, and a create takes them over, but only when their
 *     maker is certainly gone: the maker holds an flock on data.mdb until
 *     its commit ("An exclusive create" below).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fork.h"
#include "store/db.h"
#include "store/filter.h"
#include "store/lmdb_pages.h"
#include "store/module.h"
#include "store/seal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cvstore's on-disk format is little-endian; big-endian hosts are not supported"
#endif

#define CVS_MAP_INITIAL (64ull << 20)
#define CVS_MAP_STEP_MAX (4ull << 30)
/* 15 named databases today (docs/FORMAT.md); room for more modules.  A
 * runtime limit of this process only: nothing on disk depends on it. */
#define CVS_MAX_DBS 32
#define CVS_GROW_WAIT_S 30
/* MDB_MAP_RESIZED rounds a transaction begin tries before it gives up
 * (resized_again): each adopts a size another process set. */
#define CVS_RESIZE_ROUNDS 16
/* Deviation 4: the byte of data.mdb whose record lock a writer holds. */
#define WRITER_BYTE ((off_t)1 << 62)

int64_t cvs__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

CVS_API int cvs_metric_parse(const char *s, cvs_metric *out)
{
    if (!s || !out)
        return cvs__err(CVS_EINVAL, "metric: missing argument");
    if (!strcmp(s, "l2")) *out = CVS_METRIC_L2;
    else if (!strcmp(s, "ip")) *out = CVS_METRIC_IP;
    else if (!strcmp(s, "cosine")) *out = CVS_METRIC_COSINE;
    else return cvs__err(CVS_EINVAL, "unknown metric '%s' (expected l2, ip or cosine)", s);
    return CVS_OK;
}

CVS_API const char *cvs_metric_name(cvs_metric m)
{
    switch (m) {
    case CVS_METRIC_L2: return "l2";
    case CVS_METRIC_IP: return "ip";
    case CVS_METRIC_COSINE: return "cosine";
    }
    return "?";
}

CVS_API int cvs_raw_parse(const char *s, cvs_raw *out)
{
    if (!s || !out)
        return cvs__err(CVS_EINVAL, "raw: missing argument");
    if (!strcmp(s, "f32")) *out = CVS_RAW_F32;
    else if (!strcmp(s, "f16")) *out = CVS_RAW_F16;
    else if (!strcmp(s, "none")) *out = CVS_RAW_NONE;
    else return cvs__err(CVS_EINVAL, "unknown raw precision '%s' (expected f32, f16 or none)", s);
    return CVS_OK;
}

CVS_API const char *cvs_raw_name(cvs_raw r)
{
    switch (r) {
    case CVS_RAW_F32: return "f32";
    case CVS_RAW_F16: return "f16";
    case CVS_RAW_NONE: return "none";
    }
    return "?";
}

/* ==== Where the map is (for store/seal.h cvs__vin_file) ==== */

/* How much of the map the file covers: the newest meta page's last page,
 * but never more than the file holds (a damaged meta page may claim more).
 * Called after every transaction begins, so the bound covers that
 * transaction's snapshot; it only grows (LMDB never shrinks data.mdb).  The
 * file is measured again only when the meta page claims more than it held
 * at the last look, which is rare (growth, or damage). */
static void refresh_used(cvs_db *db)
{
    MDB_envinfo ei;
    size_t want, file, used, old;
    struct stat st;
    int fd;
    if (!db->map_len)
        return;
    mdb_env_info(db->env, &ei);
    want = ((size_t)ei.me_last_pgno + 1) * db->map_psize;
    file = __atomic_load_n(&db->map_file, __ATOMIC_RELAXED);
    if (want > file && mdb_env_get_fd(db->env, &fd) == 0 && fstat(fd, &st) == 0) {
        file = (size_t)st.st_size;
        __atomic_store_n(&db->map_file, file, __ATOMIC_RELAXED);
    }
    used = want < file ? want : file;
    if (used > db->map_len)
        used = db->map_len;
    old = __atomic_load_n(&db->map_used, __ATOMIC_RELAXED);
    while (used > old && !__atomic_compare_exchange_n(&db->map_used, &old, used, 1,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Finds LMDB's map of data.mdb in this process's address space: the
 * mapping (in /proc/self/maps) that holds the header value, which LMDB
 * returns as a pointer into the map.  LMDB keeps the map's address to
 * itself (mdb_env_info's me_mapaddr is only set for MDB_FIXEDMAP), and
 * asking the kernel is the one way that needs no private header.  Called
 * with no other transaction of this process open (at open, or with
 * maplock held exclusively after a remap); when it fails (no /proc) the
 * checks are off (map_len 0) and only the fault handler is left. */
static void locate_map(cvs_db *db)
{
    MDB_txn *txn;
    MDB_val k = CVS__MKEY(CVS__META_HEADER), v;
    MDB_envinfo ei;
    MDB_stat st;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    uintptr_t p, lo, hi;
    unsigned long long off;
    db->map_len = 0;
    if (mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn))
        return;
    if (mdb_get(txn, db->dbi_meta, &k, &v) || mdb_env_stat(db->env, &st) ||
        !(f = fopen("/proc/self/maps", "r")))
        goto out;
    p = (uintptr_t)v.mv_data;
    while (getline(&line, &cap, f) > 0)
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %llx", &lo, &hi, &off) == 3 &&
            p >= lo && p < hi) {
            mdb_env_info(db->env, &ei);
            if (off <= lo && p - (lo - off) < ei.me_mapsize) {
                db->map_lo = lo - (uintptr_t)off;
                db->map_psize = st.ms_psize;
                db->map_len = ei.me_mapsize;
            }
            break;
        }
out:
    free(line);
    if (f)
        fclose(f);
    mdb_txn_abort(txn);
    refresh_used(db);
}

/* LMDB's assertion callback.  LMDB calls abort() as soon as this returns,
 * and the tree it was walking is inconsistent, so there is nothing to
 * return to: it hands over to the fault handler (store/fault.c), which ends
 * a process that asked for it (cvs_fault_exit) with a message, and else
 * returns, leaving LMDB's abort. */
static void lmdb_assert(MDB_env *env, const char *msg)
{
    const char *path = NULL;
    mdb_env_get_path(env, &path);
    cvs__fault_lmdb(path, msg);
}

/* ==== Map growth ==== */

static int lock_exclusive(cvs_db *db)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += CVS_GROW_WAIT_S;
    if (pthread_rwlock_timedwrlock(&db->maplock, &ts) != 0)
        return cvs__err(CVS_EBUSY, "the store's map must grow, but read snapshots "
                        "stayed open in this process for %d s", CVS_GROW_WAIT_S);
    return CVS_OK;
}

/* new_size 0 adopts the size another process set. */
static int grow_map(cvs_db *db, size_t new_size)
{
    int rc = lock_exclusive(db), mrc;
    MDB_envinfo info;
    if (rc)
        return rc;
    if (new_size) {
        mdb_env_info(db->env, &info);
        if (info.me_mapsize >= new_size)
            goto out; /* another thread grew it meanwhile */
    }
    mrc = mdb_env_set_mapsize(db->env, new_size);
    if (mrc)
        rc = cvs__err_lmdb(mrc, "growing the map");
    else
        locate_map(db); /* the map moved */
out:
    pthread_rwlock_unlock(&db->maplock);
    return rc;
}

/* MDB_MAP_RESIZED says the newest meta page counts more pages than the map
 * holds, and adopting the size it asks for (grow_map(db, 0)) ends it,
 * unless another process keeps growing the store faster than we remap,
 * or the meta page's count cannot be mapped (damage written after the
 * open's checks).  CVS_OK for the first rounds, then CVS_ECORRUPT: an
 * error, not a loop without end. */
static int resized_again(cvs_db *db, unsigned round)
{
    if (round < CVS_RESIZE_ROUNDS)
        return CVS_OK;
    return cvs__err(CVS_ECORRUPT, "%s: data.mdb's newest meta page still counts more pages "
                    "than the map holds after %d resizes: the file is damaged (restore the "
                    "store from a backup or an export)", db->path, CVS_RESIZE_ROUNDS);
}

static size_t next_map_size(cvs_db *db)
{
    MDB_envinfo info;
    size_t cur, step;
    mdb_env_info(db->env, &info);
    cur = info.me_mapsize;
    step = cur < CVS_MAP_STEP_MAX ? cur : CVS_MAP_STEP_MAX;
    return cur + step;
}

int cvs__map_reserve(cvs_db *db, uint64_t bytes)
{
    MDB_envinfo info;
    MDB_stat st;
    uint64_t want;
    size_t size;
    mdb_env_info(db->env, &info);
    if (mdb_env_stat(db->env, &st))
        return cvs__err(CVS_EIO, "%s: cannot read the page size", db->path);
    want = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize + bytes;
    if (info.me_mapsize >= want)
        return CVS_OK;
    /* In the steps cvs__write grows by. */
    for (size = info.me_mapsize; size < want;)
        size += size < CVS_MAP_STEP_MAX ? size : CVS_MAP_STEP_MAX;
    return grow_map(db, size);
}

/* Deviation 6: room for the lock file (32 KiB of reader slots and its
 * header: 9 pages) and data.mdb's first 4 pages, with a little margin. */
#define CREATE_MIN_FREE (64 * 1024)

/* LMDB reports a short write as EIO (it has no errno to give), and a
 * write to a regular file comes up short when the disk fills.  So an EIO
 * from a commit with (almost) nothing left on the store's file system is
 * the full disk the user must be told about. */
static int commit_errno(const cvs_db *db, int mrc)
{
    struct statvfs sv;
    if (mrc == EIO && statvfs(db->path, &sv) == 0 && sv.f_bavail < 16)
        return ENOSPC;
    return mrc;
}

/* ==== Who is writing (deviation 4) ==== */


/* The pid of another process holding the writer byte, 0 when none does
 * (or it cannot be told: no fd, a file system without record locks). */
static int64_t other_writer(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = WRITER_BYTE,
                       .l_len = 1};
    if (fd < 0 || fcntl(fd, F_GETLK, &fl) != 0 || fl.l_type == F_UNLCK)
        return 0;
    return fl.l_pid > 0 ? fl.l_pid : -1;
}

/* Takes (F_WRLCK) or releases (F_UNLCK) the writer byte.  Best effort: a
 * failure costs only the report to a waiting process. */
static void writer_byte(int fd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = WRITER_BYTE, .l_len = 1};
    if (fd >= 0)
        (void)fcntl(fd, F_SETLK, &fl);
}

/* Waits while another process writes, telling fn (the handle's wait_fn as
 * read once by the caller) past
 * CVS_WAIT_NOTICE_S.  Polls (10 ms, growing to 100 ms) rather than
 * blocking in F_SETLKW, which could not wake up to tell anyone. */
static void wait_other_writer(int fd, cvs_wait_fn fn, void *ctx)
{
    int64_t pid = other_writer(fd), p;
    double t0, waited = 0;
    long sleep_ms = 10;
    int told = 0;
    if (!pid)
        return;
    t0 = cvs__mono_s();
    while ((p = other_writer(fd))) {
        struct timespec ts = {0, sleep_ms * 1000000L};
        pid = p;
        waited = cvs__mono_s() - t0;
        if (!told && waited >= CVS_WAIT_NOTICE_S) {
            fn(ctx, pid > 0 ? pid : 0, waited, 0);
            told = 1;
        }
        nanosleep(&ts, NULL);
        if (sleep_ms < 100)
            sleep_ms += 10;
    }
    if (told)
        fn(ctx, pid > 0 ? pid : 0, cvs__mono_s() - t0, 1);
}

int cvs__writer_elsewhere(cvs_db *db)
{
    int fd;
    if (mdb_env_get_fd(db->env, &fd))
        return 0;
    return other_writer(fd) != 0;
}

CVS_API void cvs_db_set_wait_fn(cvs_db *db, cvs_wait_fn fn, void *ctx)
{
    if (!db)
        return;
    /* Another thread may be in a write reading them: each is stored whole,
     * the context first, and a write reads each once (cvs__write). */
    __atomic_store_n(&db->wait_ctx, ctx, __ATOMIC_SEQ_CST);
    __atomic_store_n(&db->wait_fn, fn, __ATOMIC_SEQ_CST);
}

int cvs__db_inherited(const cvs_db *db)
{
    return db->fork_gen != cvs__fork_gen();
}

int cvs__db_usable(const cvs_db *db)
{
    if (!cvs__db_inherited(db))
        return CVS_OK;
    return cvs__err(CVS_EFORK, "%s: this handle was opened by process %ld, and this is process "
                    "%ld, a child of fork(): a store cannot be used across a fork; open it "
                    "again in this process (cvs_db_open; in Python, cvstore.open)",
                    db->path, db->pid, (long)getpid());
}

int cvs__write(cvs_db *db, cvs__write_fn fn, void *arg)
{
    MDB_txn *txn;
    int rc, mrc, fd;
    unsigned resized = 0;

    if ((rc = cvs__db_usable(db)))
        return rc;
    if (db->flags & CVS_OPEN_RDONLY)
        return cvs__err(CVS_ERDONLY, "%s: store opened read-only", db->path);
    if (mdb_env_get_fd(db->env, &fd))
        fd = -1;
    for (;;) {
        cvs_wait_fn wfn = __atomic_load_n(&db->wait_fn, __ATOMIC_SEQ_CST);
        if (wfn)
            wait_other_writer(fd, wfn, __atomic_load_n(&db->wait_ctx, __ATOMIC_SEQ_CST));
        pthread_rwlock_rdlock(&db->maplock);
        mrc = mdb_txn_begin(db->env, NULL, 0, &txn);
        if (mrc == MDB_MAP_RESIZED) {
            pthread_rwlock_unlock(&db->maplock);
            if ((rc = resized_again(db, resized++)) || (rc = grow_map(db, 0)))
                return rc;
            continue;
        }
        if (mrc) {
            pthread_rwlock_unlock(&db->maplock);
            return cvs__err_lmdb(mrc, "beginning a write transaction");
        }
        writer_byte(fd, F_WRLCK);
        refresh_used(db);
        if ((rc = cvs__pages_check(db, txn)) == CVS_OK)
            rc = fn(db, txn, arg);
        cvs__seal_txn_end(db, txn);
        writer_byte(fd, F_UNLCK);
        if (rc == CVS_OK) {
            mrc = mdb_txn_commit(txn);
            if (mrc == MDB_MAP_FULL)
                rc = CVS__MAPFULL;
            else if (mrc)
                rc = cvs__err_lmdb(commit_errno(db, mrc), "committing");
        } else {
            mdb_txn_abort(txn);
        }
        pthread_rwlock_unlock(&db->maplock);
        if (rc != CVS__MAPFULL)
            return rc;
        if ((rc = grow_map(db, next_map_size(db))))
            return rc;
    }
}

int cvs__read_begin(cvs_db *db, MDB_txn **txn)
{
    int mrc, rc;
    if ((rc = cvs__db_usable(db)))
        return rc;
    for (unsigned round = 0;; round++) {
        pthread_rwlock_rdlock(&db->maplock);
        mrc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, txn);
        if (mrc == 0) {
            refresh_used(db);
            return CVS_OK; /* the lock stays held until cvs__read_end */
        }
        pthread_rwlock_unlock(&db->maplock);
        if (mrc != MDB_MAP_RESIZED)
            return cvs__err_lmdb(mrc, "beginning a read transaction");
        if ((rc = resized_again(db, round)) || (rc = grow_map(db, 0)))
            return rc;
    }
}

void cvs__read_end(cvs_db *db, MDB_txn *txn)
{
    if (!txn)
        return;
    cvs__seal_txn_end(db, txn);
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&db->maplock);
}

/* ==== Create and open ==== */

static void header_encode(const cvs_db *db, unsigned char h[CVS_HEADER_SIZE])
{
    memset(h, 0, CVS_HEADER_SIZE);
    memcpy(h, CVS_MAGIC, 8);
    cvs__put_u32(h + 8, db->crypt ? CVS_FORMAT_VERSION_CRYPT : CVS_FORMAT_VERSION);
    cvs__put_u32(h + 12, db->dim);
    cvs__put_u32(h + 16, (uint32_t)db->metric);
    cvs__put_u32(h + 20, (uint32_t)db->raw);
    cvs__put_u64(h + 24, (uint64_t)db->created_us);
    if (db->crypt)
        cvs__put_u32(h + 32, CVS_HEADER_ENCRYPTED);
}

/* *encrypted gets whether the store is encrypted (version 2 with the flag). */
static int header_decode(cvs_db *db, const MDB_val *v, int *encrypted)
{
    const unsigned char *h = v->mv_data;
    uint32_t ver, metric, raw;
    if (v->mv_size < 12 || memcmp(h, CVS_MAGIC, 8) != 0)
        return cvs__err(CVS_EFORMAT, "%s: not a cvstore store (bad magic)", db->path);
    ver = cvs__get_u32(h + 8);
    if (ver != CVS_FORMAT_VERSION && ver != CVS_FORMAT_VERSION_CRYPT)
        return cvs__err(CVS_EVERSION, "%s: store has format version %u; this cvstore "
                        "(%s) reads versions %u (plain) and %u (encrypted) only", db->path,
                        ver, CVS_VERSION_STRING, CVS_FORMAT_VERSION, CVS_FORMAT_VERSION_CRYPT);
    if (v->mv_size != CVS_HEADER_SIZE)
        return cvs__err(CVS_EFORMAT, "%s: header record has %zu bytes, expected %d",
                        db->path, v->mv_size, CVS_HEADER_SIZE);
    *encrypted = (cvs__get_u32(h + 32) & CVS_HEADER_ENCRYPTED) != 0;
    if (*encrypted != (ver == CVS_FORMAT_VERSION_CRYPT))
        return cvs__err(CVS_EFORMAT, "%s: header record is damaged (version %u with "
                        "encryption flag %d)", db->path, ver, *encrypted);
    db->dim = cvs__get_u32(h + 12);
    metric = cvs__get_u32(h + 16);
    raw = cvs__get_u32(h + 20);
    db->created_us = (int64_t)cvs__get_u64(h + 24);
    if (db->dim == 0 || db->dim > CVS_MAX_DIM || metric < 1 || metric > 3 ||
        raw < 1 || raw > 3)
        return cvs__err(CVS_EFORMAT, "%s: header record is damaged "
                        "(dim %u, metric %u, raw %u)", db->path, db->dim, metric, raw);
    db->metric = (cvs_metric)metric;
    db->raw = (cvs_raw)raw;
    return CVS_OK;
}

static const struct {
    const char *name;
    size_t off;
    unsigned flags;
} dbis[] = {
    {"ids", offsetof(cvs_db, dbi_ids), 0},
    {"recs", offsetof(cvs_db, dbi_recs), MDB_INTEGERKEY},
    {"vecs", offsetof(cvs_db, dbi_vecs), MDB_INTEGERKEY},
    {"text", offsetof(cvs_db, dbi_text), MDB_INTEGERKEY},
    {"attrs", offsetof(cvs_db, dbi_attrs), MDB_INTEGERKEY},
    {"links", offsetof(cvs_db, dbi_links), MDB_INTEGERKEY},
    {"backlinks", offsetof(cvs_db, dbi_backlinks), MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP},
};

/* ==== The modules' databases (store/module.h) ==== */

void *cvs__module_state(const cvs_db *db, const cvs__module *m)
{
    for (size_t i = 0; i < db->nmods; i++)
        if (db->mods[i].m == m)
            return db->mods[i].state;
    return NULL;
}

int cvs__module_present(const cvs_db *db, const cvs__module *m)
{
    for (size_t i = 0; i < db->nmods; i++)
        if (db->mods[i].m == m)
            return db->mods[i].present;
    return 0;
}

/* Opens one database into *dbi; *missing gets 1 (and CVS_OK comes back) when
 * it is absent and create is 0. */
static int open_one(MDB_txn *txn, const char *name, unsigned flags, unsigned create,
                    MDB_dbi *dbi, int *missing)
{
    char what[96];
    int mrc = mdb_dbi_open(txn, name, flags | create, dbi);
    *missing = 0;
    if (mrc == MDB_NOTFOUND) {
        *missing = 1;
        return CVS_OK;
    }
    if (mrc) {
        snprintf(what, sizeof what, "opening database %s", name);
        return mrc == MDB_MAP_FULL ? CVS__MAPFULL : cvs__err_lmdb(mrc, what);
    }
    return CVS_OK;
}

/* Opens (with MDB_CREATE: creates) every module's databases into its state
 * and the store's later-added "titles".  A required database that is absent
 * is a format error; an absent later-added one leaves its module (or
 * have_titles) not present, to be created by add_missing_fn on a writable
 * open.  *missing gets 1 when anything is absent. */
static int open_module_dbis(cvs_db *db, MDB_txn *txn, unsigned create, int *missing)
{
    int rc, gone;
    *missing = 0;
    if ((rc = open_one(txn, "titles", MDB_INTEGERKEY, create, &db->dbi_titles, &gone)))
        return rc;
    db->have_titles = !gone;
    *missing |= gone;
    for (size_t i = 0; i < db->nmods; i++) {
        const cvs__module *m = db->mods[i].m;
        int all = 1;
        /* An optional database's "is open" flag is shared by all of the
         * module's optional ones: set only when every one is open. */
        for (size_t j = 0; j < m->ndbis; j++)
            if (m->dbis[j].flags & CVS__DBI_OPTIONAL)
                *(int *)((char *)db->mods[i].state + m->dbis[j].have_off) = 1;
        for (size_t j = 0; j < m->ndbis; j++) {
            const cvs__dbi_spec *d = &m->dbis[j];
            if ((rc = open_one(txn, d->name, d->mdb_flags, create,
                               (MDB_dbi *)((char *)db->mods[i].state + d->off), &gone)))
                return rc;
            if (gone && (d->flags & CVS__DBI_REQUIRED))
                return cvs__err(CVS_EFORMAT, "%s: database '%s' is missing", db->path, d->name);
            *missing |= gone;
            if (d->flags & CVS__DBI_OPTIONAL)
                *(int *)((char *)db->mods[i].state + d->have_off) &= !gone;
            else
                all &= !gone;
        }
        db->mods[i].present = all;
    }
    return CVS_OK;
}

/* A writable open of a store from before some databases existed: create
 * them, and let each module whose databases were added fill them from the
 * records already stored, all in one transaction. */
static int add_missing_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    int was[CVS__MAX_MODULES], missing, rc;
    (void)arg;
    /* Which modules lack databases, found again in this transaction: a
     * re-run after the map grew must not trust flags the aborted run set. */
    if ((rc = open_module_dbis(db, txn, 0, &missing)))
        return rc;
    for (size_t i = 0; i < db->nmods; i++)
        was[i] = db->mods[i].present;
    if ((rc = open_module_dbis(db, txn, MDB_CREATE, &missing)))
        return rc;
    for (size_t i = 0; i < db->nmods; i++)
        if (!was[i] && db->mods[i].m->added &&
            (rc = db->mods[i].m->added(db, db->mods[i].state, txn)))
            return rc;
    return CVS_OK;
}

/* Allocates and attaches the modules' states (before any database opens). */
static int attach_modules(cvs_db *db, const cvs__module *const *mods, size_t n)
{
    int rc;
    if (n > CVS__MAX_MODULES)
        return cvs__err(CVS_EINVAL, "%zu modules (at most %d)", n, CVS__MAX_MODULES);
    for (size_t i = 0; i < n; i++) {
        struct cvs__mslot *s = &db->mods[i];
        s->m = mods[i];
        db->nmods = i + 1;
        if (!(s->state = calloc(1, mods[i]->state_size ? mods[i]->state_size : 1)))
            return cvs__err(CVS_ENOMEM, "out of memory");
        if (mods[i]->attach && (rc = mods[i]->attach(db, s->state)))
            return rc;
        s->attached = 1;
    }
    return CVS_OK;
}

int cvs__vectors_held(cvs_db *db, MDB_txn *txn, int *yes)
{
    int rc;
    *yes = 0;
    for (size_t i = 0; i < db->nmods && !*yes; i++)
        if (db->mods[i].present && db->mods[i].m->holds_vectors &&
            (rc = db->mods[i].m->holds_vectors(db, db->mods[i].state, txn, yes)))
            return rc;
    return CVS_OK;
}

static int open_dbis(cvs_db *db, MDB_txn *txn, unsigned create)
{
    int mrc;
    char what[64];
    if ((mrc = mdb_dbi_open(txn, "meta", create, &db->dbi_meta))) {
        if (mrc == MDB_NOTFOUND)
            return cvs__err(CVS_EFORMAT, "%s: LMDB environment has no cvstore meta "
                            "database: not a cvstore store", db->path);
        return cvs__err_lmdb(mrc, "opening database meta");
    }
    for (size_t i = 0; i < sizeof dbis / sizeof dbis[0]; i++) {
        MDB_dbi *p = (MDB_dbi *)((char *)db + dbis[i].off);
        if ((mrc = mdb_dbi_open(txn, dbis[i].name, dbis[i].flags | create, p))) {
            if (mrc == MDB_NOTFOUND)
                return cvs__err(CVS_EFORMAT, "%s: database '%s' is missing",
                                db->path, dbis[i].name);
            snprintf(what, sizeof what, "opening database %s", dbis[i].name);
            return cvs__err_lmdb(mrc, what);
        }
    }
    return CVS_OK;
}

/* The error for a data.mdb that store/lmdb_pages.c refused (rc, why):
 * damage says how to recover. */
static int meta_refuse(const char *path, int rc, const char *why)
{
    if (rc == CVS_ECORRUPT)
        return cvs__err(rc, "%s: %s (a copy or download that stopped, or a disk that filled): "
                        "restore the store from a backup or an export", path, why);
    return cvs__err(rc, "%s: %s", path, why);
}

/* LMDB refused data.mdb's meta pages (MDB_INVALID says only "not an LMDB
 * file"): read them ourselves to say whether the file is cut short inside
 * them, not LMDB's, or of another LMDB version. */
static int meta_explain(const char *path, int mrc)
{
    char f[4200], why[300];
    cvs__lmdb_meta m;
    int fd, rc = CVS_OK;
    snprintf(f, sizeof f, "%s/data.mdb", path);
    if ((fd = open(f, O_RDONLY | O_CLOEXEC)) >= 0) {
        rc = cvs__lmdb_meta_read(fd, &m, why, sizeof why);
        close(fd);
    }
    if (rc == CVS_ECORRUPT || rc == CVS_EFORMAT || rc == CVS_EVERSION)
        return meta_refuse(path, rc, why);
    snprintf(f, sizeof f, "%s: opening", path);
    return cvs__err_lmdb(mrc, f);
}

/* data.mdb's meta pages checked before mdb_env_open reads them: LMDB
 * divides by their page size and sizes its map by their last page without
 * a check, so damage there is a SIGFPE, a SIGBUS or an open that never
 * ends, before any check after the open could run (store/lmdb_pages.c,
 * deviations 6 and 7).  Two preads and an fstat.  A file that cannot be
 * opened here is left to LMDB, whose error names the reason. */
static int meta_precheck(const char *path)
{
    char f[4200], why[300];
    int fd, rc;
    snprintf(f, sizeof f, "%s/data.mdb", path);
    if ((fd = open(f, O_RDONLY | O_CLOEXEC)) < 0)
        return CVS_OK;
    rc = cvs__lmdb_open_check(fd, why, sizeof why);
    close(fd);
    return rc ? meta_refuse(path, rc, why) : CVS_OK;
}

/* mode: the permissions of files LMDB creates (data.mdb and lock.mdb at
 * creation; lock.mdb again if it has been removed). */
static int env_open(cvs_db *db, unsigned mdb_flags, mode_t mode)
{
    int mrc;
    if ((mrc = mdb_env_create(&db->env)))
        return cvs__err_lmdb(mrc, "creating the LMDB environment");
    mdb_env_set_assert(db->env, lmdb_assert);
    mdb_env_set_maxdbs(db->env, CVS_MAX_DBS);
    mdb_env_set_maxreaders(db->env, 512);
    if (!(mdb_flags & MDB_RDONLY))
        mdb_env_set_mapsize(db->env, CVS_MAP_INITIAL);
    mrc = mdb_env_open(db->env, db->path, mdb_flags | MDB_NOTLS, mode);
    if (mrc == MDB_INVALID || mrc == MDB_VERSION_MISMATCH)
        return meta_explain(db->path, mrc);
    if (mrc == EACCES && (mdb_flags & MDB_RDONLY))
        /* Not "store opened read-only": a reader of LMDB takes a slot in
         * lock.mdb, so reading needs write permission on it too. */
        return cvs__err(CVS_EINVAL, "%s: this user cannot read the store (Permission denied): "
                        "even a reader writes the store's lock file, lock.mdb, so reading "
                        "needs write permission on it (its owner can grant it) or a copy "
                        "(cvstore export)", db->path);
    if (mrc) {
        char what[4200];
        snprintf(what, sizeof what, "%s: opening", db->path);
        return cvs__err_lmdb(mrc, what);
    }
    /* The map of an existing store may be larger than our initial size. */
    if (!(mdb_flags & MDB_RDONLY))
        mdb_env_set_mapsize(db->env, 0);
    return CVS_OK;
}

/* A data.mdb shorter than its pages reach: a copy or a download that
 * stopped, a disk that filled while it was copied.  LMDB reads its meta
 * pages with read(2) and everything else through the map, so such a file
 * opens, and the first read of a page past its end is a SIGBUS, which no
 * caller can recover from (cvs_fault_exit only turns it into a message).
 * But a healthy file may end before its last page too: LMDB never writes a
 * page freed in the transaction that took it, and puts it on the free list
 * (store/lmdb_pages.c).  So: the newest meta page (mdb_env_info, from the
 * meta pages LMDB has just read; no page past them) says where the pages
 * end; a file that covers them is the common case, and costs one fstat.
 * A shorter one is refused only when a page past its end is not on the
 * free list, read with pread under a read transaction, which keeps a
 * concurrent writer from reusing the free list's pages meanwhile. */
static int env_cut_short(cvs_db *db)
{
    MDB_envinfo info;
    MDB_stat st;
    MDB_txn *txn;
    struct stat fst;
    mdb_filehandle_t fd;
    char why[400];
    int rc;
    if (mdb_env_info(db->env, &info) || mdb_env_stat(db->env, &st) ||
        mdb_env_get_fd(db->env, &fd) || fstat(fd, &fst))
        return CVS_OK; /* nothing to compare: the reads say what is wrong */
    /* No multiplication: a damaged page count must not wrap into a pass. */
    if (st.ms_psize == 0 || info.me_last_pgno < (uint64_t)fst.st_size / st.ms_psize)
        return CVS_OK;
    /* The store's own read transaction: it adopts a map another process
     * has grown since the open (MDB_MAP_RESIZED) instead of failing. */
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    rc = cvs__lmdb_short_check(fd, why, sizeof why);
    cvs__read_end(db, txn);
    return rc ? meta_refuse(db->path, rc, why) : CVS_OK;
}

static cvs_db *db_alloc(const char *path, unsigned flags)
{
    cvs_db *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->path = strdup(path);
    db->flags = flags;
    db->fork_gen = cvs__fork_gen();
    db->pid = (long)getpid();
    /* Writer-preferring: with glibc's default a steady stream of readers
     * would keep a map resize waiting forever. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int lock_failed = pthread_rwlock_init(&db->maplock, &attr) != 0;
    pthread_rwlockattr_destroy(&attr);
    if (!db->path || lock_failed || pthread_mutex_init(&db->filter_mu, NULL) ||
        pthread_mutex_init(&db->snap_mu, NULL)) {
        free(db->path);
        free(db);
        return NULL;
    }
    return db;
}

/* 1 when path/data.mdb exists, its stat in *st. */
static int data_file_stat(const char *path, struct stat *st)
{
    char f[4200];
    snprintf(f, sizeof f, "%s/data.mdb", path);
    return stat(f, st) == 0;
}

static int data_file_exists(const char *path)
{
    struct stat st;
    return data_file_stat(path, &st);
}

/* The name of a file in directory path other than a store's own (data.mdb,
 * lock.mdb), copied into name; 0 when there is none or path cannot be read
 * (then the create goes on and fails, if it must, with LMDB's reason). */
static int other_file(const char *path, char *name, size_t cap)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int found = 0;
    if (!d)
        return 0;
    while (!found && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            !strcmp(e->d_name, "data.mdb") || !strcmp(e->d_name, "lock.mdb"))
            continue;
        snprintf(name, cap, "%s", e->d_name);
        found = 1;
    }
    closedir(d);
    return found;
}

/* A data.mdb that holds no committed transaction (empty, or LMDB's first
 * write alone) holds no store: LMDB would take it for a new environment
 * and write one (a writing open) or fail with EBADF or find no databases
 * (a reading one).  Either a create is making it this moment, and holds
 * the claim's flock ("An exclusive create" below), or one was interrupted
 * and nothing was made.  A file that cannot be read here is left to
 * LMDB, whose error names the reason. */
static int no_store_yet(const char *path)
{
    char f[4200];
    struct stat st;
    int fd, none = 0, busy;
    snprintf(f, sizeof f, "%s/data.mdb", path);
    if ((fd = open(f, O_RDONLY | O_CLOEXEC)) < 0)
        return CVS_OK;
    if (cvs__lmdb_uncommitted(fd, &none) || !none || fstat(fd, &st)) {
        close(fd);
        return CVS_OK;
    }
    busy = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    /* Read again under the lock: a create that committed and let its lock
     * go between the read above and the flock made a store, which the
     * first read could not see. */
    if (!busy && (cvs__lmdb_uncommitted(fd, &none) || !none || fstat(fd, &st))) {
        close(fd);
        return CVS_OK;
    }
    close(fd);
    if (busy)
        return cvs__err(CVS_EFORMAT, "%s: a store is being created there this moment (its "
                        "init has not finished): try again", path);
    /* A copy of a store that stopped this early looks the same, and holds
     * nothing either. */
    return cvs__err(CVS_EFORMAT, "%s: an init was interrupted: no store was created "
                    "(data.mdb %s); remove %s or run init again (a copy cut short this early "
                    "holds nothing either: copy the store again)", path,
                    st.st_size ? "holds nothing committed: LMDB's first write alone, or an "
                                 "LMDB environment never written to"
                               : "is empty", path);
}

/* The permission bits of an existing store's data.mdb, for a lock.mdb that
 * must be made again: a store shared with a group stays shared. */
static mode_t data_file_mode(const char *path)
{
    char f[4200];
    struct stat st;
    snprintf(f, sizeof f, "%s/data.mdb", path);
    return stat(f, &st) == 0 ? (st.st_mode & 0666) : 0600;
}

static int create_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    unsigned char h[CVS_HEADER_SIZE], nk[8];
    MDB_val k, v;
    int rc, mrc, missing;
    (void)arg;
    if ((rc = open_dbis(db, txn, MDB_CREATE)) ||
        (rc = open_module_dbis(db, txn, MDB_CREATE, &missing)))
        return rc;
    header_encode(db, h);
    k.mv_data = CVS__META_HEADER; k.mv_size = CVS__MKEY_LEN(CVS__META_HEADER);
    v.mv_data = h; v.mv_size = sizeof h;
    if ((mrc = mdb_put(txn, db->dbi_meta, &k, &v, 0)))
        return mrc == MDB_MAP_FULL ? CVS__MAPFULL : cvs__err_lmdb(mrc, "writing the header");
    if (db->crypt && (rc = cvs__crypt_write_meta(db, txn)))
        return rc;
    cvs__put_u64(nk, 1);
    k.mv_data = CVS__META_NEXT_KEY; k.mv_size = CVS__MKEY_LEN(CVS__META_NEXT_KEY);
    v.mv_data = nk; v.mv_size = 8;
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0)))
        return mrc == MDB_MAP_FULL ? CVS__MAPFULL : cvs__err_lmdb(mrc, "writing next_key");
    return CVS_OK;
}

/* ==== An exclusive create ====
 *
 * Two processes may create one store at the same moment (two `cvstore
 * init`s, a script run twice).  A check that data.mdb is absent followed
 * by LMDB's open (O_CREAT without O_EXCL) let both through: both opened
 * one data.mdb, both wrote a header, the later one won, and each believed
 * it had made the store.  So the files are claimed first, each with
 * O_CREAT | O_EXCL: the one process whose open makes data.mdb goes on, the
 * other is told a store is there (CVS_EEXIST).  LMDB then opens the empty
 * files it finds and initializes them (an empty data.mdb is a new
 * environment to it, an empty lock.mdb one it sets up under its exclusive
 * lock).  What this call made is recorded, so that a create that fails
 * removes exactly that: never a file or directory another process made.
 *
 * A create can also die between its claim and its first commit (kill -9,
 * a power cut): data.mdb is then empty, or holds only LMDB's first write
 * (two meta pages of transaction 0, store/lmdb_pages.c deviation 8), and
 * no store was ever made.  Such a file is no store (cvs__db_open says an
 * init was interrupted), and a create may take it over, but only when
 * its maker is certainly gone: a create in progress looks exactly the
 * same.  So the claimant holds an flock(2) on data.mdb from its claim to
 * its first commit.  flock, not a POSIX record lock: it belongs to the
 * open file, so neither LMDB's descriptors of data.mdb nor the writer
 * byte's record lock (deviation 4) touch it, and it goes away with its
 * process.  A create that finds data.mdb takes the flock without waiting:
 * held, a create is under way (CVS_EEXIST, as before); taken, the maker
 * is gone, and a file that (read under the lock) still holds no commit is
 * truncated and made a store here, unless a process has it open as an
 * LMDB environment (another program's, never written to: lmdb_in_use).
 * The maker's own flock comes an
 * instant after its O_EXCL open; a create that finds the file in that
 * instant takes it over, and the maker, waiting on its flock, then finds
 * a commit there and is told a store exists.  Each claimant checks under
 * its lock that the path still names the file it locked (a failed create
 * removes its files), and begins again when it does not. */

enum { MADE_DIR = 1, MADE_DATA = 2, MADE_LOCK = 4 };

static int claim_file(const char *path, const char *name, int *made, int bit)
{
    char f[4200];
    snprintf(f, sizeof f, "%s/%s", path, name);
    int fd = open(f, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    close(fd);
    *made |= bit;
    return 0;
}

/* errno e of a claim, in the words of LMDB's own open (CVS_ERDONLY for
 * a read-only place, CVS_EIO for a full disk). */
static int claim_failed(const char *path, const char *name, int e)
{
    char what[4300];
    snprintf(what, sizeof what, "%s: creating %s", path, name);
    return cvs__err_lmdb(e, what);
}

/* Whether another process has the LMDB environment in path open: each
 * holds a record lock on byte 0 of lock.mdb (mdb_env_excl_lock), and a
 * program other than cvstore takes no flock of ours.  Closing this
 * descriptor drops this process's record locks on lock.mdb, of which it
 * holds none here: an open refuses a store with no commit before LMDB
 * opens it, and a create of this process would hold the flock. */
static int lmdb_in_use(const char *path)
{
    char f[4200];
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    int fd, busy;
    snprintf(f, sizeof f, "%s/lock.mdb", path);
    if ((fd = open(f, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    busy = fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK;
    close(fd);
    return busy;
}

static void flock_wait(int fd)
{
    while (flock(fd, LOCK_EX) && errno == EINTR)
        ;
}

/* Claims data.mdb (see above): made here with O_EXCL, or an interrupted
 * create's left over.  0 with its descriptor, flock held, in *lockfd;
 * EEXIST when a store is there or being made; ENOENT when the directory
 * or the file went away meanwhile (the caller begins again); another
 * errno. */
static int claim_data(const char *path, int *made, int *lockfd)
{
    char f[4200];
    struct stat a, b;
    int fd, e = 0, none = 0;
    snprintf(f, sizeof f, "%s/data.mdb", path);
    if ((fd = open(f, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) >= 0) {
        *made |= MADE_DATA;
        flock_wait(fd);
    } else if (errno != EEXIST) {
        return errno;
    } else if ((fd = open(f, O_RDWR | O_CLOEXEC)) < 0) {
        return errno;
    } else if (flock(fd, LOCK_EX | LOCK_NB)) {
        e = errno == EWOULDBLOCK ? EEXIST : errno;
        goto out;
    }
    /* Under the lock: still this file at this path, and still no commit. */
    if (fstat(fd, &a) || stat(f, &b)) {
        e = errno;
    } else if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        e = ENOENT;
    } else if (cvs__lmdb_uncommitted(fd, &none)) {
        e = EIO;
    } else if (!none) {
        e = EEXIST; /* a store: ours, if made here, was taken over and finished */
    } else if (!(*made & MADE_DATA) && lmdb_in_use(path)) {
        e = EEXIST; /* another program's environment, open, never written to */
    } else if (a.st_size != 0 && ftruncate(fd, 0)) {
        e = errno; /* LMDB's first write begins again */
    }
out:
    if (e) {
        *made &= ~MADE_DATA; /* removed, or another's now */
        close(fd);
        return e;
    }
    *lockfd = fd;
    return 0;
}

/* *gone: data.mdb could not be made for want of the directory (ENOENT),
 * which another process's failed create removed after our mkdir found it
 * there (its own, made by it), or the file went away under our claim:
 * the caller begins again. */
static int claim_files(const char *path, int *made, int *gone, int *lockfd)
{
    int e = claim_data(path, made, lockfd);
    *gone = e == ENOENT;
    if (e == EEXIST)
        return cvs__err(CVS_EEXIST, "%s: a store already exists there", path);
    if (e)
        return claim_failed(path, "data.mdb", e);
    /* A lock.mdb left there (a store removed but for it, an interrupted
     * create) is LMDB's to reuse; only one made here is removed on
     * failure. */
    e = claim_file(path, "lock.mdb", made, MADE_LOCK);
    if (e && e != EEXIST)
        return claim_failed(path, "lock.mdb", e);
    return CVS_OK;
}

/* Removes what claim_files and the mkdir made (see above). */
static void unmake(const char *path, int made)
{
    char f[4200];
    if (made & MADE_DATA) {
        snprintf(f, sizeof f, "%s/data.mdb", path);
        unlink(f);
    }
    if (made & MADE_LOCK) {
        snprintf(f, sizeof f, "%s/lock.mdb", path);
        unlink(f);
    }
    if (made & MADE_DIR)
        rmdir(path);
}

int cvs__db_create(const char *path, const cvs_create_opts *opts, const char *passphrase,
                   size_t len, const cvs__module *const *mods, size_t nmods, cvs_db **out)
{
    cvs_db *db = NULL;
    int rc, made = 0, gone = 0, tries = 0, lockfd = -1;

    if (!path || !opts || !out)
        return cvs__err(CVS_EINVAL, "cvs_db_create: NULL argument");
    *out = NULL;
    if (opts->dim == 0 || opts->dim > CVS_MAX_DIM)
        return cvs__err(CVS_EINVAL, "dimension %u out of range (1..%d)", opts->dim, CVS_MAX_DIM);
    if (opts->metric < CVS_METRIC_L2 || opts->metric > CVS_METRIC_COSINE)
        return cvs__err(CVS_EINVAL, "unknown metric %d", (int)opts->metric);
    if (opts->raw != 0 && opts->raw != CVS_RAW_F32 && opts->raw != CVS_RAW_F16 &&
        opts->raw != CVS_RAW_NONE)
        return cvs__err(CVS_EINVAL, "unknown raw precision %d", (int)opts->raw);
    if (passphrase && len == 0)
        return cvs__err(CVS_EKEY, "an empty passphrase is not accepted");
    if (!*path)
        return cvs__err(CVS_EINVAL, "the store's directory name is empty");
again:
    if (mkdir(path, 0700) == 0) {
        made = MADE_DIR;
    } else {
        struct stat st;
        /* A path the user got wrong (missing parent, a file in the way) is
         * the user's mistake; a full disk or a permission error is not. */
        if (errno == ENOENT || errno == ENOTDIR)
            return cvs__err(CVS_EINVAL, "%s: cannot create directory: %s", path, strerror(errno));
        if (errno != EEXIST)
            return cvs__err(CVS_EIO, "%s: cannot create directory: %s", path, strerror(errno));
        if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
            return cvs__err(CVS_EINVAL, "%s: exists and is not a directory", path);
        /* A store is made in a new or empty directory: a path that names
         * a folder of other files is a slip (a home or documents folder),
         * and the store's files would be mixed with the user's. */
        {
            char other[256];
            if (!data_file_exists(path) && other_file(path, other, sizeof other))
                return cvs__err(CVS_EINVAL, "%s: the directory exists and holds other files "
                                "(such as '%s'): a store is made in a new or empty directory; "
                                "give a new path", path, other);
        }
    }
    {
        struct statvfs sv;
        if (statvfs(path, &sv) == 0 &&
            (uint64_t)sv.f_bavail * sv.f_frsize < (uint64_t)CREATE_MIN_FREE) {
            rc = cvs__err(CVS_EIO, "%s: its file system is full (%llu KiB free; a new store "
                          "needs %d KiB): free some space, or make the store elsewhere", path,
                          (unsigned long long)sv.f_bavail * sv.f_frsize / 1024,
                          CREATE_MIN_FREE / 1024);
            goto undo;
        }
    }
    if ((rc = claim_files(path, &made, &gone, &lockfd))) {
        /* Another create of this path made the directory, failed and
         * removed it between our mkdir and our claim: nothing of ours is
         * there, so begin again (a few times: each round needs another
         * process to make and remove the directory in that window). */
        if (gone && !(made & ~MADE_DIR) && ++tries < 8)
            goto again;
        goto undo;
    }
    if (!(db = db_alloc(path, 0))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto undo;
    }
    db->dim = opts->dim;
    db->metric = opts->metric;
    db->raw = opts->raw ? opts->raw : CVS_RAW_F32;
    db->created_us = cvs__now_us();
    if ((rc = attach_modules(db, mods, nmods)))
        goto fail;
    if (passphrase && (rc = cvs__crypt_create(db, passphrase, len)))
        goto fail;
    if ((rc = env_open(db, 0, 0600)))
        goto fail;
    if ((rc = cvs__write(db, create_fn, NULL)))
        goto fail;
    /* Committed: the store exists, and the claim's flock has done its work.
     * Closing this descriptor drops the process's record locks on data.mdb
     * too (deviation 4), but none is held: the create's write released the
     * writer byte before its commit, and no other handle has the store
     * yet. */
    close(lockfd);
    locate_map(db);
    *out = db;
    return CVS_OK;
fail:
    cvs_db_close(db);
undo:
    /* Removed before the flock goes, so that no create takes over a file
     * about to vanish. */
    unmake(path, made);
    if (lockfd >= 0)
        close(lockfd);
    return rc;
}

int cvs__db_open(const char *path, const cvs_open_opts *opts, const cvs__module *const *mods,
                 size_t nmods, cvs_db **out)
{
    cvs_db *db = NULL;
    MDB_txn *txn = NULL;
    MDB_val k, v;
    unsigned flags;
    int rc, mrc, missing = 0, encrypted = 0;

    if (!path || !out || !opts)
        return cvs__err(CVS_EINVAL, "cvs_db_open: NULL argument");
    flags = opts->flags;
    *out = NULL;
    if (!data_file_exists(path)) {
        /* Another user's owner-only store is there, not missing. */
        if (errno == EACCES)
            return cvs__err(CVS_EINVAL, "%s: this user may not read the store (Permission "
                            "denied): a store is its owner's only (0700, files 0600) unless "
                            "made with `cvstore init --umask` or opened up by its owner "
                            "(chmod)", path);
        return cvs__err(CVS_NOTFOUND, "%s: no store there (create one with cvstore init)", path);
    }
    if ((rc = no_store_yet(path)))
        return rc;
    if (!(db = db_alloc(path, flags)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if ((rc = attach_modules(db, mods, nmods)))
        goto fail;
    if ((rc = meta_precheck(path)) ||
        (rc = env_open(db, (flags & CVS_OPEN_RDONLY) ? MDB_RDONLY : 0, data_file_mode(path))) ||
        (rc = env_cut_short(db)))
        goto fail;
    if ((rc = cvs__read_begin(db, &txn)))
        goto fail;
    if ((rc = open_dbis(db, txn, 0)) || (rc = open_module_dbis(db, txn, 0, &missing)))
        goto fail_txn;
    k.mv_data = CVS__META_HEADER; k.mv_size = CVS__MKEY_LEN(CVS__META_HEADER);
    if ((mrc = mdb_get(txn, db->dbi_meta, &k, &v))) {
        rc = mrc == MDB_NOTFOUND
                 ? cvs__err(CVS_EFORMAT, "%s: the meta database has no header record", path)
                 : cvs__err_lmdb(mrc, "reading the header");
        goto fail_txn;
    }
    if ((rc = header_decode(db, &v, &encrypted)))
        goto fail_txn;
    /* Before anything below writes: a wrong passphrase changes nothing. */
    if (encrypted && (rc = cvs__crypt_open(db, txn, opts->passphrase, opts->passphrase_len)))
        goto fail_txn;
    /* Handles opened in a read transaction stay valid after it ends only
     * when it commits, as LMDB documents; aborting would close them. */
    mrc = mdb_txn_commit(txn);
    pthread_rwlock_unlock(&db->maplock);
    txn = NULL;
    if (mrc) {
        rc = cvs__err_lmdb(mrc, "opening databases");
        goto fail;
    }
    locate_map(db);
    if (missing && !(flags & CVS_OPEN_RDONLY) && (rc = cvs__write(db, add_missing_fn, NULL)))
        goto fail;
    *out = db;
    return CVS_OK;
fail_txn:
    cvs__read_end(db, txn);
fail:
    cvs_db_close(db);
    return rc;
}

CVS_API void cvs_db_close(cvs_db *db)
{
    /* In a child of a fork: nothing of the parent's is released
     * (deviation 5). */
    if (!db || cvs__db_inherited(db))
        return;
    /* Last registered first, as a stack unwinds. */
    for (size_t i = db->nmods; i-- > 0;) {
        if (db->mods[i].attached && db->mods[i].m->close)
            db->mods[i].m->close(db, db->mods[i].state);
        free(db->mods[i].state);
        db->mods[i].state = NULL;
    }
    cvs__filter_cache_drop(db);
    if (db->env)
        mdb_env_close(db->env);
    cvs__crypt_free(db);
    pthread_rwlock_destroy(&db->maplock);
    pthread_mutex_destroy(&db->filter_mu);
    pthread_mutex_destroy(&db->snap_mu);
    free(db->snaps);
    free(db->path);
    free(db);
}

static uint64_t file_size(const char *dir, const char *name)
{
    char f[4200];
    struct stat st;
    snprintf(f, sizeof f, "%s/%s", dir, name);
    if (stat(f, &st) != 0)
        return 0;
    /* Blocks actually allocated: LMDB's file may be sparse. */
    return (uint64_t)st.st_blocks * 512u < (uint64_t)st.st_size
               ? (uint64_t)st.st_blocks * 512u : (uint64_t)st.st_size;
}

CVS_API int cvs_db_info(cvs_db *db, cvs_info *info)
{
    MDB_txn *txn;
    MDB_stat st;
    MDB_envinfo ei;
    MDB_val k, v;
    int rc, mrc;

    if (!db || !info)
        return cvs__err(CVS_EINVAL, "cvs_db_info: NULL argument");
    memset(info, 0, sizeof *info);
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    if ((mrc = mdb_stat(txn, db->dbi_ids, &st))) {
        rc = cvs__err_lmdb(mrc, "counting records");
        goto out;
    }
    info->count = st.ms_entries;
    k.mv_data = CVS__META_NEXT_KEY; k.mv_size = CVS__MKEY_LEN(CVS__META_NEXT_KEY);
    if (cvs__vget(db, txn, db->dbi_meta, &k, &v) == 0 && v.mv_size == 8)
        info->next_key = cvs__get_u64(v.mv_data);
    info->encrypted = db->crypt != NULL;
    mdb_env_info(db->env, &ei);
    info->map_bytes = ei.me_mapsize;
    info->format_version = db->crypt ? CVS_FORMAT_VERSION_CRYPT : CVS_FORMAT_VERSION;
    info->dim = db->dim;
    info->metric = db->metric;
    info->raw = db->raw;
    info->created_us = db->created_us;
    info->disk_bytes = file_size(db->path, "data.mdb") + file_size(db->path, "lock.mdb");
out:
    cvs__read_end(db, txn);
    return rc;
}
