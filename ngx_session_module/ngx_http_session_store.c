
/*
 * Reading a session from Redis through ngx_http_upstream.
 *
 * The store is read in a subrequest of the client's request.  nginx answers
 * an upstream failure (refused, timed out, cut off) of a main request with
 * its own HTML error page; the post_subrequest handler of a subrequest sees
 * that status instead and lets the main request answer with JSON.  The
 * subrequest is a clone (same location, straight to the content phase) and
 * header-only: the store's bytes never reach the client, they are parsed in
 * process_header into the context the two requests share.
 */


#include "ngx_http_session_module.h"


static ngx_int_t ngx_http_session_fetch_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_session_fetch_resume(ngx_http_request_t *r);
static ngx_http_session_outcome_e ngx_http_session_failure(
    ngx_http_session_ctx_t *ctx, ngx_int_t rc);

static ngx_int_t ngx_http_session_redis_create_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_redis_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_redis_process_header(ngx_http_request_t *r);
static void ngx_http_session_redis_abort_request(ngx_http_request_t *r);
static void ngx_http_session_redis_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_http_session_reply_start(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx);
static ngx_int_t ngx_http_session_reply_refused(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx);
static ngx_int_t ngx_http_session_reply_done(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_http_session_outcome_e outcome);


/*
 * MULTI / HGETALL P{ID} / LRANGE P{ID}:stops 0 -1 / EXEC, pipelined: one
 * write, and a snapshot of both keys.
 */

#define NGX_HTTP_SESSION_MULTI   "*1\r\n$5\r\nMULTI\r\n"
#define NGX_HTTP_SESSION_HGETALL "*2\r\n$7\r\nHGETALL\r\n"
#define NGX_HTTP_SESSION_LRANGE  "*4\r\n$6\r\nLRANGE\r\n"
#define NGX_HTTP_SESSION_RANGE   "$1\r\n0\r\n$2\r\n-1\r\n"
#define NGX_HTTP_SESSION_EXEC    "*1\r\n$4\r\nEXEC\r\n"
#define NGX_HTTP_SESSION_STOPS   ":stops"


ngx_int_t
ngx_http_session_fetch(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx)
{
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_session_fetch_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &r->uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_CLONE
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->header_only = 1;
    ctx->fetch = sr;
    ngx_http_set_ctx(sr, ctx, ngx_http_session_module);

    r->write_event_handler = ngx_http_session_fetch_resume;
    r->main->count++;

    return NGX_DONE;
}


static ngx_int_t
ngx_http_session_fetch_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_session_ctx_t  *ctx = data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "session result: store subrequest done: %i, outcome %d",
                   rc, ctx->outcome);

    ctx->done = 1;

    /* $upstream_addr and friends in the client request's access log */
    sr->parent->upstream_states = sr->upstream_states;

    if (rc == NGX_ERROR
        || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || rc == NGX_HTTP_REQUEST_TIME_OUT
        || sr->connection->error)
    {
        return rc;
    }

    if (ctx->outcome == NGX_HTTP_SESSION_PENDING) {
        ctx->outcome = ngx_http_session_failure(ctx, rc);
    }

    /* the main request answers; no error page for the subrequest */

    return NGX_OK;
}


/*
 * nginx reports every upstream failure as 502 or 504.  SPEC tells the
 * store being unreachable (503) from the store answering badly (502): a
 * store that sent any byte, to this or an earlier try, answered.
 */

static ngx_http_session_outcome_e
ngx_http_session_failure(ngx_http_session_ctx_t *ctx, ngx_int_t rc)
{
    if (rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        return NGX_HTTP_SESSION_STORE_TIMEOUT;
    }

    if (rc == NGX_HTTP_BAD_GATEWAY) {
        return ctx->reply_seen ? NGX_HTTP_SESSION_STORE_ERROR
                               : NGX_HTTP_SESSION_STORE_UNAVAILABLE;
    }

    /* the subrequest never reached the upstream, or did not finish it */

    return NGX_HTTP_SESSION_INTERNAL_ERROR;
}


static void
ngx_http_session_fetch_resume(ngx_http_request_t *r)
{
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

    if (ctx == NULL || !ctx->done) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_session_respond(r);
}


/* the content handler of the store subrequest */

ngx_int_t
ngx_http_session_fetch_start(ngx_http_request_t *sr)
{
    ngx_http_upstream_t          *u;
    ngx_http_session_ctx_t       *ctx;
    ngx_http_session_loc_conf_t  *slcf;

    ctx = ngx_http_get_module_ctx(sr, ngx_http_session_module);

    if (ngx_http_upstream_create(sr) != NGX_OK) {
        return NGX_ERROR;
    }

    u = sr->upstream;

    ngx_str_set(&u->schema, "redis://");
    u->output.tag = (ngx_buf_tag_t) &ngx_http_session_module;

    slcf = ngx_http_get_module_loc_conf(sr, ngx_http_session_module);

    u->conf = &slcf->upstream;

    u->create_request = ngx_http_session_redis_create_request;
    u->reinit_request = ngx_http_session_redis_reinit_request;
    u->process_header = ngx_http_session_redis_process_header;
    u->abort_request = ngx_http_session_redis_abort_request;
    u->finalize_request = ngx_http_session_redis_finalize_request;

    ngx_http_session_reply_start(sr, ctx);

    sr->main->count++;

    ngx_http_upstream_init(sr);

    return NGX_DONE;
}


static void
ngx_http_session_reply_start(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx)
{
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    ngx_session_reply_init(&ctx->reply, &ctx->data, slcf->upstream.buffer_size,
                           ngx_http_session_palloc, r->pool);
}


static ngx_int_t
ngx_http_session_redis_create_request(ngx_http_request_t *r)
{
    size_t                        key_len, len;
    u_char                       *p;
    ngx_buf_t                    *b;
    ngx_chain_t                  *cl;
    ngx_http_session_ctx_t       *ctx;
    ngx_http_session_loc_conf_t  *slcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);
    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    /* P{ID} */
    key_len = slcf->key_prefix.len + 1 + ctx->request_id.len + 1;

    len = sizeof(NGX_HTTP_SESSION_MULTI) - 1
          + sizeof(NGX_HTTP_SESSION_HGETALL) - 1
          + sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + key_len
          + sizeof(NGX_HTTP_SESSION_LRANGE) - 1
          + sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + key_len
          + sizeof(NGX_HTTP_SESSION_STOPS) - 1
          + sizeof(NGX_HTTP_SESSION_RANGE) - 1
          + sizeof(NGX_HTTP_SESSION_EXEC) - 1;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(b->last, NGX_HTTP_SESSION_MULTI,
                   sizeof(NGX_HTTP_SESSION_MULTI) - 1);

    p = ngx_cpymem(p, NGX_HTTP_SESSION_HGETALL,
                   sizeof(NGX_HTTP_SESSION_HGETALL) - 1);
    p = ngx_sprintf(p, "$%uz\r\n%V{%V}\r\n",
                    key_len, &slcf->key_prefix, &ctx->request_id);

    p = ngx_cpymem(p, NGX_HTTP_SESSION_LRANGE,
                   sizeof(NGX_HTTP_SESSION_LRANGE) - 1);
    p = ngx_sprintf(p, "$%uz\r\n%V{%V}" NGX_HTTP_SESSION_STOPS "\r\n",
                    key_len + sizeof(NGX_HTTP_SESSION_STOPS) - 1,
                    &slcf->key_prefix, &ctx->request_id);
    p = ngx_cpymem(p, NGX_HTTP_SESSION_RANGE,
                   sizeof(NGX_HTTP_SESSION_RANGE) - 1);

    b->last = ngx_cpymem(p, NGX_HTTP_SESSION_EXEC,
                         sizeof(NGX_HTTP_SESSION_EXEC) - 1);

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    r->upstream->request_bufs = cl;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "session result: reading \"%V{%V}\"",
                   &slcf->key_prefix, &ctx->request_id);

    return NGX_OK;
}


/* nginx moves on to the next server: start the reply over */

static ngx_int_t
ngx_http_session_redis_reinit_request(ngx_http_request_t *r)
{
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

    ngx_http_session_reply_start(r, ctx);

    return NGX_OK;
}


/*
 * The reply is parsed as it arrives; nginx accumulates it in u->buffer, whose
 * pos stays at its start until the reply is complete.  What the store says
 * about this session (an error reply, a value too large, an unexpected
 * shape) ends this request with 502 but does not count against the server:
 * one bad record must not take every server out of the upstream group.
 * Only bytes that are not RESP at all mark the server failed.
 */

static ngx_int_t
ngx_http_session_redis_process_header(ngx_http_request_t *r)
{
    size_t                        consumed, len;
    ngx_int_t                     rc;
    ngx_http_upstream_t          *u;
    ngx_http_session_ctx_t       *ctx;
    ngx_http_session_loc_conf_t  *slcf;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);
    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    len = u->buffer.last - u->buffer.pos;
    ctx->reply_seen = 1;

    rc = ngx_session_reply_parse(&ctx->reply, u->buffer.pos, len, &consumed);

    if (rc == NGX_SESSION_AGAIN) {
        if (u->buffer.last < u->buffer.end) {
            return NGX_AGAIN;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "store reply for \"%V{%V}\" is larger than "
                      "session_result_buffer_size",
                      &slcf->key_prefix, &ctx->request_id);

        return ngx_http_session_reply_done(r, ctx,
                                           NGX_HTTP_SESSION_STORE_ERROR);
    }

    if (rc == NGX_SESSION_ERROR) {
        return ngx_http_session_reply_refused(r, ctx);
    }

    if (consumed != len) {
        /* out of step with the store: neither the data nor the connection */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "store sent %uz bytes more than the reply for "
                      "\"%V{%V}\"", len - consumed,
                      &slcf->key_prefix, &ctx->request_id);

        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    /* the reply was read exactly: the connection may serve another */
    u->keepalive = 1;

    ctx->reply_raw.data = u->buffer.pos;
    ctx->reply_raw.len = consumed;

    return ngx_http_session_reply_done(r, ctx,
                                       ctx->data.hash_len
                                       ? NGX_HTTP_SESSION_FOUND
                                       : NGX_HTTP_SESSION_NOT_FOUND);
}


static ngx_int_t
ngx_http_session_reply_refused(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx)
{
    size_t                        n;
    ngx_session_str_t            *err;
    ngx_session_reply_t          *rp;
    ngx_http_session_loc_conf_t  *slcf;

    rp = &ctx->reply;
    err = &rp->error_reply;
    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    if (err->data == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "store sent an invalid reply for \"%V{%V}\": %s",
                      &slcf->key_prefix, &ctx->request_id, rp->error);

        if (rp->not_resp) {
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        return ngx_http_session_reply_done(r, ctx,
                                           NGX_HTTP_SESSION_STORE_ERROR);
    }

    /* the store's own words ("WRONGTYPE ...", "LOADING ..."), not data */

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "store sent an invalid reply for \"%V{%V}\": %s (\"%*s\")",
                  &slcf->key_prefix, &ctx->request_id, rp->error,
                  ngx_min(err->len, 128), err->data);

    /*
     * A server that cannot serve now, rather than bad data.  Not retried on
     * another server: nginx retries only what it sees as a connection
     * failure, and the next request may well find this one ready.
     */

    for (n = 0; n < err->len && err->data[n] != ' '; n++) { /* void */ }

    if ((n == 7 && ngx_strncmp(err->data, "LOADING", 7) == 0)
        || (n == 4 && ngx_strncmp(err->data, "BUSY", 4) == 0)
        || (n == 8 && ngx_strncmp(err->data, "TRYAGAIN", 8) == 0)
        || (n == 10 && ngx_strncmp(err->data, "MASTERDOWN", 10) == 0)
        || (n == 11 && ngx_strncmp(err->data, "CLUSTERDOWN", 11) == 0))
    {
        return ngx_http_session_reply_done(r, ctx,
                                     NGX_HTTP_SESSION_STORE_UNAVAILABLE);
    }

    return ngx_http_session_reply_done(r, ctx, NGX_HTTP_SESSION_STORE_ERROR);
}


/*
 * Ends the store request as answered, whatever the answer; the main request
 * turns the outcome into the response.  Only an exactly read reply leaves
 * u->keepalive set.
 */

static ngx_int_t
ngx_http_session_reply_done(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_http_session_outcome_e outcome)
{
    ngx_http_upstream_t  *u;

    u = r->upstream;

    ctx->outcome = outcome;

    u->buffer.pos = u->buffer.last;
    u->headers_in.status_n = NGX_HTTP_OK;
    u->headers_in.content_length_n = 0;

    /* nginx takes its success path; $upstream_status tells the truth */
    switch (outcome) {

    case NGX_HTTP_SESSION_STORE_ERROR:
        u->state->status = NGX_HTTP_BAD_GATEWAY;
        break;

    case NGX_HTTP_SESSION_STORE_UNAVAILABLE:
        u->state->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        break;

    default:
        u->state->status = NGX_HTTP_OK;
        break;
    }

    return NGX_OK;
}


static void
ngx_http_session_redis_abort_request(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "session result: abort store request");
}


static void
ngx_http_session_redis_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "session result: finalize store request: %i", rc);
}
