
/*
 * GET /api/session/result/:request_id — directives, configuration and the
 * content handler; the responses are ngx_http_session_response.c.
 */


#include "ngx_http_session_module.h"
#include "ngx_http_session_response.h"
#include "ngx_http_session_store.h"
#include "ngx_http_session_jwt.h"
#include "ngx_session_json.h"
#include "ngx_session_cache.h"

#include <jansson.h>

#include <ngx_sha1.h>


static ngx_int_t ngx_http_session_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_handler(ngx_http_request_t *r);
static void ngx_http_session_stored(ngx_http_request_t *r,
    ngx_http_session_store_result_t *result, void *data);
static void ngx_http_session_resume(ngx_http_request_t *r);
static void ngx_http_session_respond(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_request_id(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_http_session_send_found(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx);
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
      offsetof(ngx_http_session_loc_conf_t, store.key_prefix),
      NULL },

    { ngx_string("session_result_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, store.upstream.connect_timeout),
      NULL },

    { ngx_string("session_result_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, store.upstream.send_timeout),
      NULL },

    { ngx_string("session_result_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, store.upstream.read_timeout),
      NULL },

    { ngx_string("session_result_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, store.upstream.buffer_size),
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
      offsetof(ngx_http_session_loc_conf_t, owner_claim),
      NULL },

    { ngx_string("session_result_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_session_cache,
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

      ngx_http_null_variable
};


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


static ngx_str_t  ngx_http_session_etag = ngx_string("ETag");


/*
 * The method, in the access phase before the token (SPEC 3: 405 before
 * 401): this module's handler runs before ngx_http_session_jwt_module's,
 * see the module order in "config".  A refusal is answered here, in JSON,
 * and ends the phases.
 */

static ngx_int_t
ngx_http_session_access_handler(ngx_http_request_t *r)
{
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    if (slcf->store.upstream.upstream
        && !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
    {
        ngx_http_finalize_request(r, ngx_http_session_send_error(r,
                                                   &ngx_http_session_err_405));
        return NGX_DONE;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_session_handler(ngx_http_request_t *r)
{
    ngx_http_session_ctx_t       *ctx;
    ngx_http_session_loc_conf_t  *slcf;

    if (r != r->main) {
        /*
         * e.g. an SSI include: it would bypass the access phase (the store
         * read's own subrequest has a content handler of its own)
         */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "session_result does not serve subrequests");
        return NGX_HTTP_FORBIDDEN;
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

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return ngx_http_session_send_error(r, &ngx_http_session_err_body);
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    return ngx_http_session_store_read(r, &slcf->store, &ctx->request_id,
                                       ngx_http_session_stored, ctx);
}


/* the store read ended: answer once nginx runs the request again */

static void
ngx_http_session_stored(ngx_http_request_t *r,
    ngx_http_session_store_result_t *result, void *data)
{
    ngx_http_session_ctx_t *ctx = data;

    ctx->stored = result;
    ctx->outcome = result->outcome;

    r->write_event_handler = ngx_http_session_resume;
}


static void
ngx_http_session_resume(ngx_http_request_t *r)
{
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_session_respond(r);
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


/* the one place an outcome becomes a response */

static void
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
    ngx_str_t                    *claim;
    ngx_session_str_t            *owner;
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    if (slcf->owner_claim.len == 0) {
        return 1;
    }

    owner = &ctx->stored->data->fields[NGX_SESSION_OWNER];
    claim = ngx_http_session_jwt_owner(r);

    if (claim == NULL
        || owner->data == NULL
        || owner->len != claim->len
        || ngx_memcmp(owner->data, claim->data, owner->len) != 0)
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
        && ngx_session_cache_get(cache, &options, ctx->stored->raw, &cbody,
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

            ngx_session_cache_put(cache, &options, ctx->stored->raw, &cbody,
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

    rc = ngx_session_json_build(ctx->stored->data, ctx->request_id.data,
                                ctx->request_id.len, slcf->pretty,
                                ngx_http_session_palloc, r->pool, &res);

    if (rc != NGX_SESSION_OK) {
        if (res.error == NULL) {
            return NGX_ERROR;
        }

        if (res.field == NGX_SESSION_NFIELDS) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "invalid stored session \"%V{%V}\": stop %uz: %s",
                          &slcf->store.key_prefix, &ctx->request_id, res.stop,
                          res.error);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "invalid stored session \"%V{%V}\": "
                          "field \"%s\": %s",
                          &slcf->store.key_prefix, &ctx->request_id,
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

    status = &ctx->stored->data->fields[NGX_SESSION_STATUS];

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

    if (smcf->body_cache_size) {
        smcf->body_cache = ngx_session_cache_create(smcf->body_cache_size);

        /* the cache only saves work: without one, the worker still serves */

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

    smcf->body_cache_size = NGX_CONF_UNSET_SIZE;

    return smcf;
}


static char *
ngx_http_session_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_session_main_conf_t *smcf = conf;

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

    ngx_http_session_store_create_conf(&conf->store);

    /*
     * set by ngx_pcalloc():
     *
     *     conf->owner_claim = { 0, NULL };
     */

    conf->pretty = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_session_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_session_loc_conf_t *prev = parent;
    ngx_http_session_loc_conf_t *conf = child;

    ngx_http_session_store_merge_conf(&prev->store, &conf->store);

    ngx_conf_merge_value(conf->pretty, prev->pretty, 0);

    ngx_conf_merge_str_value(conf->owner_claim, prev->owner_claim, "");

    /* the endpoint itself is not inherited: only where it is named */

    if (conf->store.upstream.upstream
        && conf->owner_claim.len
        && ngx_http_session_jwt_require_owner(cf, &conf->owner_claim)
           == NGX_DECLINED)
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
    ngx_http_core_loc_conf_t  *clcf;

    if (slcf->store.upstream.upstream) {
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

    if (ngx_http_session_store_add_server(cf, &slcf->store, &value[1])
        != NGX_OK)
    {
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
