/*
 * replay.c -- a main() for the fuzz targets when they are not linked with
 * libFuzzer: it calls LLVMFuzzerTestOneInput on each corpus file named on
 * the command line (a directory stands for the regular files in it, in name
 * order), as libFuzzer does with -runs=0, and then on a number of seeded
 * mutations of each (-mutate=N per file, 0 by default): bit flips, bytes
 * set to values parsers care about, truncations, and chunks deleted or
 * repeated.  That is no coverage-guided search, but it runs every seed and
 * its near neighbours through ASan and UBSan in the test suite, with gcc,
 * where clang's libFuzzer may be missing.
 *
 * CMake builds it into fuzz_<name> in the sanitizer configuration
 * (CVS_SANITIZE=ON), and ctest runs each over fuzz/corpus/<name>.  A
 * target finds a bug by aborting (or ASan/UBSan by reporting one): the
 * run then ends with a signal, after the name of the corpus file on
 * stderr; with CVS_REPLAY_VERBOSE=1 every mutation is named too, and the
 * same mutations come back on every run.
 *
 *   ./fuzz_readers [-mutate=N] FILE|DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as with libFuzzer. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_LEN 4096 /* mutations stay below this, like -max_len */

static unsigned long runs;
static int verbose; /* CVS_REPLAY_VERBOSE set: name every mutation */

/* One input, in a buffer of exactly its size so that ASan sees any read
 * past its end. */
static void run_one(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        fprintf(stderr, "replay: out of memory\n");
        exit(2);
    }
    if (len)
        memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    runs++;
}

/* Applies one to three random edits to buf (len bytes, capacity MAX_LEN). */
static size_t mutate(uint8_t *buf, size_t len, uint64_t *s)
{
    static const uint8_t special[] = {0, 1, 0x7f, 0x80, 0xff, '"', '\\', '{', '}', '[', ']',
                                      ':', ',', '-', '.', 'e', '0', '9', '\n', 0x93, 'N'};
    int edits = 1 + (int)(cvs__rng_next(s) % 3);
    for (int e = 0; e < edits; e++) {
        size_t at = len ? (size_t)(cvs__rng_next(s) % len) : 0;
        switch (cvs__rng_next(s) % 5) {
        case 0: /* flip a bit */
            if (len)
                buf[at] ^= (uint8_t)(1u << (cvs__rng_next(s) % 8));
            break;
        case 1: /* a byte parsers care about */
            if (len)
                buf[at] = special[cvs__rng_next(s) % sizeof special];
            break;
        case 2: /* truncate */
            len = at;
            break;
        case 3: { /* delete a chunk */
            size_t n = len - at ? 1 + (size_t)(cvs__rng_next(s) % (len - at)) : 0;
            memmove(buf + at, buf + at + n, len - at - n);
            len -= n;
            break;
        }
        default: { /* repeat a chunk after itself */
            size_t n = len - at ? 1 + (size_t)(cvs__rng_next(s) % (len - at)) : 0;
            if (len + n > MAX_LEN)
                n = MAX_LEN - len;
            memmove(buf + at + n, buf + at, len - at);
            len += n;
            break;
        }
        }
    }
    return len;
}

static int run_file(const char *path, unsigned long nmut)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = malloc(MAX_LEN), *buf = malloc(MAX_LEN);
    size_t len;
    uint64_t s = 0;
    int rc = 0;
    if (!f || !data || !buf) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        rc = 1;
        goto out;
    }
    len = fread(data, 1, MAX_LEN, f);
    if (ferror(f) || fgetc(f) != EOF) {
        fprintf(stderr, "replay: %s: unreadable or longer than %d bytes\n", path, MAX_LEN);
        rc = 1;
        goto out;
    }
    /* Named first, so that the report of a crash follows its input. */
    fprintf(stderr, "replay: %s\n", path);
    run_one(data, len);
    for (const char *p = path; *p; p++) /* a seed per file, from its path */
        s = s * 131 + (uint8_t)*p;
    for (unsigned long m = 0; m < nmut; m++) {
        size_t n;
        memcpy(buf, data, len);
        n = mutate(buf, len, &s);
        if (verbose) /* to tell which mutation a report is about */
            fprintf(stderr, "replay: %s mutation %lu\n", path, m);
        run_one(buf, n);
    }
out:
    if (f)
        fclose(f);
    free(data);
    free(buf);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, unsigned long nmut)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (!d) {
        fprintf(stderr, "replay: %s: cannot open\n", dir);
        return 1;
    }
    while ((e = readdir(d))) {
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p;
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **g = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof *names);
            if (!g)
                goto oom;
            names = g;
        }
        if (!(p = malloc(len)))
            goto oom;
        snprintf(p, len, "%s/%s", dir, e->d_name);
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        names[n++] = p;
    }
    if (n == 0) {
        fprintf(stderr, "replay: %s: no corpus files\n", dir);
        rc = 1;
    } else {
        qsort(names, n, sizeof *names, cmp_str);
    }
    for (size_t i = 0; i < n; i++)
        rc |= run_file(names[i], nmut);
    goto out;
oom:
    fprintf(stderr, "replay: out of memory\n");
    rc = 1;
out:
    closedir(d);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long nmut = 0;
    int rc = 0, files = 0;
    verbose = getenv("CVS_REPLAY_VERBOSE") != NULL;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (strncmp(argv[i], "-mutate=", 8) == 0) {
            nmut = strtoul(argv[i] + 8, NULL, 10);
            continue;
        }
        if (argv[i][0] == '-') { /* libFuzzer's flags mean nothing here */
            fprintf(stderr, "replay: ignoring %s\n", argv[i]);
            continue;
        }
        files++;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            rc |= run_dir(argv[i], nmut);
        else
            rc |= run_file(argv[i], nmut);
    }
    if (!files) {
        fprintf(stderr, "usage: %s [-mutate=N] FILE|DIR...\n", argv[0]);
        return 2;
    }
    fprintf(stderr, "replay: %lu inputs run%s\n", runs, rc ? ", but some files unreadable" : "");
    return rc;
}
