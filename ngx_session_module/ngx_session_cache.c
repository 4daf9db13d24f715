
/*
 * The rendered-body cache: direct-mapped, each slot one malloc'ed block
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
    size_t          options_len;
    size_t          reply_len;
    size_t          body_len;
    size_t          etag_len;
    unsigned char   data[];
} ngx_session_cache_entry_t;


struct ngx_session_cache_s {
    ngx_session_cache_entry_t  **slots;
    size_t                       nslots;
    size_t                       size;      /* the budget */
    size_t                       used;
};


/* an entry's average size is guessed at 4k: the slot count follows */
#define NGX_SESSION_CACHE_AVERAGE  4096


static uint32_t ngx_session_cache_hash(const ngx_session_str_t *options,
    const ngx_session_str_t *reply);
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

    cache->nslots = size / NGX_SESSION_CACHE_AVERAGE;

    if (cache->nslots < 16) {
        cache->nslots = 16;
    }

    cache->slots = calloc(cache->nslots, sizeof(ngx_session_cache_entry_t *));
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

    for (i = 0; i < cache->nslots; i++) {
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
    uint32_t                    hash;
    unsigned char              *p;
    ngx_session_cache_entry_t  *e;

    hash = ngx_session_cache_hash(options, reply);
    e = cache->slots[hash % cache->nslots];

    if (e == NULL
        || e->hash != hash
        || e->options_len != options->len
        || e->reply_len != reply->len
        || memcmp(e->data, options->data, options->len) != 0
        || memcmp(e->data + options->len, reply->data, reply->len) != 0)
    {
        return NGX_SESSION_AGAIN;
    }

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
    size_t                       len, i;
    uint32_t                     hash;
    unsigned char               *p;
    ngx_session_cache_entry_t   *e, **slot;

    len = sizeof(ngx_session_cache_entry_t) + options->len + reply->len
          + body->len + etag->len;

    /* the budget check is written so that no sum can overflow */
    if (options->len > cache->size || reply->len > cache->size
        || body->len > cache->size || etag->len > cache->size
        || len > cache->size / 8)
    {
        return;
    }

    hash = ngx_session_cache_hash(options, reply);
    slot = &cache->slots[hash % cache->nslots];

    if (*slot) {
        cache->used -= ngx_session_cache_entry_size(*slot);
        free(*slot);
        *slot = NULL;
    }

    /* over budget: empty other slots, from the next one on, until it fits */

    for (i = 1; cache->used + len > cache->size && i < cache->nslots; i++) {
        e = cache->slots[(hash + i) % cache->nslots];

        if (e) {
            cache->used -= ngx_session_cache_entry_size(e);
            free(e);
            cache->slots[(hash + i) % cache->nslots] = NULL;
        }
    }

    e = malloc(len);
    if (e == NULL) {
        return;
    }

    e->hash = hash;
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


static size_t
ngx_session_cache_entry_size(const ngx_session_cache_entry_t *e)
{
    return sizeof(ngx_session_cache_entry_t) + e->options_len + e->reply_len
           + e->body_len + e->etag_len;
}


/*
 * FNV-1a of the options (the request_id, mostly) and the reply's length:
 * it only picks a slot, so a session's new reply replaces its old one;
 * equality is decided by memcmp() of the whole key.
 */

static uint32_t
ngx_session_cache_hash(const ngx_session_str_t *options,
    const ngx_session_str_t *reply)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < options->len; i++) {
        h = (h ^ options->data[i]) * 16777619u;
    }

    return h ^ (uint32_t) reply->len;
}
