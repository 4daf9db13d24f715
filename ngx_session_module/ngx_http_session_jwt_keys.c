
/*
 * Key sets fetched from an identity provider's jwks_uri (SPEC 7).
 *
 * A source is one (uri, key_cache) pair of the configuration.  Its set is
 * held by each worker on its own: a parsed key is an OpenSSL EVP_PKEY, a
 * heap object of the process that parsed it, which cannot live in shared
 * memory, and re-parsing a shared copy on every swap in every worker would
 * cost what a fetch costs.  The price is one fetch per worker per key_cache
 * period (docs/auth.md).
 *
 * A fetch is a subrequest of the client request that needs it (in memory,
 * waited for, as ngx_http_auth_request_module does); requests that need
 * the same source meanwhile are parked in the source's queue and resumed by
 * a posted event when the fetch ends.  A stale set is refreshed by a
 * background subrequest instead: the request that noticed goes on with the
 * stale set (SPEC 7).  A request that ends while parked leaves the queue
 * through its pool cleanup; a fetch whose request ends before it completes
 * is abandoned the same way and the parked requests resume to start
 * another, no sooner than NGX_HTTP_SESSION_JWT_FETCH_GAP after the last
 * start, so that clients going away cannot make fetches unbounded.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/sha.h>

#include "ngx_http_session_jwt_keys.h"
#include "ngx_http_session_metrics.h"


typedef struct ngx_http_session_jwt_fetch_s  ngx_http_session_jwt_fetch_t;


struct ngx_http_session_jwt_keys_s {
    ngx_str_t                        target;     /* as configured */
    ngx_str_t                        uri;
    ngx_str_t                        args;
    time_t                           valid;

    /* per worker from here on: set after the fork, by this worker only */
    ngx_session_keyset_t            *set;        /* NULL: none yet */
    uint64_t                         generation; /* the set's digest */
    time_t                           expires;
    time_t                           failed;     /* 0: no failure since */
    time_t                           kid_refetch;
    ngx_msec_t                       started;    /* the last fetch's start */
    ngx_http_session_jwt_fetch_t    *fetch;      /* in flight; NULL: none */
    ngx_queue_t                      waiters;
};


struct ngx_http_session_jwt_fetch_s {
    ngx_http_session_jwt_keys_t     *src;
    time_t                           kid_refetch; /* src's, before this */
    unsigned                         done:1;
};


/* a request parked until the fetch in flight ends */
typedef struct {
    ngx_queue_t                      queue;
    ngx_http_request_t              *request;
    ngx_event_t                      event;
    unsigned                         queued:1;
} ngx_http_session_jwt_waiter_t;


typedef struct {
    ngx_log_t                       *log;
    ngx_http_session_jwt_keys_t     *src;
} ngx_http_session_jwt_keys_warn_t;


static ngx_int_t ngx_http_session_jwt_keys_fetch(ngx_http_request_t *r,
    ngx_http_session_jwt_keys_t *src, ngx_uint_t background);
static void ngx_http_session_jwt_keys_cleanup(void *data);
static ngx_int_t ngx_http_session_jwt_keys_anonymous(ngx_http_request_t *r,
    ngx_http_request_t *sr);
static ngx_int_t ngx_http_session_jwt_keys_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static uint64_t ngx_http_session_jwt_keys_generation(u_char *body,
    size_t len);
static ngx_int_t ngx_http_session_jwt_keys_update(
    ngx_http_session_jwt_keys_t *src,
    ngx_log_t *log, ngx_uint_t status, const char *why, u_char *body,
    size_t len);
static void ngx_http_session_jwt_keys_warn(void *data, const char *msg);
static void ngx_http_session_jwt_keys_abandon(void *data);
static void ngx_http_session_jwt_keys_abandoned(
    ngx_http_session_jwt_fetch_t *fetch);
static ngx_int_t ngx_http_session_jwt_keys_wait(ngx_http_request_t *r,
    ngx_http_session_jwt_keys_t *src, ngx_msec_t delay);
static void ngx_http_session_jwt_keys_wake(ngx_http_session_jwt_keys_t *src);
static void ngx_http_session_jwt_keys_resume(ngx_event_t *ev);
static void ngx_http_session_jwt_keys_unpark(void *data);


ngx_http_session_jwt_keys_t *
ngx_http_session_jwt_keys_add(ngx_conf_t *cf, ngx_array_t *sources,
    ngx_str_t *uri, time_t valid)
{
    u_char                        *q;
    ngx_uint_t                     i;
    ngx_pool_cleanup_t            *cln;
    ngx_http_session_jwt_keys_t   *src, **srcp;

    srcp = sources->elts;

    if (sources->nelts == 0) {
        /* a single process's reload frees the old cycle's sets here */

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        cln->handler = ngx_http_session_jwt_keys_cleanup;
        cln->data = sources;
    }

    for (i = 0; i < sources->nelts; i++) {
        src = srcp[i];

        if (src->valid == valid
            && src->target.len == uri->len
            && ngx_strncmp(src->target.data, uri->data, uri->len) == 0)
        {
            return src;
        }
    }

    src = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_jwt_keys_t));
    if (src == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     src->args = { 0, NULL };
     *     src->set = NULL;
     *     src->generation = 0;
     *     src->expires = 0;
     *     src->failed = 0;
     *     src->kid_refetch = 0;
     *     src->started = 0;
     *     src->fetch = NULL;
     */

    src->target = *uri;
    src->uri = *uri;
    src->valid = valid;

    q = ngx_strlchr(uri->data, uri->data + uri->len, '?');

    if (q) {
        src->uri.len = q - uri->data;
        src->args.data = q + 1;
        src->args.len = uri->data + uri->len - q - 1;
    }

    ngx_queue_init(&src->waiters);

    srcp = ngx_array_push(sources);
    if (srcp == NULL) {
        return NULL;
    }

    *srcp = src;

    return src;
}


static void
ngx_http_session_jwt_keys_cleanup(void *data)
{
    ngx_http_session_jwt_keys_free(data);
}


void
ngx_http_session_jwt_keys_free(ngx_array_t *sources)
{
    ngx_uint_t                     i;
    ngx_http_session_jwt_keys_t  **srcp;

    srcp = sources->elts;

    for (i = 0; i < sources->nelts; i++) {
        if (srcp[i]->set) {
            ngx_session_keyset_free(srcp[i]->set);
            srcp[i]->set = NULL;
        }
    }
}


/*
 * SPEC 7, in the order the rules apply: a fetch in flight is waited for by
 * those that cannot do without it; no set ever: fetch (unless one failed
 * less than 10 s ago); an unknown kid: refetch at most once per 30 s; a
 * stale set: refetch in the background (unless one failed less than 10 s
 * ago), the stale set serving this request and the others meanwhile.  No
 * fetch starts sooner than NGX_HTTP_SESSION_JWT_FETCH_GAP after the last
 * one did: a request that needs one waits for the gap to pass.
 */

ngx_int_t
ngx_http_session_jwt_keys_get(ngx_http_request_t *r,
    ngx_http_session_jwt_keys_t *src, ngx_uint_t unknown_kid,
    const ngx_session_keyset_t **set, uint64_t *generation)
{
    time_t      now;
    ngx_int_t   rc;
    ngx_msec_t  since;
    ngx_uint_t  backoff;

    *set = src->set;
    *generation = src->generation;

    if (src->fetch) {
        if (src->set && !unknown_kid) {
            return NGX_OK;
        }

        if (unknown_kid) {
            /* joining the fetch in flight counts as the kid's refetch */
            src->kid_refetch = ngx_time();
        }

        return ngx_http_session_jwt_keys_wait(r, src, 0);
    }

    now = ngx_time();
    backoff = src->failed
              && now - src->failed < NGX_HTTP_SESSION_JWT_FETCH_RETRY;

    if (src->set && !unknown_kid) {
        if (now < src->expires || backoff) {
            return NGX_OK;
        }

        since = ngx_current_msec - src->started;

        if (src->started && since < NGX_HTTP_SESSION_JWT_FETCH_GAP) {
            return NGX_OK;
        }

        return ngx_http_session_jwt_keys_fetch(r, src, 1);
    }

    if (backoff) {
        return src->set ? NGX_DECLINED : NGX_OK;
    }

    if (unknown_kid && src->set
        && now - src->kid_refetch < NGX_HTTP_SESSION_JWT_KID_REFETCH)
    {
        return NGX_DECLINED;
    }

    since = ngx_current_msec - src->started;

    if (src->started && since < NGX_HTTP_SESSION_JWT_FETCH_GAP) {
        /* one started (and was abandoned, or ended) a moment ago */
        return ngx_http_session_jwt_keys_wait(r, src,
                                   NGX_HTTP_SESSION_JWT_FETCH_GAP - since);
    }

    rc = ngx_http_session_jwt_keys_fetch(r, src, 0);

    /* after the fetch took note of the stamp to restore if abandoned */

    if (rc == NGX_AGAIN && unknown_kid) {
        src->kid_refetch = now;
    }

    return rc;
}


/*
 * background: a refresh of a stale set, which r does not wait for (nginx
 * keeps r until the subrequest ends, as for proxy_cache_background_update).
 */

static ngx_int_t
ngx_http_session_jwt_keys_fetch(ngx_http_request_t *r,
    ngx_http_session_jwt_keys_t *src, ngx_uint_t background)
{
    ngx_uint_t                     flags;
    ngx_pool_cleanup_t            *cln;
    ngx_http_request_t            *sr;
    ngx_http_post_subrequest_t    *ps;
    ngx_http_session_jwt_fetch_t  *fetch;

    fetch = ngx_pcalloc(r->pool, sizeof(ngx_http_session_jwt_fetch_t));
    if (fetch == NULL) {
        return NGX_ERROR;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_session_jwt_keys_done;
    ps->data = fetch;

    flags = NGX_HTTP_SUBREQUEST_IN_MEMORY
            | (background ? NGX_HTTP_SUBREQUEST_BACKGROUND
                          : NGX_HTTP_SUBREQUEST_WAITED);

    if (ngx_http_subrequest(r, &src->uri, src->args.len ? &src->args : NULL,
                            &sr, ps, flags)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_session_jwt_keys_anonymous(r, sr) != NGX_OK) {
        return NGX_ERROR;
    }

    fetch->src = src;
    fetch->kid_refetch = src->kid_refetch;
    src->fetch = fetch;
    src->started = ngx_current_msec;

    if (src->started == 0) {
        src->started = 1;
    }

    cln->handler = ngx_http_session_jwt_keys_abandon;
    cln->data = fetch;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "session jwt: key request \"%V\", %s%s", &src->uri,
                   src->set ? "refetch" : "first fetch",
                   background ? " in the background" : "");

    return background ? NGX_OK : NGX_AGAIN;
}


/* the module's own fetch, which its checks leave alone */

ngx_uint_t
ngx_http_session_jwt_keys_is_fetch(ngx_http_request_t *r)
{
    return r != r->main
           && r->post_subrequest
           && r->post_subrequest->handler == ngx_http_session_jwt_keys_done;
}


/*
 * The subrequest would carry the client's request headers, its bearer
 * token among them, to the provider: it gets none, and no body.
 */

static ngx_int_t
ngx_http_session_jwt_keys_anonymous(ngx_http_request_t *r,
    ngx_http_request_t *sr)
{
    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;
    sr->request_body = NULL;

    return NGX_OK;
}


/*
 * Called when the subrequest finalizes, possibly twice (once with an error
 * status, again after its error page): only the first call counts.
 */

static ngx_int_t
ngx_http_session_jwt_keys_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_session_jwt_fetch_t *fetch = data;

    size_t                        len;
    u_char                       *body;
    ngx_uint_t                    status;
    const char                   *why;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_session_jwt_keys_t  *src;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "session jwt: key request done, rc %i, status %ui, %s",
                   rc, sr->headers_out.status,
                   fetch->done ? "again" : "first");

    if (fetch->done) {
        return rc;
    }

    fetch->done = 1;
    src = fetch->src;

    if (rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || rc == NGX_HTTP_REQUEST_TIME_OUT)
    {
        /* the client went away, not the provider: no verdict on it */
        ngx_http_session_jwt_keys_abandoned(fetch);
        return rc;
    }

    status = sr->headers_out.status;
    why = NULL;
    body = NULL;
    len = 0;

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        status = rc;

    } else if (sr->out && sr->out->buf) {
        /*
         * Judged even when the client's connection is in error (an HTTP/2
         * client gone, proxy_ignore_client_abort on): the provider's reply
         * is the same.  A chunked reply cut by subrequest_output_buffer_size
         * fails as JSON.
         */
        body = sr->out->buf->pos;
        len = sr->out->buf->last - sr->out->buf->pos;

    } else if (rc == NGX_ERROR || sr->connection->error) {
        clcf = ngx_http_get_module_loc_conf(sr, ngx_http_core_module);

        if (rc == NGX_ERROR
            || (status == NGX_HTTP_OK
                && sr->headers_out.content_length_n
                   > (off_t) clcf->subrequest_output_buffer_size))
        {
            /*
             * A reply larger than subrequest_output_buffer_size fails in
             * a body filter, which marks the client's connection in error:
             * that request ends with it, the parked ones are answered
             * below.
             */
            why = "the reply could not be read whole "
                  "(larger than subrequest_output_buffer_size?)";

        } else {
            /* the client went away before the reply came */
            ngx_http_session_jwt_keys_abandoned(fetch);
            return NGX_OK;
        }
    }

    ngx_http_session_metrics_key_fetch(sr,
        ngx_http_session_jwt_keys_update(src, sr->connection->log, status,
                                         why, body, len)
        == NGX_OK);

    src->fetch = NULL;
    ngx_http_session_jwt_keys_wake(src);

    /*
     * The provider's failure is ours to handle: the client request that
     * carried the fetch goes on (with the last good set, or a 503 of its
     * own) rather than being ended by nginx's error handling.
     */

    if (rc == NGX_ERROR
        || (rc >= NGX_HTTP_SPECIAL_RESPONSE
            && rc != NGX_HTTP_REQUEST_TIME_OUT
            && rc != NGX_HTTP_CLIENT_CLOSED_REQUEST))
    {
        return NGX_OK;
    }

    return rc;
}


/*
 * A set's generation: the first bytes of SHA-256 of the document it was
 * loaded from, so that every worker that fetched the same set has the same
 * number (a shared token cache keys on it) and a changed set a new one.
 * Never 0, the number of "no fetched set".
 */

static uint64_t
ngx_http_session_jwt_keys_generation(u_char *body, size_t len)
{
    u_char    digest[SHA256_DIGEST_LENGTH];
    uint64_t  g;

    SHA256(body, len, digest);
    ngx_memcpy(&g, digest, sizeof(uint64_t));

    return g ? g : 1;
}


/*
 * The one place a fetch is judged (SPEC 7): a good set replaces the last
 * one and gets a new generation; a failure keeps it, is logged at error
 * with the status and the reason (never key material), and holds off the
 * next attempt for NGX_HTTP_SESSION_JWT_FETCH_RETRY seconds.
 */

static ngx_int_t
ngx_http_session_jwt_keys_update(ngx_http_session_jwt_keys_t *src,
    ngx_log_t *log, ngx_uint_t status, const char *why, u_char *body,
    size_t len)
{
    char                               err[256];
    ngx_session_keyset_t              *ks;
    ngx_session_keyset_loader_t        loader;
    ngx_http_session_jwt_keys_warn_t   warn;

    ks = NULL;

    if (why == NULL) {
        if (status != NGX_HTTP_OK) {
            why = "the status is not 200";

        } else if (len == 0) {
            why = "the reply is empty";

        } else if (len > NGX_SESSION_KEYSET_MAX) {
            why = "the reply is larger than a key set may be";
        }
    }

    if (why == NULL) {
        ks = ngx_session_keyset_create();

        warn.log = log;
        warn.src = src;
        loader.warn = ngx_http_session_jwt_keys_warn;
        loader.data = &warn;

        if (ks == NULL) {
            why = "out of memory";

        } else if (ngx_session_keyset_load(ks, &loader, body, len, err,
                                           sizeof(err))
                   != NGX_SESSION_OK)
        {
            ngx_session_keyset_free(ks);
            ks = NULL;
            why = err;
        }
    }

    if (why) {
        src->failed = ngx_time();

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "session jwt: key request \"%V\" failed "
                      "(status %ui): %s; %s", &src->uri, status, why,
                      src->set ? "the last good key set stays in use"
                               : "no key set yet, tokens are answered 503");
        return NGX_ERROR;
    }

    if (src->set) {
        ngx_session_keyset_free(src->set);
    }

    src->set = ks;
    src->generation = ngx_http_session_jwt_keys_generation(body, len);
    src->expires = ngx_time() + src->valid;
    src->failed = 0;

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "session jwt: key request \"%V\": %uz keys, "
                  "used for %T s", &src->uri, ngx_session_keyset_count(ks),
                  src->valid);

    return NGX_OK;
}


/* SPEC 5: a key that is not for us is skipped, and the operator told */

static void
ngx_http_session_jwt_keys_warn(void *data, const char *msg)
{
    ngx_http_session_jwt_keys_warn_t *warn = data;

    ngx_log_error(NGX_LOG_WARN, warn->log, 0,
                  "session jwt: key request \"%V\": %s", &warn->src->uri,
                  msg);
}


/* the request that carried the fetch ended before the fetch did */

static void
ngx_http_session_jwt_keys_abandon(void *data)
{
    ngx_http_session_jwt_fetch_t *fetch = data;

    if (fetch->done) {
        return;
    }

    ngx_http_session_jwt_keys_abandoned(fetch);
}


static void
ngx_http_session_jwt_keys_abandoned(ngx_http_session_jwt_fetch_t *fetch)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "session jwt: key request \"%V\" abandoned",
                   &fetch->src->uri);

    fetch->done = 1;

    if (fetch->src->fetch == fetch) {
        fetch->src->fetch = NULL;
    }

    /* no verdict on the provider: the kid's refetch is still to be had */
    fetch->src->kid_refetch = fetch->kid_refetch;

    /* the parked requests resume: the first starts another fetch */
    ngx_http_session_jwt_keys_wake(fetch->src);
}


/*
 * r waits for the fetch in flight, or with delay for the gap before the
 * next fetch may start (and for any fetch that ends before it passes).
 */

static ngx_int_t
ngx_http_session_jwt_keys_wait(ngx_http_request_t *r,
    ngx_http_session_jwt_keys_t *src, ngx_msec_t delay)
{
    ngx_pool_cleanup_t             *cln;
    ngx_http_session_jwt_waiter_t  *w;

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_session_jwt_waiter_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    w->request = r;
    w->event.handler = ngx_http_session_jwt_keys_resume;
    w->event.data = w;
    w->event.log = r->connection->log;

    ngx_queue_insert_tail(&src->waiters, &w->queue);
    w->queued = 1;

    cln->handler = ngx_http_session_jwt_keys_unpark;
    cln->data = w;

    if (delay) {
        ngx_add_timer(&w->event, delay);
    }

    /* as limit_req's delay: a client that goes away ends the request */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "session jwt: waiting for key request \"%V\"", &src->uri);

    return NGX_AGAIN;
}


static void
ngx_http_session_jwt_keys_wake(ngx_http_session_jwt_keys_t *src)
{
    ngx_queue_t                    *q;
    ngx_http_session_jwt_waiter_t  *w;

    while (!ngx_queue_empty(&src->waiters)) {
        q = ngx_queue_head(&src->waiters);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_session_jwt_waiter_t, queue);
        w->queued = 0;

        if (w->event.timer_set) {
            ngx_del_timer(&w->event);
        }

        ngx_post_event(&w->event, &ngx_posted_events);
    }
}


static void
ngx_http_session_jwt_keys_resume(ngx_event_t *ev)
{
    ngx_http_session_jwt_waiter_t *w = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (w->queued) {
        /* the gap has passed */
        ngx_queue_remove(&w->queue);
        w->queued = 0;
    }

    r = w->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/* the parked request ended (client gone, timed out): forget it */

static void
ngx_http_session_jwt_keys_unpark(void *data)
{
    ngx_http_session_jwt_waiter_t *w = data;

    if (w->queued) {
        ngx_queue_remove(&w->queue);
        w->queued = 0;
    }

    if (w->event.posted) {
        ngx_delete_posted_event(&w->event);
    }

    if (w->event.timer_set) {
        ngx_del_timer(&w->event);
    }
}
