
/*
 * The store operation: one asynchronous read of a session from Redis, in a
 * subrequest of the caller's request.  The caller is told the outcome by a
 * callback; nothing here knows what the response will be.
 */

#ifndef _NGX_HTTP_SESSION_STORE_H_INCLUDED_
#define _NGX_HTTP_SESSION_STORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_session_data.h"


/* the store's part of a location's configuration */
typedef struct {
    ngx_http_upstream_conf_t         upstream;  /* .upstream set: store on;
                                                   .buffer_size: first read */
    size_t                           reply_max; /* largest reply accepted */
    ngx_str_t                        key_prefix;
} ngx_http_session_store_conf_t;


/* what a read found */
typedef enum {
    NGX_HTTP_SESSION_PENDING = 0,       /* the read ended without a word */
    NGX_HTTP_SESSION_FOUND,
    NGX_HTTP_SESSION_NOT_FOUND,
    NGX_HTTP_SESSION_STORE_ERROR,       /* 502 */
    NGX_HTTP_SESSION_STORE_UNAVAILABLE, /* 503 */
    NGX_HTTP_SESSION_STORE_TIMEOUT,     /* 504 */
    NGX_HTTP_SESSION_INTERNAL_ERROR     /* 500 */
} ngx_http_session_outcome_e;


/* valid as long as the request's pool */
typedef struct {
    ngx_http_session_outcome_e       outcome;
    ngx_session_data_t              *data;  /* NGX_HTTP_SESSION_FOUND */
    ngx_session_str_t               *raw;   /* the reply, as read, up to
                                               the PTTL if any */
    int64_t                          ttl_ms; /* ttl: the hash's PTTL (-1:
                                                none, -2: no hash) */
    ngx_addr_t                       peer;  /* the server that answered
                                               (sockaddr NULL: none) */
} ngx_http_session_store_result_t;


/*
 * Called once, as the store subrequest ends (from its post_subrequest
 * handler): it records the result and chooses how the request goes on,
 * typically by setting r->write_event_handler, which nginx runs next.  It
 * must not send a response itself.
 */
typedef void (*ngx_http_session_store_done_pt)(ngx_http_request_t *r,
    ngx_http_session_store_result_t *result, void *data);


/*
 * Starts reading the session "id" for the content handler of r.  With an
 * owner (NULL: none required), the session is found only if its "owner"
 * field is that, byte for byte; anyone else's is NOT_FOUND, decided before
 * the rest of its reply is read, and none of it is decoded.  NGX_DONE:
 * the read runs and holds the request, as ngx_http_upstream_init() does,
 * so the handler returns NGX_DONE; NGX_ERROR: nothing was started.  With
 * ttl, the transaction ends with PTTL of the hash (result.ttl_ms).
 */
ngx_int_t ngx_http_session_store_read(ngx_http_request_t *r,
    ngx_http_session_store_conf_t *conf, ngx_str_t *id, ngx_str_t *owner,
    ngx_uint_t ttl, ngx_http_session_store_done_pt done, void *data);

void ngx_http_session_store_create_conf(ngx_http_session_store_conf_t *conf);
void ngx_http_session_store_merge_conf(ngx_http_session_store_conf_t *prev,
    ngx_http_session_store_conf_t *conf, ngx_uint_t inner);
ngx_int_t ngx_http_session_store_add_server(ngx_conf_t *cf,
    ngx_http_session_store_conf_t *conf, ngx_str_t *url);


#endif /* _NGX_HTTP_SESSION_STORE_H_INCLUDED_ */
