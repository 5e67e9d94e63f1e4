/*
 * report.c -- the report side shared by the sweep benchmarks (report.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/report.h"

void *br_push(void **rows, size_t *n, size_t *cap, size_t elem, size_t first_cap)
{
    unsigned char *r;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : first_cap;
        void *p = realloc(*rows, c * elem);
        if (!p)
            return NULL;
        *rows = p;
        *cap = c;
    }
    r = (unsigned char *)*rows + (*n)++ * elem;
    memset(r, 0, elem);
    return r;
}

double br_recall(const bu_dataset *ds, const int64_t *lab, size_t stride, size_t k)
{
    double sum = 0;
    for (size_t q = 0; q < ds->nq; q++) {
        size_t hit = 0;
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                if (lab[q * stride + i] >= 0 && lab[q * stride + i] == ds->gt[q * ds->gtk + j]) {
                    hit++;
                    break;
                }
        sum += (double)hit / (double)k;
    }
    return ds->nq ? sum / (double)ds->nq : NAN;
}

size_t br_dataset_names(const void *rows, size_t n, size_t stride, size_t name_off,
                        const char **names, size_t max)
{
    size_t nds = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        size_t j = 0;
        memcpy(&name, (const unsigned char *)rows + i * stride + name_off, sizeof name);
        while (j < nds && strcmp(names[j], name) != 0)
            j++;
        if (j == nds && nds < max)
            names[nds++] = name;
    }
    return nds;
}

double br_load(void)
{
    double load = 0;
    if (getloadavg(&load, 1) != 1)
        load = NAN;
    return load;
}

void br_plot_path(const char *csv, const char *dflt, char *buf, size_t size)
{
    const char *dot = csv ? strrchr(csv, '.') : NULL;
    if (csv && dot && !strchr(dot, '/'))
        snprintf(buf, size, "%.*s.svg", (int)(dot - csv), csv);
    else if (csv)
        snprintf(buf, size, "%s.svg", csv);
    else
        snprintf(buf, size, "%s", dflt);
}

FILE *br_plot_open(const char *cmd)
{
    FILE *g = popen("gnuplot", "w");
    if (!g)
        fprintf(stderr, "cvstore-bench %s: cannot run gnuplot; no plot written\n", cmd);
    return g;
}

int br_plot_close(FILE *g, const char *cmd, const char *path)
{
    if (pclose(g) != 0) {
        fprintf(stderr, "cvstore-bench %s: gnuplot failed; plot %s may be missing\n", cmd, path);
        return -1;
    }
    fprintf(stderr, "cvstore-bench %s: plot written to %s\n", cmd, path);
    return 0;
}

static int by_x_desc(const void *a, const void *b)
{
    double x = ((const double *)a)[0], y = ((const double *)b)[0];
    return x < y ? 1 : x > y ? -1 : 0;
}

size_t br_frontier(double *pts, size_t np)
{
    size_t keep = 0;
    double best = 0;
    qsort(pts, np, 2 * sizeof *pts, by_x_desc);
    for (size_t i = 0; i < np; i++)
        if (pts[2 * i + 1] > best) {
            best = pts[2 * i + 1];
            pts[2 * keep] = pts[2 * i];
            pts[2 * keep + 1] = best;
            keep++;
        }
    return keep;
}

int br_write(const bu_table *t, const char *csv, int (*plot)(const void *rows, const char *path),
             const void *rows, const char *plot_path)
{
    int ret = 0;
    if (csv && bu_table_csv(t, csv) != 0)
        ret = 2;
    if (plot && plot(rows, plot_path) != 0)
        ret = 2;
    return ret;
}
