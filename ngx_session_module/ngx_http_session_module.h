
/*
 * The session-result endpoint: what the module's nginx-side files share.
 */

#ifndef _NGX_HTTP_SESSION_MODULE_H_INCLUDED_
#define _NGX_HTTP_SESSION_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_session_data.h"
#include "ngx_session_resp.h"


typedef struct {
    ngx_http_upstream_conf_t    upstream;   /* .upstream set: endpoint on */
    ngx_str_t                   key_prefix;
    ngx_flag_t                  pretty;
} ngx_http_session_loc_conf_t;


/* what the fetch found; also the status the client gets */
typedef enum {
    NGX_HTTP_SESSION_PENDING = 0,
    NGX_HTTP_SESSION_FOUND,
    NGX_HTTP_SESSION_NOT_FOUND,
    NGX_HTTP_SESSION_STORE_ERROR,       /* 502 */
    NGX_HTTP_SESSION_STORE_UNAVAILABLE, /* 503 */
    NGX_HTTP_SESSION_STORE_TIMEOUT,     /* 504 */
    NGX_HTTP_SESSION_INTERNAL_ERROR     /* 500 */
} ngx_http_session_outcome_e;


/* shared by the main request and its store subrequest */
typedef struct {
    ngx_str_t                   request_id;
    ngx_http_request_t         *fetch;       /* the store subrequest */
    ngx_http_session_outcome_e  outcome;

    /* the current store attempt; reset when nginx tries the next server */
    ngx_session_reply_t         reply;
    ngx_session_data_t          data;
    unsigned                    reply_seen:1;

    unsigned                    done:1;
} ngx_http_session_ctx_t;


extern ngx_module_t  ngx_http_session_module;


/* ngx_http_session_redis.c */
ngx_int_t ngx_http_session_fetch(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx);
ngx_int_t ngx_http_session_fetch_start(ngx_http_request_t *sr);

/* ngx_http_session_module.c */
void ngx_http_session_respond(ngx_http_request_t *r);
void *ngx_http_session_palloc(void *pool, size_t size);


#endif /* _NGX_HTTP_SESSION_MODULE_H_INCLUDED_ */
