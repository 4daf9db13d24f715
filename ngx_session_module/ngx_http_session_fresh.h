
/*
 * The cache Redis keeps fresh (SPEC 9), per worker: rendered bodies served
 * without a store round trip while the push connection of their store
 * reports every change.  An entry is dropped when its session's keys
 * change, all of them when the connection is lost, and none is served
 * after the session's time to live (PTTL, read in the same transaction as
 * the data).  A leaf below the driver, beside the waits; its own index,
 * apart from the body cache of ngx_session_cache.c.  With the body cache
 * in a shared zone, an entry holds the body's key there instead of the
 * body: the body is kept once per machine, the index per worker.
 */

#ifndef _NGX_HTTP_SESSION_FRESH_H_INCLUDED_
#define _NGX_HTTP_SESSION_FRESH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_session_data.h"
#include "ngx_http_session_zone.h"


typedef struct ngx_http_session_fresh_s  ngx_http_session_fresh_t;


/* taken as a store read starts: what its result may be kept against */
typedef struct {
    ngx_uint_t                 epoch;   /* 0: changes were not reported */
    ngx_uint_t                 seq;
    ngx_msec_t                 start;
} ngx_http_session_fresh_ticket_t;


/* what a hit gives, copied into the request's pool */
typedef struct {
    ngx_str_t                  body;    /* body, etag: empty with ref */
    ngx_str_t                  etag;
    ngx_str_t                  status;  /* the session's "status" field */

    /* the body's key in the shared body cache, which holds it and its
       ETag (NGX_HTTP_SESSION_ZONE_KEY bytes); NULL: body and etag above */
    u_char                    *ref;
} ngx_http_session_fresh_hit_t;


/*
 * The index of a store (upstream and key prefix), size bytes at most: its
 * entries hold the bodies (the per-worker body cache), or only the bodies'
 * keys in the shared one (then an entry takes about 300 bytes, whatever
 * the size of its body).
 */
ngx_http_session_fresh_t *ngx_http_session_fresh_conf(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf, ngx_str_t *prefix, size_t size);

/*
 * key: the render options and the id (as the body cache keys them), id
 * the request_id alone.  owner: the caller's owner value when the location
 * requires one (NULL: none required), compared byte for byte with the
 * session's; an entry without an owner, or with an empty one, never
 * matches.  NGX_OK: a hit (with ref, the body is looked up there by the
 * caller, and a body no longer there is a miss); NGX_DECLINED: read the
 * store; NGX_ERROR.
 */
ngx_int_t ngx_http_session_fresh_get(ngx_http_request_t *r,
    ngx_http_session_fresh_t *fresh, ngx_str_t *key, ngx_str_t *owner,
    ngx_http_session_fresh_hit_t *hit);

void ngx_http_session_fresh_ticket(ngx_http_session_fresh_t *fresh,
    ngx_http_session_fresh_ticket_t *ticket);

/*
 * Keeps a rendered body read with ticket from the server peer, unless a
 * change was reported since the ticket (or the connection changed), or
 * peer is not the server the push connection watches (another server's
 * changes are never reported): owner and status are the session's fields
 * (data NULL: absent), ttl_ms its PTTL.  ref: the body's key in the
 * shared body cache (NGX_HTTP_SESSION_ZONE_KEY bytes), kept instead of
 * body and etag (unused then); NULL: body and etag are kept.
 */
void ngx_http_session_fresh_put(ngx_http_session_fresh_t *fresh,
    ngx_http_session_fresh_ticket_t *ticket, ngx_str_t *key,
    ngx_session_str_t *owner, ngx_session_str_t *status, int64_t ttl_ms,
    ngx_addr_t *peer, ngx_str_t *body, ngx_str_t *etag, u_char *ref,
    ngx_log_t *log);


#endif /* _NGX_HTTP_SESSION_FRESH_H_INCLUDED_ */
