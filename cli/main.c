/*
 * main.c -- the `cvstore` command-line tool: dispatches `cvstore COMMAND
 * [options]` to one function per subcommand (one .c file each), and owns
 * the top-level --help, which is where the exit-code contract is written
 * down for scripts: 0 success, 1 the user's mistake, 2 ours or the
 * system's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const struct command {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"init", cmd_init, "create an empty store (dimension, metric, raw precision)"},
    {"import", cmd_import, "import vectors from fvecs, bvecs, npy or jsonl"},
    {"get", cmd_get, "print records by id"},
    {"delete", cmd_delete, "delete records by id"},
    {"search", cmd_search, "k nearest records to query vectors"},
    {"stats", cmd_stats, "size, dimension, metric and counts of a store"},
    {"check", cmd_check, "verify a store's invariants"},
    {"export", cmd_export, "write every record as JSONL (the import format)"},
    {"build", cmd_build, "train a codec (PQ, OPQ, PCA), compress every vector, build an ANN index"},
    {"tune", cmd_tune, "store the cheapest ANN search setting reaching a target recall"},
    {"mcp", cmd_mcp, "serve the store as agent memory over MCP (stdio)"},
    {"link", cmd_link, "link records to the records their text mentions; build the kNN graph"},
    {"context", cmd_context, "a diverse, multi-hop context set for a question, under a token budget"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fputs("Usage: cvstore COMMAND [options]\n"
          "       cvstore COMMAND --help\n"
          "       cvstore --version\n"
          "\n"
          "A compressed vector store.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "Encrypted stores (`cvstore init DB --encrypt`): every command takes the\n"
          "passphrase from --key-file FILE (the file's contents, one trailing line end,\n"
          "\\n, \\r\\n or a lone \\r, dropped) or else from the environment variable\n"
          "CVSTORE_PASSPHRASE.\n"
          "\n"
          "Exit codes:\n"
          "  0  success\n"
          "  1  user error: bad arguments, bad input file, no such store or record,\n"
          "     problems found by `check`\n"
          "  2  internal or I/O error\n"
          "  128+N  ended by signal N (130 Ctrl-C, 143 SIGTERM, 141 a closed pipe):\n"
          "     what was committed stays; import, build, tune and link say what\n"
          "     they kept and what to run; init removes a store not yet whole\n",
          f);
}

int main(int argc, char **argv)
{
    const struct command *cmd = NULL;
    char **sub = NULL;
    char *name = NULL, prefix[64];
    const char *word;
    int rc;

    if (argc < 2) {
        usage(stderr);
        return CLI_EUSER;
    }
    word = argv[1];
    if (!strcmp(word, "--help") || !strcmp(word, "-h")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(word, "--version") || !strcmp(word, "-V")) {
        printf("cvstore %s\n", CVS_VERSION_STRING);
        return CLI_OK;
    }
    /* `cvstore help CMD` is what people type after `git help CMD`. */
    if (!strcmp(word, "help")) {
        if (argc < 3) {
            usage(stdout);
            return CLI_OK;
        }
        word = argv[2];
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(word, commands[i].name))
            cmd = &commands[i];
    if (!cmd) {
        const char *names[NCOMMANDS], *meant;
        for (size_t i = 0; i < NCOMMANDS; i++)
            names[i] = commands[i].name;
        meant = cvs_suggest(word, names, NCOMMANDS);
        fprintf(stderr, "cvstore: unknown command '%s'%s%s%s\n"
                "Try 'cvstore --help' for the list of commands.\n", word,
                meant ? " (did you mean '" : "", meant ? meant : "", meant ? "'?)" : "");
        return CLI_EUSER;
    }

    /* The subcommand sees argv[0] = "cvstore NAME", so getopt's own
     * complaints ("cvstore search: unrecognized option '--kk'") say which
     * command they are about. */
    if (!(sub = calloc((size_t)argc + 1, sizeof *sub)) ||
        !(name = malloc(strlen(cmd->name) + sizeof "cvstore "))) {
        fputs("cvstore: out of memory\n", stderr);
        rc = CLI_EFAIL;
        goto out;
    }
    sprintf(name, "cvstore %s", cmd->name);
    sub[0] = name;
    if (argv[1] != word) { /* help CMD -> CMD --help */
        sub[1] = "--help";
        argc = 2;
    } else {
        for (int i = 2; i < argc; i++)
            sub[i - 1] = argv[i];
        argc--;
    }
    sub[argc] = NULL;
    if ((rc = cli_key_file_take(name, &argc, sub)))
        goto out;
    /* Our synopses put options after the positional arguments ("init DB
     * --dim D"), which needs glibc's argument permutation; POSIXLY_CORRECT
     * in the environment would turn it off and break documented usage. */
    unsetenv("POSIXLY_CORRECT");
    cli_getopt_reset(sub);
    /* A damaged data.mdb can fault inside LMDB, where no call can return:
     * end with "cvstore: CMD: store is damaged: ..." and exit 2, not a
     * signal (cvstore.h, cvs_fault_exit). */
    snprintf(prefix, sizeof prefix, "cvstore: %s", cmd->name);
    if ((rc = cvs_fault_exit(prefix, CLI_EFAIL))) {
        rc = cli_fail(cmd->name, rc, NULL);
        goto out;
    }
    rc = cmd->fn(argc, sub);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "cvstore: %s: error writing output\n", cmd->name);
        if (rc == CLI_OK)
            rc = CLI_EFAIL;
    }
out:
    free(name);
    free(sub);
    return rc;
}
