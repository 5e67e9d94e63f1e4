/*
 * report.h -- the report side shared by the sweep benchmarks (codecs, ann):
 * their result rows, recall against the ground truth, the load average
 * printed under each table, the plot's path and its gnuplot pipe, the
 * recall/QPS frontier, and writing the CSV and the plot at the end.  Each
 * benchmark keeps its own row type and columns; what they share is here,
 * so that two benchmarks cannot drift apart in how they report.
 */
#ifndef CVS_BENCH_REPORT_H
#define CVS_BENCH_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/benchutil.h"

/* Appends one zeroed row of elem bytes to *rows (n used, cap allocated;
 * the first allocation holds first_cap rows, then the array doubles).
 * Returns the new row, or NULL when out of memory (the rows stay). */
void *br_push(void **rows, size_t *n, size_t *cap, size_t elem, size_t first_cap);

/* Recall@k: the mean over ds->nq queries of |lab[q*stride .. +k) ∩ the
 * first k of ds->gt's row q| / k (negative labels match nothing); NAN
 * without queries. */
double br_recall(const bu_dataset *ds, const int64_t *lab, size_t stride, size_t k);

/* The distinct data set names of n rows, in the order first seen, at most
 * max: rows are stride bytes apart, each with a const char * name at byte
 * name_off.  Returns how many went to names. */
size_t br_dataset_names(const void *rows, size_t n, size_t stride, size_t name_off,
                        const char **names, size_t max);

/* The 1-minute load average (NAN when unknown), printed under each table so
 * that a reader can tell a quiet machine's figures from a loaded one's. */
double br_load(void);

/* The plot's default path: the CSV's path with its extension replaced by
 * .svg (appended when it has none), else dflt. */
void br_plot_path(const char *csv, const char *dflt, char *buf, size_t size);

/* A pipe to gnuplot, or NULL with "cvstore-bench CMD: cannot run gnuplot;
 * no plot written" on stderr. */
FILE *br_plot_open(const char *cmd);
/* Closes it: 0 with "plot written to PATH", or -1 with "gnuplot failed". */
int br_plot_close(FILE *g, const char *cmd, const char *path);

/* The recall/QPS frontier of np points (x = recall, y = QPS, pairs in pts):
 * keeps the points faster than every point of higher recall (the only
 * settings anyone would choose), in pts[0 .. return) by decreasing x. */
size_t br_frontier(double *pts, size_t np);

/* The end of a report: the table as CSV when csv is set, and the plot (by
 * plot(rows, plot_path)) when plot is set.  0, or 2 when either failed
 * (the benchmark's exit code: its figures were printed all the same). */
int br_write(const bu_table *t, const char *csv, int (*plot)(const void *rows, const char *path),
             const void *rows, const char *plot_path);

#endif
