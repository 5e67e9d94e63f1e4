/*
 * fuzz_lmdb_pages.c -- libFuzzer target for the open's length check
 * (store/lmdb_pages.c): every input is a data.mdb, written to a temporary
 * file and read with pread by cvs__lmdb_short_check (meta pages, then the
 * free list when the file ends before its last page) and by
 * cvs__lmdb_free_pages over every page the meta page counts.  Whatever the
 * bytes, each must end with a code, within the file's pages, and an answer
 * of CVS_OK must mean what it says: every page past the end is listed free.
 *
 * The corpus (fuzz/corpus/lmdb_pages) holds a small LMDB file whose last
 * seven pages are free (a large value put, deleted, and two writes after;
 * made with liblmdb) whole and truncated to drop those pages.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvstore.h"
#include "store/lmdb_pages.h"

static char path[64];

static void cleanup(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(path, sizeof path, "/tmp/cvs-fuzz-lmdb-pages-%ld", (long)getpid());
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[400];
    cvs__lmdb_meta m;
    uint64_t *pg = NULL, np = 0;
    size_t n = 0;
    int rc, fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
        abort();
    rc = cvs__lmdb_short_check(fd, why, sizeof why);
    if (rc != CVS_OK && !why[0])
        abort(); /* every refusal says why */
    why[0] = '\0';
    if (cvs__lmdb_meta_read(fd, &m, why, sizeof why) == CVS_OK) {
        np = size / m.psize;
        if (cvs__lmdb_free_pages(fd, &m, np, 2, m.last_pg, &pg, &n, why, sizeof why) == CVS_OK) {
            for (size_t i = 0; i < n; i++)
                if (pg[i] < 2 || pg[i] > m.last_pg || (i && pg[i] <= pg[i - 1]))
                    abort();
            /* Accepted short: the pages past the end are the last of the
             * free ones, in a row up to last_pg. */
            if (rc == CVS_OK && m.last_pg >= np &&
                (n < m.last_pg - np + 1 || pg[n - (m.last_pg - np + 1)] != np))
                abort();
        }
        free(pg);
    }
    close(fd);
    return 0;
}
