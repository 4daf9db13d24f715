
/*
 * Per-worker caches.  Pure C.
 *
 * ngx_session_assoc_t is the one set-associative structure behind both the
 * rendered-body cache (below) and the verified-token cache
 * (ngx_session_jwt.c): a hash picks a set of a few ways, a lookup compares
 * only there, and a full set gives up its least recently used way.  Values
 * are the caller's; the structure only holds them and hands them to the
 * caller's drop function when they leave.
 */

#ifndef _NGX_SESSION_CACHE_H_INCLUDED_
#define _NGX_SESSION_CACHE_H_INCLUDED_


#include <stdint.h>

#include "ngx_session_data.h"


/* a set's ways: sessions or tokens sharing a set evict each other only
 * when five of them are in use at once */
#define NGX_SESSION_CACHE_WAYS  4


typedef struct {
    uint64_t                     hash;
    uint64_t                     used;     /* tick of the last hit or store */
    void                        *value;    /* NULL: a free way */
} ngx_session_assoc_way_t;

/* value leaves the structure (replaced, evicted, destroyed) */
typedef void (*ngx_session_assoc_drop_pt)(void *data, void *value);

/* value holds key; called only for ways of the same hash */
typedef int (*ngx_session_assoc_match_pt)(const void *value,
    const void *key);

typedef struct {
    ngx_session_assoc_way_t     *ways;     /* nsets * nways, set by set */
    size_t                       nsets;
    size_t                       nways;
    uint64_t                     tick;
    ngx_session_assoc_drop_pt    drop;
    void                        *data;     /* drop's first argument */
} ngx_session_assoc_t;


/* nsets and nways at least 1 */
int ngx_session_assoc_init(ngx_session_assoc_t *a, size_t nsets,
    size_t nways, ngx_session_assoc_drop_pt drop, void *data);

/* drops every value */
void ngx_session_assoc_destroy(ngx_session_assoc_t *a);

/* the way of hash's set that holds key, its use noted; NULL: none */
ngx_session_assoc_way_t *ngx_session_assoc_find(ngx_session_assoc_t *a,
    uint64_t hash, ngx_session_assoc_match_pt match, const void *key);

/*
 * The way of hash's set that key is to be stored in: the one already
 * holding key (by match, which may be looser than find's, e.g. the same
 * session with another reply), else a free one, else the least recently
 * used.  It comes back empty (its old value dropped) with hash and the tick
 * set; the caller puts the value in.
 */
ngx_session_assoc_way_t *ngx_session_assoc_claim(ngx_session_assoc_t *a,
    uint64_t hash, ngx_session_assoc_match_pt match, const void *key);

void ngx_session_assoc_drop(ngx_session_assoc_t *a,
    ngx_session_assoc_way_t *way);

/* values held now */
size_t ngx_session_assoc_count(const ngx_session_assoc_t *a);


/*
 * Rendered bodies: the options that shape the body and a reply key map to
 * the body and its ETag.  The reply key is the caller's: the driver passes
 * a SHA-256 of the stored values the body is made of, so that no entry
 * holds the store's reply.  A client polling a session costs one store
 * read and a comparison instead of a JSON parse and render.
 */
typedef struct ngx_session_cache_s  ngx_session_cache_t;


/* size: the memory the entries may take, in bytes */
ngx_session_cache_t *ngx_session_cache_create(size_t size);
void ngx_session_cache_free(ngx_session_cache_t *cache);

/*
 * The key is the pair (options, reply): options holds whatever else the
 * body depends on.  A hit sets body and etag to memory that stays valid
 * until the next ngx_session_cache_put(): copy it before yielding.
 */
int ngx_session_cache_get(ngx_session_cache_t *cache,
    const ngx_session_str_t *options, const ngx_session_str_t *reply,
    ngx_session_str_t *body, ngx_session_str_t *etag);

/* an entry larger than an eighth of the cache is not kept */
void ngx_session_cache_put(ngx_session_cache_t *cache,
    const ngx_session_str_t *options, const ngx_session_str_t *reply,
    const ngx_session_str_t *body, const ngx_session_str_t *etag);


#endif /* _NGX_SESSION_CACHE_H_INCLUDED_ */
