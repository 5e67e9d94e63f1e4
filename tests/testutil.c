/* testutil.c -- helpers for the Criterion tests (see testutil.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/testutil.h"

char *tu_tmpdir(void)
{
    char tmpl[] = "/tmp/cvstest-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void tu_rmrf(const char *path)
{
    char cmd[4200];
    if (!path || strncmp(path, "/tmp/cvstest-", 13) != 0)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "tu_rmrf: could not remove %s\n", path);
}

char *tu_write_file(const char *dir, const char *name, const void *data, size_t len)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    FILE *f;
    snprintf(p, n, "%s/%s", dir, name);
    f = fopen(p, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        if (f)
            fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    return p;
}

int tu_cli(char **out, const char *fmt, ...)
{
    char args[8192], cmd[8400];
    va_list ap;
    FILE *p;
    size_t cap = 4096, len = 0, got;
    char *buf;
    int st;

    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s", CVS_CLI_PATH, args);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    buf = malloc(cap);
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void tu_randvecs(float *v, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v[i] = (float)((double)(s >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
    }
}

/* ==== Timeouts under the sanitizers ==== */

/* The tests' own timeouts (and their suites') are there to catch hangs.
 * ASan and UBSan make codec training and the SIFT10K scans several times
 * slower, so the sanitizer build (CVS_TEST_SLOW, a factor) stretches every
 * one of them before the first test starts, rather than each test knowing
 * how it was built.  The runner reads them from these same structures. */
#ifdef CVS_TEST_SLOW
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/internal/ordered-set.h>

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    FOREACH_SET(struct criterion_suite_set *s, set->suites) {
        if (s->suite.data && s->suite.data->timeout > 0)
            s->suite.data->timeout *= CVS_TEST_SLOW;
        FOREACH_SET(struct criterion_test *t, s->tests) {
            if (t->data && t->data->timeout > 0)
                t->data->timeout *= CVS_TEST_SLOW;
        }
    }
}
#endif
