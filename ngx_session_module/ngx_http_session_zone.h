
/*
 * A cache in nginx shared memory, shared by every worker of the machine:
 * entries of bytes keyed by a 32-byte digest, in an rbtree with an LRU
 * queue, allocated from the zone's slab pool; a full pool gives up its
 * least recently used entries.  The lock is held only to copy an entry in
 * or out.  Used by the verified-token cache (ngx_http_session_jwt.c) and
 * the rendered-body cache (ngx_http_session_handler.c); calls neither.
 */

#ifndef _NGX_HTTP_SESSION_ZONE_H_INCLUDED_
#define _NGX_HTTP_SESSION_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>


#define NGX_HTTP_SESSION_ZONE_KEY  32       /* SHA-256 */

/* the smallest zone: a few entries beside the slab pool's own pages */
#define NGX_HTTP_SESSION_ZONE_MIN  (64 * 1024)


/*
 * "shared:NAME:SIZE" -> the zone, added for tag (the module using it: one
 * zone cannot serve two caches).  NGX_DECLINED: value is not of the
 * "shared:" form (the caller parses its other forms); NGX_ERROR: logged.
 */
ngx_int_t ngx_http_session_zone_add(ngx_conf_t *cf, ngx_str_t *value,
    void *tag, ngx_shm_zone_t **zone);

/*
 * The number of the configuration this process was started with, the same
 * in every worker of it and new at every load (start or reload): a key
 * that includes it never matches an entry stored under another
 * configuration.
 */
uint64_t ngx_http_session_zone_epoch(ngx_shm_zone_t *zone);

/*
 * A digest per worker (SHA-256 for the keys, SHA-1 for ETags): OpenSSL 3
 * looks an algorithm up by name on every EVP_DigestInit_ex() with
 * EVP_sha256() (thousands of instructions, more than the digest of a
 * small session); fetched once at the worker's start by its name, with
 * one context reused, it does not.
 */
typedef struct {
    EVP_MD                      *md;
    EVP_MD_CTX                  *ctx;
} ngx_http_session_hash_t;

ngx_int_t ngx_http_session_hash_init(ngx_http_session_hash_t *sha,
    const char *name);
void ngx_http_session_hash_free(ngx_http_session_hash_t *sha);
ngx_int_t ngx_http_session_hash_start(ngx_http_session_hash_t *sha);
ngx_int_t ngx_http_session_hash_update(ngx_http_session_hash_t *sha,
    const void *data, size_t len);
/* out: the digest's size (NGX_HTTP_SESSION_ZONE_KEY bytes for SHA-256) */
ngx_int_t ngx_http_session_hash_final(ngx_http_session_hash_t *sha,
    u_char *out);

/*
 * NGX_OK: value is a copy of the entry from pool.  NGX_DECLINED: no entry,
 * or one whose expiry (seconds, 0: none) is at or before now, which is
 * removed.  NGX_ERROR: no memory.
 */
ngx_int_t ngx_http_session_zone_get(ngx_shm_zone_t *zone, u_char *key,
    time_t now, ngx_pool_t *pool, ngx_str_t *value);

/*
 * Stores the concatenation of the n parts under key, replacing an entry
 * with the same key.  An entry larger than an eighth of the zone is not
 * kept; failing memory evicts the least recently used entries first.
 */
void ngx_http_session_zone_put(ngx_shm_zone_t *zone, u_char *key,
    time_t expires, ngx_str_t *parts, ngx_uint_t n, ngx_log_t *log);


#endif /* _NGX_HTTP_SESSION_ZONE_H_INCLUDED_ */
