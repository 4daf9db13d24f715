
/*
 * ngx_http_session_jwt_module, as the other module of the .so sees it: the
 * verified token of a request, and one configuration hook.
 */

#ifndef _NGX_HTTP_SESSION_JWT_H_INCLUDED_
#define _NGX_HTTP_SESSION_JWT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


extern ngx_module_t  ngx_http_session_jwt_module;


/*
 * The value of the owner claim of the request's verified token (a string
 * as is, an integer in decimal); NULL when none was established.
 */
ngx_str_t *ngx_http_session_jwt_owner(ngx_http_request_t *r);

/*
 * At configuration time, from a location's merge: the access phase of
 * that location refuses, with 403 insufficient_scope, a token without a
 * usable claim "name", and keeps its value for ngx_http_session_jwt_owner().
 * NGX_DECLINED: session_jwt is off in the location.
 */
ngx_int_t ngx_http_session_jwt_require_owner(ngx_conf_t *cf,
    ngx_str_t *name);

/* a string directive whose "off" switches it off in an inner level */
char *ngx_http_session_jwt_str_or_off(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_SESSION_JWT_H_INCLUDED_ */
