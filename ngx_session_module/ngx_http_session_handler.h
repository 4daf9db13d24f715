
/*
 * The endpoint's per-request driver, as its module file wires it: the
 * access-phase method check, the content handler, the variables.
 */

#ifndef _NGX_HTTP_SESSION_HANDLER_H_INCLUDED_
#define _NGX_HTTP_SESSION_HANDLER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_session_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_session_handler(ngx_http_request_t *r);

ngx_int_t ngx_http_session_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
ngx_int_t ngx_http_session_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#endif /* _NGX_HTTP_SESSION_HANDLER_H_INCLUDED_ */
