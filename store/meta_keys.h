/*
 * meta_keys.h -- the names of the records of the `meta` database
 * (internal).  docs/FORMAT.md specifies each record; the bytes of these
 * names are part of the on-disk format and never change.
 *
 * Every key is written here once and its length comes from the compiler,
 * so no call site counts characters by hand:
 *     MDB_val k = CVS__MKEY(CVS__META_CODEC), v;
 * The macros accept string literals only (the "" k concatenation refuses
 * anything else), since a char pointer would make sizeof the pointer's size.
 */
#ifndef CVS_META_KEYS_H
#define CVS_META_KEYS_H

/* The store */
#define CVS__META_HEADER "header"             /* 64-byte store header */
#define CVS__META_CRYPT "crypt"               /* encryption parameters (plain) */
#define CVS__META_NEXT_KEY "next_key"         /* u64: the next record key */
/* Codes and IVF */
#define CVS__META_CODEC "codec"               /* the codec blob */
#define CVS__META_CODEC_GEN "codec_gen"       /* u64: codec generation */
#define CVS__META_IVF "ivf"                   /* the IVF header */
#define CVS__META_IVF_SEQ "ivf_seq"           /* u64: last list-log sequence */
#define CVS__META_IVF_DEFAULTS "ivf_defaults" /* tuned search defaults */
#define CVS__META_IVF_REFINE "ivf_refine"     /* u64: default exact re-score depth */
/* FAISS indexes */
#define CVS__META_FIDX_SPEC "fidx_spec"       /* the factory string */
#define CVS__META_FIDX_GEN "fidx_gen"         /* u64, +1 per build */
#define CVS__META_FIDX_EPOCH "fidx_epoch"     /* u64 */
#define CVS__META_FIDX_DONE "fidx_done"       /* u64: epochs up to it are over */
#define CVS__META_FIDX_NEXT "fidx_next"       /* u64: first key after the build */
#define CVS__META_FIDX_NCHUNKS "fidx_nchunks" /* u64 */
#define CVS__META_FIDX_PARAM "fidx_param"     /* u64: default search parameter */
#define CVS__META_FIDX_CHUNK "fidx/c"         /* prefix; + u32 big-endian chunk */
#define CVS__META_FIDX_DIRTY "fidx/d"         /* prefix; + u64 big-endian key */
/* The graph index over the codes (index/qg_store.c) */
#define CVS__META_QG "qg"                     /* the graph blob */
#define CVS__META_QG_GEN "qg_gen"             /* u64, +1 per build */
#define CVS__META_QG_NEXT "qg_next"           /* u64: first key after the build */
#define CVS__META_QG_DEFAULTS "qg_defaults"   /* u64 ef, u64 rerank */
#define CVS__META_QG_DIRTY "qg/d"             /* prefix; + u64 big-endian key */
/* Text and graph */
#define CVS__META_BM25 "bm25"                 /* BM25 totals */
#define CVS__META_KNN "knn"                   /* kNN graph header */
#define CVS__META_SHARD "shard"               /* u32 index, u32 count (store/shard.c) */
#define CVS__META_EMBEDDER "embedder"         /* the store's embedder */
#define CVS__META_EMBED_URL "embed_url"       /* HTTP embedder URL */
#define CVS__META_SIF "sif"                   /* SIF state */
#define CVS__META_GLOVE_WORDS "glove_words"   /* GloVe cache: words */
#define CVS__META_GLOVE_VECS "glove_vecs"     /* GloVe cache: vectors */

/* Bytes of meta key k (a string literal), without the terminating NUL. */
#define CVS__MKEY_LEN(k) (sizeof("" k) - 1)
/* Initializer of an MDB_val holding meta key k. */
#define CVS__MKEY(k) {CVS__MKEY_LEN(k), (void *)("" k)}
/* Whether the MDB_val *v holds exactly meta key k (needs <string.h>). */
#define CVS__MKEY_IS(v, k)                                                                       \
    ((v)->mv_size == CVS__MKEY_LEN(k) && memcmp((v)->mv_data, "" k, CVS__MKEY_LEN(k)) == 0)

#endif
