/*
 * seal.c -- encryption at rest: key derivation, sealed values, hashed keys.
 *
 * The method is libsodium's, used as its documentation recommends:
 * Argon2id (crypto_pwhash, Biryukov, Dinu & Khovratovich, RFC 9106) turns
 * the passphrase and a random 16-byte salt into a 32-byte master key;
 * crypto_kdf (BLAKE2b) derives three subkeys from it, for the AEAD, for keyed
 * hashes and for the permutation of deviation 2; every value is sealed with
 * XChaCha20-Poly1305 (the IETF construction with a 192-bit nonce,
 * Arciszewski's draft) under a fresh
 * random nonce, stored as nonce || ciphertext || tag.  The associated data is
 * the database's name, a NUL and the record's stored key, so a value moved
 * to another record or another database fails authentication.
 *
 * Where we deviate from "seal everything":
 *  1. Keys that are themselves data (external ids in "ids" and "backlinks",
 *     BM25 terms, folded title tokens) are replaced by a 32-byte keyed BLAKE2b
 *     hash.  Lookups are exact-match only, so a hash serves; the hash is
 *     deterministic, so equal keys stay visible as equal.
 *  2. Values of the dupsort databases (backlinks, terms, titlemap) are not
 *     sealed but put through a keyed pseudorandom permutation (a Feistel
 *     network over SipHash, see perm()), tweaked by their key: LMDB sorts
 *     and finds duplicates by value, DUPFIXED needs one size, and a deletion
 *     by value must find its duplicate, which random-nonce sealing would all
 *     break.  So they are confidential but deterministic and not
 *     authenticated (a flipped bit decrypts to another value, which
 *     `cvstore check` catches through the links and postings it recomputes).
 *  3. The meta records "header" and "crypt" stay plain: they are needed to
 *     know that the store is encrypted and to derive the key.
 *  4. Decrypted values live in a per-transaction arena (seal.h has the
 *     lifetime rule) instead of LMDB's map; the arena registry is a small
 *     array under a mutex, since LMDB gives a transaction no user pointer.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/module.h"
#include "store/seal.h"

#define CRYPT_MAGIC "CVSCRYPT"
#define CRYPT_VERSION 1u
#define CRYPT_ALG_ARGON2ID_XCHACHA 1u
#define CRYPT_SALT 16u
#define CRYPT_CHECK_PLAIN 32u
#define CRYPT_CHECK_BYTES (CRYPT_CHECK_PLAIN + CVS_SEAL_OVERHEAD)
/* magic, version, alg, opslimit, memlimit, salt, sealed check block */
#define CRYPT_META_BYTES (8 + 4 + 4 + 8 + 8 + CRYPT_SALT + CRYPT_CHECK_BYTES)
#define KDF_CTX "cvstore_"
#define KDF_ID_AEAD 1
#define KDF_ID_HASH 2
#define KDF_ID_PERM 3
/* Layout of cvs_crypt.keys (sodium_malloc'd). */
#define KEY_AEAD 0
#define KEY_HASH 32
#define KEY_PERM 64
#define KEYS_BYTES (64 + crypto_shorthash_KEYBYTES)
#define ARENA_CHUNK (256u << 10)
/* Refuse KDF parameters beyond these from a (possibly forged) crypt record
 * rather than let it make us allocate gigabytes. */
#define CRYPT_MEMLIMIT_MAX (1ull << 31)
#define CRYPT_OPSLIMIT_MAX 64u

/* How each database is treated (deviations 1-3). */
#define T_SEAL CVS__SEAL_VALUES
#define T_HKEY CVS__SEAL_HKEY
#define T_META CVS__SEAL_META
#define T_DET8 CVS__SEAL_DET8
#define T_DET16 CVS__SEAL_DET16
#define T_DET (T_DET8 | T_DET16)

struct chunk {
    struct chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

struct txarena {
    MDB_txn *txn;
    struct chunk *chunks;
};

struct cvs_crypt {
    unsigned char *keys; /* sodium_malloc'd: AEAD key, then hash key */
    uint64_t opslimit, memlimit;
    unsigned char salt[CRYPT_SALT];
    pthread_mutex_t mu;  /* guards the arenas */
    struct txarena *ta;
    size_t nta, cta;
};

static const unsigned char check_plain[CRYPT_CHECK_PLAIN] = "cvstore key check block, v1.....";

/* ==== Which database is which ==== */

static unsigned classify(const cvs_db *db, MDB_dbi dbi, const char **name)
{
    static const struct {
        const char *name;
        size_t off;
        unsigned how;
    } t[] = {
        {"meta", offsetof(cvs_db, dbi_meta), T_META},
        {"ids", offsetof(cvs_db, dbi_ids), T_SEAL | T_HKEY},
        {"recs", offsetof(cvs_db, dbi_recs), T_SEAL},
        {"vecs", offsetof(cvs_db, dbi_vecs), T_SEAL},
        {"text", offsetof(cvs_db, dbi_text), T_SEAL},
        {"attrs", offsetof(cvs_db, dbi_attrs), T_SEAL},
        {"links", offsetof(cvs_db, dbi_links), T_SEAL},
        {"backlinks", offsetof(cvs_db, dbi_backlinks), T_HKEY | T_DET8},
        {"titles", offsetof(cvs_db, dbi_titles), T_SEAL},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (*(const MDB_dbi *)((const char *)db + t[i].off) == dbi) {
            *name = t[i].name;
            return t[i].how;
        }
    /* The modules' databases name their treatment (store/module.h). */
    for (size_t i = 0; i < db->nmods; i++)
        for (size_t j = 0; j < db->mods[i].m->ndbis; j++) {
            const cvs__dbi_spec *d = &db->mods[i].m->dbis[j];
            if (*(const MDB_dbi *)((const char *)db->mods[i].state + d->off) == dbi) {
                *name = d->name;
                return d->seal;
            }
        }
    *name = "?";
    return T_SEAL; /* never reached for our handles; sealing is the safe side */
}

static int meta_plain(const MDB_val *k)
{
    return CVS__MKEY_IS(k, CVS__META_HEADER) || CVS__MKEY_IS(k, CVS__META_CRYPT);
}

static int sealed(unsigned how, const MDB_val *k)
{
    return (how & T_SEAL) || ((how & T_META) && !meta_plain(k));
}

static void hash_key(const cvs_db *db, const MDB_val *in, unsigned char buf[CVS_HKEY_BYTES],
                     MDB_val *out)
{
    crypto_generichash(buf, CVS_HKEY_BYTES, in->mv_data, in->mv_size,
                       db->crypt->keys + KEY_HASH, crypto_generichash_KEYBYTES);
    out->mv_data = buf;
    out->mv_size = CVS_HKEY_BYTES;
}

void cvs__vkey(const cvs_db *db, MDB_dbi dbi, const MDB_val *key,
               unsigned char buf[CVS_HKEY_BYTES], MDB_val *out)
{
    const char *name;
    if (db->crypt && (classify(db, dbi, &name) & T_HKEY))
        hash_key(db, key, buf, out);
    else
        *out = *key;
}

const char *cvs__key_name(const MDB_val *key, char *buf, size_t cap)
{
    const unsigned char *p = key->mv_data;
    size_t n = key->mv_size, o, printable = n > 0;
    for (size_t i = 0; i < n && printable; i++)
        printable = p[i] >= 0x20 && p[i] < 0x7f;
    /* Meta names are text; record keys are small integers, whose high bytes
     * are zero and so never all printable. */
    if (printable) {
        snprintf(buf, cap, "\"%.*s\"", (int)(n < 64 ? n : 64), (const char *)p);
        return buf;
    }
    if (n == 8) {
        snprintf(buf, cap, "%llu", (unsigned long long)cvs__get_u64(p));
        return buf;
    }
    o = (size_t)snprintf(buf, cap, "0x");
    for (size_t i = 0; i < n && o + 3 < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%02x", p[i]);
    return buf;
}

/* LMDB's largest key (mdb_env_get_maxkeysize of its default build). */
#define KEY_MAX 511u

int cvs__vdamaged(const cvs_db *db, MDB_dbi dbi, const MDB_val *k, const char *what)
{
    const char *name;
    char kn[96];
    classify(db, dbi, &name); /* the names only: fine for a plain store */
    if (k && k->mv_size <= KEY_MAX && cvs__vin_file(db, k, 0))
        cvs__err(CVS_ECORRUPT, "store is damaged: %s: %s of key %s lies outside its page "
                 "or past the end of data.mdb", name, what, cvs__key_name(k, kn, sizeof kn));
    else
        cvs__err(CVS_ECORRUPT, "store is damaged: %s: %s lies outside its page or past the "
                 "end of data.mdb", name, what);
    return CVS__EDAMAGED;
}

/* ==== The per-transaction arena ==== */

static void *arena_alloc(const cvs_db *db, MDB_txn *txn, size_t n)
{
    struct cvs_crypt *c = db->crypt;
    struct txarena *a = NULL;
    struct chunk *ch;
    void *p = NULL;
    n = (n + 15) & ~(size_t)15;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nta && !a; i++)
        if (c->ta[i].txn == txn)
            a = &c->ta[i];
    if (!a) {
        if (c->nta == c->cta) {
            size_t cap = c->cta ? 2 * c->cta : 8;
            struct txarena *nt = realloc(c->ta, cap * sizeof *nt);
            if (!nt)
                goto out;
            c->ta = nt;
            c->cta = cap;
        }
        a = &c->ta[c->nta++];
        a->txn = txn;
        a->chunks = NULL;
    }
    ch = a->chunks;
    if (!ch || ch->cap - ch->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        if (!(ch = malloc(sizeof *ch + cap)))
            goto out;
        ch->cap = cap;
        ch->used = 0;
        ch->next = a->chunks;
        a->chunks = ch;
    }
    p = ch->data + ch->used;
    ch->used += n;
out:
    pthread_mutex_unlock(&c->mu);
    return p;
}

static struct txarena *arena_find(struct cvs_crypt *c, MDB_txn *txn)
{
    for (size_t i = 0; i < c->nta; i++)
        if (c->ta[i].txn == txn)
            return &c->ta[i];
    return NULL;
}

void cvs__arena_mark(const cvs_db *db, MDB_txn *txn, cvs__mark *m)
{
    struct txarena *a;
    m->chunk = NULL;
    m->used = 0;
    if (!db->crypt)
        return;
    pthread_mutex_lock(&db->crypt->mu);
    if ((a = arena_find(db->crypt, txn)) && a->chunks) {
        m->chunk = a->chunks;
        m->used = a->chunks->used;
    }
    pthread_mutex_unlock(&db->crypt->mu);
}

void cvs__arena_rewind(const cvs_db *db, MDB_txn *txn, const cvs__mark *m)
{
    struct txarena *a;
    struct chunk *ch;
    if (!db->crypt)
        return;
    pthread_mutex_lock(&db->crypt->mu);
    if ((a = arena_find(db->crypt, txn))) {
        while ((ch = a->chunks) && ch != m->chunk) {
            a->chunks = ch->next;
            sodium_memzero(ch->data, ch->used);
            free(ch);
        }
        if (ch && ch->used > m->used) {
            sodium_memzero(ch->data + m->used, ch->used - m->used);
            ch->used = m->used;
        }
    }
    pthread_mutex_unlock(&db->crypt->mu);
}

void cvs__seal_txn_end(cvs_db *db, MDB_txn *txn)
{
    struct cvs_crypt *c = db->crypt;
    struct chunk *ch = NULL, *next;
    if (!c || !txn)
        return;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nta; i++)
        if (c->ta[i].txn == txn) {
            ch = c->ta[i].chunks;
            c->ta[i] = c->ta[--c->nta];
            break;
        }
    pthread_mutex_unlock(&c->mu);
    for (; ch; ch = next) {
        next = ch->next;
        sodium_memzero(ch->data, ch->used);
        free(ch);
    }
}

/* ==== Sealing ==== */

/* Associated data: name, NUL, stored key, into ad (AD_CAP bytes); 0 when the
 * key does not fit.  LMDB refuses keys over 511 bytes on write, so a longer
 * one can only come back from a damaged or forged page (its node's key size
 * is not checked on read): the caller reports it as damage instead of
 * copying it over the stack. */
#define AD_CAP (16u + KEY_MAX + 1u)
static size_t make_ad(unsigned char ad[AD_CAP], const char *name, const MDB_val *k)
{
    size_t nl = strlen(name) + 1;
    if (nl > 16 || k->mv_size > KEY_MAX)
        return 0;
    memcpy(ad, name, nl);
    memcpy(ad + nl, k->mv_data, k->mv_size);
    return nl + k->mv_size;
}

static int auth_failed(const char *name, const MDB_val *k)
{
    char kn[96];
    cvs__err(CVS_ECORRUPT, "%s: the value of key %s fails authentication (damaged, "
             "tampered with, or moved from another record)", name,
             cvs__key_name(k, kn, sizeof kn));
    return CVS__EAUTH;
}

/* Room for n bytes of plaintext in scan's buffer (kept, and wiped, across
 * calls), or NULL. */
static void *scan_room(cvs__scan *scan, size_t n)
{
    if (n > scan->cap) {
        size_t cap = n > 2 * scan->cap ? n : 2 * scan->cap;
        unsigned char *b = malloc(cap);
        if (!b)
            return NULL;
        cvs__scan_free(scan);
        scan->buf = b;
        scan->cap = cap;
    }
    return scan->buf;
}

void cvs__scan_free(cvs__scan *scan)
{
    if (!scan || !scan->buf)
        return;
    sodium_memzero(scan->buf, scan->cap);
    free(scan->buf);
    scan->buf = NULL;
    scan->cap = 0;
}

/* Replaces the sealed *v by its plaintext: in scan's buffer when scan is
 * given, else in txn's arena. */
static int open_value(const cvs_db *db, MDB_txn *txn, cvs__scan *scan, const char *name,
                      const MDB_val *k, MDB_val *v)
{
    unsigned char ad[AD_CAP];
    const unsigned char *c = v->mv_data;
    unsigned long long plen;
    unsigned char *p;
    size_t adlen;
    if (v->mv_size < CVS_SEAL_OVERHEAD || !(adlen = make_ad(ad, name, k)))
        return auth_failed(name, k);
    p = scan ? scan_room(scan, v->mv_size - CVS_SEAL_OVERHEAD + 1)
             : arena_alloc(db, txn, v->mv_size - CVS_SEAL_OVERHEAD + 1);
    if (!p)
        return ENOMEM;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            p, &plen, NULL, c + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
            v->mv_size - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, adlen, c,
            db->crypt->keys) != 0)
        return auth_failed(name, k);
    v->mv_data = p;
    v->mv_size = (size_t)plen;
    return 0;
}

/* Seals v's plaintext into out (v->mv_size + CVS_SEAL_OVERHEAD bytes).  The
 * keys we write are our own and at most KEY_MAX bytes (LMDB refuses longer
 * ones), so make_ad cannot fail here; a key that did not fit would seal
 * under the name alone and fail authentication on read. */
static void seal_value(const cvs_db *db, const char *name, const MDB_val *k, const MDB_val *v,
                       unsigned char *out)
{
    unsigned char ad[AD_CAP];
    size_t adlen = make_ad(ad, name, k);
    randombytes_buf(out, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, v->mv_data, v->mv_size, ad,
        adlen, NULL, out, db->crypt->keys);
}

/* ==== Dupsort values: a keyed permutation (deviation 2) ==== */

/* Encrypts (dir 1) or decrypts (dir 0) the n-byte value b (n = 8 or 16) of
 * the dupsort database name under stored key sk: a 4-round Feistel network
 * (Luby & Rackoff 1988: a strong pseudorandom permutation from a PRF) whose
 * round function is SipHash-2-4 (crypto_shorthash) of the database's initial,
 * the round, the key's first 8 bytes and the half.  Deterministic, so LMDB
 * still finds, orders and deletes duplicates by value; tweaked by the key, so
 * the same source key under two targets does not look the same. */
static void perm(const cvs_db *db, const char *name, const MDB_val *sk, unsigned char *b,
                 size_t n, int dir)
{
    const unsigned char *key = db->crypt->keys + KEY_PERM;
    unsigned char in[2 + 8 + 8], f[8], *L = b, *R = b + n / 2, t[8];
    size_t h = n / 2;
    memset(in, 0, sizeof in);
    in[0] = (unsigned char)name[0];
    memcpy(in + 2, sk->mv_data, sk->mv_size < 8 ? sk->mv_size : 8);
    for (int i = 0; i < 4; i++) {
        int r = dir ? i : 3 - i;
        in[1] = (unsigned char)r;
        /* Encryption: (L, R) -> (R, L ^ F(R)); decryption undoes it. */
        memcpy(in + 10, dir ? R : L, h);
        crypto_shorthash(f, in, 10 + h, key);
        if (dir) {
            for (size_t j = 0; j < h; j++)
                t[j] = L[j] ^ f[j];
            memcpy(L, R, h);
            memcpy(R, t, h);
        } else {
            for (size_t j = 0; j < h; j++)
                t[j] = R[j] ^ f[j];
            memcpy(R, L, h);
            memcpy(L, t, h);
        }
    }
}

/* *v (a whole number of elements) decrypted into txn's arena. */
static int perm_open(const cvs_db *db, MDB_txn *txn, const char *name, unsigned how,
                     const MDB_val *sk, MDB_val *v)
{
    size_t n = how & T_DET16 ? 16 : 8;
    unsigned char *p;
    if (v->mv_size % n)
        return auth_failed(name, sk);
    if (!(p = arena_alloc(db, txn, v->mv_size + 1)))
        return ENOMEM;
    memcpy(p, v->mv_data, v->mv_size);
    for (size_t i = 0; i < v->mv_size; i += n)
        perm(db, name, sk, p + i, n, 0);
    v->mv_data = p;
    return 0;
}

/* *v (one element) encrypted into buf (16 bytes) when its size fits; a
 * value of another size is left alone for LMDB to refuse or store as is. */
static void perm_seal(const cvs_db *db, const char *name, unsigned how, const MDB_val *sk,
                      MDB_val *v, unsigned char buf[16])
{
    size_t n = how & T_DET16 ? 16 : 8;
    if (!v || !v->mv_data || v->mv_size != n)
        return;
    memcpy(buf, v->mv_data, n);
    perm(db, name, sk, buf, n, 1);
    v->mv_data = buf;
}

int cvs__vget_sealed(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    const char *name;
    unsigned how = classify(db, dbi, &name);
    unsigned char hb[CVS_HKEY_BYTES];
    MDB_val sk = *k;
    int mrc;
    if (how & T_HKEY)
        hash_key(db, k, hb, &sk);
    if ((mrc = cvs__mdb_get(db, txn, dbi, &sk, v)) == 0 && (how & T_DET))
        mrc = perm_open(db, txn, name, how, &sk, v);
    else if (mrc == 0 && sealed(how, &sk))
        mrc = open_value(db, txn, NULL, name, &sk, v);
    return mrc;
}

int cvs__vput_sealed(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v,
                     unsigned flags)
{
    const char *name;
    unsigned how = classify(db, dbi, &name);
    unsigned char hb[CVS_HKEY_BYTES], small[512];
    unsigned char *buf = small;
    MDB_val sk = *k, sv = *v;
    int mrc;
    flags &= ~(unsigned)MDB_RESERVE;
    if (how & T_HKEY)
        hash_key(db, k, hb, &sk);
    if (how & T_DET) {
        perm_seal(db, name, how, &sk, &sv, small);
        return mdb_put(txn, dbi, &sk, &sv, flags);
    }
    if (!sealed(how, &sk))
        return mdb_put(txn, dbi, &sk, v, flags);
    sv.mv_size = v->mv_size + CVS_SEAL_OVERHEAD;
    if (sv.mv_size > sizeof small && !(buf = malloc(sv.mv_size)))
        return ENOMEM;
    seal_value(db, name, &sk, v, buf);
    sv.mv_data = buf;
    mrc = mdb_put(txn, dbi, &sk, &sv, flags);
    if (buf != small)
        free(buf);
    return mrc;
}

int cvs__vdel_sealed(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    const char *name;
    unsigned how = classify(db, dbi, &name);
    unsigned char hb[CVS_HKEY_BYTES], pb[16];
    MDB_val sk = *k, sv;
    if (how & T_HKEY)
        hash_key(db, k, hb, &sk);
    /* A data argument only matters for dupsort databases (deviation 2). */
    if (v && (how & T_DET)) {
        sv = *v;
        perm_seal(db, name, how, &sk, &sv, pb);
        return mdb_del(txn, dbi, &sk, &sv);
    }
    return mdb_del(txn, dbi, &sk, v);
}

int cvs__cget_sealed(const cvs_db *db, MDB_cursor *cur, MDB_val *k, MDB_val *v, MDB_cursor_op op)
{
    return cvs__cscan_sealed(db, cur, k, v, op, NULL);
}

int cvs__cscan_sealed(const cvs_db *db, MDB_cursor *cur, MDB_val *k, MDB_val *v,
                      MDB_cursor_op op, cvs__scan *scan)
{
    MDB_dbi dbi = mdb_cursor_dbi(cur);
    const char *name;
    unsigned how = classify(db, dbi, &name);
    unsigned char hb[CVS_HKEY_BYTES], pb[16];
    MDB_val in = *k, sk, dummy;
    const void *vin;
    int mrc, keyed = op == MDB_SET || op == MDB_SET_KEY || op == MDB_SET_RANGE ||
                     op == MDB_GET_BOTH || op == MDB_GET_BOTH_RANGE;
    if (keyed && (how & T_HKEY))
        hash_key(db, &in, hb, k);
    /* A value to find (GET_BOTH) is compared in its stored form. */
    if ((op == MDB_GET_BOTH || op == MDB_GET_BOTH_RANGE) && (how & T_DET))
        perm_seal(db, name, how, k, v, pb);
    vin = v->mv_data;
    mrc = cvs__mdb_cget(db, cur, k, v, op);
    /* GET_MULTIPLE on a key with one value leaves v as the op before it
     * filled it: already opened. */
    if (mrc == 0 && op == MDB_GET_MULTIPLE && v->mv_data == vin)
        return 0;
    /* Ops that do not return the key leave ours, which points at hb. */
    if (keyed && (how & T_HKEY) && (mrc || op == MDB_SET || op == MDB_GET_BOTH ||
                                    op == MDB_GET_BOTH_RANGE))
        *k = in;
    if (mrc || !(how & (T_META | T_SEAL | T_DET)))
        return mrc;
    /* MDB_SET and the multiple-value ops leave k as the caller's key (or
     * untouched); the stored one is needed to open the value. */
    sk = *k;
    if (op == MDB_SET || op == MDB_GET_BOTH || op == MDB_GET_BOTH_RANGE ||
        op == MDB_GET_MULTIPLE || op == MDB_NEXT_MULTIPLE || op == MDB_PREV_MULTIPLE)
        mdb_cursor_get(cur, &sk, &dummy, MDB_GET_CURRENT);
    if (how & T_DET)
        return perm_open(db, mdb_cursor_txn(cur), name, how, &sk, v);
    if (!sealed(how, &sk))
        return 0;
    return open_value(db, mdb_cursor_txn(cur), scan, name, &sk, v);
}

int cvs__vreserve_sealed(const cvs_db *db, MDB_txn *txn, MDB_val *v)
{
    if (!(v->mv_data = arena_alloc(db, txn, v->mv_size)))
        return ENOMEM;
    return 0;
}

/* ==== Keys ==== */

static int crypt_alloc(cvs_db *db)
{
    struct cvs_crypt *c = calloc(1, sizeof *c);
    if (!c)
        return cvs__err(CVS_ENOMEM, "out of memory");
    if (pthread_mutex_init(&c->mu, NULL)) {
        free(c);
        return cvs__err(CVS_ENOMEM, "out of memory");
    }
    if (!(c->keys = sodium_malloc(KEYS_BYTES))) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        return cvs__err(CVS_ENOMEM, "out of memory (locked key memory)");
    }
    db->crypt = c;
    return CVS_OK;
}

static int derive(cvs_db *db, const char *pass, size_t len)
{
    struct cvs_crypt *c = db->crypt;
    unsigned char *master = sodium_malloc(32);
    int rc = CVS_OK;
    if (!master)
        return cvs__err(CVS_ENOMEM, "out of memory (locked key memory)");
    if (crypto_pwhash(master, 32, pass, len, c->salt, c->opslimit, (size_t)c->memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        rc = cvs__err(CVS_ENOMEM, "deriving the key: Argon2id needs %llu MiB of memory",
                      (unsigned long long)(c->memlimit >> 20));
        goto out;
    }
    crypto_kdf_derive_from_key(c->keys + KEY_AEAD, 32, KDF_ID_AEAD, KDF_CTX, master);
    crypto_kdf_derive_from_key(c->keys + KEY_HASH, 32, KDF_ID_HASH, KDF_CTX, master);
    crypto_kdf_derive_from_key(c->keys + KEY_PERM, crypto_shorthash_KEYBYTES, KDF_ID_PERM,
                               KDF_CTX, master);
out:
    sodium_free(master);
    return rc;
}

static int check_pass(const char *pass, size_t len)
{
    if (!pass || len == 0)
        return cvs__err(CVS_EKEY, "an empty passphrase is not accepted");
    return CVS_OK;
}

int cvs__crypt_create(cvs_db *db, const char *pass, size_t len)
{
    int rc;
    if ((rc = check_pass(pass, len)))
        return rc;
    if (sodium_init() < 0)
        return cvs__err(CVS_EINTERNAL, "libsodium failed to initialize");
    if ((rc = crypt_alloc(db)))
        return rc;
    db->crypt->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    db->crypt->memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    randombytes_buf(db->crypt->salt, CRYPT_SALT);
    return derive(db, pass, len);
}

static const MDB_val crypt_key = CVS__MKEY(CVS__META_CRYPT);

int cvs__crypt_write_meta(cvs_db *db, MDB_txn *txn)
{
    struct cvs_crypt *c = db->crypt;
    unsigned char m[CRYPT_META_BYTES], *p = m;
    MDB_val k = crypt_key, v = {sizeof m, m}, pv = {CRYPT_CHECK_PLAIN, (void *)check_plain};
    int mrc;
    memcpy(p, CRYPT_MAGIC, 8);
    cvs__put_u32(p + 8, CRYPT_VERSION);
    cvs__put_u32(p + 12, CRYPT_ALG_ARGON2ID_XCHACHA);
    cvs__put_u64(p + 16, c->opslimit);
    cvs__put_u64(p + 24, c->memlimit);
    memcpy(p + 32, c->salt, CRYPT_SALT);
    seal_value(db, "meta", &k, &pv, p + 32 + CRYPT_SALT);
    if ((mrc = mdb_put(txn, db->dbi_meta, &k, &v, 0)))
        return cvs__werr(mrc, "writing the crypt record");
    return CVS_OK;
}

int cvs__crypt_open(cvs_db *db, MDB_txn *txn, const char *pass, size_t len)
{
    MDB_val k = crypt_key, v;
    const unsigned char *p;
    unsigned char plain[CRYPT_CHECK_PLAIN], ad[AD_CAP];
    size_t adlen;
    int rc, mrc;
    if ((mrc = mdb_get(txn, db->dbi_meta, &k, &v)))
        return mrc == MDB_NOTFOUND
                   ? cvs__err(CVS_EFORMAT, "%s: encrypted store without its crypt record",
                              db->path)
                   : cvs__err_lmdb(mrc, "reading the crypt record");
    p = v.mv_data;
    if (v.mv_size != CRYPT_META_BYTES || memcmp(p, CRYPT_MAGIC, 8) != 0)
        return cvs__err(CVS_EFORMAT, "%s: the crypt record is damaged", db->path);
    if (cvs__get_u32(p + 8) != CRYPT_VERSION || cvs__get_u32(p + 12) != CRYPT_ALG_ARGON2ID_XCHACHA)
        return cvs__err(CVS_EVERSION, "%s: crypt record version %u, algorithm %u; this "
                        "cvstore knows version %u, algorithm %u", db->path,
                        cvs__get_u32(p + 8), cvs__get_u32(p + 12), CRYPT_VERSION,
                        CRYPT_ALG_ARGON2ID_XCHACHA);
    if (!pass)
        return cvs__err(CVS_EKEY, "%s: the store is encrypted: a passphrase is needed "
                        "(CVSTORE_PASSPHRASE or --key-file)", db->path);
    if ((rc = check_pass(pass, len)))
        return rc;
    if (sodium_init() < 0)
        return cvs__err(CVS_EINTERNAL, "libsodium failed to initialize");
    if ((rc = crypt_alloc(db)))
        return rc;
    db->crypt->opslimit = cvs__get_u64(p + 16);
    db->crypt->memlimit = cvs__get_u64(p + 24);
    memcpy(db->crypt->salt, p + 32, CRYPT_SALT);
    if (db->crypt->opslimit < crypto_pwhash_OPSLIMIT_MIN ||
        db->crypt->opslimit > CRYPT_OPSLIMIT_MAX ||
        db->crypt->memlimit < crypto_pwhash_MEMLIMIT_MIN ||
        db->crypt->memlimit > CRYPT_MEMLIMIT_MAX)
        return cvs__err(CVS_EFORMAT, "%s: the crypt record has out-of-range KDF "
                        "parameters (opslimit %llu, memlimit %llu)", db->path,
                        (unsigned long long)db->crypt->opslimit,
                        (unsigned long long)db->crypt->memlimit);
    if ((rc = derive(db, pass, len)))
        return rc;
    p += 32 + CRYPT_SALT;
    adlen = make_ad(ad, "meta", &k);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            plain, NULL, NULL, p + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
            CRYPT_CHECK_BYTES - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, adlen, p,
            db->crypt->keys) != 0 ||
        sodium_memcmp(plain, check_plain, CRYPT_CHECK_PLAIN) != 0)
        return cvs__err(CVS_EKEY, "%s: wrong passphrase", db->path);
    return CVS_OK;
}

void cvs__crypt_free(cvs_db *db)
{
    struct cvs_crypt *c = db->crypt;
    if (!c)
        return;
    for (size_t i = 0; i < c->nta; i++) {
        struct chunk *ch = c->ta[i].chunks, *next;
        for (; ch; ch = next) {
            next = ch->next;
            free(ch);
        }
    }
    free(c->ta);
    sodium_free(c->keys); /* wipes them */
    pthread_mutex_destroy(&c->mu);
    free(c);
    db->crypt = NULL;
}
