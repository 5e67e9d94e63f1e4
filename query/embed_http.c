/*
 * embed_http.c -- an embedder that asks a server speaking OpenAI's
 * embeddings API (POST /v1/embeddings), the API that llama.cpp's server,
 * Ollama, text-embeddings-inference and vLLM expose:
 *
 *   request:  {"model": "NAME", "input": ["text 1", "text 2", ...]}
 *   response: {"data": [{"index": 0, "embedding": [0.1, ...]}, ...], ...}
 *
 * Transport is libcurl (one easy handle per embedder, reused so that
 * keep-alive saves a connection per batch); JSON is jansson.
 *
 * Choices:
 *   1. Texts go in batches of 64 per request: large enough to amortize a
 *      round trip, small enough for servers with request-size limits
 *      (llama.cpp's default batch is 512 tokens per sequence anyway).
 *   2. Rows are placed by their "index" when the server sends one (the API
 *      does not promise response order), else by position; every index must
 *      appear exactly once, every row must have the embedder's dimension and
 *      finite values.  Anything else is an error, not a zero vector.
 *   3. Failures are CVS_EIO with the URL and what went wrong: curl's message
 *      for transport errors, the HTTP status and the server's
 *      error.message (or the start of its body) for HTTP errors.
 *   4. A request may take 120 s (a cold model loading), connecting 10 s.
 *   5. Calls on one embedder are serialized by a mutex (a curl easy handle
 *      is not thread-safe); use one embedder per thread for parallelism.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "store/db.h"

#define HTTP_BATCH 64
#define BODY_MAX (256u << 20)

struct cvs_http_embedder {
    char *url, *model, *auth;
    uint32_t dim;
    CURL *curl;
    struct curl_slist *headers;
    pthread_mutex_t mu;
};

typedef struct body {
    char *p;
    size_t n, cap;
} body;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body *b = ud;
    size_t len = size * nmemb;
    if (b->n + len + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1 << 14;
        char *p;
        while (nc < b->n + len + 1)
            nc *= 2;
        if (nc > BODY_MAX || !(p = realloc(b->p, nc)))
            return 0; /* curl reports a write error */
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->n, ptr, len);
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

CVS_API void cvs_http_embedder_free(cvs_http_embedder *e)
{
    if (!e)
        return;
    if (e->curl)
        curl_easy_cleanup(e->curl);
    curl_slist_free_all(e->headers);
    pthread_mutex_destroy(&e->mu);
    free(e->url);
    free(e->model);
    free(e->auth);
    free(e);
}

CVS_API uint32_t cvs_http_embedder_dim(const cvs_http_embedder *e)
{
    return e ? e->dim : 0;
}

/* The server's explanation of a failed request, for the message. */
static void error_detail(const body *b, char *out, size_t cap)
{
    json_t *doc = b->p ? json_loadb(b->p, b->n, 0, NULL) : NULL, *err, *msg = NULL;
    if (doc && (err = json_object_get(doc, "error"))) {
        msg = json_is_object(err) ? json_object_get(err, "message") : err;
    }
    if (msg && json_is_string(msg))
        snprintf(out, cap, "%s", json_string_value(msg));
    else if (b->n)
        snprintf(out, cap, "%.*s", (int)(b->n > 200 ? 200 : b->n), b->p);
    else
        snprintf(out, cap, "(empty body)");
    json_decref(doc);
}

/* Parses one response into out (n rows); learns the dimension when dim is 0. */
static int parse_response(cvs_http_embedder *e, const body *b, size_t n, float *out,
                          uint32_t *dim_seen)
{
    json_error_t jerr;
    json_t *doc = json_loadb(b->p ? b->p : "", b->n, 0, &jerr), *data;
    unsigned char *seen = NULL;
    int rc = CVS_OK;

    if (!doc)
        return cvs__err(CVS_EIO, "%s: response is not JSON: %s", e->url, jerr.text);
    data = json_object_get(doc, "data");
    if (!json_is_array(data) || json_array_size(data) != n) {
        rc = cvs__err(CVS_EIO, "%s: response has %zu embeddings in \"data\" for %zu texts",
                      e->url, json_is_array(data) ? json_array_size(data) : 0, n);
        goto out;
    }
    if (!(seen = calloc(n, 1))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(data, i), *idx = json_object_get(item, "index"),
               *emb = json_object_get(item, "embedding");
        size_t row = i, d;
        if (idx) {
            if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
                (size_t)json_integer_value(idx) >= n) {
                rc = cvs__err(CVS_EIO, "%s: data[%zu].index is not in 0..%zu", e->url, i, n - 1);
                goto out;
            }
            row = (size_t)json_integer_value(idx);
        }
        if (seen[row]) {
            rc = cvs__err(CVS_EIO, "%s: index %zu appears twice in the response", e->url, row);
            goto out;
        }
        seen[row] = 1;
        if (!json_is_array(emb) || (d = json_array_size(emb)) == 0 || d > CVS_MAX_DIM) {
            rc = cvs__err(CVS_EIO, "%s: data[%zu].embedding is not an array of 1..%d numbers",
                          e->url, i, CVS_MAX_DIM);
            goto out;
        }
        if (*dim_seen == 0)
            *dim_seen = (uint32_t)d;
        if (d != *dim_seen) {
            rc = cvs__err(CVS_EIO, "%s: embedding of %zu values, expected %u", e->url, d, *dim_seen);
            goto out;
        }
        for (size_t t = 0; out && t < d; t++) {
            json_t *x = json_array_get(emb, t);
            float f = json_is_number(x) ? (float)json_number_value(x) : NAN;
            if (!isfinite(f)) {
                rc = cvs__err(CVS_EIO, "%s: data[%zu].embedding[%zu] is not a finite number",
                              e->url, i, t);
                goto out;
            }
            out[row * d + t] = f;
        }
    }
out:
    free(seen);
    json_decref(doc);
    return rc;
}

/* One request for n texts (n <= HTTP_BATCH).  out NULL: only learn dim. */
static int request(cvs_http_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                   float *out, uint32_t *dim_seen)
{
    json_t *req = json_object(), *input = json_array();
    char *payload = NULL, errbuf[CURL_ERROR_SIZE] = "", detail[256];
    body b = {0};
    long status = 0;
    CURLcode cc;
    int rc = CVS_OK;

    if (!req || !input) {
        json_decref(input);
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    json_object_set_new(req, "model", json_string(e->model));
    json_object_set_new(req, "input", input);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_stringn(texts[i] ? texts[i] : "", lens[i]);
        if (!s) {
            if (n == 1) /* one text needs no name (the caller names it) */
                rc = cvs__err(CVS_EINPUT, "the text is not valid UTF-8 (or holds a NUL byte)");
            else
                rc = cvs__err(CVS_EINPUT, "text %zu is not valid UTF-8 (or holds a NUL byte)", i);
            goto out;
        }
        json_array_append_new(input, s);
    }
    if (!(payload = json_dumps(req, JSON_COMPACT))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
    curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, errbuf);
    if ((cc = curl_easy_perform(e->curl)) != CURLE_OK) {
        rc = cvs__err(CVS_EIO, "POST %s: %s", e->url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        error_detail(&b, detail, sizeof detail);
        rc = cvs__err(CVS_EIO, "POST %s (model %s): HTTP %ld: %s", e->url, e->model, status, detail);
        goto out;
    }
    rc = parse_response(e, &b, n, out, dim_seen);
out:
    json_decref(req);
    free(payload);
    free(b.p);
    return rc;
}

CVS_API int cvs_http_embedder_new(const char *url, const char *model, const char *api_key,
                                  uint32_t dim, cvs_http_embedder **out)
{
    cvs_http_embedder *e = NULL;
    struct curl_slist *h;
    int rc;

    if (!url || !model || !out)
        return cvs__err(CVS_EINVAL, "cvs_http_embedder_new: NULL argument");
    *out = NULL;
    if (dim > CVS_MAX_DIM)
        return cvs__err(CVS_EINVAL, "dimension %u out of range", dim);
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return cvs__err(CVS_EINTERNAL, "libcurl failed to initialize: %s",
                        curl_easy_strerror(curl_init_rc));
    if (!(e = calloc(1, sizeof *e)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if (pthread_mutex_init(&e->mu, NULL)) {
        free(e);
        return cvs__err(CVS_ENOMEM, "cannot create a mutex");
    }
    e->url = strdup(url);
    e->model = strdup(model);
    if (!e->url || !e->model || !(e->curl = curl_easy_init()) ||
        !(h = curl_slist_append(NULL, "Content-Type: application/json"))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto fail;
    }
    e->headers = h;
    if (api_key && *api_key) {
        size_t n = strlen(api_key) + 32;
        if (!(e->auth = malloc(n))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto fail;
        }
        snprintf(e->auth, n, "Authorization: Bearer %s", api_key);
        if (!(h = curl_slist_append(e->headers, e->auth))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto fail;
        }
        e->headers = h;
    }
    curl_easy_setopt(e->curl, CURLOPT_URL, e->url);
    curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers);
    curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(e->curl, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e->curl, CURLOPT_USERAGENT, "cvstore/" CVS_VERSION_STRING);
    e->dim = dim;
    if (!dim) {
        const char *probe = "dimension";
        size_t len = strlen(probe);
        if ((rc = request(e, &probe, &len, 1, NULL, &e->dim)))
            goto fail;
    }
    *out = e;
    return CVS_OK;
fail:
    cvs_http_embedder_free(e);
    return rc;
}

CVS_API int cvs_http_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                           float *out)
{
    cvs_http_embedder *e = ctx;
    int rc = CVS_OK;
    if (!e || (n && (!texts || !lens || !out)))
        return cvs__err(CVS_EINVAL, "cvs_http_embed: NULL argument");
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < n && rc == CVS_OK; i += HTTP_BATCH) {
        size_t m = n - i < HTTP_BATCH ? n - i : HTTP_BATCH;
        uint32_t d = e->dim;
        rc = request(e, texts + i, lens + i, m, out + i * e->dim, &d);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}
