
/*
 * Shared caches, the way ssl_session_cache and limit_req_zone keep theirs:
 * the slab pool of an ngx_shared_memory_add() zone, an rbtree of entries
 * keyed by the first bytes of a digest (uniform already), a queue from the
 * most to the least recently used.  Only copies are made under the pool's
 * mutex; digests are taken, tokens verified and bodies rendered by the
 * caller, outside it.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_session_zone.h"


/* the zone's header, in shared memory */
typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;     /* the most recent first */
    uint64_t                     epoch;     /* configurations loaded */
} ngx_http_session_zone_sh_t;


/* per configuration cycle: zone->data */
typedef struct {
    ngx_http_session_zone_sh_t  *sh;
    ngx_slab_pool_t             *shpool;
    uint64_t                     epoch;     /* this cycle's */
    size_t                       limit;     /* the largest entry kept */
} ngx_http_session_zone_ctx_t;


/* an entry; node.key is the digest's first bytes */
typedef struct {
    ngx_rbtree_node_t            node;
    ngx_queue_t                  queue;
    u_char                       key[NGX_HTTP_SESSION_ZONE_KEY];
    time_t                       expires;   /* 0: none */
    size_t                       len;
    u_char                       data[1];
} ngx_http_session_zone_entry_t;


static ngx_int_t ngx_http_session_zone_init(ngx_shm_zone_t *zone,
    void *data);
static void ngx_http_session_zone_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_session_zone_entry_t *ngx_http_session_zone_find(
    ngx_http_session_zone_ctx_t *ctx, u_char *key);
static void ngx_http_session_zone_delete(ngx_http_session_zone_ctx_t *ctx,
    ngx_http_session_zone_entry_t *e);
static ngx_rbtree_key_t ngx_http_session_zone_node_key(u_char *key);


ngx_int_t
ngx_http_session_zone_add(ngx_conf_t *cf, ngx_str_t *value, void *tag,
    ngx_shm_zone_t **zone)
{
    u_char                       *p;
    ssize_t                       size;
    ngx_str_t                     name, s;
    ngx_http_session_zone_ctx_t  *ctx;

    if (value->len <= sizeof("shared:") - 1
        || ngx_strncmp(value->data, "shared:", sizeof("shared:") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    name.data = value->data + sizeof("shared:") - 1;
    p = ngx_strlchr(name.data, value->data + value->len, ':');

    if (p == NULL || p == name.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\": use \"shared:NAME:SIZE\"",
                           value);
        return NGX_ERROR;
    }

    name.len = p - name.data;

    s.data = p + 1;
    s.len = value->data + value->len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR || size < NGX_HTTP_SESSION_ZONE_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\": 64k or more", &s);
        return NGX_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_zone_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->limit = size / 8;

    *zone = ngx_shared_memory_add(cf, &name, size, tag);
    if (*zone == NULL) {
        return NGX_ERROR;
    }

    if ((*zone)->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used by another cache",
                           &name);
        return NGX_ERROR;
    }

    (*zone)->init = ngx_http_session_zone_init;
    (*zone)->data = ctx;

    return NGX_OK;
}


/*
 * In the master, at every load.  A zone kept from the previous
 * configuration (same name and size) keeps its entries; the epoch moves
 * on, so that keys made with it (verified tokens) start anew.
 */

static ngx_int_t
ngx_http_session_zone_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_session_zone_ctx_t  *octx = data;

    size_t                        len;
    ngx_http_session_zone_ctx_t  *ctx;

    ctx = zone->data;

    if (octx) {
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        ngx_shmtx_lock(&ctx->shpool->mutex);
        ctx->epoch = ++ctx->sh->epoch;
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        ctx->epoch = ++ctx->sh->epoch;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_http_session_zone_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_http_session_zone_insert);
    ngx_queue_init(&ctx->sh->queue);

    ctx->sh->epoch = 1;
    ctx->epoch = 1;

    len = sizeof(" in session cache zone \"\"") + zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in session cache zone \"%V\"%Z",
                &zone->shm.name);

    /* a full zone evicts: running out is no failure worth logging */
    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


uint64_t
ngx_http_session_zone_epoch(ngx_shm_zone_t *zone)
{
    ngx_http_session_zone_ctx_t  *ctx = zone->data;

    return ctx->epoch;
}


ngx_int_t
ngx_http_session_hash_init(ngx_http_session_hash_t *sha, const char *name)
{
    sha->md = EVP_MD_fetch(NULL, name, NULL);
    sha->ctx = EVP_MD_CTX_new();

    if (sha->md == NULL || sha->ctx == NULL) {
        ngx_http_session_hash_free(sha);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_session_hash_free(ngx_http_session_hash_t *sha)
{
    EVP_MD_CTX_free(sha->ctx);
    EVP_MD_free(sha->md);

    sha->ctx = NULL;
    sha->md = NULL;
}


ngx_int_t
ngx_http_session_hash_start(ngx_http_session_hash_t *sha)
{
    if (sha->ctx == NULL
        || EVP_DigestInit_ex(sha->ctx, sha->md, NULL) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_session_hash_update(ngx_http_session_hash_t *sha,
    const void *data, size_t len)
{
    return EVP_DigestUpdate(sha->ctx, data, len) == 1 ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_session_hash_final(ngx_http_session_hash_t *sha, u_char *out)
{
    unsigned int  n;

    return EVP_DigestFinal_ex(sha->ctx, out, &n) == 1 ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_session_zone_get(ngx_shm_zone_t *zone, u_char *key, time_t now,
    ngx_pool_t *pool, ngx_str_t *value)
{
    ngx_int_t                       rc;
    ngx_http_session_zone_ctx_t    *ctx;
    ngx_http_session_zone_entry_t  *e;

    ctx = zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    e = ngx_http_session_zone_find(ctx, key);

    if (e == NULL) {
        rc = NGX_DECLINED;

    } else if (e->expires && now >= e->expires) {
        ngx_http_session_zone_delete(ctx, e);
        rc = NGX_DECLINED;

    } else {
        value->data = ngx_pnalloc(pool, e->len);

        if (value->data == NULL) {
            rc = NGX_ERROR;

        } else {
            ngx_memcpy(value->data, e->data, e->len);
            value->len = e->len;

            ngx_queue_remove(&e->queue);
            ngx_queue_insert_head(&ctx->sh->queue, &e->queue);

            rc = NGX_OK;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


void
ngx_http_session_zone_put(ngx_shm_zone_t *zone, u_char *key, time_t expires,
    ngx_str_t *parts, ngx_uint_t n, ngx_log_t *log)
{
    u_char                         *p;
    size_t                          len, size;
    ngx_uint_t                      i;
    ngx_queue_t                    *q;
    ngx_http_session_zone_ctx_t    *ctx;
    ngx_http_session_zone_entry_t  *e;

    ctx = zone->data;

    len = 0;

    for (i = 0; i < n; i++) {
        if (parts[i].len > ctx->limit) {
            return;
        }

        len += parts[i].len;
    }

    if (len > ctx->limit) {
        return;
    }

    size = offsetof(ngx_http_session_zone_entry_t, data) + len;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    e = ngx_http_session_zone_find(ctx, key);

    if (e) {
        ngx_http_session_zone_delete(ctx, e);
    }

    /* a full pool gives up its least recently used entries, as needed */

    for ( ;; ) {
        e = ngx_slab_alloc_locked(ctx->shpool, size);

        if (e != NULL || ngx_queue_empty(&ctx->sh->queue)) {
            break;
        }

        q = ngx_queue_last(&ctx->sh->queue);

        ngx_http_session_zone_delete(ctx,
            ngx_queue_data(q, ngx_http_session_zone_entry_t, queue));
    }

    if (e == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "session cache zone \"%V\" cannot hold an entry "
                      "of %uz bytes", &zone->shm.name, len);
        return;
    }

    ngx_memcpy(e->key, key, NGX_HTTP_SESSION_ZONE_KEY);
    e->node.key = ngx_http_session_zone_node_key(key);
    e->expires = expires;
    e->len = len;

    p = e->data;

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, parts[i].data, parts[i].len);
    }

    ngx_rbtree_insert(&ctx->sh->rbtree, &e->node);
    ngx_queue_insert_head(&ctx->sh->queue, &e->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


static ngx_http_session_zone_entry_t *
ngx_http_session_zone_find(ngx_http_session_zone_ctx_t *ctx, u_char *key)
{
    ngx_int_t                       rc;
    ngx_rbtree_key_t                k;
    ngx_rbtree_node_t              *node, *sentinel;
    ngx_http_session_zone_entry_t  *e;

    k = ngx_http_session_zone_node_key(key);

    node = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (k < node->key) {
            node = node->left;
            continue;
        }

        if (k > node->key) {
            node = node->right;
            continue;
        }

        e = (ngx_http_session_zone_entry_t *) node;

        rc = ngx_memcmp(key, e->key, NGX_HTTP_SESSION_ZONE_KEY);

        if (rc == 0) {
            return e;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* the whole digest decides among nodes of the same rbtree key */

static void
ngx_http_session_zone_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t              **p;
    ngx_http_session_zone_entry_t   *e, *t;

    e = (ngx_http_session_zone_entry_t *) node;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            t = (ngx_http_session_zone_entry_t *) temp;

            p = (ngx_memcmp(e->key, t->key, NGX_HTTP_SESSION_ZONE_KEY) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static void
ngx_http_session_zone_delete(ngx_http_session_zone_ctx_t *ctx,
    ngx_http_session_zone_entry_t *e)
{
    ngx_queue_remove(&e->queue);
    ngx_rbtree_delete(&ctx->sh->rbtree, &e->node);
    ngx_slab_free_locked(ctx->shpool, e);
}


static ngx_rbtree_key_t
ngx_http_session_zone_node_key(u_char *key)
{
    ngx_rbtree_key_t  k;

    ngx_memcpy(&k, key, sizeof(ngx_rbtree_key_t));

    return k;
}
