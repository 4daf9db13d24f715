
/*
 * The responses of the .so, for both of its modules: JSON bodies with
 * Cache-Control: no-store, the request body discarded first.  A leaf: it
 * calls nothing of the module's.
 */

#ifndef _NGX_HTTP_SESSION_RESPONSE_H_INCLUDED_
#define _NGX_HTTP_SESSION_RESPONSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* an error response whose body is fixed at compile time */
typedef struct {
    ngx_uint_t                  status;
    ngx_str_t                   body;
} ngx_http_session_error_t;


#define ngx_http_session_error(status, code, text)                            \
    { status, ngx_string("{\"error\":\"" code "\","                           \
                         "\"error_description\":\"" text "\"}") }


ngx_int_t ngx_http_session_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len);
ngx_int_t ngx_http_session_send_error(ngx_http_request_t *r,
    ngx_http_session_error_t *err);
ngx_int_t ngx_http_session_send_error_text(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *error, ngx_str_t *description);
ngx_int_t ngx_http_session_add_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value, ngx_table_elt_t **out);

/* the allocator handed to the pure parts: the request's pool */
void *ngx_http_session_palloc(void *pool, size_t size);


#endif /* _NGX_HTTP_SESSION_RESPONSE_H_INCLUDED_ */
