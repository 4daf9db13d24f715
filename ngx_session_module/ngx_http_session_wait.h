
/*
 * Requests waiting for a change of their session (SPEC 9), per worker: an
 * asynchronous leaf.  The driver starts a waiter before the store read,
 * parks the request when the read found the ETag the client has, and is
 * called back when it should read again: the session changed, the wait is
 * over, or changes can no longer be known (the push connection lost, the
 * worker exiting).
 */

#ifndef _NGX_HTTP_SESSION_WAIT_H_INCLUDED_
#define _NGX_HTTP_SESSION_WAIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct ngx_http_session_waits_s  ngx_http_session_waits_t;
typedef struct ngx_http_session_wait_s   ngx_http_session_wait_t;

/* read the session again; called from an event handler of its own */
typedef void (*ngx_http_session_wait_done_pt)(ngx_http_request_t *r,
    void *data);


/* the waiting place of a store (upstream and key prefix), at configuration */
ngx_http_session_waits_t *ngx_http_session_wait_conf(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf, ngx_str_t *prefix);

/* the seconds of "Prefer: wait=N" (RFC 7240), 0 without one */
ngx_msec_t ngx_http_session_wait_prefer(ngx_http_request_t *r);

/*
 * Before the store read of r: a waiter on the session id (copied), for at
 * most timeout ms from now.  NGX_OK with *w; NGX_DECLINED: no waiting
 * now (changes are not being reported); NGX_ERROR.
 */
ngx_int_t ngx_http_session_wait_start(ngx_http_request_t *r,
    ngx_http_session_waits_t *waits, ngx_str_t *id, ngx_msec_t timeout,
    ngx_http_session_wait_done_pt done, void *data,
    ngx_http_session_wait_t **w);

/*
 * The read found what the client has: NGX_OK, r is held (the caller
 * finalizes it with NGX_DONE) and done is called when it should read
 * again; NGX_DECLINED: answer now (the wait is over, or changes are no
 * longer known, or the worker exits).
 */
ngx_int_t ngx_http_session_wait_park(ngx_http_session_wait_t *w);

/*
 * The request is answered now: 1 if it was held (the answer says
 * "Preference-Applied: wait").
 */
ngx_uint_t ngx_http_session_wait_answer(ngx_http_session_wait_t *w);


#endif /* _NGX_HTTP_SESSION_WAIT_H_INCLUDED_ */
