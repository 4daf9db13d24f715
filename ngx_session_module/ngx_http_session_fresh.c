
/*
 * The cache Redis keeps fresh: an index per store and worker process,
 * from the render options and request_id to the rendered body, its ETag,
 * the session's owner and status, and the deadline its PTTL sets.
 *
 * Staleness: an entry is as fresh as the push connection is quick.  Redis
 * sends the invalidation when the writer's EXEC runs; until it has been
 * read here (the push delay: well under a millisecond on loopback, more
 * on a loaded or distant store), the entry it drops may still be served.
 * A store read that overlaps a reported change of its session (the ids of
 * the last 64 changes are remembered; beyond, or after a flush, any
 * overlap counts) is not kept: the change may be older than what it read.
 * A lost connection, or a new one, drops every entry: changes in between
 * are unknown.
 *
 * TTL: the deadline is the read's start plus the PTTL Redis gave in the
 * same transaction, which is never later than the key's own expiry.
 *
 * Memory: entries in one allocation each, least recently used dropped
 * first, their total at most the budget (session_result_cache's size, or
 * a share of the shared zone's: see ngx_http_session_merge_push()).
 *
 * The shared body cache: an entry holds the body's key in the zone (the
 * digest of what the body is made of) instead of the body and its ETag; a
 * hit is then this index's checks and one lookup in the zone by that key,
 * done by the caller.  An entry whose body the zone has evicted is a miss
 * there: the store is read, and the entry replaced.  Whatever the zone
 * holds under the key is the body of the values read (the key is their
 * digest), so no check here is lost.
 */


#include "ngx_http_session_fresh.h"
#include "ngx_http_session_push.h"
#include "ngx_session_json.h"


/* one entry may take at most this share of the budget */
#define NGX_HTTP_SESSION_FRESH_SHARE  8

/* the ids of the last changes reported, for reads that overlap them */
#define NGX_HTTP_SESSION_FRESH_RECENT  64


struct ngx_http_session_fresh_s {
    ngx_http_session_push_t     *push;
    ngx_rbtree_t                 tree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  lru;       /* most recently used first */
    size_t                       size;
    size_t                       max;
    ngx_uint_t                   epoch;     /* of the entries held */
    ngx_uint_t                   seq;       /* changes reported */
    ngx_uint_t                   flushed;   /* seq of the last "any" */
    uint32_t                     recent[NGX_HTTP_SESSION_FRESH_RECENT];
};


typedef struct {
    ngx_str_node_t               sn;        /* key: crc32 of the key */
    ngx_queue_t                  lru;
    size_t                       size;
    ngx_msec_t                   expires;
    unsigned                     expiry:1;
    unsigned                     has_owner:1;
    ngx_str_t                    owner;
    ngx_str_t                    body;
    ngx_str_t                    etag;
    ngx_str_t                    status;
    u_char                      *ref;       /* NULL: the body is here */
    /* the key, owner, body, ETag, status and ref follow */
} ngx_http_session_fresh_entry_t;


static void ngx_http_session_fresh_changed(void *data, ngx_str_t *id);
static ngx_uint_t ngx_http_session_fresh_overlaps(
    ngx_http_session_fresh_t *fresh, ngx_http_session_fresh_ticket_t *ticket,
    ngx_str_t *key);
static ngx_uint_t ngx_http_session_fresh_current(
    ngx_http_session_fresh_t *fresh);
static void ngx_http_session_fresh_drop_id(ngx_http_session_fresh_t *fresh,
    u_char options, ngx_str_t *id);
static ngx_http_session_fresh_entry_t *ngx_http_session_fresh_lookup(
    ngx_http_session_fresh_t *fresh, ngx_str_t *key);
static void ngx_http_session_fresh_drop(ngx_http_session_fresh_t *fresh,
    ngx_http_session_fresh_entry_t *e);
static void ngx_http_session_fresh_drop_all(ngx_http_session_fresh_t *fresh);
static void ngx_http_session_fresh_cleanup(void *data);
static u_char *ngx_http_session_fresh_copy(ngx_str_t *dst, u_char *p,
    u_char *src, size_t len);


ngx_http_session_fresh_t *
ngx_http_session_fresh_conf(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *uscf,
    ngx_str_t *prefix, size_t size)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_session_push_t   *push;
    ngx_http_session_fresh_t  *fresh;

    push = ngx_http_session_push_channel(cf, uscf, prefix);
    if (push == NULL) {
        return NULL;
    }

    fresh = ngx_http_session_push_listener(push,
                                           ngx_http_session_fresh_changed);
    if (fresh) {
        return fresh;
    }

    fresh = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_fresh_t));
    if (fresh == NULL) {
        return NULL;
    }

    /* a worker's entries are malloc()ed: freed with the cycle at its exit */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_session_fresh_cleanup;
    cln->data = fresh;

    fresh->push = push;
    fresh->max = size;
    ngx_rbtree_init(&fresh->tree, &fresh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&fresh->lru);

    if (ngx_http_session_push_listen(push, ngx_http_session_fresh_changed,
                                     fresh)
        != NGX_OK)
    {
        return NULL;
    }

    return fresh;
}


ngx_int_t
ngx_http_session_fresh_get(ngx_http_request_t *r,
    ngx_http_session_fresh_t *fresh, ngx_str_t *key, ngx_str_t *owner,
    ngx_http_session_fresh_hit_t *hit)
{
    u_char                          *p;
    ngx_http_session_fresh_entry_t  *e;

    /* the reports already received first: a writer's EXEC that has been
       answered is, on loopback, as good as known here */
    ngx_http_session_push_sync(fresh->push);

    if (!ngx_http_session_fresh_current(fresh)) {
        return NGX_DECLINED;
    }

    e = ngx_http_session_fresh_lookup(fresh, key);
    if (e == NULL) {
        return NGX_DECLINED;
    }

    if (e->expiry && (ngx_msec_int_t) (e->expires - ngx_current_msec) <= 0) {
        ngx_http_session_fresh_drop(fresh, e);
        return NGX_DECLINED;
    }

    /* not this caller's: the store read decides, as for anyone */

    if (owner
        && !(e->has_owner
             && e->owner.len > 0
             && e->owner.len == owner->len
             && ngx_memcmp(e->owner.data, owner->data, owner->len) == 0))
    {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, e->body.len + e->etag.len + e->status.len
                             + (e->ref ? NGX_HTTP_SESSION_ZONE_KEY : 0));
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_session_fresh_copy(&hit->body, p, e->body.data, e->body.len);
    p = ngx_http_session_fresh_copy(&hit->etag, p, e->etag.data, e->etag.len);
    p = ngx_http_session_fresh_copy(&hit->status, p, e->status.data,
                                    e->status.len);

    if (e->status.data == NULL) {
        hit->status.data = NULL;
    }

    hit->ref = NULL;

    if (e->ref) {
        hit->ref = p;
        ngx_memcpy(p, e->ref, NGX_HTTP_SESSION_ZONE_KEY);
    }

    ngx_queue_remove(&e->lru);
    ngx_queue_insert_head(&fresh->lru, &e->lru);

    return NGX_OK;
}


void
ngx_http_session_fresh_ticket(ngx_http_session_fresh_t *fresh,
    ngx_http_session_fresh_ticket_t *ticket)
{
    ticket->epoch = ngx_http_session_fresh_current(fresh) ? fresh->epoch : 0;
    ticket->seq = fresh->seq;
    ticket->start = ngx_current_msec;
}


void
ngx_http_session_fresh_put(ngx_http_session_fresh_t *fresh,
    ngx_http_session_fresh_ticket_t *ticket, ngx_str_t *key,
    ngx_session_str_t *owner, ngx_session_str_t *status, int64_t ttl_ms,
    ngx_addr_t *peer, ngx_str_t *body, ngx_str_t *etag, u_char *ref,
    ngx_log_t *log)
{
    u_char                          *p;
    size_t                           size, blen, elen;
    ngx_queue_t                     *q;
    ngx_http_session_fresh_entry_t  *e;

    if (ticket->epoch == 0
        || !ngx_http_session_fresh_current(fresh)
        || ticket->epoch != fresh->epoch
        || ngx_http_session_fresh_overlaps(fresh, ticket, key)
        || ttl_ms == 0 || ttl_ms < -1)
    {
        return;
    }

    if (!ngx_http_session_push_watches(fresh->push, peer)) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "session fresh: read from %V, not watched: not kept",
                       &peer->name);
        return;
    }

    /* the shared cache keeps the body and its ETag, this index its key */

    blen = ref ? 0 : body->len;
    elen = ref ? 0 : etag->len;

    size = sizeof(ngx_http_session_fresh_entry_t) + key->len + owner->len
           + blen + elen + status->len + (ref ? NGX_HTTP_SESSION_ZONE_KEY : 0);

    if (size > fresh->max / NGX_HTTP_SESSION_FRESH_SHARE) {
        return;
    }

    e = ngx_http_session_fresh_lookup(fresh, key);
    if (e) {
        ngx_http_session_fresh_drop(fresh, e);
    }

    while (fresh->size + size > fresh->max && !ngx_queue_empty(&fresh->lru)) {
        q = ngx_queue_last(&fresh->lru);
        ngx_http_session_fresh_drop(fresh,
                   ngx_queue_data(q, ngx_http_session_fresh_entry_t, lru));
    }

    e = ngx_alloc(size, log);
    if (e == NULL) {
        return;
    }

    e->size = size;
    e->expiry = (ttl_ms > 0);
    e->expires = ticket->start + (ngx_msec_t) (ttl_ms > 0 ? ttl_ms : 0);
    e->has_owner = (owner->data != NULL);

    p = (u_char *) (e + 1);
    p = ngx_http_session_fresh_copy(&e->sn.str, p, key->data, key->len);
    p = ngx_http_session_fresh_copy(&e->owner, p, (u_char *) owner->data,
                                    owner->len);
    p = ngx_http_session_fresh_copy(&e->body, p, body->data, blen);
    p = ngx_http_session_fresh_copy(&e->etag, p, etag->data, elen);
    p = ngx_http_session_fresh_copy(&e->status, p, (u_char *) status->data,
                                    status->len);

    if (status->data == NULL) {
        e->status.data = NULL;
    }

    e->ref = NULL;

    if (ref) {
        e->ref = p;
        ngx_memcpy(p, ref, NGX_HTTP_SESSION_ZONE_KEY);
    }

    e->sn.node.key = ngx_crc32_short(key->data, key->len);
    ngx_rbtree_insert(&fresh->tree, &e->sn.node);
    ngx_queue_insert_head(&fresh->lru, &e->lru);
    fresh->size += size;
}


/* the push channel's report */

static void
ngx_http_session_fresh_changed(void *data, ngx_str_t *id)
{
    ngx_http_session_fresh_t *fresh = data;

    fresh->seq++;

    if (id == NULL) {
        fresh->flushed = fresh->seq;
        ngx_http_session_fresh_drop_all(fresh);
        return;
    }

    fresh->recent[fresh->seq % NGX_HTTP_SESSION_FRESH_RECENT] =
                                         ngx_crc32_short(id->data, id->len);

    /* the render options: session_result_pretty off and on */
    ngx_http_session_fresh_drop_id(fresh, '0', id);
    ngx_http_session_fresh_drop_id(fresh, '1', id);
}


/*
 * A change of this session (or of any, or more changes than are
 * remembered) was reported while it was read: what was read may be older
 * than the change, and is not kept.  A hash collision only costs a miss.
 */

static ngx_uint_t
ngx_http_session_fresh_overlaps(ngx_http_session_fresh_t *fresh,
    ngx_http_session_fresh_ticket_t *ticket, ngx_str_t *key)
{
    uint32_t    hash;
    ngx_uint_t  seq;

    if (ticket->seq == fresh->seq) {
        return 0;
    }

    if (fresh->seq - ticket->seq >= NGX_HTTP_SESSION_FRESH_RECENT
        || fresh->flushed > ticket->seq)
    {
        return 1;
    }

    /* the key is the render options, then the id */
    hash = ngx_crc32_short(key->data + 1, key->len - 1);

    for (seq = ticket->seq + 1; seq != fresh->seq + 1; seq++) {
        if (fresh->recent[seq % NGX_HTTP_SESSION_FRESH_RECENT] == hash) {
            return 1;
        }
    }

    return 0;
}


/*
 * The entries are good only while the connection that reported changes
 * since they were read is the one up now.
 */

static ngx_uint_t
ngx_http_session_fresh_current(ngx_http_session_fresh_t *fresh)
{
    ngx_uint_t  epoch;

    if (!ngx_http_session_push_up(fresh->push, &epoch)) {
        ngx_http_session_fresh_drop_all(fresh);
        return 0;
    }

    if (epoch != fresh->epoch) {
        ngx_http_session_fresh_drop_all(fresh);
        fresh->epoch = epoch;
    }

    return 1;
}


static void
ngx_http_session_fresh_drop_id(ngx_http_session_fresh_t *fresh,
    u_char options, ngx_str_t *id)
{
    u_char                           buf[1 + NGX_SESSION_REQUEST_ID_MAX];
    ngx_str_t                        key;
    ngx_http_session_fresh_entry_t  *e;

    if (id->len >= sizeof(buf)) {
        /* no such id is ever read (SPEC 3): nothing kept under it */
        return;
    }

    buf[0] = options;
    ngx_memcpy(buf + 1, id->data, id->len);

    key.data = buf;
    key.len = 1 + id->len;

    e = ngx_http_session_fresh_lookup(fresh, &key);
    if (e) {
        ngx_http_session_fresh_drop(fresh, e);
    }
}


static ngx_http_session_fresh_entry_t *
ngx_http_session_fresh_lookup(ngx_http_session_fresh_t *fresh, ngx_str_t *key)
{
    return (ngx_http_session_fresh_entry_t *)
               ngx_str_rbtree_lookup(&fresh->tree, key,
                                     ngx_crc32_short(key->data, key->len));
}


static void
ngx_http_session_fresh_drop(ngx_http_session_fresh_t *fresh,
    ngx_http_session_fresh_entry_t *e)
{
    ngx_rbtree_delete(&fresh->tree, &e->sn.node);
    ngx_queue_remove(&e->lru);
    fresh->size -= e->size;
    ngx_free(e);
}


static void
ngx_http_session_fresh_drop_all(ngx_http_session_fresh_t *fresh)
{
    ngx_queue_t  *q;

    while (!ngx_queue_empty(&fresh->lru)) {
        q = ngx_queue_head(&fresh->lru);
        ngx_http_session_fresh_drop(fresh,
                   ngx_queue_data(q, ngx_http_session_fresh_entry_t, lru));
    }
}


static void
ngx_http_session_fresh_cleanup(void *data)
{
    ngx_http_session_fresh_drop_all(data);
}


static u_char *
ngx_http_session_fresh_copy(ngx_str_t *dst, u_char *p, u_char *src,
    size_t len)
{
    dst->data = p;
    dst->len = len;

    return (len && src) ? ngx_cpymem(p, src, len) : p;
}
