
/*
 * The rendered-body cache: set-associative, each way one malloc'ed block
 * holding the key and the value, so that a replaced entry is one free().
 * A hit compares the whole key: a hash collision can never serve another
 * session's body.  Pure C.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_session_cache.h"


/* an entry: options, reply, body and etag, one after the other */
typedef struct {
    uint32_t        hash;
    uint64_t        used;       /* when last hit or stored: for eviction */
    size_t          options_len;
    size_t          reply_len;
    size_t          body_len;
    size_t          etag_len;
    unsigned char   data[];
} ngx_session_cache_entry_t;


/*
 * 4-way sets picked by the options (the request_id): a session's new reply
 * replaces its old entry in place, and sessions that share a set do not
 * evict each other until five of them are polled at once.
 */
#define NGX_SESSION_CACHE_WAYS  4


struct ngx_session_cache_s {
    ngx_session_cache_entry_t  **slots;     /* nsets * NGX_SESSION_CACHE_WAYS */
    size_t                       nsets;
    size_t                       size;      /* the budget */
    size_t                       used;
    uint64_t                     clock;
};


/* an entry's average size is guessed at 2k: the set count follows */
#define NGX_SESSION_CACHE_AVERAGE  2048


static uint32_t ngx_session_cache_hash(const ngx_session_str_t *options);
static ngx_session_cache_entry_t **ngx_session_cache_set(
    ngx_session_cache_t *cache, uint32_t hash);
static int ngx_session_cache_match(const ngx_session_cache_entry_t *e,
    uint32_t hash, const ngx_session_str_t *options,
    const ngx_session_str_t *reply);
static void ngx_session_cache_drop(ngx_session_cache_t *cache,
    ngx_session_cache_entry_t **slot);
static size_t ngx_session_cache_entry_size(
    const ngx_session_cache_entry_t *e);


ngx_session_cache_t *
ngx_session_cache_create(size_t size)
{
    ngx_session_cache_t  *cache;

    cache = calloc(1, sizeof(ngx_session_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    cache->nsets = size / NGX_SESSION_CACHE_AVERAGE / NGX_SESSION_CACHE_WAYS;

    if (cache->nsets < 4) {
        cache->nsets = 4;
    }

    cache->slots = calloc(cache->nsets * NGX_SESSION_CACHE_WAYS,
                          sizeof(ngx_session_cache_entry_t *));
    if (cache->slots == NULL) {
        free(cache);
        return NULL;
    }

    cache->size = size;

    return cache;
}


void
ngx_session_cache_free(ngx_session_cache_t *cache)
{
    size_t  i;

    if (cache == NULL) {
        return;
    }

    for (i = 0; i < cache->nsets * NGX_SESSION_CACHE_WAYS; i++) {
        free(cache->slots[i]);
    }

    free(cache->slots);
    free(cache);
}


int
ngx_session_cache_get(ngx_session_cache_t *cache,
    const ngx_session_str_t *options, const ngx_session_str_t *reply,
    ngx_session_str_t *body, ngx_session_str_t *etag)
{
    size_t                       i;
    uint32_t                     hash;
    unsigned char               *p;
    ngx_session_cache_entry_t  **set, *e;

    hash = ngx_session_cache_hash(options);
    set = ngx_session_cache_set(cache, hash);

    for (i = 0; i < NGX_SESSION_CACHE_WAYS; i++) {
        e = set[i];

        if (e == NULL || !ngx_session_cache_match(e, hash, options, reply)) {
            continue;
        }

        e->used = ++cache->clock;

        p = e->data + e->options_len + e->reply_len;

        body->data = p;
        body->len = e->body_len;
        etag->data = p + e->body_len;
        etag->len = e->etag_len;

        return NGX_SESSION_OK;
    }

    return NGX_SESSION_AGAIN;
}


void
ngx_session_cache_put(ngx_session_cache_t *cache,
    const ngx_session_str_t *options, const ngx_session_str_t *reply,
    const ngx_session_str_t *body, const ngx_session_str_t *etag)
{
    size_t                       i, len, limit;
    uint32_t                     hash;
    unsigned char               *p;
    ngx_session_cache_entry_t   *e, **set, **slot;

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

    hash = ngx_session_cache_hash(options);
    set = ngx_session_cache_set(cache, hash);

    /* the same session's old entry, else an empty way, else the oldest */

    slot = NULL;

    for (i = 0; i < NGX_SESSION_CACHE_WAYS; i++) {
        e = set[i];

        if (e == NULL) {
            if (slot == NULL || *slot != NULL) {
                slot = &set[i];
            }

            continue;
        }

        if (e->hash == hash && e->options_len == options->len
            && memcmp(e->data, options->data, options->len) == 0)
        {
            slot = &set[i];
            break;
        }

        if (slot == NULL || (*slot != NULL && e->used < (*slot)->used)) {
            slot = &set[i];
        }
    }

    ngx_session_cache_drop(cache, slot);

    /* over budget: empty other sets, from the next one on, until it fits */

    for (i = 1; cache->used + len > cache->size
                && i < cache->nsets * NGX_SESSION_CACHE_WAYS; i++)
    {
        ngx_session_cache_drop(cache,
            &cache->slots[(slot - cache->slots + i)
                          % (cache->nsets * NGX_SESSION_CACHE_WAYS)]);
    }

    e = malloc(len);
    if (e == NULL) {
        return;
    }

    e->hash = hash;
    e->used = ++cache->clock;
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

    *slot = e;
    cache->used += len;
}


static ngx_session_cache_entry_t **
ngx_session_cache_set(ngx_session_cache_t *cache, uint32_t hash)
{
    return &cache->slots[(hash % cache->nsets) * NGX_SESSION_CACHE_WAYS];
}


/* the whole key, byte for byte: a hash collision never serves a body */

static int
ngx_session_cache_match(const ngx_session_cache_entry_t *e, uint32_t hash,
    const ngx_session_str_t *options, const ngx_session_str_t *reply)
{
    return e->hash == hash
           && e->options_len == options->len
           && e->reply_len == reply->len
           && memcmp(e->data, options->data, options->len) == 0
           && memcmp(e->data + options->len, reply->data, reply->len) == 0;
}


static void
ngx_session_cache_drop(ngx_session_cache_t *cache,
    ngx_session_cache_entry_t **slot)
{
    if (*slot) {
        cache->used -= ngx_session_cache_entry_size(*slot);
        free(*slot);
        *slot = NULL;
    }
}


static size_t
ngx_session_cache_entry_size(const ngx_session_cache_entry_t *e)
{
    return sizeof(ngx_session_cache_entry_t) + e->options_len + e->reply_len
           + e->body_len + e->etag_len;
}


/* FNV-1a of the options: the request_id, mostly */

static uint32_t
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
