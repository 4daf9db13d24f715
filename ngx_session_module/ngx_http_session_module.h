
/*
 * ngx_http_session_module, the session-result endpoint: its configuration
 * and its request ctx, for the files of the module.
 */

#ifndef _NGX_HTTP_SESSION_MODULE_H_INCLUDED_
#define _NGX_HTTP_SESSION_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_session_data.h"
#include "ngx_session_cache.h"
#include "ngx_http_session_store.h"


typedef struct {
    ngx_http_session_store_conf_t  store;   /* .upstream set: endpoint on */
    ngx_flag_t                     pretty;
    ngx_str_t                      owner_claim; /* "": off */
} ngx_http_session_loc_conf_t;


typedef struct {
    size_t                         body_cache_size;
    ngx_session_cache_t           *body_cache; /* per worker process */
} ngx_http_session_main_conf_t;


/* the client's request */
typedef struct {
    ngx_str_t                      request_id;
    ngx_http_session_outcome_e     outcome; /* also the status sent */

    /* what the store read found; NULL until it ended */
    ngx_http_session_store_result_t  *stored;
} ngx_http_session_ctx_t;


extern ngx_module_t  ngx_http_session_module;


ngx_http_session_ctx_t *ngx_http_session_get_ctx(ngx_http_request_t *r);


#endif /* _NGX_HTTP_SESSION_MODULE_H_INCLUDED_ */
