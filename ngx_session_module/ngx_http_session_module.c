
/*
 * GET /api/session/result/:request_id — directives, configuration, the
 * content handler, and the JSON responses.
 */


#include "ngx_http_session_module.h"
#include "ngx_session_json.h"
#include "ngx_session_cache.h"

#include <ngx_sha1.h>


/* an error response of this module: its body is fixed at compile time */
typedef struct {
    ngx_uint_t                  status;
    ngx_str_t                   body;
} ngx_http_session_error_t;


static ngx_int_t ngx_http_session_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_handler(ngx_http_request_t *r);
static void ngx_http_session_body_read(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_request_id(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_http_session_send_found(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx);
static ngx_int_t ngx_http_session_send_error(ngx_http_request_t *r,
    ngx_http_session_error_t *err);
static ngx_int_t ngx_http_session_send(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);
static ngx_int_t ngx_http_session_render(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_str_t *body, ngx_str_t *etag);
static ngx_int_t ngx_http_session_make_etag(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *etag);
static ngx_int_t ngx_http_session_set_etag(ngx_http_request_t *r,
    ngx_str_t *etag);
static ngx_int_t ngx_http_session_owner_matches(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx);

static ngx_int_t ngx_http_session_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_session_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_int_t ngx_http_session_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_session_init_process(ngx_cycle_t *cycle);
static void ngx_http_session_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_session_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_session_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_session_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_session_init(ngx_conf_t *cf);
static void *ngx_http_session_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_session_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_session_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_session_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_session_commands[] = {

    { ngx_string("session_result_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_session_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_result_key_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, key_prefix),
      NULL },

    { ngx_string("session_result_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, upstream.connect_timeout),
      NULL },

    { ngx_string("session_result_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, upstream.send_timeout),
      NULL },

    { ngx_string("session_result_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, upstream.read_timeout),
      NULL },

    { ngx_string("session_result_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, upstream.buffer_size),
      NULL },

    { ngx_string("session_result_pretty"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, pretty),
      NULL },

    { ngx_string("session_result_owner_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_session_jwt_str_or_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, jwt.owner_claim),
      NULL },

    { ngx_string("session_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_session_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_session_jwt_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_algorithms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_session_jwt_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_session_jwt_str_or_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, jwt.issuer),
      NULL },

    { ngx_string("session_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_session_jwt_audience,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, jwt.leeway),
      NULL },

    { ngx_string("session_jwt_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, jwt.token),
      NULL },

    { ngx_string("session_result_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_session_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_session_jwt_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_session_module_ctx = {
    ngx_http_session_add_variables,        /* preconfiguration */
    ngx_http_session_init,                 /* postconfiguration */

    ngx_http_session_create_main_conf,     /* create main configuration */
    ngx_http_session_init_main_conf,       /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_session_create_loc_conf,      /* create location configuration */
    ngx_http_session_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_session_module = {
    NGX_MODULE_V1,
    &ngx_http_session_module_ctx,          /* module context */
    ngx_http_session_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_session_init_module,          /* init module */
    ngx_http_session_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_session_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_session_vars[] = {

    { ngx_string("session_result_request_id"), NULL,
      ngx_http_session_request_id_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_result_status"), NULL,
      ngx_http_session_status_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_jwt_claim_"), NULL,
      ngx_http_session_jwt_claim_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("session_jwt_error"), NULL,
      ngx_http_session_jwt_error_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


#define ngx_http_session_error(status, code, text)                            \
    { status, ngx_string("{\"error\":\"" code "\","                           \
                         "\"error_description\":\"" text "\"}") }

static ngx_http_session_error_t  ngx_http_session_err_400 =
    ngx_http_session_error(NGX_HTTP_BAD_REQUEST, "invalid_request",
                           "malformed request_id");
static ngx_http_session_error_t  ngx_http_session_err_body =
    ngx_http_session_error(NGX_HTTP_BAD_REQUEST, "invalid_request",
                           "a request body is not allowed");
static ngx_http_session_error_t  ngx_http_session_err_404 =
    ngx_http_session_error(NGX_HTTP_NOT_FOUND, "not_found",
                           "no such session");
static ngx_http_session_error_t  ngx_http_session_err_405 =
    ngx_http_session_error(NGX_HTTP_NOT_ALLOWED, "method_not_allowed",
                           "use GET or HEAD");
static ngx_http_session_error_t  ngx_http_session_err_500 =
    ngx_http_session_error(NGX_HTTP_INTERNAL_SERVER_ERROR, "server_error",
                           "internal error");
static ngx_http_session_error_t  ngx_http_session_err_502 =
    ngx_http_session_error(NGX_HTTP_BAD_GATEWAY, "store_error",
                           "the session store failed");
static ngx_http_session_error_t  ngx_http_session_err_503 =
    ngx_http_session_error(NGX_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                           "the session store is unavailable");
static ngx_http_session_error_t  ngx_http_session_err_504 =
    ngx_http_session_error(NGX_HTTP_GATEWAY_TIME_OUT, "store_timeout",
                           "the session store timed out");


static ngx_str_t  ngx_http_session_content_type =
    ngx_string("application/json");
static ngx_str_t  ngx_http_session_cache_control = ngx_string("Cache-Control");
static ngx_str_t  ngx_http_session_no_store = ngx_string("no-store");
static ngx_str_t  ngx_http_session_allow = ngx_string("Allow");
static ngx_str_t  ngx_http_session_get_head = ngx_string("GET, HEAD");
static ngx_str_t  ngx_http_session_etag = ngx_string("ETag");


/*
 * The access phase checks the method first (SPEC 3: 405 before 401), then
 * the token.  A refusal is answered here, in JSON, and ends the phases.
 */

static ngx_int_t
ngx_http_session_access_handler(ngx_http_request_t *r)
{
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    if (slcf->upstream.upstream
        && !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
    {
        ngx_http_finalize_request(r, ngx_http_session_send_error(r,
                                                   &ngx_http_session_err_405));
        return NGX_DONE;
    }

    if (!slcf->jwt.enabled) {
        return NGX_DECLINED;
    }

    return ngx_http_session_jwt_access(r, slcf);
}


static ngx_int_t
ngx_http_session_handler(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    ngx_int_t                rc;
#endif
    ngx_http_session_ctx_t  *ctx;

    if (r != r->main) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

        if (ctx == NULL || ctx->fetch != r) {
            /* e.g. an SSI include: it would bypass the access phase */
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "session_result does not serve subrequests");
            return NGX_HTTP_FORBIDDEN;
        }

        return ngx_http_session_fetch_start(r);
    }

    /* the method was checked in the access phase */

    ctx = ngx_http_session_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_session_request_id(r, &ctx->request_id) != NGX_OK) {
        return ngx_http_session_send_error(r, &ngx_http_session_err_400);
    }

    /*
     * A body on GET has no meaning here, and one still arriving while the
     * store is read would be read by nobody: refuse it, as HTTP allows.
     */

#if (NGX_HTTP_V2)

    /*
     * HTTP/2 marks "chunked" every request whose HEADERS frame lacks
     * END_STREAM and that has no content-length: whether a body comes is
     * known only at END_STREAM.  Read it (nginx bounds it by
     * client_max_body_size) and decide then: an empty DATA frame is no body.
     */

    if (r->stream && r->headers_in.chunked) {
        rc = ngx_http_read_client_request_body(r, ngx_http_session_body_read);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

#endif

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return ngx_http_session_send_error(r, &ngx_http_session_err_body);
    }

    return ngx_http_session_fetch(r, ctx);
}


/* the whole body has been read: nginx has set content_length_n to its size */

static void
ngx_http_session_body_read(ngx_http_request_t *r)
{
    ngx_http_session_ctx_t  *ctx;

    if (r->headers_in.content_length_n > 0) {
        ngx_http_finalize_request(r,
            ngx_http_session_send_error(r, &ngx_http_session_err_body));
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

    ngx_http_finalize_request(r, ngx_http_session_fetch(r, ctx));
}


/* the URI after the location's prefix, already URL-decoded by nginx */

static ngx_int_t
ngx_http_session_request_id(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                    *p;
    size_t                     len;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data + clcf->name.len;
    len = (r->uri.len > clcf->name.len) ? r->uri.len - clcf->name.len : 0;

    if (!ngx_session_request_id_valid(p, len)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session result: malformed request_id");
        return NGX_DECLINED;
    }

    id->data = p;
    id->len = len;

    return NGX_OK;
}


/* the store subrequest is done: answer the client */

void
ngx_http_session_respond(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_session_ctx_t    *ctx;
    ngx_http_session_error_t  *err;

    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

    if (ctx->outcome == NGX_HTTP_SESSION_FOUND
        && !ngx_http_session_owner_matches(r, ctx))
    {
        /* another tenant's session is, to this caller, no session */
        ctx->outcome = NGX_HTTP_SESSION_NOT_FOUND;
    }

    switch (ctx->outcome) {

    case NGX_HTTP_SESSION_FOUND:
        ngx_http_finalize_request(r, ngx_http_session_send_found(r, ctx));
        return;

    case NGX_HTTP_SESSION_NOT_FOUND:
        err = &ngx_http_session_err_404;
        break;

    case NGX_HTTP_SESSION_STORE_ERROR:
        err = &ngx_http_session_err_502;
        break;

    case NGX_HTTP_SESSION_STORE_UNAVAILABLE:
        err = &ngx_http_session_err_503;
        break;

    case NGX_HTTP_SESSION_STORE_TIMEOUT:
        err = &ngx_http_session_err_504;
        break;

    default: /* NGX_HTTP_SESSION_INTERNAL_ERROR, NGX_HTTP_SESSION_PENDING */
        err = &ngx_http_session_err_500;
        break;
    }

    rc = ngx_http_session_send_error(r, err);

    ngx_http_finalize_request(r, rc);
}


/* byte for byte (SPEC 3.2); fails closed when no owner was established */

static ngx_int_t
ngx_http_session_owner_matches(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx)
{
    ngx_session_str_t            *owner;
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    if (slcf->jwt.owner_claim.len == 0) {
        return 1;
    }

    owner = &ctx->data.fields[NGX_SESSION_OWNER];

    if (ctx->owner.data == NULL
        || owner->data == NULL
        || owner->len != ctx->owner.len
        || ngx_memcmp(owner->data, ctx->owner.data, owner->len) != 0)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "session result: owner does not match");
        return 0;
    }

    return 1;
}


/*
 * The body depends on the store's reply, the request_id of the URL and the
 * pretty flag only: a reply seen before is answered from the worker's cache
 * of rendered bodies, copied, since an entry may be replaced before the
 * response is sent.
 */

static ngx_int_t
ngx_http_session_send_found(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx)
{
    u_char                         key[1 + NGX_SESSION_REQUEST_ID_MAX];
    ngx_int_t                      rc;
    ngx_str_t                      body, etag;
    ngx_session_str_t              options, cbody, cetag;
    ngx_session_cache_t           *cache;
    ngx_http_session_loc_conf_t   *slcf;
    ngx_http_session_main_conf_t  *smcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    cache = smcf->body_cache;

    /* checked before the fetch; checked again, for the stack's sake */
    if (ctx->request_id.len > NGX_SESSION_REQUEST_ID_MAX) {
        return NGX_ERROR;
    }

    key[0] = slcf->pretty ? '1' : '0';
    ngx_memcpy(key + 1, ctx->request_id.data, ctx->request_id.len);

    options.data = key;
    options.len = 1 + ctx->request_id.len;

    if (cache
        && ngx_session_cache_get(cache, &options, &ctx->reply_raw, &cbody,
                                 &cetag)
           == NGX_SESSION_OK)
    {
        body.data = ngx_pnalloc(r->pool, cbody.len + cetag.len);
        if (body.data == NULL) {
            return NGX_ERROR;
        }

        body.len = cbody.len;
        ngx_memcpy(body.data, cbody.data, cbody.len);

        etag.data = body.data + body.len;
        etag.len = cetag.len;
        ngx_memcpy(etag.data, cetag.data, cetag.len);

    } else {
        rc = ngx_http_session_render(r, ctx, &body, &etag);

        if (rc == NGX_DECLINED) {
            /* nor is there a session status to show in a variable */
            ctx->outcome = NGX_HTTP_SESSION_STORE_ERROR;
            return ngx_http_session_send_error(r, &ngx_http_session_err_502);
        }

        if (rc != NGX_OK) {
            return rc;
        }

        if (cache) {
            cbody.data = body.data;
            cbody.len = body.len;
            cetag.data = etag.data;
            cetag.len = etag.len;

            ngx_session_cache_put(cache, &options, &ctx->reply_raw, &cbody,
                                  &cetag);
        }
    }

    if (ngx_http_session_set_etag(r, &etag) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_session_send(r, NGX_HTTP_OK, body.data, body.len);
}


/*
 * NGX_OK with the body and its ETag; NGX_DECLINED, logged, for stored data
 * that breaks SPEC 3.2.
 */

static ngx_int_t
ngx_http_session_render(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    ngx_str_t *body, ngx_str_t *etag)
{
    ngx_int_t                     rc;
    ngx_session_json_result_t     res;
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    rc = ngx_session_json_build(&ctx->data, ctx->request_id.data,
                                ctx->request_id.len, slcf->pretty,
                                ngx_http_session_palloc, r->pool, &res);

    if (rc != NGX_SESSION_OK) {
        if (res.error == NULL) {
            return NGX_ERROR;
        }

        if (res.field == NGX_SESSION_NFIELDS) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "invalid stored session \"%V{%V}\": stop %uz: %s",
                          &slcf->key_prefix, &ctx->request_id, res.stop,
                          res.error);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "invalid stored session \"%V{%V}\": "
                          "field \"%s\": %s",
                          &slcf->key_prefix, &ctx->request_id,
                          ngx_session_field_name(res.field), res.error);
        }

        return NGX_DECLINED;
    }

    body->data = res.data;
    body->len = res.len;

    return ngx_http_session_make_etag(r, body, etag);
}


/* a strong ETag: base64url of the body's SHA-1 */

static ngx_int_t
ngx_http_session_make_etag(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *etag)
{
    u_char      digest[20];
    ngx_str_t   src, b64;
    ngx_sha1_t  sha1;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, body->data, body->len);
    ngx_sha1_final(digest, &sha1);

    etag->data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(20) + 2);
    if (etag->data == NULL) {
        return NGX_ERROR;
    }

    src.data = digest;
    src.len = sizeof(digest);
    b64.data = etag->data + 1;

    ngx_encode_base64url(&b64, &src);

    etag->data[0] = '"';
    etag->data[b64.len + 1] = '"';
    etag->len = b64.len + 2;

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_set_etag(ngx_http_request_t *r, ngx_str_t *etag)
{
    ngx_table_elt_t  *h, *inm;

    if (ngx_http_session_add_header(r, &ngx_http_session_etag, etag, &h)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_out.etag = h;

    /* answered here: the stock filter would turn If-Match into an HTML 412 */
    r->disable_not_modified = 1;

    inm = r->headers_in.if_none_match;

    if (inm
        && ngx_session_etag_match(inm->value.data, inm->value.len,
                                  etag->data, etag->len))
    {
        r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
    }

    return NGX_OK;
}


static ngx_int_t
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

static ngx_int_t
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


ngx_http_session_ctx_t *
ngx_http_session_get_ctx(ngx_http_request_t *r)
{
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_session_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_session_module);
    }

    return ctx;
}


void *
ngx_http_session_palloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


static ngx_int_t
ngx_http_session_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_session_module);

    if (ctx == NULL || ctx->request_id.data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->request_id.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = ctx->request_id.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_session_str_t       *status;
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_session_module);

    if (ctx == NULL || ctx->outcome != NGX_HTTP_SESSION_FOUND) {
        v->not_found = 1;
        return NGX_OK;
    }

    status = &ctx->data.fields[NGX_SESSION_STATUS];

    v->len = status->data ? status->len : 0;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) status->data;

    return NGX_OK;
}


/*
 * jansson seeds its hash function from /dev/urandom on first use: do it
 * while the configuration is read, not in a worker serving a request.
 */

static ngx_int_t
ngx_http_session_init_module(ngx_cycle_t *cycle)
{
    json_object_seed(0);

    return NGX_OK;
}


/* the cache of verified tokens is per worker: no locks, no sharing */

static ngx_int_t
ngx_http_session_init_process(ngx_cycle_t *cycle)
{
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_session_module);

    if (smcf == NULL) {
        return NGX_OK;
    }

    if (smcf->jwt_cache_size) {
        smcf->jwt_cache = ngx_session_jwt_cache_create(smcf->jwt_cache_size);

        /* the caches only save work: without one, the worker still serves */

        if (smcf->jwt_cache == NULL) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "session jwt: cannot allocate the token cache");
        }
    }

    if (smcf->body_cache_size) {
        smcf->body_cache = ngx_session_cache_create(smcf->body_cache_size);

        if (smcf->body_cache == NULL) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "session result: cannot allocate the body cache");
        }
    }

    return NGX_OK;
}


static void
ngx_http_session_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_session_module);

    if (smcf == NULL) {
        return;
    }

    if (smcf->jwt_cache) {
        ngx_session_jwt_cache_free(smcf->jwt_cache);
        smcf->jwt_cache = NULL;
    }

    if (smcf->body_cache) {
        ngx_session_cache_free(smcf->body_cache);
        smcf->body_cache = NULL;
    }
}


static ngx_int_t
ngx_http_session_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_session_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_session_access_handler;

    return NGX_OK;
}


static void *
ngx_http_session_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    smcf->jwt_cache_size = NGX_CONF_UNSET;
    smcf->body_cache_size = NGX_CONF_UNSET_SIZE;

    return smcf;
}


static char *
ngx_http_session_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_session_main_conf_t *smcf = conf;

    /* 4-way sets: room for a few thousand clients without thrashing */
    ngx_conf_init_value(smcf->jwt_cache_size, 8192);
    ngx_conf_init_size_value(smcf->body_cache_size, 8 * 1024 * 1024);

    return NGX_CONF_OK;
}


static void *
ngx_http_session_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_session_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream.upstream = NULL;
     *     conf->key_prefix = { 0, NULL };
     */

    conf->upstream.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.send_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.buffer_size = NGX_CONF_UNSET_SIZE;
    conf->pretty = NGX_CONF_UNSET;

    ngx_http_session_jwt_create_conf(&conf->jwt);

    /*
     * Fixed upstream settings: the reply is parsed whole in memory and
     * never passed on; only connection failures and timeouts move on to
     * the next server (a server that answered badly is not retried).
     */

    conf->upstream.local = NULL;
    conf->upstream.socket_keepalive = 0;
    conf->upstream.next_upstream = NGX_CONF_BITMASK_SET
                                   |NGX_HTTP_UPSTREAM_FT_ERROR
                                   |NGX_HTTP_UPSTREAM_FT_TIMEOUT;
    conf->upstream.next_upstream_tries = 0;
    conf->upstream.next_upstream_timeout = 0;
    conf->upstream.buffering = 0;
    conf->upstream.ignore_client_abort = 0;
    conf->upstream.intercept_errors = 0;
    conf->upstream.intercept_404 = 0;
    conf->upstream.pass_request_headers = 0;
    conf->upstream.pass_request_body = 0;

    return conf;
}


static char *
ngx_http_session_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_session_loc_conf_t *prev = parent;
    ngx_http_session_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_msec_value(conf->upstream.connect_timeout,
                              prev->upstream.connect_timeout, 1000);

    ngx_conf_merge_msec_value(conf->upstream.send_timeout,
                              prev->upstream.send_timeout, 1000);

    ngx_conf_merge_msec_value(conf->upstream.read_timeout,
                              prev->upstream.read_timeout, 1000);

    ngx_conf_merge_size_value(conf->upstream.buffer_size,
                              prev->upstream.buffer_size, 64 * 1024);

    ngx_conf_merge_str_value(conf->key_prefix, prev->key_prefix, "session:");

    ngx_conf_merge_value(conf->pretty, prev->pretty, 0);

    if (ngx_http_session_jwt_merge_conf(cf, &prev->jwt, &conf->jwt)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the endpoint itself is not inherited: only where it is named */

    if (conf->jwt.enabled) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        /* a refusal is sent at once, as JSON: no other module may grant */

        if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"session_jwt\" cannot be used with "
                               "\"satisfy any\" (location \"%V\")",
                               &clcf->name);
            return NGX_CONF_ERROR;
        }
    }

    if (conf->upstream.upstream
        && conf->jwt.owner_claim.len
        && !conf->jwt.enabled)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_result_owner_claim\" needs "
                           "\"session_jwt\" in the same location");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_session_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_loc_conf_t *slcf = conf;

    ngx_str_t                 *value;
    ngx_url_t                  u;
    ngx_http_core_loc_conf_t  *clcf;

    if (slcf->upstream.upstream) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the request_id is the URI after the prefix, so a prefix is needed */

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
        || clcf->exact_match
        || clcf->name.len == 0
        || clcf->name.data[clcf->name.len - 1] != '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_result_pass\" needs a prefix location "
                           "ending in \"/\", such as "
                           "\"location /api/session/result/\"");
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = 6379;
    u.no_resolve = 1;

    slcf->upstream.upstream = ngx_http_upstream_add(cf, &u, 0);
    if (slcf->upstream.upstream == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_http_session_handler;

    return NGX_CONF_OK;
}


/* session_result_cache size | off */

static char *
ngx_http_session_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_main_conf_t *smcf = conf;

    ngx_str_t  *value;

    if (smcf->body_cache_size != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        smcf->body_cache_size = 0;
        return NGX_CONF_OK;
    }

    smcf->body_cache_size = ngx_parse_size(&value[1]);

    if (smcf->body_cache_size == (size_t) NGX_ERROR
        || smcf->body_cache_size < 64 * 1024)
    {
        return "takes a size of 64k or more, or \"off\"";
    }

    return NGX_CONF_OK;
}
