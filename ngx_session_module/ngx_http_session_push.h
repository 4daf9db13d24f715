
/*
 * The push connection (SPEC 9): per worker process, one connection to the
 * store of each distinct session_result_pass server and key prefix that
 * needs one, outside the per-request upstream.  It asks Redis to report
 * every change of the session keys ("HELLO 3", "CLIENT TRACKING on BCAST
 * PREFIX <prefix>") and tells its listeners: a session changed, or
 * everything may have (a flush, the connection lost, the worker exiting).
 */

#ifndef _NGX_HTTP_SESSION_PUSH_H_INCLUDED_
#define _NGX_HTTP_SESSION_PUSH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct ngx_http_session_push_s  ngx_http_session_push_t;

/* id: the request_id of the session that changed; NULL: any may have */
typedef void (*ngx_http_session_push_changed_pt)(void *data, ngx_str_t *id);


/*
 * The channel of this store (the upstream and key prefix of a
 * session_result_pass location), created on first use; at configuration.
 */
ngx_http_session_push_t *ngx_http_session_push_channel(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf, ngx_str_t *prefix);

/* a listener of a channel (at most two: waits, fresh), at configuration */
ngx_int_t ngx_http_session_push_listen(ngx_http_session_push_t *ch,
    ngx_http_session_push_changed_pt changed, void *data);

/* the data given to ngx_http_session_push_listen() with changed, or NULL */
void *ngx_http_session_push_listener(ngx_http_session_push_t *ch,
    ngx_http_session_push_changed_pt changed);

/*
 * Changes are reported now, and have been since the connection epoch
 * *epoch began (changes before that are not known): 1, else 0.
 */
ngx_uint_t ngx_http_session_push_up(ngx_http_session_push_t *ch,
    ngx_uint_t *epoch);

/*
 * The connection is up, to the server at peer: changes of what that
 * server holds are reported, and of no other's: 1, else 0.
 */
ngx_uint_t ngx_http_session_push_watches(ngx_http_session_push_t *ch,
    ngx_addr_t *peer);

/*
 * Takes in what the store has sent already: a change Redis reported before
 * this call is known after it (one ioctl(FIONREAD) when nothing is
 * pending).
 */
void ngx_http_session_push_sync(ngx_http_session_push_t *ch);

extern ngx_module_t  ngx_http_session_push_module;


#endif /* _NGX_HTTP_SESSION_PUSH_H_INCLUDED_ */
