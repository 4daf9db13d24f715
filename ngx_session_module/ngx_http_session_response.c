
/*
 * The responses of the .so: every one is JSON, not to be stored by any
 * cache, and sent after the request body was discarded.
 */


#include "ngx_http_session_response.h"


static ngx_str_t  ngx_http_session_content_type =
    ngx_string("application/json");
static ngx_str_t  ngx_http_session_cache_control = ngx_string("Cache-Control");
static ngx_str_t  ngx_http_session_no_store = ngx_string("no-store");
static ngx_str_t  ngx_http_session_allow = ngx_string("Allow");
static ngx_str_t  ngx_http_session_get_head = ngx_string("GET, HEAD");


ngx_int_t
ngx_http_session_send_error(ngx_http_request_t *r,
    ngx_http_session_error_t *err)
{
    if (err->status == NGX_HTTP_NOT_ALLOWED
        && ngx_http_session_add_header(r, &ngx_http_session_allow,
                                       &ngx_http_session_get_head, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_session_send(r, err->status, err->body.data,
                                 err->body.len);
}


/* an error whose description is chosen at run time (the JWT refusals) */

ngx_int_t
ngx_http_session_send_error_text(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *error, ngx_str_t *description)
{
    size_t   len;
    u_char  *body, *p;

    len = sizeof("{\"error\":\"\",\"error_description\":\"\"}") - 1
          + error->len
          + description->len
          + ngx_escape_json(NULL, description->data, description->len);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(body, "{\"error\":\"%V\",\"error_description\":\"",
                    error);
    p = (u_char *) ngx_escape_json(p, description->data, description->len);
    p = ngx_cpymem(p, "\"}", 2);

    return ngx_http_session_send(r, status, body, p - body);
}


/*
 * Every response of the module: JSON, not to be stored by any cache.  A 304
 * set by the ETag check keeps its status and drops the body.
 */

ngx_int_t
ngx_http_session_send(ngx_http_request_t *r, ngx_uint_t status, u_char *body,
    size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    /*
     * A body left unread would be taken for the next request on the
     * connection: discard it, and answer no "Expect: 100-continue".
     */

    r->expect_tested = 1;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    if (ngx_http_session_add_header(r, &ngx_http_session_cache_control,
                                    &ngx_http_session_no_store, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_out.content_type = ngx_http_session_content_type;
    r->headers_out.content_type_len = ngx_http_session_content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->headers_out.status == NGX_HTTP_NOT_MODIFIED) {
        r->header_only = 1;
        ngx_http_clear_content_length(r);

    } else {
        r->headers_out.status = status;
        r->headers_out.content_length_n = len;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_session_add_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value, ngx_table_elt_t **out)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *name;
    h->value = *value;

    if (out) {
        *out = h;
    }

    return NGX_OK;
}


void *
ngx_http_session_palloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}
