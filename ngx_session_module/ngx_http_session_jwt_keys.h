
/*
 * Key sets fetched from an identity provider (SPEC 7): one key source per
 * session_jwt_key_request URI and key_cache time, its set held per worker,
 * fetched by a subrequest, refetched when stale or for an unknown kid
 * within the bounds of SPEC 7, at most one fetch in flight per source, the
 * other requests that need it parked until it ends.  Used only by
 * ngx_http_session_jwt.c; calls nothing of it.
 */

#ifndef _NGX_HTTP_SESSION_JWT_KEYS_H_INCLUDED_
#define _NGX_HTTP_SESSION_JWT_KEYS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_session_jwk.h"


/* an unknown kid refetches at most this often per source (SPEC 7) */
#define NGX_HTTP_SESSION_JWT_KID_REFETCH   30

/* a failed fetch is retried no sooner than this (SPEC 7) */
#define NGX_HTTP_SESSION_JWT_FETCH_RETRY   10

/* ms between two fetch starts per source, abandoned fetches included */
#define NGX_HTTP_SESSION_JWT_FETCH_GAP     1000


typedef struct ngx_http_session_jwt_keys_s  ngx_http_session_jwt_keys_t;


/*
 * At configuration time: the source for uri and valid (seconds a fetched
 * set is used), shared by every location naming the same pair.  sources
 * is the main configuration's array of ngx_http_session_jwt_keys_t *.
 */
ngx_http_session_jwt_keys_t *ngx_http_session_jwt_keys_add(ngx_conf_t *cf,
    ngx_array_t *sources, ngx_str_t *uri, time_t valid);

/* at worker exit: the fetched sets are malloc'd (OpenSSL keys) */
void ngx_http_session_jwt_keys_free(ngx_array_t *sources);


/*
 * The source's current set for the main request r, or a fetch to wait for.
 *
 * NGX_OK: *set is the set to verify with (possibly stale, its refresh then
 * started in the background; NULL when none was ever fetched and the last
 * fetch failed less than NGX_HTTP_SESSION_JWT_FETCH_RETRY seconds ago),
 * *generation its number, which changes with the set (the same set, the
 * same number, in every worker).
 *
 * NGX_AGAIN: r waits for a fetch (its own subrequest, or the fetch in
 * flight, which then resumes r's phases); the phase handler returns
 * NGX_DONE and runs again when the fetch ends.
 *
 * With unknown_kid (the token named a kid the set lacks), a refetch is
 * asked for: NGX_AGAIN as above when one is allowed or in flight,
 * NGX_DECLINED when the bound of SPEC 7 refuses it (answer 401 at once).
 */
ngx_int_t ngx_http_session_jwt_keys_get(ngx_http_request_t *r,
    ngx_http_session_jwt_keys_t *src, ngx_uint_t unknown_kid,
    const ngx_session_keyset_t **set, uint64_t *generation);

/* r is the module's own key fetch (a subrequest) */
ngx_uint_t ngx_http_session_jwt_keys_is_fetch(ngx_http_request_t *r);


#endif /* _NGX_HTTP_SESSION_JWT_KEYS_H_INCLUDED_ */
