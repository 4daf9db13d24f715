
/*
 * The set-associative structure, and the rendered-body cache on it: each
 * body entry is one malloc'ed block holding the key and the value, so that
 * a replaced entry is one free().  A hit compares the whole key: a hash
 * collision can never serve another session's body.  Pure C.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_session_cache.h"


/* a body entry: options, reply, body and etag, one after the other */
typedef struct {
    size_t          options_len;
    size_t          reply_len;
    size_t          body_len;
    size_t          etag_len;
    unsigned char   data[];
} ngx_session_cache_entry_t;


/* the whole key of a body entry, for the match functions */
typedef struct {
    const ngx_session_str_t    *options;
    const ngx_session_str_t    *reply;
} ngx_session_cache_key_t;


struct ngx_session_cache_s {
    ngx_session_assoc_t          assoc;
    size_t                       size;      /* the budget */
    size_t                       used;
};


/* an entry's average size is guessed at 2k: the set count follows */
#define NGX_SESSION_CACHE_AVERAGE  2048


static ngx_session_assoc_way_t *ngx_session_assoc_set(ngx_session_assoc_t *a,
    uint64_t hash);
static uint64_t ngx_session_cache_hash(const ngx_session_str_t *options);
static int ngx_session_cache_same_options(const void *value,
    const void *key);
static int ngx_session_cache_same_key(const void *value, const void *key);
static void ngx_session_cache_drop(void *data, void *value);
static size_t ngx_session_cache_entry_size(
    const ngx_session_cache_entry_t *e);


int
ngx_session_assoc_init(ngx_session_assoc_t *a, size_t nsets, size_t nways,
    ngx_session_assoc_drop_pt drop, void *data)
{
    memset(a, 0, sizeof(ngx_session_assoc_t));

    if (nsets == 0 || nways == 0 || nsets > SIZE_MAX / nways) {
        return NGX_SESSION_ERROR;
    }

    a->ways = calloc(nsets * nways, sizeof(ngx_session_assoc_way_t));
    if (a->ways == NULL) {
        return NGX_SESSION_ERROR;
    }

    a->nsets = nsets;
    a->nways = nways;
    a->drop = drop;
    a->data = data;

    return NGX_SESSION_OK;
}


void
ngx_session_assoc_destroy(ngx_session_assoc_t *a)
{
    size_t  i;

    for (i = 0; a->ways != NULL && i < a->nsets * a->nways; i++) {
        ngx_session_assoc_drop(a, &a->ways[i]);
    }

    free(a->ways);
    a->ways = NULL;
}


ngx_session_assoc_way_t *
ngx_session_assoc_find(ngx_session_assoc_t *a, uint64_t hash,
    ngx_session_assoc_match_pt match, const void *key)
{
    size_t                    i;
    ngx_session_assoc_way_t  *set;

    set = ngx_session_assoc_set(a, hash);

    for (i = 0; i < a->nways; i++) {
        if (set[i].value != NULL && set[i].hash == hash
            && match(set[i].value, key))
        {
            set[i].used = ++a->tick;
            return &set[i];
        }
    }

    return NULL;
}


ngx_session_assoc_way_t *
ngx_session_assoc_claim(ngx_session_assoc_t *a, uint64_t hash,
    ngx_session_assoc_match_pt match, const void *key)
{
    size_t                    i;
    ngx_session_assoc_way_t  *set, *way;

    set = ngx_session_assoc_set(a, hash);
    way = NULL;

    /* key's own way, else a free one, else the least recently used */

    for (i = 0; i < a->nways; i++) {
        if (set[i].value == NULL) {
            if (way == NULL || way->value != NULL) {
                way = &set[i];
            }

            continue;
        }

        if (set[i].hash == hash && match(set[i].value, key)) {
            way = &set[i];
            break;
        }

        if (way == NULL || (way->value != NULL && set[i].used < way->used)) {
            way = &set[i];
        }
    }

    ngx_session_assoc_drop(a, way);

    way->hash = hash;
    way->used = ++a->tick;

    return way;
}


void
ngx_session_assoc_drop(ngx_session_assoc_t *a, ngx_session_assoc_way_t *way)
{
    if (way->value != NULL) {
        a->drop(a->data, way->value);
        way->value = NULL;
    }

    way->used = 0;
}


size_t
ngx_session_assoc_count(const ngx_session_assoc_t *a)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < a->nsets * a->nways; i++) {
        n += (a->ways[i].value != NULL);
    }

    return n;
}


static ngx_session_assoc_way_t *
ngx_session_assoc_set(ngx_session_assoc_t *a, uint64_t hash)
{
    return &a->ways[(hash % a->nsets) * a->nways];
}


ngx_session_cache_t *
ngx_session_cache_create(size_t size)
{
    size_t                nsets;
    ngx_session_cache_t  *cache;

    cache = calloc(1, sizeof(ngx_session_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    nsets = size / NGX_SESSION_CACHE_AVERAGE / NGX_SESSION_CACHE_WAYS;

    if (nsets < 4) {
        nsets = 4;
    }

    if (ngx_session_assoc_init(&cache->assoc, nsets, NGX_SESSION_CACHE_WAYS,
                               ngx_session_cache_drop, cache)
        != NGX_SESSION_OK)
    {
        free(cache);
        return NULL;
    }

    cache->size = size;

    return cache;
}


void
ngx_session_cache_free(ngx_session_cache_t *cache)
{
    if (cache == NULL) {
        return;
    }

    ngx_session_assoc_destroy(&cache->assoc);
    free(cache);
}


int
ngx_session_cache_get(ngx_session_cache_t *cache,
    const ngx_session_str_t *options, const ngx_session_str_t *reply,
    ngx_session_str_t *body, ngx_session_str_t *etag)
{
    unsigned char               *p;
    ngx_session_assoc_way_t     *way;
    ngx_session_cache_key_t      key;
    ngx_session_cache_entry_t   *e;

    key.options = options;
    key.reply = reply;

    way = ngx_session_assoc_find(&cache->assoc,
                                 ngx_session_cache_hash(options),
                                 ngx_session_cache_same_key, &key);
    if (way == NULL) {
        return NGX_SESSION_AGAIN;
    }

    e = way->value;
    p = e->data + e->options_len + e->reply_len;

    body->data = p;
    body->len = e->body_len;
    etag->data = p + e->body_len;
    etag->len = e->etag_len;

    return NGX_SESSION_OK;
}


void
ngx_session_cache_put(ngx_session_cache_t *cache,
    const ngx_session_str_t *options, const ngx_session_str_t *reply,
    const ngx_session_str_t *body, const ngx_session_str_t *etag)
{
    size_t                       i, n, len, limit, at;
    unsigned char               *p;
    ngx_session_assoc_t         *a;
    ngx_session_assoc_way_t     *way;
    ngx_session_cache_key_t      key;
    ngx_session_cache_entry_t   *e;

    /* each part is bounded first, so that the sum cannot overflow */

    limit = cache->size / 8;

    if (options->len > limit || reply->len > limit || body->len > limit
        || etag->len > limit)
    {
        return;
    }

    len = sizeof(ngx_session_cache_entry_t) + options->len + reply->len
          + body->len + etag->len;

    if (len > limit) {
        return;
    }

    /* the same session's old entry (any reply) makes room first */

    a = &cache->assoc;
    key.options = options;
    key.reply = NULL;

    way = ngx_session_assoc_claim(a, ngx_session_cache_hash(options),
                                  ngx_session_cache_same_options, &key);

    /* over budget: empty other ways, from the next one on, until it fits */

    n = a->nsets * a->nways;
    at = (size_t) (way - a->ways);

    for (i = 1; cache->used + len > cache->size && i < n; i++) {
        ngx_session_assoc_drop(a, &a->ways[(at + i) % n]);
    }

    e = malloc(len);
    if (e == NULL) {
        return;
    }

    e->options_len = options->len;
    e->reply_len = reply->len;
    e->body_len = body->len;
    e->etag_len = etag->len;

    p = e->data;
    memcpy(p, options->data, options->len);
    p += options->len;
    memcpy(p, reply->data, reply->len);
    p += reply->len;
    memcpy(p, body->data, body->len);
    p += body->len;
    memcpy(p, etag->data, etag->len);

    way->value = e;
    cache->used += len;
}


static int
ngx_session_cache_same_options(const void *value, const void *key)
{
    const ngx_session_cache_key_t    *k = key;
    const ngx_session_cache_entry_t  *e = value;

    return e->options_len == k->options->len
           && memcmp(e->data, k->options->data, k->options->len) == 0;
}


/* the whole key, byte for byte: a hash collision never serves a body */

static int
ngx_session_cache_same_key(const void *value, const void *key)
{
    const ngx_session_cache_key_t    *k = key;
    const ngx_session_cache_entry_t  *e = value;

    return ngx_session_cache_same_options(value, key)
           && e->reply_len == k->reply->len
           && memcmp(e->data + e->options_len, k->reply->data,
                     k->reply->len) == 0;
}


static void
ngx_session_cache_drop(void *data, void *value)
{
    ngx_session_cache_t  *cache = data;

    cache->used -= ngx_session_cache_entry_size(value);
    free(value);
}


static size_t
ngx_session_cache_entry_size(const ngx_session_cache_entry_t *e)
{
    return sizeof(ngx_session_cache_entry_t) + e->options_len + e->reply_len
           + e->body_len + e->etag_len;
}


/* FNV-1a of the options: the request_id, mostly */

static uint64_t
ngx_session_cache_hash(const ngx_session_str_t *options)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < options->len; i++) {
        h = (h ^ options->data[i]) * 16777619u;
    }

    return h;
}
