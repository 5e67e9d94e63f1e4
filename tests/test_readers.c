/*
 * test_readers.c -- the streaming readers (store/reader.h) on files made
 * here: round trips of known values, and every kind of malformed input we
 * promise to reject with a message naming the record or line.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/reader.h"
#include "tests/testutil.h"

static char *dir;

static void setup(void) { dir = tu_tmpdir(); }
static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

TestSuite(readers, .init = setup, .fini = teardown);

/* ==== Builders ==== */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_i32(buf *b, int32_t v) { put(b, &v, 4); }

/* n records of dim d from v (float, uint8 or int32 by el_size). */
static char *vecs_file(const char *name, const void *v, size_t n, int32_t d, size_t el_size)
{
    buf b = {0};
    char *p;
    for (size_t i = 0; i < n; i++) {
        put_i32(&b, d);
        put(&b, (const char *)v + i * d * el_size, d * el_size);
    }
    p = tu_write_file(dir, name, b.p, b.n);
    free(b.p);
    return p;
}

static char *raw_file(const char *name, const void *data, size_t n)
{
    char *p = tu_write_file(dir, name, data, n);
    cr_assert(p);
    return p;
}

/* A .npy of the given version with header dict text hdr and data. */
static char *npy_file(const char *name, int ver, const char *hdr, const void *data, size_t len)
{
    buf b = {0};
    size_t pre = ver == 1 ? 10 : 12, hl = strlen(hdr) + 1;
    char *p, *h;
    unsigned char v[2] = {(unsigned char)ver, 0};
    hl += (64 - (pre + hl) % 64) % 64;
    h = malloc(hl);
    memset(h, ' ', hl);
    memcpy(h, hdr, strlen(hdr));
    h[hl - 1] = '\n';
    put(&b, "\x93NUMPY", 6);
    put(&b, v, 2);
    if (ver == 1) {
        uint16_t l = (uint16_t)hl;
        put(&b, &l, 2);
    } else {
        uint32_t l = (uint32_t)hl;
        put(&b, &l, 4);
    }
    put(&b, h, hl);
    put(&b, data, len);
    p = raw_file(name, b.p, b.n);
    free(b.p);
    free(h);
    return p;
}

/* Reads the whole file; returns the count and copies vectors to out. */
static size_t read_all(const char *path, cvs_format fmt, uint32_t expect, float *out, size_t max)
{
    cvs_reader *r;
    cvs_rrec rec;
    size_t n = 0;
    int rc;
    cr_assert_eq(cvs_reader_open(path, fmt, expect, &r), 0, "%s", cvs_errmsg(NULL));
    while ((rc = cvs_reader_next(r, &rec)) == 0) {
        cr_assert_lt(n, max);
        memcpy(out + n * rec.dim, rec.vec, rec.dim * sizeof(float));
        cr_assert_eq(rec.recno, n);
        n++;
    }
    cr_assert_eq(rc, CVS_NOTFOUND, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_reader_bytes_done(r), cvs_reader_bytes_total(r));
    cvs_reader_close(r);
    return n;
}

/* Expects open or some next to fail with rc and a message containing want. */
static void expect_fail(const char *path, cvs_format fmt, uint32_t expect, int want_rc,
                        const char *want)
{
    cvs_reader *r = NULL;
    cvs_rrec rec;
    int rc = cvs_reader_open(path, fmt, expect, &r);
    if (rc == 0) {
        while ((rc = cvs_reader_next(r, &rec)) == 0)
            ;
        cvs_reader_close(r);
    }
    cr_log_info("%s", cvs_errmsg(NULL));
    cr_assert_eq(rc, want_rc, "rc %d (%s), want %d: %s", rc, cvs_strerror(rc), want_rc,
                 cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), want), "message \"%s\" lacks \"%s\"", cvs_errmsg(NULL), want);
    cr_assert(strstr(cvs_errmsg(NULL), path), "message \"%s\" lacks the path", cvs_errmsg(NULL));
}

/* ==== Names ==== */

Test(readers, format_names)
{
    cvs_format f;
    cr_assert_eq(cvs_format_parse("fvecs", &f), 0);
    cr_assert_eq(f, CVS_FMT_FVECS);
    cr_assert_eq(cvs_format_parse("NPY", &f), 0);
    cr_assert_eq(f, CVS_FMT_NPY);
    cr_assert_eq(cvs_format_parse("ndjson", &f), 0);
    cr_assert_eq(f, CVS_FMT_JSONL);
    cr_assert_eq(cvs_format_parse("csv", &f), CVS_EINVAL);
    cr_assert_str_eq(cvs_format_name(CVS_FMT_JSONL), "jsonl");
    cr_assert_str_eq(cvs_format_name(CVS_FMT_IVECS), "ivecs");
    cr_assert_eq(cvs_format_guess("/a/b.c/x.bvecs", &f), 0);
    cr_assert_eq(f, CVS_FMT_BVECS);
    cr_assert_eq(cvs_format_guess("x.JSONL", &f), 0);
    cr_assert_eq(f, CVS_FMT_JSONL);
    cr_assert_eq(cvs_format_guess("x.json", &f), 0);
    cr_assert_eq(cvs_format_guess("a.npy/file", &f), CVS_EINVAL);
    cr_assert_eq(cvs_format_guess("file", &f), CVS_EINVAL);
}

/* ==== fvecs / bvecs / ivecs ==== */

Test(readers, fvecs_round_trip_and_rewind)
{
    float v[5 * 7], got[5 * 7];
    cvs_reader *r;
    cvs_rrec rec;
    char *p;
    tu_randvecs(v, 35, 1);
    v[3] = 1e-42f; /* a subnormal survives */
    v[4] = -0.0f;
    p = vecs_file("a.fvecs", v, 5, 7, 4);
    cr_assert_eq(read_all(p, CVS_FMT_FVECS, 0, got, 5), 5);
    cr_assert_eq(memcmp(v, got, sizeof v), 0);
    cr_assert_eq(cvs_reader_open(p, CVS_FMT_FVECS, 7, &r), 0);
    cr_assert_eq(cvs_reader_total(r), 5);
    cr_assert_eq(cvs_reader_dim(r), 7);
    cr_assert_eq(cvs_reader_bytes_total(r), 5 * 32);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 5; i++) {
            cr_assert_eq(cvs_reader_next(r, &rec), 0);
            cr_assert_eq(memcmp(rec.vec, v + i * 7, 28), 0);
            cr_assert_null(rec.id);
        }
        cr_assert_eq(cvs_reader_next(r, &rec), CVS_NOTFOUND);
        cr_assert_eq(cvs_reader_rewind(r), 0);
    }
    cvs_reader_close(r);
    free(p);
}

Test(readers, bvecs_and_ivecs_round_trip)
{
    unsigned char b[3 * 4] = {0, 1, 2, 255, 128, 7, 9, 10, 200, 201, 202, 203};
    int32_t iv[2 * 3] = {0, -1, 2147483647, 5, 6, -2147483647 - 1};
    float got[12];
    int32_t *ig;
    size_t n;
    uint32_t d;
    char *p = vecs_file("a.bvecs", b, 3, 4, 1), *q = vecs_file("g.ivecs", iv, 2, 3, 4);
    cr_assert_eq(read_all(p, CVS_FMT_BVECS, 4, got, 3), 3);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(got[i], (float)b[i]);
    cr_assert_eq(cvs_ivecs_load(q, &ig, &n, &d), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(n, 2);
    cr_assert_eq(d, 3);
    cr_assert_eq(memcmp(ig, iv, sizeof iv), 0);
    cvs_free(ig);
    free(p);
    free(q);
}

Test(readers, siftsmall_loads)
{
    float *v;
    size_t n;
    uint32_t d;
    cr_assert_eq(cvs_vecs_load(CVS_TEST_DATA "/siftsmall/siftsmall_base.fvecs", CVS_FMT_AUTO, &v, &n, &d),
                 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(n, 10000);
    cr_assert_eq(d, 128);
    cvs_free(v);
    cvs_free(NULL);
}

Test(readers, vecs_truncated)
{
    float v[4 * 3];
    buf b = {0};
    char *p;
    tu_randvecs(v, 12, 2);
    for (int i = 0; i < 3; i++) {
        put_i32(&b, 4);
        put(&b, v + 4 * i, 16);
    }
    put_i32(&b, 4);
    put(&b, v, 6); /* record 3 stops after 6 of 16 bytes */
    p = raw_file("t.fvecs", b.p, b.n);
    expect_fail(p, CVS_FMT_FVECS, 0, CVS_EINPUT, "record 3: truncated: 6 of 16");
    free(p);
    b.n = 3 * 20 + 2; /* record 3 has half a header */
    p = raw_file("t2.fvecs", b.p, b.n);
    expect_fail(p, CVS_FMT_FVECS, 0, CVS_EINPUT, "record 3: truncated: 2 of 4 header bytes");
    free(p);
    p = raw_file("t3.bvecs", b.p, 3);
    expect_fail(p, CVS_FMT_BVECS, 0, CVS_EINPUT, "record 0: truncated");
    free(p);
    free(b.p);
}

Test(readers, vecs_bad_dims)
{
    float v[8] = {0};
    buf b = {0};
    char *p = vecs_file("d.fvecs", v, 2, 4, 4);
    expect_fail(p, CVS_FMT_FVECS, 5, CVS_EDIM, "record 0: dimension 4, expected 5");
    free(p);
    put_i32(&b, 2);
    put(&b, v, 8);
    put_i32(&b, 3);
    put(&b, v, 12);
    p = raw_file("ragged.fvecs", b.p, b.n);
    expect_fail(p, CVS_FMT_FVECS, 0, CVS_EDIM, "record 1: dimension 3 differs");
    free(p);
    b.n = 0;
    put_i32(&b, 0);
    p = raw_file("zero.fvecs", b.p, b.n);
    expect_fail(p, CVS_FMT_FVECS, 0, CVS_EINPUT, "dimension 0 is out of range");
    free(p);
    b.n = 0;
    put_i32(&b, -3);
    put(&b, v, 8);
    p = raw_file("neg.ivecs", b.p, b.n);
    expect_fail(p, CVS_FMT_IVECS, 0, CVS_EINPUT, "dimension -3 is out of range");
    free(p);
    b.n = 0;
    put_i32(&b, CVS_MAX_DIM + 1);
    p = raw_file("big.bvecs", b.p, b.n);
    expect_fail(p, CVS_FMT_BVECS, 0, CVS_EINPUT, "out of range");
    free(p);
    free(b.p);
}

Test(readers, vecs_nan_inf)
{
    float v[3 * 4];
    char *p;
    tu_randvecs(v, 12, 3);
    v[4 + 2] = NAN;
    p = vecs_file("nan.fvecs", v, 3, 4, 4);
    expect_fail(p, CVS_FMT_FVECS, 0, CVS_EINPUT, "record 1: value 2 is NaN");
    free(p);
    v[6] = 0;
    v[8 + 3] = -INFINITY;
    p = vecs_file("inf.fvecs", v, 3, 4, 4);
    expect_fail(p, CVS_FMT_FVECS, 0, CVS_EINPUT, "record 2: value 3 is infinite");
    free(p);
}

Test(readers, empty_files)
{
    static const struct {
        const char *name;
        cvs_format f;
    } c[] = {{"e.fvecs", CVS_FMT_FVECS}, {"e.bvecs", CVS_FMT_BVECS}, {"e.ivecs", CVS_FMT_IVECS},
             {"e.npy", CVS_FMT_NPY},     {"e.jsonl", CVS_FMT_JSONL}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char *p = raw_file(c[i].name, "", 0);
        expect_fail(p, c[i].f, 0, CVS_EINPUT, "empty file");
        free(p);
    }
    /* A wrong name is the caller's mistake, not malformed input. */
    expect_fail("/nonexistent/x.fvecs", CVS_FMT_FVECS, 0, CVS_EINVAL, "No such file");
}

/* ==== npy ==== */

Test(readers, npy_versions_f32)
{
    float v[3 * 5], got[3 * 5];
    tu_randvecs(v, 15, 4);
    for (int ver = 1; ver <= 3; ver++) {
        char name[32], *p;
        snprintf(name, sizeof name, "v%d.npy", ver);
        p = npy_file(name, ver, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }", v,
                     sizeof v);
        memset(got, 0, sizeof got);
        cr_assert_eq(read_all(p, CVS_FMT_NPY, 5, got, 3), 3);
        cr_assert_eq(memcmp(v, got, sizeof v), 0);
        free(p);
    }
}

Test(readers, npy_header_variants)
{
    float v[4] = {1, 2, 3, 4}, got[4];
    /* Double quotes, other key order, no spaces, Python 2 long, 1-D. */
    char *p = npy_file("h.npy", 1, "{\"shape\":(2L,2L),\"fortran_order\":False,\"descr\":\"<f4\"}", v,
                       sizeof v);
    cr_assert_eq(read_all(p, CVS_FMT_NPY, 0, got, 2), 2);
    cr_assert_eq(memcmp(v, got, sizeof v), 0);
    free(p);
    p = npy_file("one.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", v,
                 sizeof v);
    cr_assert_eq(read_all(p, CVS_FMT_NPY, 4, got, 1), 1);
    cr_assert_eq(memcmp(v, got, sizeof v), 0);
    free(p);
}

Test(readers, npy_f16_and_u8)
{
    /* 1, -2, 65504 (max), 2^-24 (smallest subnormal), 0.5, -0 */
    uint16_t h[6] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x3800, 0x8000};
    float want[6] = {1.0f, -2.0f, 65504.0f, 5.9604644775390625e-8f, 0.5f, -0.0f}, got[6];
    unsigned char u[6] = {0, 1, 127, 128, 254, 255};
    char *p = npy_file("h.npy", 2, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", h,
                       sizeof h);
    cr_assert_eq(read_all(p, CVS_FMT_NPY, 3, got, 2), 2);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(memcmp(&got[i], &want[i], 4), 0, "value %d: %g vs %g", i, got[i], want[i]);
    free(p);
    h[4] = 0x7c00;
    p = npy_file("hinf.npy", 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", h,
                 sizeof h);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "record 1: value 1 is infinite");
    free(p);
    h[4] = 0x3800;
    h[0] = 0x7e00;
    p = npy_file("hnan.npy", 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", h,
                 sizeof h);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "record 0: value 0 is NaN");
    free(p);
    for (int k = 0; k < 2; k++) {
        p = npy_file("u.npy", 3,
                     k ? "{'descr': '<u1', 'fortran_order': False, 'shape': (3, 2), }"
                       : "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2), }",
                     u, sizeof u);
        cr_assert_eq(read_all(p, CVS_FMT_NPY, 2, got, 3), 3);
        for (int i = 0; i < 6; i++)
            cr_assert_eq(got[i], (float)u[i]);
        free(p);
    }
}

Test(readers, npy_f64)
{
    /* NumPy's default dtype: rounded to float32; beyond its range refused. */
    double d[6] = {1.0, -2.5, 0.1, 3.4e38, -1e-50, 1e10}, big[2] = {1.0, 3.5e38};
    float got[6];
    char *p = npy_file("d.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d,
                       sizeof d);
    cr_assert_eq(read_all(p, CVS_FMT_NPY, 3, got, 2), 2);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(got[i], (float)d[i], "value %d: %g vs %g", i, got[i], (double)(float)d[i]);
    free(p);
    p = npy_file("dbig.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", big,
                 sizeof big);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "record 0: value 1 (3.5e+38) is outside the float32 range");
    free(p);
    d[2] = NAN;
    p = npy_file("dnan.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d,
                 sizeof d);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "record 0: value 2 is NaN");
    free(p);
}

Test(readers, npy_rejects)
{
    float v[6] = {0};
    static const struct {
        const char *hdr, *want;
    } c[] = {
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "Fortran"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'junk': 1}", "unexpected or repeated key 'junk'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", "repeated key 'descr'"},
        {"{'descr': '<f4', 'shape': (2, 3)}", "lacks 'fortran_order'"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", "big-endian"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", "'<i8' is not supported"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", "structured"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }", "3 dimensions"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "0 dimensions"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6, 0), }", "dimension 0"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk", "after the header dict"},
        {"hello", "expected '{'"},
        {"{'descr': '<f4', 'fortran_order': Fals, 'shape': (2, 3), }", "True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", "non-negative integer"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3), }", "expected ',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", "end of the header"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 3)}", "too large"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char *p = npy_file("bad.npy", 1, c[i].hdr, v, sizeof v);
        expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, c[i].want);
        free(p);
    }
}

Test(readers, npy_bad_sizes_and_preamble)
{
    float v[7];
    char *p;
    tu_randvecs(v, 7, 5);
    p = npy_file("short.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", v, 20);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "record 2: truncated");
    free(p);
    p = npy_file("long.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", v, 28);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "4 bytes after the 3 records");
    free(p);
    p = npy_file("huge.npy", 2,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2), }", v, 24);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "truncated");
    free(p);
    v[5] = NAN;
    p = npy_file("nan.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", v, 24);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "record 2: value 1 is NaN");
    expect_fail(p, CVS_FMT_NPY, 3, CVS_EDIM, "dimension 2, expected 3");
    free(p);
    p = raw_file("magic.npy", "\x93NUMPX\x01\x00\x10\x00", 10);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "not a .npy file");
    free(p);
    p = raw_file("ver.npy", "\x93NUMPY\x04\x00\x10\x00", 10);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "version 4.0");
    free(p);
    p = raw_file("pre.npy", "\x93NUMPY\x02\x00\x10", 9);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "preamble");
    free(p);
    p = raw_file("hdr.npy", "\x93NUMPY\x01\x00\x40\x00{'descr'", 17);
    expect_fail(p, CVS_FMT_NPY, 0, CVS_EINPUT, "header truncated");
    free(p);
}

/* ==== jsonl ==== */

Test(readers, jsonl_round_trip)
{
    const char *text =
        "\xef\xbb\xbf{\"id\": \"a\", \"vector\": [1, -2.5, 3e-3], \"text\": \"h\\u00e9llo\", "
        "\"meta\": { \"k\" : [1, 2],  \"s\": \"x\" }, \"title\": \"T\", \"other\": {\"x\": 1}}\n"
        "\n   \t\r\n"
        "{\"id\": 7, \"vector\": [0, 0.5, 1e-45], \"links\": [\"a\", {\"id\": \"b\", \"type\": \"cites\", "
        "\"weight\": 0.25}, {\"id\": \"c\"}]}\r\n"
        "{\"vector\": [3.4028234e38, -1, 1], \"id\": \"last\"}"; /* no final newline */
    char *p = raw_file("r.jsonl", text, strlen(text));
    cvs_reader *r;
    cvs_rrec rec;
    cr_assert_eq(cvs_reader_open(p, CVS_FMT_JSONL, 0, &r), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_reader_dim(r), 0);
    cr_assert_eq(cvs_reader_next(r, &rec), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_reader_dim(r), 3);
    cr_assert_eq(rec.id_len, 1);
    cr_assert_eq(rec.id[0], 'a');
    cr_assert_eq(rec.vec[0], 1.0f);
    cr_assert_eq(rec.vec[1], -2.5f);
    cr_assert_eq(rec.vec[2], 3e-3f);
    cr_assert_eq(rec.text_len, 6);
    cr_assert_eq(memcmp(rec.text, "h\xc3\xa9llo", 6), 0);
    cr_assert_eq(rec.meta_len, strlen("{\"k\":[1,2],\"s\":\"x\"}"));
    cr_assert_eq(memcmp(rec.meta, "{\"k\":[1,2],\"s\":\"x\"}", rec.meta_len), 0);
    cr_assert_eq(rec.nlinks, 0);
    cr_assert_eq(rec.line, 1);
    cr_assert_eq(cvs_reader_next(r, &rec), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(rec.line, 4);
    cr_assert_eq(rec.recno, 1);
    cr_assert_eq(rec.id_len, 1);
    cr_assert_eq(rec.id[0], '7');
    cr_assert_eq(rec.vec[2], 1e-45f);
    cr_assert_null(rec.text);
    cr_assert_null(rec.meta);
    cr_assert_eq(rec.nlinks, 3);
    cr_assert_eq(rec.links[0].id_len, 1);
    cr_assert_eq(rec.links[0].weight, 1.0f);
    cr_assert_null(rec.links[0].type);
    cr_assert_str_eq(rec.links[1].type, "cites");
    cr_assert_eq(rec.links[1].weight, 0.25f);
    cr_assert_eq(rec.links[2].id[0], 'c');
    cr_assert_eq(cvs_reader_next(r, &rec), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(rec.vec[0], 3.4028234e38f);
    cr_assert_eq(rec.id_len, 4);
    cr_assert_eq(cvs_reader_next(r, &rec), CVS_NOTFOUND);
    cr_assert_eq(cvs_reader_bytes_done(r), strlen(text));
    cr_assert_eq(cvs_reader_rewind(r), 0);
    cr_assert_eq(cvs_reader_next(r, &rec), 0);
    cr_assert_eq(rec.line, 1);
    cr_assert_eq(rec.id[0], 'a');
    cvs_reader_close(r);
    free(p);
}

Test(readers, jsonl_huge_line)
{
    size_t tl = 5u << 20;
    char *line = malloc(tl + 100), *p;
    cvs_reader *r;
    cvs_rrec rec;
    int k = sprintf(line, "{\"id\":\"big\",\"vector\":[1,2],\"text\":\"");
    memset(line + k, 'x', tl);
    strcpy(line + k + tl, "\"}\n");
    p = raw_file("big.jsonl", line, strlen(line));
    cr_assert_eq(cvs_reader_open(p, CVS_FMT_JSONL, 2, &r), 0);
    cr_assert_eq(cvs_reader_next(r, &rec), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(rec.text_len, tl);
    cr_assert_eq(rec.text[tl - 1], 'x');
    cvs_reader_close(r);
    free(p);
    free(line);
}

Test(readers, jsonl_rejects)
{
    char id513[600], id512[600];
    static const char ok[] = "{\"id\": \"ok\", \"vector\": [1, 2, 3]}\n";
    struct {
        const char *line, *want;
        int rc;
    } c[] = {
        {"{\"id\": \"x\", \"vector\": [1, 2, 3]", "line 2: bad JSON at column", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 2, 3]} junk", "line 2: bad JSON", CVS_EINPUT},
        {"[1, 2, 3]", "line 2: record is not a JSON object", CVS_EINPUT},
        {"{\"vector\": [1, 2, 3]}", "line 2: record has no \"id\"", CVS_EINPUT},
        {"{\"id\": 1.5, \"vector\": [1, 2, 3]}", "must be a string or an integer", CVS_EINPUT},
        {"{\"id\": null, \"vector\": [1, 2, 3]}", "must be a string or an integer", CVS_EINPUT},
        {"{\"id\": \"\", \"vector\": [1, 2, 3]}", "line 2: empty id", CVS_EINPUT},
        {id513, "id of 513 bytes is too long", CVS_EINPUT},
        {"{\"id\": \"x\"}", "record has no vector (text-only records need an embedder)", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": \"1 2 3\"}", "must be an array of numbers", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, \"2\", 3]}", "vector value 1 is not a number", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 1e999, 3]}", "line 2: number out of range", CVS_EINPUT},
        /* Valid JSON, but not an int64: said so, not "it would be infinite". */
        {"{\"id\": \"x\", \"vector\": [1, 2, 3], \"meta\": {\"n\": 18446744073709551616}}",
         "line 2: integer out of range at column 67 (too big integer near "
         "'18446744073709551616'): integers are 64-bit", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 2, 3], \"meta\": {\"n\": -9223372036854775809}}",
         "write it as a string", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 2, -1e300]}", "vector value 2 (-1e+300) is out of float range", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 2]}", "line 2: expected 3 values, got 2", CVS_EDIM},
        {"{\"id\": \"x\", \"vector\": []}", "vector of 0 values", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 2, 3], \"meta\": [1]}", "\"meta\" must be a JSON object", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 2, 3], \"text\": 5}", "\"text\" must be a string", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 2, 3], \"links\": \"a\"}", "\"links\" must be an array", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 2, 3], \"links\": [3]}", "links[0] must be an id string", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 2, 3], \"links\": [\"\"]}", "empty link id", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 2, 3], \"links\": [{\"id\": \"a\", \"weight\": \"1\"}]}",
         "links[0].weight must be a number", CVS_EINPUT},
        {"{\"id\": \"x\", \"id\": \"y\", \"vector\": [1, 2, 3]}", "duplicate object key", CVS_EINPUT},
        {"{\"id\": \"x\xff\", \"vector\": [1, 2, 3]}", "line 2: invalid UTF-8", CVS_EINPUT},
        {"{\"id\": \"x\", \"vector\": [1, 2, 3], \"text\": \"a\xc3\x28\"}", "line 2: invalid UTF-8", CVS_EINPUT},
        /* A text may hold a NUL (test_import.c); a link type may not. */
        {"{\"id\": \"x\", \"vector\": [1, 2, 3], \"links\": [{\"id\": \"a\", \"type\": \"t\\u0000\"}]}",
         "line 2: links[0].type holds a NUL character", CVS_EINPUT},
    };
    memset(id513, 0, sizeof id513);
    strcpy(id513, "{\"id\": \"");
    memset(id513 + 8, 'i', 513);
    strcat(id513, "\", \"vector\": [1, 2, 3]}");
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        buf b = {0};
        char *p;
        put(&b, ok, strlen(ok));
        put(&b, c[i].line, strlen(c[i].line));
        put(&b, "\n", 1);
        put(&b, ok, strlen(ok));
        p = raw_file("bad.jsonl", b.p, b.n);
        expect_fail(p, CVS_FMT_JSONL, i % 2 ? 3 : 0, c[i].rc, c[i].want);
        free(p);
        free(b.p);
    }
    /* 512 bytes is allowed. */
    {
        float got[3];
        char *p;
        strcpy(id512, "{\"id\": \"");
        memset(id512 + 8, 'i', 512);
        strcpy(id512 + 8 + 512, "\", \"vector\": [1, 2, 3]}");
        p = raw_file("ok.jsonl", id512, strlen(id512));
        cr_assert_eq(read_all(p, CVS_FMT_JSONL, 3, got, 1), 1);
        free(p);
    }
}

Test(readers, jsonl_vecs_load)
{
    const char *text = "{\"id\":\"a\",\"vector\":[1,2]}\n{\"id\":\"b\",\"vector\":[3,4]}\n";
    char *p = raw_file("l.jsonl", text, strlen(text));
    float *v;
    size_t n;
    uint32_t d;
    cr_assert_eq(cvs_vecs_load(p, CVS_FMT_AUTO, &v, &n, &d), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(n, 2);
    cr_assert_eq(d, 2);
    cr_assert_eq(v[3], 4.0f);
    cvs_free(v);
    free(p);
}

/* A query file is read for its vectors alone (search, tune and context
 * --query-file): a line may leave out "id", which a record to import
 * needs; a bad id that is there is still refused. */
Test(readers, jsonl_vecs_load_needs_no_id)
{
    const char *text = "{\"vector\":[1,2]}\n{\"id\":\"b\",\"vector\":[3,4]}\n";
    const char *bad = "{\"id\":[1],\"vector\":[1,2]}\n";
    char *p = raw_file("q.jsonl", text, strlen(text)), *pb = raw_file("qb.jsonl", bad, strlen(bad));
    float *v = NULL;
    size_t n;
    uint32_t d;
    cr_assert_eq(cvs_vecs_load(p, CVS_FMT_AUTO, &v, &n, &d), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(n, 2);
    cr_assert_eq(v[0], 1.0f);
    cr_assert_eq(v[3], 4.0f);
    cvs_free(v);
    cr_assert_eq(cvs_vecs_load(pb, CVS_FMT_AUTO, &v, &n, &d), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(NULL), "\"id\""), "%s", cvs_errmsg(NULL));
    /* An import still needs it. */
    cvs_rrec rec;
    cvs_reader *r = NULL;
    cr_assert_eq(cvs_reader_open(p, CVS_FMT_JSONL, 0, &r), 0);
    cr_assert_eq(cvs_reader_next(r, &rec), CVS_EINPUT);
    cvs_reader_close(r);
    free(p);
    free(pb);
}
