
/*
 * Waiting requests, per worker process: a tree of the session ids waited
 * on, each with the queue of its parked requests, and one timer per
 * request.  A change reported by the push connection wakes the queue of
 * that id; "anything may have changed" wakes every queue.  A woken request
 * reads the store afresh (the driver's callback) and is answered, or parked
 * again when its session still has the client's ETag.
 *
 * Memory: a waiter lives in its request's pool; an id node (about 100
 * bytes and the id) is shared by the requests on that id and freed with
 * the last of them.  Nothing else grows with the number of waiters.
 *
 * A change between the store read and the parking must not be missed: each
 * id counts the changes reported for it (gen), each connection of the push
 * channel has its epoch, and a waiter notes both when its read starts.  A
 * waiter whose id changed since is woken at once; one whose connection
 * changed (or is down) is answered at once.
 */


#include "ngx_http_session_wait.h"
#include "ngx_http_session_check.h"
#include "ngx_http_session_push.h"
#include "ngx_http_session_metrics.h"
#include "ngx_session_push.h"


/* the store reads of one wait: a session rewritten unchanged again and again
   ends the wait early rather than reading without end */
#define NGX_HTTP_SESSION_WAIT_PASSES  64


struct ngx_http_session_waits_s {
    ngx_http_session_push_t        *push;
    ngx_rbtree_t                    tree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     ids;       /* every id node */
};


typedef struct {
    ngx_str_node_t                  sn;        /* the id, follows the struct;
                                                  key: its crc32 */
    ngx_queue_t                     link;      /* in waits->ids */
    ngx_queue_t                     waiters;   /* the parked ones */
    ngx_queue_t                     woken;     /* behind the leader */
    void                           *leader;    /* reading for them all */
    ngx_uint_t                      refs;      /* waiters of any state */
    ngx_uint_t                      gen;       /* changes reported */
} ngx_http_session_wait_id_t;


struct ngx_http_session_wait_s {
    ngx_http_request_t             *request;
    ngx_http_session_waits_t       *waits;
    ngx_http_session_wait_id_t     *id;
    ngx_queue_t                     queue;     /* in id->waiters, parked */
    ngx_event_t                     event;     /* deadline, and wake-up */
    ngx_msec_t                      deadline;
    ngx_uint_t                      gen;
    ngx_uint_t                      epoch;
    ngx_uint_t                      passes;

    ngx_http_session_wait_done_pt   done;
    void                           *data;

    unsigned                        parked:1;
    unsigned                        woken:1;   /* in id->woken */
    unsigned                        applied:1;
};


static void ngx_http_session_wait_changed(void *data, ngx_str_t *id);
static void ngx_http_session_wait_wake_id(ngx_http_session_wait_id_t *node);
static void ngx_http_session_wait_unpark(ngx_http_session_wait_t *w);
static void ngx_http_session_wait_release(ngx_http_session_wait_t *w);
static void ngx_http_session_wait_handler(ngx_event_t *ev);
static void ngx_http_session_wait_cleanup(void *data);
static ngx_uint_t ngx_http_session_wait_any(ngx_table_elt_t *inm);


static ngx_str_t  ngx_http_session_prefer = ngx_string("Prefer");


ngx_http_session_waits_t *
ngx_http_session_wait_conf(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *uscf,
    ngx_str_t *prefix)
{
    ngx_http_session_push_t   *push;
    ngx_http_session_waits_t  *waits;

    push = ngx_http_session_push_channel(cf, uscf, prefix);
    if (push == NULL) {
        return NULL;
    }

    waits = ngx_http_session_push_listener(push,
                                           ngx_http_session_wait_changed);
    if (waits) {
        return waits;
    }

    waits = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_waits_t));
    if (waits == NULL) {
        return NULL;
    }

    waits->push = push;
    ngx_rbtree_init(&waits->tree, &waits->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&waits->ids);

    if (ngx_http_session_push_listen(push, ngx_http_session_wait_changed,
                                     waits)
        != NGX_OK)
    {
        return NULL;
    }

    return waits;
}


/*
 * "If-None-Match: *" matches every ETag: a change would re-park the
 * request each time, holding it for the whole wait; it is answered at once.
 */

static ngx_uint_t
ngx_http_session_wait_any(ngx_table_elt_t *inm)
{
    u_char  *p, *last;

    if (inm == NULL) {
        return 0;
    }

    p = inm->value.data;
    last = p + inm->value.len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    return last - p == 1 && *p == '*';
}


ngx_msec_t
ngx_http_session_wait_prefer(ngx_http_request_t *r)
{
    uint64_t          secs;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (ngx_http_session_wait_any(r->headers_in.if_none_match)) {
        return 0;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == ngx_http_session_prefer.len
            && ngx_strncasecmp(h[i].key.data, ngx_http_session_prefer.data,
                               ngx_http_session_prefer.len) == 0
            && ngx_session_prefer_wait(h[i].value.data, h[i].value.len, &secs)
               == NGX_SESSION_OK)
        {
            /* the longest session_result_wait_max first: a 32-bit
               ngx_msec_t would wrap */
            secs = ngx_min(secs, ngx_http_session_check_wait_max.high / 1000);

            return (ngx_msec_t) secs * 1000;
        }
    }
}


ngx_int_t
ngx_http_session_wait_start(ngx_http_request_t *r,
    ngx_http_session_waits_t *waits, ngx_str_t *id, ngx_msec_t timeout,
    ngx_http_session_wait_done_pt done, void *data,
    ngx_http_session_wait_t **wp)
{
    uint32_t                     hash;
    ngx_uint_t                   epoch;
    ngx_http_cleanup_t          *cln;
    ngx_http_session_wait_t     *w;
    ngx_http_session_wait_id_t  *node;

    if (ngx_exiting || !ngx_http_session_push_up(waits->push, &epoch)) {
        return NGX_DECLINED;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_session_wait_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    hash = ngx_crc32_short(id->data, id->len);

    node = (ngx_http_session_wait_id_t *)
               ngx_str_rbtree_lookup(&waits->tree, id, hash);

    if (node == NULL) {
        node = ngx_alloc(sizeof(ngx_http_session_wait_id_t) + id->len,
                         r->connection->log);
        if (node == NULL) {
            return NGX_ERROR;
        }

        node->sn.node.key = hash;
        node->sn.str.data = (u_char *) (node + 1);
        node->sn.str.len = id->len;
        ngx_memcpy(node->sn.str.data, id->data, id->len);
        node->refs = 0;
        node->gen = 0;
        node->leader = NULL;
        ngx_queue_init(&node->waiters);
        ngx_queue_init(&node->woken);

        ngx_rbtree_insert(&waits->tree, &node->sn.node);
        ngx_queue_insert_tail(&waits->ids, &node->link);
    }

    node->refs++;

    w->request = r;
    w->waits = waits;
    w->id = node;
    w->gen = node->gen;
    w->epoch = epoch;
    w->deadline = ngx_current_msec + timeout;
    w->done = done;
    w->data = data;

    w->event.handler = ngx_http_session_wait_handler;
    w->event.data = w;
    w->event.log = r->connection->log;

    cln->handler = ngx_http_session_wait_cleanup;
    cln->data = w;

    *wp = w;

    return NGX_OK;
}


ngx_int_t
ngx_http_session_wait_park(ngx_http_session_wait_t *w)
{
    ngx_uint_t           epoch;
    ngx_msec_int_t       left;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = w->request;
    c = r->connection;

    ngx_http_session_wait_release(w);

    left = (ngx_msec_int_t) (w->deadline - ngx_current_msec);

    if (left <= 0
        || ngx_exiting
        || !ngx_http_session_push_up(w->waits->push, &epoch)
        || epoch != w->epoch
        || w->passes >= NGX_HTTP_SESSION_WAIT_PASSES
        || c->error
        || c->read->eof
        || c->read->pending_eof)
    {
        return NGX_DECLINED;
    }

    w->applied = 1;
    w->passes++;

    r->main->count++;
    r->write_event_handler = ngx_http_request_empty_handler;

    /* a closed connection (HTTP/1.1) or a reset stream (HTTP/2) ends it */
    r->read_event_handler = ngx_http_test_reading;

    if (w->gen != w->id->gen) {
        /* it changed while it was read: read it again */
        ngx_post_event(&w->event, &ngx_posted_events);
        return NGX_OK;
    }

    ngx_queue_insert_tail(&w->id->waiters, &w->queue);
    w->parked = 1;
    ngx_http_session_metrics_waiting(r, 1);

    ngx_add_timer(&w->event, (ngx_msec_t) left);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "session wait: \"%V\" held for %M ms", &w->id->sn.str,
                   (ngx_msec_t) left);

    return NGX_OK;
}


ngx_uint_t
ngx_http_session_wait_answer(ngx_http_session_wait_t *w)
{
    ngx_http_session_wait_release(w);

    return w->applied;
}


/* the push channel's report: one id changed, or (NULL) any may have */

static void
ngx_http_session_wait_changed(void *data, ngx_str_t *id)
{
    ngx_queue_t                 *q;
    ngx_http_session_waits_t    *waits = data;
    ngx_http_session_wait_id_t  *node;

    if (id) {
        node = (ngx_http_session_wait_id_t *)
                   ngx_str_rbtree_lookup(&waits->tree, id,
                                         ngx_crc32_short(id->data, id->len));
        if (node) {
            ngx_http_session_wait_wake_id(node);
        }

        return;
    }

    for (q = ngx_queue_head(&waits->ids);
         q != ngx_queue_sentinel(&waits->ids);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_session_wait_id_t, link);
        ngx_http_session_wait_wake_id(node);
    }
}


/*
 * One woken request reads the store for all who wait on the session: the
 * others follow once its read ended, when the body is in the fresh index
 * (no thundering herd of reads on one change).  Woken ones run from the
 * posted events, after this report is done.
 */

static void
ngx_http_session_wait_wake_id(ngx_http_session_wait_id_t *node)
{
    ngx_queue_t              *q;
    ngx_http_session_wait_t  *w;

    node->gen++;

    while (!ngx_queue_empty(&node->waiters)) {
        q = ngx_queue_head(&node->waiters);
        w = ngx_queue_data(q, ngx_http_session_wait_t, queue);

        ngx_http_session_wait_unpark(w);

        if (node->leader == NULL) {
            node->leader = w;
            ngx_post_event(&w->event, &ngx_posted_events);
            continue;
        }

        ngx_queue_insert_tail(&node->woken, &w->queue);
        w->woken = 1;
        ngx_http_session_metrics_waiting(w->request, 1);
    }
}


/* the leader's read ended (or its request did): the others read now */

static void
ngx_http_session_wait_release(ngx_http_session_wait_t *w)
{
    ngx_queue_t                 *q;
    ngx_http_session_wait_t     *f;
    ngx_http_session_wait_id_t  *node;

    node = w->id;

    if (node->leader != w) {
        return;
    }

    node->leader = NULL;

    while (!ngx_queue_empty(&node->woken)) {
        q = ngx_queue_head(&node->woken);
        f = ngx_queue_data(q, ngx_http_session_wait_t, queue);

        ngx_queue_remove(q);
        f->woken = 0;
        ngx_http_session_metrics_waiting(f->request, -1);
        ngx_post_event(&f->event, &ngx_posted_events);
    }
}


static void
ngx_http_session_wait_unpark(ngx_http_session_wait_t *w)
{
    if (w->parked || w->woken) {
        ngx_queue_remove(&w->queue);
        w->parked = 0;
        w->woken = 0;
        ngx_http_session_metrics_waiting(w->request, -1);
    }

    if (w->event.timer_set) {
        ngx_del_timer(&w->event);
    }
}


/* the deadline, or a wake-up: the driver reads the session again */

static void
ngx_http_session_wait_handler(ngx_event_t *ev)
{
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_http_session_wait_t  *w;

    w = ev->data;
    r = w->request;
    c = r->connection;

    ngx_http_session_wait_unpark(w);
    ev->timedout = 0;

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "session wait: \"%V\" read again", &w->id->sn.str);

    /* changes from now on are what the next parking looks for */
    w->gen = w->id->gen;
    (void) ngx_http_session_push_up(w->waits->push, &w->epoch);

    r->read_event_handler = ngx_http_block_reading;

    w->done(r, w->data);

    ngx_http_run_posted_requests(c);
}


/* the request ends, however it ends */

static void
ngx_http_session_wait_cleanup(void *data)
{
    ngx_http_session_wait_t *w = data;

    ngx_http_session_wait_id_t  *node;

    ngx_http_session_wait_unpark(w);
    ngx_http_session_wait_release(w);

    if (w->event.posted) {
        ngx_delete_posted_event(&w->event);
    }

    node = w->id;

    if (--node->refs == 0) {
        ngx_rbtree_delete(&w->waits->tree, &node->sn.node);
        ngx_queue_remove(&node->link);
        ngx_free(node);
    }
}
