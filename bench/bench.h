/*
 * bench.h -- the subcommands of cvstore-bench, one .c file each, so that a
 * new benchmark (codecs, ann) is a new file and one line in main.c.
 * Each takes argv with argv[0] = the subcommand name, parses its own
 * options with getopt_long, and returns the process exit code.
 */
#ifndef CVS_BENCH_H
#define CVS_BENCH_H

int bench_import(int argc, char **argv);
int bench_exact(int argc, char **argv);
int bench_codecs(int argc, char **argv);
int bench_ann(int argc, char **argv);
int bench_context(int argc, char **argv);
int bench_soak(int argc, char **argv);
int bench_memory(int argc, char **argv);
int bench_crypt(int argc, char **argv);
int bench_scale(int argc, char **argv);
int bench_embed(int argc, char **argv);

#endif
