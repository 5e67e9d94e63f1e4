/*
 * fuzz_embed.c -- libFuzzer target for the built-in embedders' file readers
 * and tokenizer (query/embed.h), which read files of a shared cache that
 * any process (or a download cut short) may have written.  The first byte
 * of an input picks the reader, so one corpus holds seeds of all three:
 *
 *   'U'  the rest is a `use` model file (cvs__use_load_mem, the reader of
 *        use-lite.bin); one that loads embeds two texts;
 *   'S'  the rest is a SentencePiece vocabulary, one piece per line up to
 *        an empty line, then a text: cvs__spm_new and cvs__spm_encode,
 *        whose ids must each name a piece;
 *   'G'  the rest is a GloVe cache: a u32 (little-endian) byte count of the
 *        words file, the words file (glove100.words), then the vectors
 *        (glove100.fvecs): cvs__sif_load_mem; one that loads embeds texts,
 *        the words file's first bytes among them, and looks words up;
 *   'W'  the rest is a tokenizer.json, up to a NUL byte, then a text:
 *        cvs__wordpiece_load_mem and cvs__wordpiece_encode (the `minilm`
 *        tokenizer), whose ids must each name a piece;
 *   'T'  the rest is a `minilm` weights file (model.fp16.safetensors) for
 *        cvs__minilm_load_mem, with a small tokenizer.json: the header's
 *        checks (a real model is 45 MB, so no seed loads).
 *
 * A reader must load the input or fail with a message; nothing it returns
 * may point outside what it allocated.  See fuzz/README.md.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "query/embed.h"
#include "query/embed_minilm.h"

static volatile float f_sink;

static void use_case(const uint8_t *p, size_t n)
{
    static const char *const texts[] = {"How old is the river?", " \xe3\x80\x80 "};
    const size_t lens[] = {strlen(texts[0]), strlen(texts[1])};
    cvs_use *u;
    float *out;
    unsigned char empty[2];
    if (cvs__use_load_mem(p, n, &u) != 0) {
        if (!*cvs_errmsg(NULL))
            abort();
        return;
    }
    if ((out = malloc(2 * CVS_USE_DIM * sizeof *out)) &&
        cvs__use_embed(u, texts, lens, 2, out, empty) == 0)
        f_sink += out[0] + out[2 * CVS_USE_DIM - 1];
    free(out);
    cvs__use_free(u);
}

static void spm_case(const uint8_t *p, size_t n)
{
    const char *pieces[256];
    size_t lens[256], np = 0, i = 0;
    double scores[256];
    cvs_spm *s;
    int32_t *ids = NULL;
    size_t nid = 0;
    /* pieces up to the first empty line (or 256 of them) */
    while (i < n && np < 256) {
        const uint8_t *nl = memchr(p + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (p + i)) : n - i;
        if (len == 0) {
            i++;
            break;
        }
        pieces[np] = (const char *)p + i;
        lens[np] = len;
        scores[np] = -0.25 * (double)np;
        np++;
        i += len + (nl != NULL);
    }
    if (cvs__spm_new(pieces, lens, scores, np, np > 3 ? 3 : 0, &s) != 0)
        return;
    if (cvs__spm_encode(s, (const char *)p + i, n - i, &ids, &nid) == 0) {
        for (size_t k = 0; k < nid; k++)
            if (ids[k] < 0 || (size_t)ids[k] >= np)
                abort();
        free(ids);
    }
    cvs__spm_free(s);
}

static void glove_case(const uint8_t *p, size_t n)
{
    cvs_sif *s;
    uint32_t wlen;
    if (n < 4)
        return;
    memcpy(&wlen, p, 4);
    p += 4;
    n -= 4;
    if (wlen > n)
        wlen = (uint32_t)n;
    if (cvs__sif_load_mem(p, wlen, p + wlen, n - wlen, &s) != 0) {
        if (!*cvs_errmsg(NULL))
            abort();
        return;
    }
    {
        const char *texts[3] = {"the river flows", (const char *)p, "\xc3\xa9t\xc3\xa9 x"};
        size_t lens[3] = {15, wlen < 64 ? wlen : 64, 6};
        uint32_t d = cvs__sif_dim(s);
        unsigned char empty[3];
        float *out = malloc(3 * (size_t)d * sizeof *out);
        if (out && cvs__sif_embed(s, 1e-3f, texts, lens, 3, out, empty) == 0)
            for (size_t k = 0; k < 3 * (size_t)d; k++)
                if (!empty[k / d] && !isfinite(out[k]))
                    abort();
        free(out);
        if (cvs__sif_lookup(s, "river", 5) >= (long)cvs__sif_vocab(s))
            abort();
    }
    cvs__sif_free(s);
}

static void wordpiece_case(const uint8_t *p, size_t n)
{
    const uint8_t *nul = memchr(p, 0, n);
    size_t jl = nul ? (size_t)(nul - p) : n, tl = nul ? n - jl - 1 : 0;
    const char *text = nul ? (const char *)nul + 1 : "";
    cvs_wordpiece *w;
    int32_t *ids = NULL;
    size_t nid = 0, np = 0;
    if (cvs__wordpiece_load_mem(p, jl, &w) != 0) {
        if (!*cvs_errmsg(NULL))
            abort();
        return;
    }
    /* More than the vocabulary's size: every piece of it has a ':' after
     * its name in the JSON. */
    for (size_t i = 0; i < jl; i++)
        np += p[i] == ':';
    for (size_t max = 1; max <= 300; max += 299)
        if (cvs__wordpiece_encode(w, text, tl, max, &ids, &nid) == 0) {
            if (nid > max)
                abort();
            for (size_t k = 0; k < nid; k++)
                if (ids[k] < 0 || (size_t)ids[k] >= np)
                    abort();
            free(ids);
        }
    cvs__wordpiece_free(w);
}

static void safetensors_case(const uint8_t *p, size_t n)
{
    static const char tok[] =
        "{\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true},\"model\":"
        "{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2}}}";
    cvs_minilm *m;
    if (cvs__minilm_load_mem(p, n, tok, sizeof tok - 1, &m) != 0) {
        if (!*cvs_errmsg(NULL))
            abort();
        return;
    }
    cvs__minilm_free(m); /* cannot load: the tokenizer is not 30,522 pieces */
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0]) {
    case 'U':
        use_case(data + 1, size - 1);
        break;
    case 'S':
        spm_case(data + 1, size - 1);
        break;
    case 'G':
        glove_case(data + 1, size - 1);
        break;
    case 'W':
        wordpiece_case(data + 1, size - 1);
        break;
    case 'T':
        safetensors_case(data + 1, size - 1);
        break;
    default:
        break;
    }
    return 0;
}
