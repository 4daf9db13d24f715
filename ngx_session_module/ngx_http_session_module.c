
/*
 * ngx_http_session_module, GET /api/session/result/:request_id: the
 * directives, the configuration, the variables and the process hooks.  The
 * request itself is driven by ngx_http_session_handler.c.
 */


#include "ngx_http_session_module.h"
#include "ngx_http_session_handler.h"
#include "ngx_http_session_store.h"
#include "ngx_http_session_jwt.h"
#include "ngx_http_session_metrics.h"
#include "ngx_http_session_check.h"
#include "ngx_http_session_cluster.h"
#include "ngx_session_cache.h"
#include "ngx_http_session_zone.h"

#include <jansson.h>


/* the fresh index beside a shared body cache: this share of its zone */
#define NGX_HTTP_SESSION_FRESH_ZONE_SHARE  4


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
static ngx_int_t ngx_http_session_merge_push(ngx_conf_t *cf,
    ngx_http_session_loc_conf_t *prev, ngx_http_session_loc_conf_t *conf,
    ngx_uint_t inner);
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
      &ngx_http_session_check_key_prefix },

    { ngx_string("session_result_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, store.upstream.connect_timeout),
      &ngx_http_session_check_timeout },

    { ngx_string("session_result_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, store.upstream.send_timeout),
      &ngx_http_session_check_timeout },

    { ngx_string("session_result_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, store.upstream.read_timeout),
      &ngx_http_session_check_timeout },

    { ngx_string("session_result_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, store.reply_max),
      &ngx_http_session_check_buffer_size },

    { ngx_string("session_result_next_upstream_tries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t,
               store.upstream.next_upstream_tries),
      NULL },

    { ngx_string("session_result_next_upstream_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t,
               store.upstream.next_upstream_timeout),
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

    { ngx_string("session_result_wait_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, wait_max),
      &ngx_http_session_check_wait_max },

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


/* a worker's own cache of bodies, and its digest context */

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

    if ((smcf->body_cache || smcf->body_zone)
        && ngx_http_session_hash_init(&smcf->sha256, "SHA256") != NGX_OK)
    {
        /* no key, no lookup: every response is rendered */
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "session result: no SHA-256 for the body cache");
    }

    /*
     * OpenSSL's SHA-1 for the ETag, fetched once: it uses the CPU's SHA
     * instructions where nginx's own ngx_sha1 (the fallback) does not.
     */
    if (ngx_http_session_hash_init(&smcf->sha1, "SHA1") != NGX_OK) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "session result: no OpenSSL SHA-1, "
                      "ETags are made by ngx_sha1");
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

    ngx_http_session_hash_free(&smcf->sha256);
    ngx_http_session_hash_free(&smcf->sha1);
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
    conf->wait_max = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_session_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_session_loc_conf_t *prev = parent;
    ngx_http_session_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /*
     * An "if" or "limit_except" block inside the endpoint's location
     * (noname) is the request's conf when it applies: the method check,
     * the handler and the store read there need the endpoint's store.
     */

    ngx_http_session_store_merge_conf(&prev->store, &conf->store,
                                      clcf->noname);

    if (clcf->lmt_excpt && clcf->handler == NULL
        && conf->store.upstream.upstream)
    {
        clcf->handler = ngx_http_session_handler;
    }

    ngx_conf_merge_value(conf->pretty, prev->pretty, 0);

    ngx_conf_merge_str_value(conf->owner_claim, prev->owner_claim, "");

    ngx_conf_merge_msec_value(conf->wait_max, prev->wait_max, 30000);

    if (ngx_http_session_merge_push(cf, prev, conf, clcf->noname)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

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


/*
 * The push connection of the store (SPEC 9), for the locations that may
 * wait (session_result_wait_max not 0): it wakes their waiting requests
 * and, with session_result_cache on (either form), keeps the fresh index
 * of bodies served without a store read.  session_result_wait_max 0 is a
 * location without either: every request reads the store, as before SPEC
 * 9.  An "if" block takes its location's.
 */

static ngx_int_t
ngx_http_session_merge_push(ngx_conf_t *cf, ngx_http_session_loc_conf_t *prev,
    ngx_http_session_loc_conf_t *conf, ngx_uint_t inner)
{
    size_t                         size;
    ngx_http_session_main_conf_t  *smcf;

    if (inner) {
        conf->waits = conf->wait_max ? prev->waits : NULL;
        conf->fresh = conf->wait_max ? prev->fresh : NULL;
        return NGX_OK;
    }

    if (conf->store.upstream.upstream == NULL || conf->wait_max == 0) {
        return NGX_OK;
    }

    /*
     * A cluster's keys live on several masters, and CLIENT TRACKING on one
     * node reports that node's keys only: without a push connection per
     * master, nothing would drop a cached body of another master's slot.
     * So a cluster store has neither waits nor the fresh index: every
     * request reads the store, and "Prefer: wait" is answered at once.
     */

    if (ngx_http_session_cluster_upstream(conf->store.upstream.upstream)) {
        return NGX_OK;
    }

    conf->waits = ngx_http_session_wait_conf(cf, conf->store.upstream.upstream,
                                             &conf->store.key_prefix);
    if (conf->waits == NULL) {
        return NGX_ERROR;
    }

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_session_module);

    /*
     * The per-worker body cache's size bounds the index, which holds the
     * bodies too.  With the shared cache, the index of each worker holds
     * the bodies' keys there (about 300 bytes an entry): a quarter of the
     * zone's size indexes more sessions than the zone holds bodies of 1 KB
     * (a slab slot of 2 KB each), and no worker's index grows past it.
     */

    if (smcf->body_cache_size) {
        size = smcf->body_cache_size;

    } else if (smcf->body_zone) {
        size = smcf->body_zone->shm.size / NGX_HTTP_SESSION_FRESH_ZONE_SHARE;

    } else {
        return NGX_OK;
    }

    conf->fresh = ngx_http_session_fresh_conf(cf, conf->store.upstream.upstream,
                                             &conf->store.key_prefix, size);
    if (conf->fresh == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
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

    if (ngx_http_session_check_address(cf, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_session_store_add_server(cf, &slcf->store, &value[1])
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_http_session_handler;
    ngx_http_session_metrics_endpoint(cf);

    return NGX_CONF_OK;
}


/* session_result_cache size | shared:name:size | off */

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

    /* shared: no per-worker cache beside it */

    switch (ngx_http_session_zone_add(cf, &value[1], &ngx_http_session_module,
                                      &smcf->body_zone))
    {
    case NGX_OK:
        smcf->body_cache_size = 0;
        return NGX_CONF_OK;

    case NGX_ERROR:
        return NGX_CONF_ERROR;

    default: /* NGX_DECLINED: a size */
        break;
    }

    smcf->body_cache_size = ngx_parse_size(&value[1]);

    if (smcf->body_cache_size == (size_t) NGX_ERROR
        || smcf->body_cache_size < 64 * 1024)
    {
        return "takes a size of 64k or more, \"shared:NAME:SIZE\" "
               "or \"off\"";
    }

    return NGX_CONF_OK;
}
