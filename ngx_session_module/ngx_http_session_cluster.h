
/*
 * The Redis Cluster balancer (SPEC 10): "session_result_cluster
 * [replicas];" in an upstream block.  The store tells it the session's id
 * before the upstream starts, the number of "+OK" replies its own commands
 * (ASKING, READONLY) put before the store's reply, and the redirections a
 * node answered with.
 */

#ifndef _NGX_HTTP_SESSION_CLUSTER_H_INCLUDED_
#define _NGX_HTTP_SESSION_CLUSTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


extern ngx_module_t  ngx_http_session_cluster_module;


/* the upstream block is a cluster's */
ngx_uint_t ngx_http_session_cluster_upstream(
    ngx_http_upstream_srv_conf_t *uscf);

/*
 * Before ngx_http_upstream_init(r): the key "prefix{id}" chooses the slot.
 * Nothing happens for an upstream that is not a cluster's.
 */
ngx_int_t ngx_http_session_cluster_key(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *uscf, ngx_str_t *prefix, ngx_str_t *id);

/* replies to skip ("+OK" each) before the store's own, in this attempt */
ngx_uint_t ngx_http_session_cluster_prefix(ngx_http_request_t *r);

/*
 * An error reply of this attempt, text without "-" and CRLF.  NGX_OK: a
 * redirection, the next attempt goes where it says (the caller returns
 * NGX_HTTP_UPSTREAM_INVALID_HEADER, nginx moves on); NGX_BUSY: a
 * redirection with no attempt left; NGX_AGAIN: the cluster is down (in
 * both, a fresh read a little later may succeed, else 503); NGX_DECLINED:
 * not a cluster, or not a redirection.
 */
ngx_int_t ngx_http_session_cluster_redirect(ngx_http_request_t *r,
    u_char *text, size_t len);


#endif /* _NGX_HTTP_SESSION_CLUSTER_H_INCLUDED_ */
