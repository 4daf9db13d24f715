
/*
 * Reading a session from Redis through ngx_http_upstream.
 *
 * The store is read in a subrequest of the caller's request.  nginx answers
 * an upstream failure (refused, timed out, cut off) of a main request with
 * its own HTML error page; the post_subrequest handler of a subrequest sees
 * that status instead and hands it to the caller, which answers with JSON.
 * The subrequest is a clone (same location, straight to the content phase)
 * with a content handler of its own, and header-only: the store's bytes
 * never reach the client, they are parsed in process_header into the read
 * below, which the subrequest holds as its ctx of ngx_http_session_module.
 */


#include "ngx_http_session_module.h"
#include "ngx_http_session_store.h"
#include "ngx_http_session_response.h"
#include "ngx_http_session_metrics.h"
#include "ngx_http_session_cluster.h"
#include "ngx_session_resp.h"


typedef struct {
    ngx_http_session_store_conf_t   *conf;
    ngx_str_t                        id;
    ngx_str_t                        owner;  /* .data NULL: not checked */

    ngx_http_session_store_done_pt   done;
    void                            *data;

    ngx_http_session_store_result_t  result;

    /* the current attempt; reset when nginx tries the next server */
    ngx_session_reply_t              reply;
    ngx_session_data_t               session;
    ngx_session_str_t                raw;   /* the whole reply, once read */

    unsigned                         ttl:1;         /* PTTL asked for */
    unsigned                         reply_seen:1;  /* by any attempt */
    unsigned                         finished:1;

    /* a cluster that cannot serve the slot yet: a fresh read, later */
    ngx_http_request_t              *request;       /* the caller's */
    ngx_http_post_subrequest_t       ps;
    ngx_msec_t                       started;
    ngx_msec_t                       delay;
    ngx_uint_t                       reads;
    ngx_event_t                      later;
    unsigned                         again:1;
} ngx_http_session_store_read_t;


/* the delay before a fresh read: doubled each time up to the largest */
#define NGX_HTTP_SESSION_AGAIN_DELAY      25
#define NGX_HTTP_SESSION_AGAIN_DELAY_MAX  200
#define NGX_HTTP_SESSION_AGAIN_READS      16


static ngx_int_t ngx_http_session_store_start(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd);
static ngx_int_t ngx_http_session_store_again(ngx_http_request_t *sr,
    ngx_http_session_store_read_t *rd);
static void ngx_http_session_store_later(ngx_event_t *ev);
static void ngx_http_session_store_cleanup(void *data);
static ngx_int_t ngx_http_session_store_handler(ngx_http_request_t *sr);
static ngx_int_t ngx_http_session_store_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_session_store_finish(ngx_http_request_t *sr,
    ngx_http_session_store_read_t *rd);
static ngx_http_session_outcome_e ngx_http_session_failure(
    ngx_http_session_store_read_t *rd, ngx_int_t rc);

static ngx_int_t ngx_http_session_redis_create_request(ngx_http_request_t *r);
static u_char *ngx_http_session_redis_key(u_char *p, const char *cmd,
    size_t len, ngx_http_session_store_read_t *rd, size_t key_len);
static ngx_int_t ngx_http_session_redis_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_redis_process_header(ngx_http_request_t *r);
static void ngx_http_session_redis_abort_request(ngx_http_request_t *r);
static void ngx_http_session_redis_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_http_session_reply_start(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd);
static ngx_int_t ngx_http_session_reply_grow(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd);
static ngx_int_t ngx_http_session_reply_not_owner(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd, size_t consumed, size_t len);
static ngx_int_t ngx_http_session_reply_refused(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd);
static ngx_int_t ngx_http_session_reply_done(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd, ngx_http_session_outcome_e outcome);


/*
 * MULTI / HGETALL P{ID} / LRANGE P{ID}:stops 0 -1 / EXEC, pipelined: one
 * write, and a snapshot of both keys.  When an owner is required, HGET
 * P{ID} owner comes first in the transaction: its reply arrives before any
 * of the session's data, so ownership is decided before anything else.
 * With ttl, PTTL P{ID} comes last: the time to live of that snapshot.
 */

#define NGX_HTTP_SESSION_MULTI   "*1\r\n$5\r\nMULTI\r\n"
#define NGX_HTTP_SESSION_HGET    "*3\r\n$4\r\nHGET\r\n"
#define NGX_HTTP_SESSION_OWNER   "$5\r\nowner\r\n"
#define NGX_HTTP_SESSION_HGETALL "*2\r\n$7\r\nHGETALL\r\n"
#define NGX_HTTP_SESSION_LRANGE  "*4\r\n$6\r\nLRANGE\r\n"
#define NGX_HTTP_SESSION_RANGE   "$1\r\n0\r\n$2\r\n-1\r\n"
#define NGX_HTTP_SESSION_PTTL    "*2\r\n$4\r\nPTTL\r\n"
#define NGX_HTTP_SESSION_EXEC    "*1\r\n$4\r\nEXEC\r\n"
#define NGX_HTTP_SESSION_STOPS   ":stops"


/*
 * The first read buffer: a typical reply (1-2 KB) fits; a larger one grows
 * it, doubling, up to session_result_buffer_size.
 */
#define NGX_HTTP_SESSION_READ_SIZE  4096


ngx_int_t
ngx_http_session_store_read(ngx_http_request_t *r,
    ngx_http_session_store_conf_t *conf, ngx_str_t *id, ngx_str_t *owner,
    ngx_uint_t ttl, ngx_http_session_store_done_pt done, void *data)
{
    ngx_http_session_store_read_t  *rd;

    rd = ngx_pcalloc(r->pool, sizeof(ngx_http_session_store_read_t));
    if (rd == NULL) {
        return NGX_ERROR;
    }

    rd->conf = conf;
    rd->id = *id;
    rd->ttl = ttl ? 1 : 0;
    rd->done = done;

    if (owner) {
        rd->owner = *owner;
    }

    rd->data = data;
    rd->request = r;
    rd->started = ngx_current_msec;
    rd->ps.handler = ngx_http_session_store_done;
    rd->ps.data = rd;

    if (ngx_http_session_store_start(r, rd) != NGX_OK) {
        return NGX_ERROR;
    }

    r->main->count++;

    return NGX_DONE;
}


static ngx_int_t
ngx_http_session_store_start(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd)
{
    ngx_http_request_t  *sr;

    if (ngx_http_subrequest(r, &r->uri, NULL, &sr, &rd->ps,
                            NGX_HTTP_SUBREQUEST_CLONE
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rd->reads++;

    /* the clone took the location's handler: it runs this one instead */
    sr->content_handler = ngx_http_session_store_handler;
    sr->header_only = 1;
    ngx_http_set_ctx(sr, rd, ngx_http_session_module);
    ngx_http_session_metrics_store_start(sr);

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_store_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_session_store_read_t *rd = data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "session result: store subrequest done: %i, outcome %d",
                   rc, rd->result.outcome);

    /* $upstream_addr and friends in the client request's access log */
    sr->parent->upstream_states = sr->upstream_states;

    if (rc == NGX_ERROR
        || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || rc == NGX_HTTP_REQUEST_TIME_OUT
        || sr->connection->error)
    {
        /* nginx ends the client's request too */
        ngx_http_session_store_finish(sr, rd);
        return rc;
    }

    if (rd->result.outcome == NGX_HTTP_SESSION_PENDING) {
        rd->result.outcome = ngx_http_session_failure(rd, rc);
    }

    if (rd->again) {
        if (ngx_http_session_store_again(sr, rd) == NGX_OK) {
            /* the caller hears when a later read ends */
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "store cluster could not serve \"%V{%V}\" in %ui "
                      "reads within session_result_read_timeout",
                      &rd->conf->key_prefix, &rd->id, rd->reads);
    }

    ngx_http_session_store_finish(sr, rd);

    /* the caller answers; no error page for the subrequest */

    return NGX_OK;
}


/*
 * The cluster cannot serve the slot now (TRYAGAIN, CLUSTERDOWN, still
 * redirected after the upstream's attempts): a fresh read after a delay
 * (25 ms, doubled each time up to 200 ms), while
 * session_result_read_timeout since the first read allows.  The caller's
 * request waits doing nothing meanwhile.
 */

static ngx_int_t
ngx_http_session_store_again(ngx_http_request_t *sr,
    ngx_http_session_store_read_t *rd)
{
    ngx_msec_t           elapsed;
    ngx_pool_cleanup_t  *cln;

    rd->again = 0;
    rd->delay = rd->delay ? ngx_min(2 * rd->delay,
                                    NGX_HTTP_SESSION_AGAIN_DELAY_MAX)
                          : NGX_HTTP_SESSION_AGAIN_DELAY;
    elapsed = ngx_current_msec - rd->started;

    if (rd->reads >= NGX_HTTP_SESSION_AGAIN_READS
        || elapsed + rd->delay >= rd->conf->upstream.read_timeout)
    {
        return NGX_DECLINED;
    }

    if (rd->later.data == NULL) {
        cln = ngx_pool_cleanup_add(rd->request->pool, 0);
        if (cln == NULL) {
            return NGX_DECLINED;
        }

        cln->handler = ngx_http_session_store_cleanup;
        cln->data = rd;

        rd->later.handler = ngx_http_session_store_later;
        rd->later.data = rd;
        rd->later.log = rd->request->connection->log;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "session result: store read again in %M ms", rd->delay);

    /* the subrequest's end posts the caller: nothing to do yet */
    rd->request->write_event_handler = ngx_http_request_empty_handler;

    ngx_add_timer(&rd->later, rd->delay);

    return NGX_OK;
}


static void
ngx_http_session_store_later(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_session_store_read_t  *rd;

    rd = ev->data;
    r = rd->request;
    c = r->connection;

    rd->result.outcome = NGX_HTTP_SESSION_PENDING;
    rd->reply_seen = 0;
    rd->result.peer.sockaddr = NULL;
    rd->raw.data = NULL;
    rd->raw.len = 0;

    if (ngx_http_session_store_start(r, rd) != NGX_OK) {
        rd->result.outcome = NGX_HTTP_SESSION_INTERNAL_ERROR;
        rd->finished = 1;
        rd->done(r, &rd->result, rd->data);
        ngx_http_post_request(r, NULL);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_session_store_cleanup(void *data)
{
    ngx_http_session_store_read_t *rd = data;

    if (rd->later.timer_set) {
        ngx_del_timer(&rd->later);
    }
}


/* nginx may finalize a subrequest more than once: the caller hears once */

static void
ngx_http_session_store_finish(ngx_http_request_t *sr,
    ngx_http_session_store_read_t *rd)
{
    if (rd->finished) {
        return;
    }

    rd->finished = 1;
    ngx_http_session_metrics_store_end(sr, rd->result.outcome);

    if (rd->result.outcome == NGX_HTTP_SESSION_FOUND) {
        rd->result.data = &rd->session;
        rd->result.raw = &rd->raw;
        rd->result.ttl_ms = rd->ttl ? rd->reply.ttl_ms : -1;
    }

    rd->done(sr->parent, &rd->result, rd->data);
}


/*
 * nginx reports every upstream failure as 502 or 504.  SPEC tells the
 * store being unreachable (503) from the store answering badly (502): a
 * store that sent any byte, to this or an earlier try, answered.
 */

static ngx_http_session_outcome_e
ngx_http_session_failure(ngx_http_session_store_read_t *rd, ngx_int_t rc)
{
    if (rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        return NGX_HTTP_SESSION_STORE_TIMEOUT;
    }

    if (rc == NGX_HTTP_BAD_GATEWAY) {
        return rd->reply_seen ? NGX_HTTP_SESSION_STORE_ERROR
                              : NGX_HTTP_SESSION_STORE_UNAVAILABLE;
    }

    /* the subrequest never reached the upstream, or did not finish it */

    return NGX_HTTP_SESSION_INTERNAL_ERROR;
}


/* the content handler of the store subrequest */

static ngx_int_t
ngx_http_session_store_handler(ngx_http_request_t *sr)
{
    ngx_http_upstream_t            *u;
    ngx_http_session_store_read_t  *rd;

    rd = ngx_http_get_module_ctx(sr, ngx_http_session_module);

    if (ngx_http_upstream_create(sr) != NGX_OK) {
        return NGX_ERROR;
    }

    u = sr->upstream;

    ngx_str_set(&u->schema, "redis://");
    u->output.tag = (ngx_buf_tag_t) &ngx_http_session_module;

    u->conf = &rd->conf->upstream;

    u->create_request = ngx_http_session_redis_create_request;
    u->reinit_request = ngx_http_session_redis_reinit_request;
    u->process_header = ngx_http_session_redis_process_header;
    u->abort_request = ngx_http_session_redis_abort_request;
    u->finalize_request = ngx_http_session_redis_finalize_request;

    ngx_http_session_reply_start(sr, rd);

    /* a cluster's balancer chooses the node by the key's slot */
    if (ngx_http_session_cluster_key(sr, rd->conf->upstream.upstream,
                                     &rd->conf->key_prefix, &rd->id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->main->count++;

    ngx_http_upstream_init(sr);

    return NGX_DONE;
}


static void
ngx_http_session_reply_start(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd)
{
    ngx_session_reply_init(&rd->reply, &rd->session, rd->conf->reply_max,
                           ngx_http_session_palloc, r->pool);

    if (rd->owner.data) {
        ngx_session_reply_owner(&rd->reply, rd->owner.data, rd->owner.len);
    }

    if (rd->ttl) {
        ngx_session_reply_ttl(&rd->reply);
    }
}


static ngx_int_t
ngx_http_session_redis_create_request(ngx_http_request_t *r)
{
    size_t                          key_len, len;
    u_char                         *p;
    ngx_buf_t                      *b;
    ngx_chain_t                    *cl;
    ngx_http_session_store_read_t  *rd;

    rd = ngx_http_get_module_ctx(r, ngx_http_session_module);

    /* P{ID} */
    key_len = rd->conf->key_prefix.len + 1 + rd->id.len + 1;

    len = sizeof(NGX_HTTP_SESSION_MULTI) - 1
          + sizeof(NGX_HTTP_SESSION_HGET) - 1
          + sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + key_len
          + sizeof(NGX_HTTP_SESSION_OWNER) - 1
          + sizeof(NGX_HTTP_SESSION_HGETALL) - 1
          + sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + key_len
          + sizeof(NGX_HTTP_SESSION_LRANGE) - 1
          + sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + key_len
          + sizeof(NGX_HTTP_SESSION_STOPS) - 1
          + sizeof(NGX_HTTP_SESSION_RANGE) - 1
          + sizeof(NGX_HTTP_SESSION_PTTL) - 1
          + sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + key_len
          + sizeof(NGX_HTTP_SESSION_EXEC) - 1;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(b->last, NGX_HTTP_SESSION_MULTI,
                   sizeof(NGX_HTTP_SESSION_MULTI) - 1);

    if (rd->owner.data) {
        p = ngx_http_session_redis_key(p, NGX_HTTP_SESSION_HGET,
                                       sizeof(NGX_HTTP_SESSION_HGET) - 1,
                                       rd, key_len);
        p = ngx_cpymem(p, NGX_HTTP_SESSION_OWNER,
                       sizeof(NGX_HTTP_SESSION_OWNER) - 1);
    }

    p = ngx_http_session_redis_key(p, NGX_HTTP_SESSION_HGETALL,
                                   sizeof(NGX_HTTP_SESSION_HGETALL) - 1,
                                   rd, key_len);

    p = ngx_cpymem(p, NGX_HTTP_SESSION_LRANGE,
                   sizeof(NGX_HTTP_SESSION_LRANGE) - 1);
    p = ngx_sprintf(p, "$%uz\r\n%V{%V}" NGX_HTTP_SESSION_STOPS "\r\n",
                    key_len + sizeof(NGX_HTTP_SESSION_STOPS) - 1,
                    &rd->conf->key_prefix, &rd->id);
    p = ngx_cpymem(p, NGX_HTTP_SESSION_RANGE,
                   sizeof(NGX_HTTP_SESSION_RANGE) - 1);

    if (rd->ttl) {
        p = ngx_http_session_redis_key(p, NGX_HTTP_SESSION_PTTL,
                                       sizeof(NGX_HTTP_SESSION_PTTL) - 1,
                                       rd, key_len);
    }

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
                   &rd->conf->key_prefix, &rd->id);

    return NGX_OK;
}


/* a command's head, then the key P{ID} as its first argument */

static u_char *
ngx_http_session_redis_key(u_char *p, const char *cmd, size_t len,
    ngx_http_session_store_read_t *rd, size_t key_len)
{
    p = ngx_cpymem(p, cmd, len);

    return ngx_sprintf(p, "$%uz\r\n%V{%V}\r\n",
                       key_len, &rd->conf->key_prefix, &rd->id);
}


/* nginx moves on to the next server: start the reply over */

static ngx_int_t
ngx_http_session_redis_reinit_request(ngx_http_request_t *r)
{
    ngx_http_session_store_read_t  *rd;

    rd = ngx_http_get_module_ctx(r, ngx_http_session_module);

    ngx_http_session_reply_start(r, rd);

    return NGX_OK;
}


/*
 * The reply is parsed as it arrives; nginx accumulates it in u->buffer, whose
 * pos stays at its start until the reply is complete, and which is replaced
 * by a larger one here when it is full.  What the store says
 * about this session (an error reply, a value too large, an unexpected
 * shape) ends this request with 502 but does not count against the server:
 * one bad record must not take every server out of the upstream group.
 * Only bytes that are not RESP at all mark the server failed.
 */

static ngx_int_t
ngx_http_session_redis_process_header(ngx_http_request_t *r)
{
    size_t                          consumed, len, skip;
    u_char                         *p;
    ngx_int_t                       rc;
    ngx_http_upstream_t            *u;
    ngx_http_session_store_read_t  *rd;

    u = r->upstream;
    rd = ngx_http_get_module_ctx(r, ngx_http_session_module);

    len = u->buffer.last - u->buffer.pos;
    rd->reply_seen = 1;

    /* the upstream forgets its peer as it ends: the fresh index asks */
    rd->result.peer.sockaddr = u->peer.sockaddr;
    rd->result.peer.socklen = u->peer.socklen;
    if (u->peer.name) {
        rd->result.peer.name = *u->peer.name;
    }

    /* a cluster's own commands went first: their replies, "+OK" each */
    skip = ngx_http_session_cluster_prefix(r) * (sizeof("+OK\r\n") - 1);
    p = u->buffer.pos;

    while (skip && len) {
        if (len < sizeof("+OK\r\n") - 1) {
            return NGX_AGAIN;
        }

        if (ngx_strncmp(p, "+OK\r\n", sizeof("+OK\r\n") - 1) != 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "cluster node refused ASKING or READONLY");
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        p += sizeof("+OK\r\n") - 1;
        len -= sizeof("+OK\r\n") - 1;
        skip -= sizeof("+OK\r\n") - 1;
    }

    rc = ngx_session_reply_parse(&rd->reply, p, len, &consumed);

    if (rc == NGX_SESSION_AGAIN) {
        if (u->buffer.last < u->buffer.end) {
            return NGX_AGAIN;
        }

        if ((size_t) (u->buffer.end - u->buffer.start) < rd->conf->reply_max)
        {
            return ngx_http_session_reply_grow(r, rd);
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "store reply for \"%V{%V}\" is larger than "
                      "session_result_buffer_size",
                      &rd->conf->key_prefix, &rd->id);

        return ngx_http_session_reply_done(r, rd,
                                           NGX_HTTP_SESSION_STORE_ERROR);
    }

    if (rc == NGX_SESSION_NOT_OWNER) {
        return ngx_http_session_reply_not_owner(r, rd, consumed, len);
    }

    if (rc == NGX_SESSION_ERROR) {
        return ngx_http_session_reply_refused(r, rd);
    }

    if (consumed != len) {
        /* out of step with the store: neither the data nor the connection */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "store sent %uz bytes more than the reply for "
                      "\"%V{%V}\"", len - consumed,
                      &rd->conf->key_prefix, &rd->id);

        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    /* the reply was read exactly: the connection may serve another */
    u->keepalive = 1;

    /* the session's bytes: a TTL ticking down changes no body */
    rd->raw.data = p;
    rd->raw.len = rd->ttl ? rd->reply.ttl_pos : consumed;

    return ngx_http_session_reply_done(r, rd,
                                       rd->session.hash_len
                                       ? NGX_HTTP_SESSION_FOUND
                                       : NGX_HTTP_SESSION_NOT_FOUND);
}


/*
 * The read buffer is full and the reply goes on: a buffer twice the size
 * (at most session_result_buffer_size) takes the bytes read so far, and the
 * strings decoded from them follow.  nginx reads on into the new space.
 */

static ngx_int_t
ngx_http_session_reply_grow(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd)
{
    size_t                size, used;
    u_char               *p;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    size = u->buffer.end - u->buffer.start;
    size = (size > rd->conf->reply_max / 2) ? rd->conf->reply_max : 2 * size;
    used = u->buffer.last - u->buffer.start;

    p = ngx_palloc(r->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, u->buffer.start, used);
    ngx_session_reply_moved(&rd->reply, u->buffer.start, p);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "session result: store read buffer grown to %uz", size);

    /* a large allocation of the pool: given back now, not at the end */
    ngx_pfree(r->pool, u->buffer.start);

    u->buffer.start = p;
    u->buffer.pos = p;
    u->buffer.last = p + used;
    u->buffer.end = p + size;

    return NGX_AGAIN;
}


/*
 * Another owner's session is, to this caller, no session: the same outcome
 * as an unknown id.  Its data was neither stored nor decoded, and no more
 * of it is read.  The connection is kept when the reply ended within the
 * bytes already received (an unknown id, a small session); else it is
 * closed, as reading the rest would cost time that depends on the other
 * session's size.
 */

static ngx_int_t
ngx_http_session_reply_not_owner(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd, size_t consumed, size_t len)
{
    ngx_http_upstream_t  *u;

    u = r->upstream;

    u->keepalive = (rd->reply.skipped && consumed == len);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "session result: not the owner's session, "
                   "rest of the reply skipped, keepalive %d",
                   (int) u->keepalive);

    return ngx_http_session_reply_done(r, rd, NGX_HTTP_SESSION_NOT_FOUND);
}


static ngx_int_t
ngx_http_session_reply_refused(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd)
{
    size_t                n;
    ngx_session_str_t    *err;
    ngx_session_reply_t  *rp;

    rp = &rd->reply;
    err = &rp->error_reply;

    if (err->data == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "store sent an invalid reply for \"%V{%V}\": %s",
                      &rd->conf->key_prefix, &rd->id, rp->error);

        if (rp->not_resp) {
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        return ngx_http_session_reply_done(r, rd,
                                           NGX_HTTP_SESSION_STORE_ERROR);
    }

    /* a cluster's redirection: the next attempt goes where it says */

    switch (ngx_http_session_cluster_redirect(r, (u_char *) err->data,
                                              err->len))
    {
    case NGX_OK:
        rd->reply_seen = 0;
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;

    case NGX_AGAIN:
    case NGX_BUSY:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "store cluster cannot serve \"%V{%V}\" now "
                      "(\"%*s\")", &rd->conf->key_prefix,
                      &rd->id, ngx_min(err->len, 128), err->data);

        rd->again = 1;

        return ngx_http_session_reply_done(r, rd,
                                     NGX_HTTP_SESSION_STORE_UNAVAILABLE);

    default: /* NGX_DECLINED */
        break;
    }

    /* the store's own words ("WRONGTYPE ...", "LOADING ..."), not data */

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "store sent an invalid reply for \"%V{%V}\": %s (\"%*s\")",
                  &rd->conf->key_prefix, &rd->id, rp->error,
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
        return ngx_http_session_reply_done(r, rd,
                                     NGX_HTTP_SESSION_STORE_UNAVAILABLE);
    }

    return ngx_http_session_reply_done(r, rd, NGX_HTTP_SESSION_STORE_ERROR);
}


/*
 * Ends the store request as answered, whatever the answer; the caller
 * turns the outcome into the response.  Only an exactly read reply leaves
 * u->keepalive set.
 */

static ngx_int_t
ngx_http_session_reply_done(ngx_http_request_t *r,
    ngx_http_session_store_read_t *rd, ngx_http_session_outcome_e outcome)
{
    ngx_http_upstream_t  *u;

    u = r->upstream;

    rd->result.outcome = outcome;

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


void
ngx_http_session_store_create_conf(ngx_http_session_store_conf_t *conf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream.upstream = NULL;
     *     conf->key_prefix = { 0, NULL };
     */

    conf->upstream.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.send_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = NGX_CONF_UNSET_MSEC;
    conf->reply_max = NGX_CONF_UNSET_SIZE;
    conf->upstream.next_upstream_tries = NGX_CONF_UNSET_UINT;
    conf->upstream.next_upstream_timeout = NGX_CONF_UNSET_MSEC;

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
    conf->upstream.buffering = 0;
    conf->upstream.ignore_client_abort = 0;
    conf->upstream.intercept_errors = 0;
    conf->upstream.intercept_404 = 0;
    conf->upstream.pass_request_headers = 0;
    conf->upstream.pass_request_body = 0;
}


/*
 * inner: the conf of an "if" or "limit_except" block inside the location,
 * which nginx uses for the request when the block applies: it reads the
 * store of the location around it.
 */

void
ngx_http_session_store_merge_conf(ngx_http_session_store_conf_t *prev,
    ngx_http_session_store_conf_t *conf, ngx_uint_t inner)
{
    ngx_conf_merge_msec_value(conf->upstream.connect_timeout,
                              prev->upstream.connect_timeout, 1000);

    ngx_conf_merge_msec_value(conf->upstream.send_timeout,
                              prev->upstream.send_timeout, 1000);

    ngx_conf_merge_msec_value(conf->upstream.read_timeout,
                              prev->upstream.read_timeout, 1000);

    ngx_conf_merge_size_value(conf->reply_max, prev->reply_max, 64 * 1024);

    conf->upstream.buffer_size = ngx_min(conf->reply_max,
                                         NGX_HTTP_SESSION_READ_SIZE);

    ngx_conf_merge_uint_value(conf->upstream.next_upstream_tries,
                              prev->upstream.next_upstream_tries, 0);

    ngx_conf_merge_msec_value(conf->upstream.next_upstream_timeout,
                              prev->upstream.next_upstream_timeout, 0);

    ngx_conf_merge_str_value(conf->key_prefix, prev->key_prefix, "session:");

    /* the server is not inherited by locations, only where it is named */

    if (inner && conf->upstream.upstream == NULL) {
        conf->upstream.upstream = prev->upstream.upstream;
    }

    /* a cluster's redirections are attempts nginx moves on to */
    if (ngx_http_session_cluster_upstream(conf->upstream.upstream)) {
        conf->upstream.next_upstream |= NGX_HTTP_UPSTREAM_FT_INVALID_HEADER;
    }
}


/* a Redis address, or the name of an upstream block */

ngx_int_t
ngx_http_session_store_add_server(ngx_conf_t *cf,
    ngx_http_session_store_conf_t *conf, ngx_str_t *url)
{
    ngx_url_t  u;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *url;
    u.default_port = 6379;
    u.no_resolve = 1;

    conf->upstream.upstream = ngx_http_upstream_add(cf, &u, 0);
    if (conf->upstream.upstream == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}
