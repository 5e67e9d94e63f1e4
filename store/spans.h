/*
 * spans.h -- byte spans of a text (sentence offsets): the type shared by
 * the JSONL reader, which locates given sentences in a record's text, and
 * the sentence table (text/sentences.c).  Pure string code, no ICU.
 */
#ifndef CVS_SPANS_H
#define CVS_SPANS_H

#include <stddef.h>
#include <stdint.h>

/* One sentence: bytes [start, end) of the record's UTF-8 text. */
typedef struct cvs_span {
    uint32_t start, end;
} cvs_span;

/* A growable array of spans, owned by its user (free(spans)). */
typedef struct cvs_spans {
    cvs_span *s;
    size_t n, cap;
} cvs_spans;

/* Appends [a, b) to sp.  CVS_ENOMEM when it cannot grow. */
int cvs__spans_push(cvs_spans *sp, uint32_t a, uint32_t b);

/* Locates the given sentences (n strings) in text, in order, each after the
 * end of the one before; runs of white space match any run of white space,
 * and a sentence's leading and trailing white space is ignored.  A blank
 * sentence gets an empty span where the previous one ended, so indexes
 * stay those of the input.  CVS_EINPUT (naming the sentence) when one is
 * not found. */
int cvs__sent_locate(const char *text, size_t len, const char *const *sents,
                     const size_t *lens, size_t n, cvs_spans *sp);

#endif
