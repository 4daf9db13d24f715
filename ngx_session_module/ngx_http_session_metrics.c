
/*
 * ngx_http_session_metrics_module: the counters of SPEC 8 and
 * session_result_metrics, which serves them in the Prometheus text format.
 *
 * The counters live in one shared memory zone and take no lock: atomic
 * additions, as nginx's status module counts connections, but into one
 * slot per worker, so that workers do not write the same cache lines.
 * Each worker adds to the slot of its ngx_worker number with
 * ngx_atomic_fetch_add(), so an old worker still
 * finishing its requests after a reload, which has the number of a new
 * one, adds to the same slot without losing a count; a scrape sums the
 * slots.  The zone has a fixed size, so a reload finds it again (same name,
 * size and tag) and the counters go on; a start of nginx begins at zero.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <time.h>

#include "ngx_http_session_metrics.h"
#include "ngx_http_session_response.h"
#include "ngx_http_session_store.h"
#include "ngx_session_jwt.h"


/*
 * More workers than slots share slots, which the atomic additions allow;
 * the number is fixed so that the zone's size is the same on every reload.
 */
#define NGX_HTTP_SESSION_METRICS_SLOTS    64

/* one slot per cache line pair: workers do not write each other's lines */
#define NGX_HTTP_SESSION_METRICS_ALIGN    128

/* the whole text of a scrape: about 6k today, checked while written */
#define NGX_HTTP_SESSION_METRICS_TEXT     16384

#define NGX_HTTP_SESSION_METRICS_NCODES   12
#define NGX_HTTP_SESSION_METRICS_NREASONS (NGX_SESSION_JWT_NREASONS + 1)
#define NGX_HTTP_SESSION_METRICS_NSTORE   5
#define NGX_HTTP_SESSION_METRICS_NBUCKETS 12   /* the last one is +Inf */


/* what one worker slot counts; every member is an ngx_atomic_t */
typedef struct {
    ngx_atomic_t        requests[NGX_HTTP_SESSION_METRICS_NCODES];
    ngx_atomic_t        refusals[NGX_HTTP_SESSION_METRICS_NREASONS];
    ngx_atomic_t        store[NGX_HTTP_SESSION_METRICS_NSTORE];
    ngx_atomic_t        store_buckets[NGX_HTTP_SESSION_METRICS_NBUCKETS];
    ngx_atomic_t        store_usec;
    ngx_atomic_t        cache_hits[3];
    ngx_atomic_t        cache_misses[3];
    ngx_atomic_t        key_fetches[2];        /* error, ok */
    ngx_atomic_t        waiting;               /* signed, summed as such */
} ngx_http_session_metrics_slot_t;


typedef struct {
    ngx_shm_zone_t     *zone;
} ngx_http_session_metrics_main_conf_t;


typedef struct {
    ngx_flag_t          serve;                 /* session_result_metrics */
    ngx_flag_t          endpoint;              /* session_result_pass */
} ngx_http_session_metrics_loc_conf_t;


/* the store read's start, in the store subrequest */
typedef struct {
    uint64_t            start;                 /* microseconds, monotonic */
} ngx_http_session_metrics_ctx_t;


typedef struct {
    ngx_uint_t          status;
    char               *label;
} ngx_http_session_metrics_code_t;


static ngx_int_t ngx_http_session_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_metrics_log_handler(ngx_http_request_t *r);
static u_char *ngx_http_session_metrics_render(u_char *p, u_char *last,
    ngx_http_session_metrics_slot_t *t);
static u_char *ngx_http_session_metrics_family(u_char *p, u_char *last,
    char *name, char *type, char *help);
static void ngx_http_session_metrics_sum(ngx_shm_zone_t *zone,
    ngx_http_session_metrics_slot_t *total);
static ngx_http_session_metrics_slot_t *ngx_http_session_metrics_slot(
    ngx_http_request_t *r);
static uint64_t ngx_http_session_metrics_now(void);
static ngx_int_t ngx_http_session_metrics_outcome(ngx_uint_t outcome);
static ngx_int_t ngx_http_session_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_session_metrics_init(ngx_conf_t *cf);
static void *ngx_http_session_metrics_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_session_metrics_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_session_metrics_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_session_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_session_metrics_commands[] = {

    { ngx_string("session_result_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_session_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_session_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_session_metrics_init,         /* postconfiguration */

    ngx_http_session_metrics_create_main_conf, /* create main conf */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_session_metrics_create_loc_conf, /* create location conf */
    ngx_http_session_metrics_merge_loc_conf   /* merge location conf */
};


ngx_module_t  ngx_http_session_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_session_metrics_module_ctx,  /* module context */
    ngx_http_session_metrics_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the statuses the module sends (SPEC 3, 7); the last one takes the rest */
static ngx_http_session_metrics_code_t
    ngx_http_session_metrics_codes[NGX_HTTP_SESSION_METRICS_NCODES] = {
    { NGX_HTTP_OK, "200" },
    { NGX_HTTP_NOT_MODIFIED, "304" },
    { NGX_HTTP_BAD_REQUEST, "400" },
    { NGX_HTTP_UNAUTHORIZED, "401" },
    { NGX_HTTP_FORBIDDEN, "403" },
    { NGX_HTTP_NOT_FOUND, "404" },
    { NGX_HTTP_NOT_ALLOWED, "405" },
    { NGX_HTTP_INTERNAL_SERVER_ERROR, "500" },
    { NGX_HTTP_BAD_GATEWAY, "502" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "503" },
    { NGX_HTTP_GATEWAY_TIME_OUT, "504" },
    { 0, "other" }
};


/* in the order of ngx_http_session_metrics_outcome() */
static char  *ngx_http_session_metrics_outcomes[NGX_HTTP_SESSION_METRICS_NSTORE]
    = { "found", "not_found", "error", "unavailable", "timeout" };


/* a store on loopback or a LAN answers in well under a millisecond */
static uint64_t  ngx_http_session_metrics_le_usec[] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000
};

static char  *ngx_http_session_metrics_le[NGX_HTTP_SESSION_METRICS_NBUCKETS]
    = { "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
        "0.1", "0.25", "0.5", "1", "+Inf" };


static ngx_str_t  ngx_http_session_metrics_zone_name =
    ngx_string("session_result_metrics");

static ngx_str_t  ngx_http_session_metrics_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");

static ngx_http_session_error_t  ngx_http_session_metrics_err_405 =
    ngx_http_session_error(NGX_HTTP_NOT_ALLOWED, "method_not_allowed",
                           "use GET or HEAD");


/* the content handler of session_result_metrics */

static ngx_int_t
ngx_http_session_metrics_handler(ngx_http_request_t *r)
{
    u_char                                *text, *p;
    ngx_int_t                              rc;
    ngx_buf_t                             *b;
    ngx_chain_t                            out;
    ngx_http_session_metrics_slot_t        total;
    ngx_http_session_metrics_main_conf_t  *mmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_session_send_error(r,
                                           &ngx_http_session_metrics_err_405);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_session_metrics_module);

    ngx_http_session_metrics_sum(mmcf->zone, &total);

    text = ngx_pnalloc(r->pool, NGX_HTTP_SESSION_METRICS_TEXT);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_session_metrics_render(text,
                                        text + NGX_HTTP_SESSION_METRICS_TEXT,
                                        &total);

    if (p == text + NGX_HTTP_SESSION_METRICS_TEXT) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "session result metrics: text larger than %d bytes",
                      NGX_HTTP_SESSION_METRICS_TEXT);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = p - text;
    r->headers_out.content_type = ngx_http_session_metrics_type;
    r->headers_out.content_type_len = ngx_http_session_metrics_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = text;
    b->last = p;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The text format, version 0.0.4: a family's HELP and TYPE, then its
 * samples.  ngx_slprintf() stops at last: a full buffer is the caller's
 * sign of a text too large.
 */

static u_char *
ngx_http_session_metrics_render(u_char *p, u_char *last,
    ngx_http_session_metrics_slot_t *t)
{
    ngx_uint_t            i;
    ngx_atomic_uint_t     cumulative;

    p = ngx_http_session_metrics_family(p, last,
            "session_result_requests_total", "counter",
            "Responses of the session_result_pass locations, by status.");

    for (i = 0; i < NGX_HTTP_SESSION_METRICS_NCODES; i++) {
        p = ngx_slprintf(p, last,
                         "session_result_requests_total{code=\"%s\"} %uA\n",
                         ngx_http_session_metrics_codes[i].label,
                         t->requests[i]);
    }

    p = ngx_http_session_metrics_family(p, last,
            "session_jwt_refusals_total", "counter",
            "Tokens refused by session_jwt, by reason.");

    for (i = 1; i < NGX_HTTP_SESSION_METRICS_NREASONS; i++) {
        p = ngx_slprintf(p, last,
                         "session_jwt_refusals_total{reason=\"%s\"} %uA\n",
                         i < NGX_SESSION_JWT_NREASONS
                         ? ngx_session_jwt_reason_name(i) : "owner_claim",
                         t->refusals[i]);
    }

    p = ngx_http_session_metrics_family(p, last,
            "session_result_store_requests_total", "counter",
            "Reads of the session store, by outcome.");

    for (i = 0; i < NGX_HTTP_SESSION_METRICS_NSTORE; i++) {
        p = ngx_slprintf(p, last,
                         "session_result_store_requests_total"
                         "{outcome=\"%s\"} %uA\n",
                         ngx_http_session_metrics_outcomes[i], t->store[i]);
    }

    p = ngx_http_session_metrics_family(p, last,
            "session_result_store_duration_seconds", "histogram",
            "Round trip of a read of the session store.");

    cumulative = 0;

    for (i = 0; i < NGX_HTTP_SESSION_METRICS_NBUCKETS; i++) {
        cumulative += t->store_buckets[i];

        p = ngx_slprintf(p, last,
                         "session_result_store_duration_seconds_bucket"
                         "{le=\"%s\"} %uA\n",
                         ngx_http_session_metrics_le[i], cumulative);
    }

    p = ngx_slprintf(p, last,
                     "session_result_store_duration_seconds_sum %uA.%06uA\n"
                     "session_result_store_duration_seconds_count %uA\n",
                     t->store_usec / 1000000, t->store_usec % 1000000,
                     cumulative);

    p = ngx_http_session_metrics_family(p, last,
            "session_result_cache_hits_total", "counter",
            "Responses served from the cache of rendered bodies.");
    p = ngx_slprintf(p, last, "session_result_cache_hits_total %uA\n",
                     t->cache_hits[NGX_HTTP_SESSION_METRICS_BODY_CACHE]);

    p = ngx_http_session_metrics_family(p, last,
            "session_result_cache_misses_total", "counter",
            "Bodies rendered because the cache of bodies had none.");
    p = ngx_slprintf(p, last, "session_result_cache_misses_total %uA\n",
                     t->cache_misses[NGX_HTTP_SESSION_METRICS_BODY_CACHE]);

    p = ngx_http_session_metrics_family(p, last,
            "session_result_fresh_hits_total", "counter",
            "Responses served from the fresh index without a store read.");
    p = ngx_slprintf(p, last, "session_result_fresh_hits_total %uA\n",
                     t->cache_hits[NGX_HTTP_SESSION_METRICS_FRESH]);

    p = ngx_http_session_metrics_family(p, last,
            "session_result_fresh_misses_total", "counter",
            "Store reads because the fresh index had no current body.");
    p = ngx_slprintf(p, last, "session_result_fresh_misses_total %uA\n",
                     t->cache_misses[NGX_HTTP_SESSION_METRICS_FRESH]);

    p = ngx_http_session_metrics_family(p, last,
            "session_jwt_cache_hits_total", "counter",
            "Tokens found in the cache of verified tokens.");
    p = ngx_slprintf(p, last, "session_jwt_cache_hits_total %uA\n",
                     t->cache_hits[NGX_HTTP_SESSION_METRICS_TOKEN_CACHE]);

    p = ngx_http_session_metrics_family(p, last,
            "session_jwt_cache_misses_total", "counter",
            "Tokens verified because the cache of tokens had none.");
    p = ngx_slprintf(p, last, "session_jwt_cache_misses_total %uA\n",
                     t->cache_misses[NGX_HTTP_SESSION_METRICS_TOKEN_CACHE]);

    p = ngx_http_session_metrics_family(p, last,
            "session_jwt_key_fetches_total", "counter",
            "Fetches of a key set by session_jwt_key_request, by result.");
    p = ngx_slprintf(p, last,
                     "session_jwt_key_fetches_total{result=\"ok\"} %uA\n"
                     "session_jwt_key_fetches_total{result=\"error\"} %uA\n",
                     t->key_fetches[1], t->key_fetches[0]);

    p = ngx_http_session_metrics_family(p, last,
            "session_result_waiting", "gauge",
            "Requests waiting for a change of their session now.");
    p = ngx_slprintf(p, last, "session_result_waiting %A\n",
                     (ngx_atomic_int_t) t->waiting);

    return p;
}


static u_char *
ngx_http_session_metrics_family(u_char *p, u_char *last, char *name,
    char *type, char *help)
{
    return ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                        name, help, name, type);
}


/* a scrape reads every slot without a lock: each counter is one word */

static void
ngx_http_session_metrics_sum(ngx_shm_zone_t *zone,
    ngx_http_session_metrics_slot_t *total)
{
    u_char        *slots;
    ngx_uint_t     i, j, n;
    ngx_atomic_t  *from, *to;

    ngx_memzero(total, sizeof(ngx_http_session_metrics_slot_t));

    slots = zone->data;
    to = (ngx_atomic_t *) total;
    n = sizeof(ngx_http_session_metrics_slot_t) / sizeof(ngx_atomic_t);

    for (i = 0; i < NGX_HTTP_SESSION_METRICS_SLOTS; i++) {
        from = (ngx_atomic_t *) (slots + i * ngx_align(
                                     sizeof(ngx_http_session_metrics_slot_t),
                                     NGX_HTTP_SESSION_METRICS_ALIGN));

        for (j = 0; j < n; j++) {
            to[j] += from[j];
        }
    }
}


/* the counting of a session_result_pass location: every status, once */

static ngx_int_t
ngx_http_session_metrics_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                            i, status;
    ngx_http_session_metrics_slot_t      *slot;
    ngx_http_session_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_session_metrics_module);

    if (!mlcf->endpoint) {
        return NGX_OK;
    }

    slot = ngx_http_session_metrics_slot(r);

    /* as $status has it */
    status = r->err_status ? r->err_status : r->headers_out.status;

    for (i = 0; i < NGX_HTTP_SESSION_METRICS_NCODES - 1; i++) {
        if (ngx_http_session_metrics_codes[i].status == status) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&slot->requests[i], 1);

    return NGX_OK;
}


void
ngx_http_session_metrics_refusal(ngx_http_request_t *r, ngx_uint_t reason)
{
    ngx_http_session_metrics_slot_t  *slot;

    if (reason == NGX_HTTP_SESSION_METRICS_OWNER_CLAIM) {
        reason = NGX_SESSION_JWT_NREASONS;

    } else if (reason == NGX_SESSION_JWT_OK
               || reason >= NGX_SESSION_JWT_NREASONS)
    {
        return;
    }

    slot = ngx_http_session_metrics_slot(r);

    (void) ngx_atomic_fetch_add(&slot->refusals[reason], 1);
}


void
ngx_http_session_metrics_store_start(ngx_http_request_t *sr)
{
    ngx_http_session_metrics_ctx_t  *ctx;

    ctx = ngx_palloc(sr->pool, sizeof(ngx_http_session_metrics_ctx_t));

    /* without it the read is still counted, only not timed */

    if (ctx == NULL) {
        return;
    }

    ctx->start = ngx_http_session_metrics_now();

    ngx_http_set_ctx(sr, ctx, ngx_http_session_metrics_module);
}


void
ngx_http_session_metrics_store_end(ngx_http_request_t *sr, ngx_uint_t outcome)
{
    uint64_t                          usec;
    ngx_int_t                         n;
    ngx_uint_t                        i;
    ngx_http_session_metrics_ctx_t   *ctx;
    ngx_http_session_metrics_slot_t  *slot;

    n = ngx_http_session_metrics_outcome(outcome);

    /* a read the client gave up on, or one that never reached the store */

    if (n == NGX_DECLINED) {
        return;
    }

    slot = ngx_http_session_metrics_slot(sr);

    (void) ngx_atomic_fetch_add(&slot->store[n], 1);

    ctx = ngx_http_get_module_ctx(sr, ngx_http_session_metrics_module);

    if (ctx == NULL) {
        return;
    }

    usec = ngx_http_session_metrics_now() - ctx->start;

    for (i = 0; i < NGX_HTTP_SESSION_METRICS_NBUCKETS - 1; i++) {
        if (usec <= ngx_http_session_metrics_le_usec[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&slot->store_buckets[i], 1);
    (void) ngx_atomic_fetch_add(&slot->store_usec, (ngx_atomic_int_t) usec);
}


/* the index of an outcome's label; NGX_DECLINED: not counted */

static ngx_int_t
ngx_http_session_metrics_outcome(ngx_uint_t outcome)
{
    switch (outcome) {

    case NGX_HTTP_SESSION_FOUND:
        return 0;

    case NGX_HTTP_SESSION_NOT_FOUND:
        return 1;

    case NGX_HTTP_SESSION_STORE_ERROR:
        return 2;

    case NGX_HTTP_SESSION_STORE_UNAVAILABLE:
        return 3;

    case NGX_HTTP_SESSION_STORE_TIMEOUT:
        return 4;

    default: /* NGX_HTTP_SESSION_PENDING, NGX_HTTP_SESSION_INTERNAL_ERROR */
        return NGX_DECLINED;
    }
}


void
ngx_http_session_metrics_cache(ngx_http_request_t *r, ngx_uint_t cache,
    ngx_uint_t hit)
{
    ngx_http_session_metrics_slot_t  *slot;

    slot = ngx_http_session_metrics_slot(r);

    if (hit) {
        (void) ngx_atomic_fetch_add(&slot->cache_hits[cache], 1);

    } else {
        (void) ngx_atomic_fetch_add(&slot->cache_misses[cache], 1);
    }
}


void
ngx_http_session_metrics_key_fetch(ngx_http_request_t *r, ngx_uint_t ok)
{
    ngx_http_session_metrics_slot_t  *slot;

    slot = ngx_http_session_metrics_slot(r);

    (void) ngx_atomic_fetch_add(&slot->key_fetches[ok ? 1 : 0], 1);
}


void
ngx_http_session_metrics_waiting(ngx_http_request_t *r, ngx_int_t delta)
{
    ngx_http_session_metrics_slot_t  *slot;

    slot = ngx_http_session_metrics_slot(r);

    (void) ngx_atomic_fetch_add(&slot->waiting, (ngx_atomic_int_t) delta);
}


/* the slot of this worker process (0 without a master process) */

static ngx_http_session_metrics_slot_t *
ngx_http_session_metrics_slot(ngx_http_request_t *r)
{
    u_char                                *slots;
    ngx_http_session_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_session_metrics_module);

    slots = mmcf->zone->data;

    return (ngx_http_session_metrics_slot_t *)
               (slots + (ngx_worker % NGX_HTTP_SESSION_METRICS_SLOTS)
                        * ngx_align(sizeof(ngx_http_session_metrics_slot_t),
                                    NGX_HTTP_SESSION_METRICS_ALIGN));
}


/*
 * nginx's cached time has milliseconds, and a store on loopback answers in
 * a fraction of one; the monotonic clock is read through the vDSO, no
 * system call.
 */

static uint64_t
ngx_http_session_metrics_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static ngx_int_t
ngx_http_session_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    size_t            size;
    ngx_slab_pool_t  *shpool;

    /* a reload: the old cycle's counters, in the memory nginx kept */

    if (data) {
        zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        zone->data = shpool->data;
        return NGX_OK;
    }

    size = NGX_HTTP_SESSION_METRICS_SLOTS
           * ngx_align(sizeof(ngx_http_session_metrics_slot_t),
                       NGX_HTTP_SESSION_METRICS_ALIGN);

    /* zeroed: the counters of a start of nginx */
    zone->data = ngx_slab_calloc(shpool, size);
    if (zone->data == NULL) {
        return NGX_ERROR;
    }

    shpool->data = zone->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_metrics_init(ngx_conf_t *cf)
{
    size_t                                 size;
    ngx_http_handler_pt                   *h;
    ngx_http_core_main_conf_t             *cmcf;
    ngx_http_session_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_session_metrics_module);

    /* the slots, and the slab pool's own pages */

    size = NGX_HTTP_SESSION_METRICS_SLOTS
           * ngx_align(sizeof(ngx_http_session_metrics_slot_t),
                       NGX_HTTP_SESSION_METRICS_ALIGN)
           + 8 * ngx_pagesize;

    mmcf->zone = ngx_shared_memory_add(cf, &ngx_http_session_metrics_zone_name,
                                       size, &ngx_http_session_metrics_module);
    if (mmcf->zone == NULL) {
        return NGX_ERROR;
    }

    mmcf->zone->init = ngx_http_session_metrics_init_zone;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_session_metrics_log_handler;

    return NGX_OK;
}


static void *
ngx_http_session_metrics_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_session_metrics_main_conf_t));
}


static void *
ngx_http_session_metrics_create_loc_conf(ngx_conf_t *cf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     mlcf->serve = 0;
     *     mlcf->endpoint = 0;
     */

    return ngx_pcalloc(cf->pool, sizeof(ngx_http_session_metrics_loc_conf_t));
}


/* neither flag is inherited: both name the location they are set in */

static char *
ngx_http_session_metrics_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_session_metrics_loc_conf_t *conf = child;

    if (conf->serve && conf->endpoint) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_result_metrics\" and "
                           "\"session_result_pass\" cannot be in the same "
                           "location");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_session_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_metrics_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->serve) {
        return "is duplicate";
    }

    mlcf->serve = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_session_metrics_handler;

    return NGX_CONF_OK;
}


void
ngx_http_session_metrics_endpoint(ngx_conf_t *cf)
{
    ngx_http_session_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_http_conf_get_module_loc_conf(cf,
                                             ngx_http_session_metrics_module);
    mlcf->endpoint = 1;
}
