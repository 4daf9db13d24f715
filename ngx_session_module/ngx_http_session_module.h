
/*
 * The session-result endpoint: what the module's nginx-side files share.
 */

#ifndef _NGX_HTTP_SESSION_MODULE_H_INCLUDED_
#define _NGX_HTTP_SESSION_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_session_data.h"
#include "ngx_session_resp.h"
#include "ngx_session_jwt.h"
#include "ngx_session_cache.h"
#include "ngx_http_session_response.h"
#include "ngx_http_session_store.h"


typedef struct {
    ngx_flag_t                  enabled;
    ngx_str_t                   realm;
    ngx_session_keyset_t       *keys;       /* NULL: inherited */
    ngx_uint_t                  algorithms;
    ngx_str_t                   issuer;     /* "": off */
    ngx_array_t                *audiences;  /* of ngx_str_t; NULL: off */
    time_t                      leeway;
    ngx_http_complex_value_t   *token;      /* NULL: Authorization */
    ngx_str_t                   owner_claim; /* "": off */

    /* built from the above when the configuration is merged */
    ngx_session_jwt_policy_t    policy;
} ngx_http_session_jwt_conf_t;


typedef struct {
    ngx_http_session_store_conf_t  store;   /* .upstream set: endpoint on */
    ngx_flag_t                  pretty;
    ngx_http_session_jwt_conf_t jwt;
} ngx_http_session_loc_conf_t;


typedef struct {
    ngx_int_t                   jwt_cache_size;
    ngx_session_jwt_cache_t    *jwt_cache;  /* per worker process */
    size_t                      body_cache_size;
    ngx_session_cache_t        *body_cache; /* per worker process */
} ngx_http_session_main_conf_t;


/* the client's request */
typedef struct {
    ngx_str_t                   request_id;
    ngx_http_session_outcome_e  outcome;    /* also the status sent */

    /* what the store read found; NULL until it ended */
    ngx_http_session_store_result_t  *stored;

    /* the verified token */
    json_t                     *claims;
    ngx_str_t                   owner;      /* the owner claim's value */
    const char                 *jwt_error;  /* why a token was refused */
} ngx_http_session_ctx_t;


extern ngx_module_t  ngx_http_session_module;


/* ngx_http_session_jwt.c */
ngx_int_t ngx_http_session_jwt_access(ngx_http_request_t *r,
    ngx_http_session_loc_conf_t *slcf);
void ngx_http_session_jwt_create_conf(ngx_http_session_jwt_conf_t *jcf);
char *ngx_http_session_jwt_merge_conf(ngx_conf_t *cf,
    ngx_http_session_jwt_conf_t *prev, ngx_http_session_jwt_conf_t *conf);
char *ngx_http_session_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_session_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_session_jwt_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_session_jwt_audience(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_session_jwt_str_or_off(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_session_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_session_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
ngx_int_t ngx_http_session_jwt_error_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/* ngx_http_session_module.c */
ngx_http_session_ctx_t *ngx_http_session_get_ctx(ngx_http_request_t *r);


#endif /* _NGX_HTTP_SESSION_MODULE_H_INCLUDED_ */
