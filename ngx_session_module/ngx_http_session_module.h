
/*
 * ngx_http_session_module, the session-result endpoint: its configuration,
 * for the files of the module.
 */

#ifndef _NGX_HTTP_SESSION_MODULE_H_INCLUDED_
#define _NGX_HTTP_SESSION_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_session_cache.h"
#include "ngx_http_session_store.h"
#include "ngx_http_session_wait.h"
#include "ngx_http_session_fresh.h"
#include "ngx_http_session_zone.h"


typedef struct {
    ngx_http_session_store_conf_t  store;   /* .upstream set: endpoint on */
    ngx_flag_t                     pretty;
    ngx_str_t                      owner_claim; /* "": off */
    ngx_msec_t                     wait_max;    /* 0: no waiting */
    ngx_http_session_waits_t      *waits;       /* NULL: no waiting */
    ngx_http_session_fresh_t      *fresh;       /* NULL: a read each time */
} ngx_http_session_loc_conf_t;


typedef struct {
    size_t                         body_cache_size;
    ngx_session_cache_t           *body_cache; /* per worker process */
    ngx_shm_zone_t                *body_zone;  /* shared: by all workers */
    ngx_http_session_hash_t      sha256;     /* per worker: the key */
    ngx_http_session_hash_t        sha1;       /* per worker: the ETag */
} ngx_http_session_main_conf_t;


extern ngx_module_t  ngx_http_session_module;


#endif /* _NGX_HTTP_SESSION_MODULE_H_INCLUDED_ */
