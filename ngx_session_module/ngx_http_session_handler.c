
/*
 * The driver of a client's request to the endpoint: the method check of
 * the access phase, the content handler, the request's state, the store
 * read it starts and where that read returns, the one mapping from outcome
 * to response, the ETag, and the $session_result_* variables.
 */


#include "ngx_http_session_module.h"
#include "ngx_http_session_handler.h"
#include "ngx_http_session_response.h"
#include "ngx_http_session_store.h"
#include "ngx_http_session_jwt.h"
#include "ngx_http_session_metrics.h"
#include "ngx_http_session_wait.h"
#include "ngx_http_session_fresh.h"
#include "ngx_session_json.h"
#include "ngx_session_cache.h"
#include "ngx_http_session_zone.h"

#include <ngx_sha1.h>


/* the client's request */
typedef struct {
    ngx_str_t                         request_id;
    ngx_http_session_outcome_e        outcome;  /* also the status sent */

    /* what the store read found; NULL until it ended */
    ngx_http_session_store_result_t  *stored;

    ngx_http_session_wait_t          *wait;     /* NULL: answered at once */
    unsigned                          wait_asked:1;

    ngx_http_session_fresh_ticket_t   ticket;   /* of the store read */

    /* the body caches' key for it: a digest of what the body is made of */
    u_char                            key[NGX_HTTP_SESSION_ZONE_KEY];
    unsigned                          keyed:1;
} ngx_http_session_ctx_t;


/* the digest's input on its way to SHA-256, on the stack */
#define NGX_HTTP_SESSION_DIGEST_BATCH  4096

typedef struct {
    ngx_http_session_hash_t        *sha;
    ngx_int_t                         rc;       /* the first failure */
    u_char                           *last;
    u_char                            buf[NGX_HTTP_SESSION_DIGEST_BATCH];
} ngx_http_session_digest_t;


static void ngx_http_session_stored(ngx_http_request_t *r,
    ngx_http_session_store_result_t *result, void *data);
static void ngx_http_session_resume(ngx_http_request_t *r);
static void ngx_http_session_respond(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_request_id(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_http_session_send_found(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx);
static ngx_int_t ngx_http_session_digest(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_session_str_t *options);
static ngx_inline void ngx_http_session_digest_add(
    ngx_http_session_digest_t *d, const u_char *data, size_t len);
static void ngx_http_session_digest_flush(ngx_http_session_digest_t *d);
static ngx_int_t ngx_http_session_cache_get(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_session_str_t *options, ngx_str_t *body,
    ngx_str_t *etag);
static ngx_int_t ngx_http_session_shared_get(ngx_http_request_t *r,
    u_char *key, ngx_str_t *body, ngx_str_t *etag);
static void ngx_http_session_cache_put(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_session_str_t *options, ngx_str_t *body,
    ngx_str_t *etag);
static ngx_int_t ngx_http_session_render(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_str_t *body, ngx_str_t *etag);
static ngx_int_t ngx_http_session_make_etag(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *etag);
static ngx_int_t ngx_http_session_set_etag(ngx_http_request_t *r,
    ngx_str_t *etag);
static ngx_int_t ngx_http_session_read(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx);
#if (NGX_HTTP_V2)
static void ngx_http_session_body_read(ngx_http_request_t *r);
#endif
static ngx_uint_t ngx_http_session_printable(ngx_session_str_t *s);
static ngx_http_session_ctx_t *ngx_http_session_get_ctx(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_session_wait_begin(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx);
static ngx_int_t ngx_http_session_hold(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_str_t *etag);
static void ngx_http_session_reread(ngx_http_request_t *r, void *data);
static ngx_int_t ngx_http_session_fresh(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_str_t *owner);
static ngx_int_t ngx_http_session_send_body(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_str_t *body, ngx_str_t *etag);
static void ngx_http_session_options(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, u_char *key, ngx_str_t *options);


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
static ngx_str_t  ngx_http_session_applied = ngx_string("Preference-Applied");
static ngx_str_t  ngx_http_session_wait = ngx_string("wait");


/* the longest stored value a variable shows */
#define NGX_HTTP_SESSION_VAR_MAX  64


/*
 * The method, in the access phase before the token (SPEC 3: 405 before
 * 401): this module's handler runs before ngx_http_session_jwt_module's,
 * see the module order in "config".  A refusal is answered here, in JSON,
 * and ends the phases.
 */

ngx_int_t
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


ngx_int_t
ngx_http_session_handler(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    ngx_int_t                rc;
#endif
    ngx_http_session_ctx_t  *ctx;

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

#if (NGX_HTTP_V2)

    /*
     * HTTP/2 marks "chunked" every request whose HEADERS frame lacks
     * END_STREAM and that has no content-length: whether a body comes is
     * known only at END_STREAM.  Read it (nginx bounds it by
     * client_max_body_size) and decide then: an empty DATA frame is no body.
     */

    if (r->stream && r->headers_in.chunked) {
        rc = ngx_http_read_client_request_body(r, ngx_http_session_body_read);

        /* nginx's own failure (memory, a temp file) is no refused body */

        if (rc >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
            return ngx_http_session_send_error(r, &ngx_http_session_err_500);
        }

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return ngx_http_session_send_error(r, &ngx_http_session_err_body);
        }

        return NGX_DONE;
    }

#endif

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return ngx_http_session_send_error(r, &ngx_http_session_err_body);
    }

    return ngx_http_session_read(r, ctx);
}


#if (NGX_HTTP_V2)

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

    ngx_http_finalize_request(r, ngx_http_session_read(r, ctx));
}

#endif


/*
 * With an owner claim the store is asked for the session of this caller's
 * owner value only: ownership is decided there, before the data is read.
 */

static ngx_int_t
ngx_http_session_read(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_str_t                    *owner;
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    if (!ctx->wait_asked) {
        ctx->wait_asked = 1;

        if (ngx_http_session_wait_begin(r, ctx) != NGX_OK) {
            ctx->outcome = NGX_HTTP_SESSION_INTERNAL_ERROR;
            return ngx_http_session_send_error(r, &ngx_http_session_err_500);
        }
    }

    owner = NULL;

    if (slcf->owner_claim.len) {
        owner = ngx_http_session_jwt_owner(r);

        if (owner == NULL) {
            /* the access phase lets no such request through: fail closed */
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "session result: no owner value for this request");
            ctx->outcome = NGX_HTTP_SESSION_NOT_FOUND;
            return ngx_http_session_send_error(r, &ngx_http_session_err_404);
        }
    }

    if (slcf->fresh) {
        rc = ngx_http_session_fresh(r, ctx, owner);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    /* a body that may be kept needs its TTL, read with it */

    return ngx_http_session_store_read(r, &slcf->store, &ctx->request_id,
                                       owner, ctx->ticket.epoch != 0,
                                       ngx_http_session_stored, ctx);
}


/*
 * While the push connection reports every change, a body rendered before
 * is current: answered without the store, the owner compared with the
 * session's as the store read would.  NGX_DECLINED: read the store, with
 * a ticket to keep what it reads.
 */

static ngx_int_t
ngx_http_session_fresh(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    ngx_str_t *owner)
{
    u_char                            key[1 + NGX_SESSION_REQUEST_ID_MAX];
    ngx_int_t                         rc;
    ngx_str_t                         options;
    ngx_session_data_t               *data;
    ngx_http_session_fresh_hit_t      hit;
    ngx_http_session_loc_conf_t      *slcf;
    ngx_http_session_store_result_t  *stored;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    ngx_http_session_options(r, ctx, key, &options);

    rc = ngx_http_session_fresh_get(r, slcf->fresh, &options, owner, &hit);

    /* the body kept once per machine: found there by its key, or evicted */

    if (rc == NGX_OK && hit.ref) {
        rc = ngx_http_session_shared_get(r, hit.ref, &hit.body, &hit.etag);

        if (rc == NGX_DECLINED) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "session result: fresh index hit, its body "
                           "evicted from the shared cache: a read");
        }
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_session_metrics_cache(r, NGX_HTTP_SESSION_METRICS_FRESH,
                                   rc == NGX_OK);

    if (rc == NGX_DECLINED) {
        ngx_http_session_fresh_ticket(slcf->fresh, &ctx->ticket);
        return NGX_DECLINED;
    }

    /* to SPEC 8 and the logs, one body cache; this hit saved the read too */
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "session result: body cache hit, no store read");
    ngx_http_session_metrics_cache(r, NGX_HTTP_SESSION_METRICS_BODY_CACHE, 1);

    /* what $session_result_status shows */

    stored = ngx_pcalloc(r->pool, sizeof(ngx_http_session_store_result_t)
                                  + sizeof(ngx_session_data_t));
    if (stored == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    data = (ngx_session_data_t *) (stored + 1);
    data->fields[NGX_SESSION_STATUS].data = hit.status.data;
    data->fields[NGX_SESSION_STATUS].len = hit.status.len;

    stored->outcome = NGX_HTTP_SESSION_FOUND;
    stored->data = data;

    ctx->stored = stored;
    ctx->outcome = NGX_HTTP_SESSION_FOUND;

    return ngx_http_session_send_body(r, ctx, &hit.body, &hit.etag);
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

    /* another tenant's session came back as NOT_FOUND: no session to it */

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

    if (ctx->wait) {
        /* a leader's followers read now, not when this request is freed */
        (void) ngx_http_session_wait_answer(ctx->wait);
    }

    rc = ngx_http_session_send_error(r, err);

    ngx_http_finalize_request(r, rc);
}


/*
 * The body depends on the store's reply, the request_id of the URL and the
 * pretty flag only: a reply seen before is answered from the cache of
 * rendered bodies (shared by the workers, or the worker's own).
 */

static ngx_int_t
ngx_http_session_send_found(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx)
{
    u_char                         key[1 + NGX_SESSION_REQUEST_ID_MAX];
    ngx_int_t                      rc;
    ngx_str_t                      body, etag, okey;
    ngx_session_data_t            *data;
    ngx_session_str_t              options;
    ngx_http_session_loc_conf_t   *slcf;
    ngx_http_session_main_conf_t  *smcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    ngx_http_session_options(r, ctx, key, &okey);

    options.data = okey.data;
    options.len = okey.len;

    rc = NGX_DECLINED;

    if (smcf->body_zone || smcf->body_cache) {
        rc = ngx_http_session_cache_get(r, ctx, &options, &body, &etag);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "session result: body cache %s",
                       rc == NGX_OK ? "hit" : "miss");
        ngx_http_session_metrics_cache(r, NGX_HTTP_SESSION_METRICS_BODY_CACHE,
                                       rc == NGX_OK);
    }

    if (rc != NGX_OK) {
        rc = ngx_http_session_render(r, ctx, &body, &etag);

        if (rc == NGX_DECLINED) {
            /* nor is there a session status to show in a variable */
            ctx->outcome = NGX_HTTP_SESSION_STORE_ERROR;
            return ngx_http_session_send_error(r, &ngx_http_session_err_502);
        }

        if (rc != NGX_OK) {
            return rc;
        }

        ngx_http_session_cache_put(r, ctx, &options, &body, &etag);
    }

    /* with the shared cache, the index finds the body by its key there */

    if (slcf->fresh && (smcf->body_zone == NULL || ctx->keyed)) {
        data = ctx->stored->data;

        ngx_http_session_fresh_put(slcf->fresh, &ctx->ticket, &okey,
                                   &data->fields[NGX_SESSION_OWNER],
                                   &data->fields[NGX_SESSION_STATUS],
                                   ctx->stored->ttl_ms, &ctx->stored->peer,
                                   &body, &etag,
                                   smcf->body_zone ? ctx->key : NULL,
                                   r->connection->log);
    }

    return ngx_http_session_send_body(r, ctx, &body, &etag);
}


/* the session's body, now or once it changes (SPEC 9) */

static ngx_int_t
ngx_http_session_send_body(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    ngx_str_t *body, ngx_str_t *etag)
{
    ngx_int_t  rc;

    if (ctx->wait) {
        rc = ngx_http_session_hold(r, ctx, etag);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (ngx_http_session_set_etag(r, etag) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_session_send(r, NGX_HTTP_OK, body->data, body->len);
}


/* the key of a rendered body: the render options, then the request_id */

static void
ngx_http_session_options(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    u_char *key, ngx_str_t *options)
{
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    /* checked as the request began (ngx_session_request_id_valid) */

    key[0] = slcf->pretty ? '1' : '0';
    ngx_memcpy(key + 1, ctx->request_id.data, ctx->request_id.len);

    options->data = key;
    options->len = 1 + ctx->request_id.len;
}


/*
 * SPEC 9: "Prefer: wait=N" with an If-None-Match: the request waits for a
 * change of its session, at most min(N, session_result_wait_max), if the
 * push connection reports changes now.  NGX_ERROR only for nginx's own
 * failures.
 */

static ngx_int_t
ngx_http_session_wait_begin(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_msec_t                    timeout;
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    if (slcf->waits == NULL || r->headers_in.if_none_match == NULL) {
        return NGX_OK;
    }

    timeout = ngx_http_session_wait_prefer(r);

    if (timeout == 0) {
        return NGX_OK;
    }

    timeout = ngx_min(timeout, slcf->wait_max);

    rc = ngx_http_session_wait_start(r, slcf->waits, &ctx->request_id,
                                     timeout, ngx_http_session_reread, ctx,
                                     &ctx->wait);

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


/*
 * The session still has the client's ETag: held (NGX_DONE), or answered
 * now (NGX_DECLINED), saying the wait was applied when it was.
 */

static ngx_int_t
ngx_http_session_hold(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    ngx_str_t *etag)
{
    ngx_table_elt_t  *inm;

    inm = r->headers_in.if_none_match;

    if (ngx_session_etag_match(inm->value.data, inm->value.len,
                               etag->data, etag->len)
        && ngx_http_session_wait_park(ctx->wait) == NGX_OK)
    {
        return NGX_DONE;
    }

    if (!ngx_http_session_wait_answer(ctx->wait)) {
        return NGX_DECLINED;
    }

    if (ngx_http_session_add_header(r, &ngx_http_session_applied,
                                    &ngx_http_session_wait, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_DECLINED;
}


/* the waiter was woken or its time is up: read the session afresh */

static void
ngx_http_session_reread(ngx_http_request_t *r, void *data)
{
    ngx_http_session_ctx_t *ctx = data;

    ctx->stored = NULL;
    ctx->outcome = NGX_HTTP_SESSION_PENDING;

    ngx_http_finalize_request(r, ngx_http_session_read(r, ctx));
}


/*
 * The caches' key: SHA-256 of the options and of the stored values the
 * body is made of, each with its length, in a fixed order.  Not of the
 * store's reply as sent: Redis may send a hash's fields in another order
 * from one read to the next (a hash table being rehashed), and the reply
 * holds the owner and fields never sent, which no cache keeps.
 *
 * The values are not first copied into one buffer of their total size
 * (53 KB from the request's pool for a session of 300 stops): they pass
 * through a buffer on the stack, hashed each time it is full, since an
 * EVP update costs more than the copy of a short value (callgrind), and a
 * value as long as that buffer is hashed where the reply left it.  The
 * bytes hashed, and so the key, are the same as from one buffer.
 */

static ngx_int_t
ngx_http_session_digest(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    ngx_session_str_t *options)
{
    size_t                         i, n;
    uint32_t                       len;   /* replies are far smaller */
    ngx_session_str_t             *v;
    ngx_session_data_t            *sd;
    ngx_http_session_digest_t      d;
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);
    sd = ctx->stored->data;

    n = NGX_SESSION_NFIELDS + sd->nstops;

    for (i = 0; i < n; i++) {
        v = (i < NGX_SESSION_NFIELDS) ? &sd->fields[i]
                                      : &sd->stops[i - NGX_SESSION_NFIELDS];

        /* a value of 4G (a session_result_buffer_size of 4g): not cached */
        if (v->len >= NGX_MAX_UINT32_VALUE) {
            return NGX_ERROR;
        }
    }

    d.sha = &smcf->sha256;
    d.last = d.buf;
    d.rc = ngx_http_session_hash_start(d.sha);

    len = (uint32_t) options->len;
    ngx_http_session_digest_add(&d, (u_char *) &len, sizeof(len));
    ngx_http_session_digest_add(&d, options->data, options->len);

    for (i = 0; i < n; i++) {
        if (i == NGX_SESSION_OWNER) {
            continue;
        }

        v = (i < NGX_SESSION_NFIELDS) ? &sd->fields[i]
                                      : &sd->stops[i - NGX_SESSION_NFIELDS];

        /* absent and empty differ: 0, and 1 + the length */
        len = v->data ? (uint32_t) v->len + 1 : 0;

        ngx_http_session_digest_add(&d, (u_char *) &len, sizeof(len));

        if (v->data) {
            ngx_http_session_digest_add(&d, (u_char *) v->data, v->len);
        }
    }

    /* the number of stops ends the list, so that no two lists mix */
    len = (uint32_t) sd->nstops;
    ngx_http_session_digest_add(&d, (u_char *) &len, sizeof(len));

    ngx_http_session_digest_flush(&d);

    if (d.rc == NGX_OK) {
        d.rc = ngx_http_session_hash_final(d.sha, ctx->key);
    }

    ctx->keyed = (d.rc == NGX_OK);

    return d.rc;
}


/*
 * Called for each piece: inline, as the copy it replaces was.  The buffer
 * is filled up before it is hashed, so that the digest gets few updates of
 * whole blocks; a piece that is longer than the buffer is hashed in place.
 */

static ngx_inline void
ngx_http_session_digest_add(ngx_http_session_digest_t *d, const u_char *data,
    size_t len)
{
    size_t  n;

    n = d->buf + sizeof(d->buf) - d->last;

    /* the lengths: a constant size, one move once inlined */

    if (len <= n) {
        d->last = ngx_cpymem(d->last, data, len);
        return;
    }

    if (len >= sizeof(d->buf)) {
        ngx_http_session_digest_flush(d);

        if (d->rc == NGX_OK) {
            d->rc = ngx_http_session_hash_update(d->sha, data, len);
        }

        return;
    }

    d->last = ngx_cpymem(d->last, data, n);
    ngx_http_session_digest_flush(d);
    d->last = ngx_cpymem(d->last, data + n, len - n);
}


static void
ngx_http_session_digest_flush(ngx_http_session_digest_t *d)
{
    if (d->rc == NGX_OK && d->last > d->buf) {
        d->rc = ngx_http_session_hash_update(d->sha, d->buf,
                                               d->last - d->buf);
    }

    d->last = d->buf;
}


/*
 * A shared entry holds the ETag's length, the ETag and the body, copied
 * out into the request's pool under the zone's lock.  A worker's own
 * cache's entry may be replaced before the response is sent: it is copied
 * too.  NGX_OK: a hit; NGX_DECLINED: a miss.
 */

static ngx_int_t
ngx_http_session_cache_get(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    ngx_session_str_t *options, ngx_str_t *body, ngx_str_t *etag)
{
    ngx_session_str_t              digest, cbody, cetag;
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    /* no digest (a worker without SHA-256): a miss, rendered */
    if (ngx_http_session_digest(r, ctx, options) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (smcf->body_zone) {
        return ngx_http_session_shared_get(r, ctx->key, body, etag);
    }

    digest.data = ctx->key;
    digest.len = sizeof(ctx->key);

    if (ngx_session_cache_get(smcf->body_cache, options, &digest, &cbody,
                              &cetag)
        != NGX_SESSION_OK)
    {
        return NGX_DECLINED;
    }

    body->data = ngx_pnalloc(r->pool, cbody.len + cetag.len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    body->len = cbody.len;
    ngx_memcpy(body->data, cbody.data, cbody.len);

    etag->data = body->data + body->len;
    etag->len = cetag.len;
    ngx_memcpy(etag->data, cetag.data, cetag.len);

    return NGX_OK;
}


/*
 * The shared cache's entry under key, written by cache_put alone: the
 * ETag's length, the ETag, the body.  NGX_DECLINED: none (or evicted).
 */

static ngx_int_t
ngx_http_session_shared_get(ngx_http_request_t *r, u_char *key,
    ngx_str_t *body, ngx_str_t *etag)
{
    ngx_int_t                      rc;
    ngx_str_t                      v;
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    rc = ngx_http_session_zone_get(smcf->body_zone, key, 0, r->pool, &v);
    if (rc != NGX_OK) {
        return rc;
    }

    /* checked all the same */
    if (v.len == 0 || (size_t) v.data[0] + 1 > v.len) {
        return NGX_DECLINED;
    }

    etag->data = v.data + 1;
    etag->len = v.data[0];
    body->data = etag->data + etag->len;
    body->len = v.len - 1 - etag->len;

    return NGX_OK;
}


/* after a miss (the key was made by cache_get) */

static void
ngx_http_session_cache_put(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    ngx_session_str_t *options, ngx_str_t *body, ngx_str_t *etag)
{
    u_char                         len;
    ngx_str_t                      parts[3];
    ngx_session_str_t              digest, cbody, cetag;
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    if (!ctx->keyed) {
        return;
    }

    if (smcf->body_zone) {
        if (etag->len > 255) {
            return;
        }

        len = (u_char) etag->len;

        parts[0].data = &len;
        parts[0].len = 1;
        parts[1] = *etag;
        parts[2] = *body;

        ngx_http_session_zone_put(smcf->body_zone, ctx->key, 0, parts, 3,
                                  r->connection->log);
        return;
    }

    if (smcf->body_cache == NULL) {
        return;
    }

    digest.data = ctx->key;
    digest.len = sizeof(ctx->key);
    cbody.data = body->data;
    cbody.len = body->len;
    cetag.data = etag->data;
    cetag.len = etag->len;

    ngx_session_cache_put(smcf->body_cache, options, &digest, &cbody,
                          &cetag);
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
    u_char                         digest[20];
    ngx_str_t                      src, b64;
    ngx_sha1_t                     sha1;
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    if (ngx_http_session_hash_start(&smcf->sha1) != NGX_OK
        || ngx_http_session_hash_update(&smcf->sha1, body->data, body->len)
           != NGX_OK
        || ngx_http_session_hash_final(&smcf->sha1, digest) != NGX_OK)
    {
        ngx_sha1_init(&sha1);
        ngx_sha1_update(&sha1, body->data, body->len);
        ngx_sha1_final(digest, &sha1);
    }

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


static ngx_http_session_ctx_t *
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


ngx_int_t
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


ngx_int_t
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

    /* stored bytes go into headers and logs: short printable text only */
    if (!ngx_http_session_printable(status)) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = status->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) status->data;

    return NGX_OK;
}


/*
 * 1 to NGX_HTTP_SESSION_VAR_MAX bytes of printable ASCII (0x20-0x7e): no
 * CR or LF to split a header with, no control bytes for a log.
 */

static ngx_uint_t
ngx_http_session_printable(ngx_session_str_t *s)
{
    size_t  i;

    if (s->data == NULL || s->len == 0 || s->len > NGX_HTTP_SESSION_VAR_MAX) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}
