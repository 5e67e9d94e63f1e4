/* testutil.h -- small helpers shared by the Criterion tests. */
#ifndef CVS_TESTUTIL_H
#define CVS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh empty temporary directory (malloc'd path); removed by tu_rmrf. */
char *tu_tmpdir(void);
/* rm -rf path (a directory or a file). */
void tu_rmrf(const char *path);
/* Writes len bytes to dir/name and returns the malloc'd full path. */
char *tu_write_file(const char *dir, const char *name, const void *data, size_t len);
/* Runs the cvstore CLI with args (a shell-quoted string), captures stdout
 * into *out (malloc'd, may be NULL) and returns the exit code (-1 on a
 * signal). */
int tu_cli(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Deterministic pseudo-random floats in [-1, 1). */
void tu_randvecs(float *v, size_t n, uint64_t seed);

#endif
