
/*
 * ngx_http_session_metrics_module: the counters of SPEC 8, per worker slot
 * in a shared memory zone, and the handler of session_result_metrics.  A
 * leaf: the other files call the functions below, one call per event, and
 * this file calls none of theirs.
 */

#ifndef _NGX_HTTP_SESSION_METRICS_H_INCLUDED_
#define _NGX_HTTP_SESSION_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* ngx_http_session_metrics_cache(): which cache was looked up */
#define NGX_HTTP_SESSION_METRICS_BODY_CACHE   0
#define NGX_HTTP_SESSION_METRICS_TOKEN_CACHE  1
#define NGX_HTTP_SESSION_METRICS_FRESH        2   /* the fresh index */

/*
 * ngx_http_session_metrics_refusal(): the reasons of the pure verifier
 * (ngx_session_jwt_reason_e), and one of the access phase's own: a valid
 * token without a usable owner claim (403)
 */
#define NGX_HTTP_SESSION_METRICS_OWNER_CLAIM  ((ngx_uint_t) -1)


extern ngx_module_t  ngx_http_session_metrics_module;


/*
 * From session_result_pass, at configuration time: the responses of this
 * location are counted in session_result_requests_total, at the log phase.
 */
void ngx_http_session_metrics_endpoint(ngx_conf_t *cf);

/* a token refused by the access phase (401, 403) */
void ngx_http_session_metrics_refusal(ngx_http_request_t *r,
    ngx_uint_t reason);

/*
 * The store read's subrequest was created; it ended with outcome (an
 * ngx_http_session_outcome_e): the outcome and the time between the two.
 */
void ngx_http_session_metrics_store_start(ngx_http_request_t *sr);
void ngx_http_session_metrics_store_end(ngx_http_request_t *sr,
    ngx_uint_t outcome);

void ngx_http_session_metrics_cache(ngx_http_request_t *r, ngx_uint_t cache,
    ngx_uint_t hit);

/* a fetch of a key set ended (SPEC 7) */
void ngx_http_session_metrics_key_fetch(ngx_http_request_t *r,
    ngx_uint_t ok);

/* a request starts (+1) or stops (-1) waiting for a change (SPEC 9) */
void ngx_http_session_metrics_waiting(ngx_http_request_t *r,
    ngx_int_t delta);


#endif /* _NGX_HTTP_SESSION_METRICS_H_INCLUDED_ */
