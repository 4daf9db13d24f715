
/*
 * ngx_http_session_jwt_module: bearer JWT in the access phase, a module of
 * its own in the .so, as auth_basic is.  The session_jwt* directives, the
 * token's source, the 401/403 responses, the owner claim, and the claim
 * variables.  Verification itself is ngx_session_jwt.c.  Other modules
 * see only ngx_http_session_jwt.h.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_session_jwt.h"
#include "ngx_http_session_jwt.h"
#include "ngx_http_session_jwt_keys.h"
#include "ngx_http_session_response.h"
#include "ngx_http_session_metrics.h"
#include "ngx_http_session_check.h"
#include "ngx_http_session_zone.h"


typedef struct {
    ngx_flag_t                  enabled;
    ngx_str_t                   realm;
    ngx_session_keyset_t       *keys;       /* NULL: inherited */
    ngx_uint_t                  algorithms;
    ngx_str_t                   issuer;     /* "": off */
    ngx_array_t                *audiences;  /* of ngx_str_t; NULL: off */
    time_t                      leeway;
    ngx_http_complex_value_t   *token;      /* NULL: Authorization */
    ngx_uint_t                  types;      /* NGX_SESSION_JWT_TYPE_* */
    ngx_array_t                *scopes;     /* of ngx_str_t; NULL: off */
    ngx_str_t                   key_request; /* "": off */
    time_t                      key_cache;

    /* set by ngx_http_session_jwt_require_owner(); "": none */
    ngx_str_t                   owner_claim;

    /* built from the above when the configuration is merged */
    ngx_session_jwt_policy_t    policy;
    uint64_t                    policy_id;  /* its number in this cycle */
    ngx_str_t                   scope_list; /* "a b", for WWW-Authenticate */
    ngx_http_session_jwt_keys_t  *source;   /* NULL: key files only */
} ngx_http_session_jwt_conf_t;


typedef struct {
    ngx_int_t                   cache_size;
    ngx_session_jwt_cache_t    *cache;      /* per worker process */
    ngx_shm_zone_t             *zone;       /* shared: by all workers */
    ngx_http_session_hash_t   sha256;     /* per worker: its keys */
    uint64_t                    npolicies;
    ngx_array_t                 sources;    /* ngx_http_session_jwt_keys_t * */
} ngx_http_session_jwt_main_conf_t;


/*
 * The verdict on the client's token, reached once per request and policy
 * (in the rewrite phase, so that claim variables serve limit_req,
 * limit_conn, map and if) and answered in the access phase.  It survives
 * internal redirects: found again through its pool cleanup.
 */
typedef struct {
    ngx_http_session_jwt_conf_t  *conf;     /* the policy it is for */
    json_t                     *claims;     /* accepted: a reference */
    ngx_str_t                   owner;      /* the owner claim's value */
    ngx_uint_t                  status;     /* refused: 401, 403, 503 */
    ngx_session_jwt_reason_e    reason;
    const char                 *error;      /* why a token was refused */
    unsigned                    decided:1;
    unsigned                    scope:1;    /* 403 for session_jwt_scope */
    unsigned                    retried:1;  /* "no token" read again */
} ngx_http_session_jwt_ctx_t;


#define NGX_HTTP_SESSION_BEARER  "Bearer"


static ngx_int_t ngx_http_session_jwt_rewrite_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_jwt_subrequest(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_jwt_access_handler(ngx_http_request_t *r);
static ngx_http_session_jwt_ctx_t *ngx_http_session_jwt_get_ctx(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_session_jwt_decide(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf);
static ngx_int_t ngx_http_session_jwt_check(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, ngx_http_session_jwt_ctx_t *ctx,
    ngx_str_t *token);
static ngx_int_t ngx_http_session_jwt_zone_key(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, uint64_t generation, ngx_str_t *token,
    u_char *key);
static ngx_int_t ngx_http_session_jwt_zone_get(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, uint64_t generation, ngx_str_t *token,
    u_char *key, json_t **claims);
static void ngx_http_session_jwt_zone_put(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, uint64_t generation, ngx_str_t *token,
    u_char *key, int64_t exp, json_t *claims);
static void ngx_http_session_jwt_refuse(ngx_http_session_jwt_ctx_t *ctx,
    ngx_uint_t status, ngx_session_jwt_reason_e reason, const char *error);
static ngx_int_t ngx_http_session_jwt_token(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, ngx_str_t *token);
static ngx_int_t ngx_http_session_jwt_owner_claim(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, ngx_http_session_jwt_ctx_t *ctx);
static ngx_int_t ngx_http_session_jwt_answer(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, ngx_http_session_jwt_ctx_t *ctx);
static ngx_int_t ngx_http_session_jwt_deny(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, ngx_uint_t status, const char *error,
    const char *description, ngx_str_t *scope);
static void ngx_http_session_jwt_ctx_cleanup(void *data);
static ngx_int_t ngx_http_session_jwt_claim_text(ngx_http_request_t *r,
    json_t *value, ngx_str_t *text);

static ngx_int_t ngx_http_session_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_session_jwt_claim_set_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_session_jwt_claim_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, u_char *name, size_t len);
static ngx_int_t ngx_http_session_jwt_error_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_int_t ngx_http_session_jwt_init_process(ngx_cycle_t *cycle);
static void ngx_http_session_jwt_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_session_jwt_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_session_jwt_init(ngx_conf_t *cf);
static void *ngx_http_session_jwt_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_session_jwt_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_session_jwt_create_conf(ngx_conf_t *cf);
static char *ngx_http_session_jwt_merge_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_session_jwt_policy(ngx_conf_t *cf,
    ngx_http_session_jwt_conf_t *jcf);
static char *ngx_http_session_jwt_policy_scopes(ngx_conf_t *cf,
    ngx_http_session_jwt_conf_t *jcf);
static char *ngx_http_session_jwt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_session_jwt_key_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void ngx_http_session_jwt_keyset_cleanup(void *data);
static void ngx_http_session_jwt_key_warn(void *data, const char *msg);
static char *ngx_http_session_jwt_algorithms(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_session_jwt_audience(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_session_jwt_names(ngx_conf_t *cf, ngx_array_t **names);
static char *ngx_http_session_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_session_jwt_type(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_session_jwt_scope(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_session_jwt_claim_set(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


static ngx_command_t  ngx_http_session_jwt_commands[] = {

    { ngx_string("session_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_session_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_session_jwt_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_algorithms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_session_jwt_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_session_jwt_str_or_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_jwt_conf_t, issuer),
      NULL },

    { ngx_string("session_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_session_jwt_audience,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_jwt_conf_t, leeway),
      &ngx_http_session_check_leeway },

    { ngx_string("session_jwt_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_session_check_complex_or_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_jwt_conf_t, token),
      NULL },

    { ngx_string("session_jwt_type"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_session_jwt_type,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_scope"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_session_jwt_scope,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_key_request"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_session_jwt_str_or_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_jwt_conf_t, key_request),
      NULL },

    { ngx_string("session_jwt_key_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_jwt_conf_t, key_cache),
      NULL },

    { ngx_string("session_jwt_claim_set"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_session_jwt_claim_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_session_jwt_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_session_jwt_module_ctx = {
    ngx_http_session_jwt_add_variables,    /* preconfiguration */
    ngx_http_session_jwt_init,             /* postconfiguration */

    ngx_http_session_jwt_create_main_conf, /* create main configuration */
    ngx_http_session_jwt_init_main_conf,   /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_session_jwt_create_conf,      /* create location configuration */
    ngx_http_session_jwt_merge_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_session_jwt_module = {
    NGX_MODULE_V1,
    &ngx_http_session_jwt_module_ctx,      /* module context */
    ngx_http_session_jwt_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_session_jwt_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_session_jwt_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_session_jwt_vars[] = {

    { ngx_string("session_jwt_claim_"), NULL,
      ngx_http_session_jwt_claim_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("session_jwt_error"), NULL,
      ngx_http_session_jwt_error_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_session_www_authenticate =
    ngx_string("WWW-Authenticate");
static ngx_str_t  ngx_http_session_retry_after = ngx_string("Retry-After");
/* NGX_HTTP_SESSION_JWT_FETCH_RETRY */
static ngx_str_t  ngx_http_session_jwt_retry = ngx_string("10");


/*
 * The rewrite phase: the token is verified here, before the preaccess
 * phase's limit_req and limit_conn and before the location's own rewrite
 * directives (this module registers its handler after
 * ngx_http_rewrite_module's, and nginx runs a phase's handlers in reverse
 * order), so that claim variables have their values there.  Nothing is
 * answered yet: refusals wait for the access phase, after the endpoint's
 * method check (SPEC 3).
 */

static ngx_int_t
ngx_http_session_jwt_rewrite_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_http_session_jwt_conf_t  *jcf;

    jcf = ngx_http_get_module_loc_conf(r, ngx_http_session_jwt_module);

    if (!jcf->enabled) {
        return NGX_DECLINED;
    }

    if (r != r->main) {
        return ngx_http_session_jwt_subrequest(r);
    }

    rc = ngx_http_session_jwt_decide(r, jcf);

    if (rc == NGX_DONE || rc == NGX_ERROR) {
        return rc;
    }

    return NGX_DECLINED;
}


/*
 * nginx skips the access phase for subrequests, so a subrequest into a
 * session_jwt location (auth_request, SSI, mirror, ...) would never be
 * answered a refusal: it is refused at once, fail closed.  The module's own
 * key fetch may pass through a location that inherits session_jwt; the
 * store's subrequest starts in the content phase and never gets here.
 */

static ngx_int_t
ngx_http_session_jwt_subrequest(ngx_http_request_t *r)
{
    if (ngx_http_session_jwt_keys_is_fetch(r)) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "session jwt: a subrequest into a \"session_jwt\" "
                  "location is refused: subrequests are not verified");

    return NGX_HTTP_FORBIDDEN;
}


/*
 * The access phase answers the verdict: a refusal in JSON, which ends the
 * phases.  The verdict is normally there already; the location may have
 * changed since (rewrite ... last), so it is reached again if it is not
 * for this location's policy.
 */

static ngx_int_t
ngx_http_session_jwt_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_http_session_jwt_ctx_t   *ctx;
    ngx_http_session_jwt_conf_t  *jcf;

    jcf = ngx_http_get_module_loc_conf(r, ngx_http_session_jwt_module);

    if (!jcf->enabled) {
        return NGX_DECLINED;
    }

    rc = ngx_http_session_jwt_decide(r, jcf);

    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_session_jwt_get_ctx(r);

    if (ctx->reason == NGX_SESSION_JWT_MISSING && jcf->token
        && !ctx->retried)
    {
        /*
         * session_jwt_token may name a variable the location's own "set"
         * gives a value, after the rewrite-phase verdict: read it again.
         */

        ctx->retried = 1;
        ctx->decided = 0;
        ctx->status = 0;
        ctx->reason = NGX_SESSION_JWT_OK;
        ctx->error = NULL;

        rc = ngx_http_session_jwt_decide(r, jcf);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ctx->status == 0) {
        return NGX_OK;
    }

    return ngx_http_session_jwt_answer(r, jcf, ctx);
}


/* the request's verdict, found again after an internal redirect */

static ngx_http_session_jwt_ctx_t *
ngx_http_session_jwt_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_session_jwt_ctx_t  *ctx;

    r = r->main;

    ctx = ngx_http_get_module_ctx(r, ngx_http_session_jwt_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_session_jwt_ctx_cleanup) {
                ctx = cln->data;
                ngx_http_set_ctx(r, ctx, ngx_http_session_jwt_module);
                break;
            }
        }
    }

    return ctx;
}


/*
 * NGX_OK: the verdict for jcf is in the ctx; NGX_DONE: the request waits
 * for a key fetch and runs this phase again when it ends.
 */

static ngx_int_t
ngx_http_session_jwt_decide(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf)
{
    ngx_int_t                    rc;
    ngx_str_t                    token;
    ngx_pool_cleanup_t          *cln;
    ngx_http_session_jwt_ctx_t  *ctx;

    ctx = ngx_http_session_jwt_get_ctx(r);

    if (ctx == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_session_jwt_ctx_t));
        if (cln == NULL) {
            return NGX_ERROR;
        }

        ctx = cln->data;
        ngx_memzero(ctx, sizeof(ngx_http_session_jwt_ctx_t));

        cln->handler = ngx_http_session_jwt_ctx_cleanup;

        ngx_http_set_ctx(r, ctx, ngx_http_session_jwt_module);
    }

    if (ctx->conf == jcf && ctx->decided) {
        return NGX_OK;
    }

    if (ctx->conf != jcf) {
        /* another location's policy: its verdict does not hold here */

        if (ctx->claims) {
            json_decref(ctx->claims);
        }

        ngx_memzero(ctx, sizeof(ngx_http_session_jwt_ctx_t));
        ctx->conf = jcf;
    }

    rc = ngx_http_session_jwt_token(r, jcf, &token);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_session_jwt_refuse(ctx, NGX_HTTP_UNAUTHORIZED,
                                    NGX_SESSION_JWT_MISSING, "no token");
        return NGX_OK;
    }

    rc = ngx_http_session_jwt_check(r, jcf, ctx, &token);

    if (rc == NGX_OK) {
        ctx->decided = 1;
    }

    return rc;
}


/* a verified token's claims, from the cache if there */

static ngx_int_t
ngx_http_session_jwt_check(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, ngx_http_session_jwt_ctx_t *ctx,
    ngx_str_t *token)
{
    u_char                             key[NGX_HTTP_SESSION_ZONE_KEY];
    json_t                            *claims;
    uint64_t                           generation;
    ngx_int_t                          rc;
    ngx_session_jwt_cache_t           *cache;
    ngx_session_jwt_result_t           res;
    const ngx_session_keyset_t        *fetched;
    ngx_http_session_jwt_main_conf_t  *jmcf;

    /* refused before even a hash is taken of it, or a key fetched for it */

    if (token->len > NGX_SESSION_JWT_MAX_TOKEN) {
        ngx_http_session_jwt_refuse(ctx, NGX_HTTP_UNAUTHORIZED,
                                    NGX_SESSION_JWT_MALFORMED,
                                    "token too large");
        return NGX_OK;
    }

    fetched = NULL;
    generation = 0;

    if (jcf->source) {
        /* only a token a fetched key could verify asks for the set */

        if (ngx_session_jwt_precheck(&jcf->policy, (char *) token->data,
                                     token->len, &res)
            != NGX_SESSION_OK)
        {
            ngx_http_session_jwt_refuse(ctx, NGX_HTTP_UNAUTHORIZED,
                                        res.reason, res.error);
            return NGX_OK;
        }

        rc = ngx_http_session_jwt_keys_get(r, jcf->source, 0, &fetched,
                                           &generation);
        if (rc == NGX_AGAIN) {
            return NGX_DONE;
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (fetched == NULL && jcf->keys == NULL) {
            ngx_http_session_jwt_refuse(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        NGX_SESSION_JWT_UNKNOWN_KID,
                                        "the identity provider's keys are "
                                        "not available");
            return NGX_OK;
        }
    }

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_session_jwt_module);
    cache = jmcf->cache;

    claims = NULL;

    if (jmcf->zone) {
        if (ngx_http_session_jwt_zone_get(r, jcf, generation, token, key,
                                          &claims)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_http_session_metrics_cache(r, NGX_HTTP_SESSION_METRICS_TOKEN_CACHE,
                                       claims != NULL);

    } else if (cache) {
        claims = ngx_session_jwt_cache_lookup(cache, &jcf->policy, generation,
                                              (char *) token->data,
                                              token->len, ngx_time());

        ngx_http_session_metrics_cache(r, NGX_HTTP_SESSION_METRICS_TOKEN_CACHE,
                                       claims != NULL);
    }

    if (claims) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "session jwt: cached token");

    } else {
        ngx_session_jwt_verify2(&jcf->policy, fetched, (char *) token->data,
                                token->len, ngx_time(), &res);

        if (res.reason == NGX_SESSION_JWT_UNKNOWN_KID && jcf->source) {

            /* SPEC 7: the provider may have rotated; ask once per 30 s */

            rc = ngx_http_session_jwt_keys_get(r, jcf->source, 1, &fetched,
                                               &generation);
            if (rc == NGX_AGAIN) {
                return NGX_DONE;
            }

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (fetched == NULL) {
                ngx_http_session_jwt_refuse(ctx,
                                            NGX_HTTP_SERVICE_UNAVAILABLE,
                                            NGX_SESSION_JWT_UNKNOWN_KID,
                                            "the identity provider's keys "
                                            "are not available");
                return NGX_OK;
            }
        }

        if (res.reason != NGX_SESSION_JWT_OK) {
            ngx_http_session_jwt_refuse(ctx,
                                        res.reason == NGX_SESSION_JWT_SCOPE
                                        ? NGX_HTTP_FORBIDDEN
                                        : NGX_HTTP_UNAUTHORIZED,
                                        res.reason,
                                        res.error ? res.error
                                                  : "token refused");
            return NGX_OK;
        }

        claims = res.claims;

        if (jmcf->zone) {
            /* generation may have moved with a refetch: a new key then */
            ngx_http_session_jwt_zone_put(r, jcf, generation, token, key,
                                          res.exp, claims);

        } else if (cache) {
            ngx_session_jwt_cache_store(cache, &jcf->policy, generation,
                                        (char *) token->data, token->len,
                                        res.exp, claims);
        }
    }

    ctx->claims = claims;       /* released by the ctx's pool cleanup */

    if (jcf->owner_claim.len) {
        return ngx_http_session_jwt_owner_claim(r, jcf, ctx);
    }

    return NGX_OK;
}


/*
 * The shared cache of verified tokens.  The key: SHA-256 of the token, and
 * of what else the verdict depends on: the configuration's epoch (new at
 * every load, so no entry outlives a changed policy or key file), the
 * policy's number in it (the same in every worker: numbered at merge, in
 * the master) and the fetched key set's generation (a digest of the set,
 * the same in every worker that fetched the same set).  The value: the
 * claims as compact JSON text, until the token's exp.
 */

static ngx_int_t
ngx_http_session_jwt_zone_key(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, uint64_t generation, ngx_str_t *token,
    u_char *key)
{
    uint64_t                           extra[3];
    ngx_http_session_hash_t         *sha;
    ngx_http_session_jwt_main_conf_t  *jmcf;

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_session_jwt_module);
    sha = &jmcf->sha256;

    extra[0] = ngx_http_session_zone_epoch(jmcf->zone);
    extra[1] = jcf->policy_id;
    extra[2] = generation;

    /* the token, then a fixed-size tail: no two pairs give the same bytes */

    if (ngx_http_session_hash_start(sha) != NGX_OK
        || ngx_http_session_hash_update(sha, token->data, token->len)
           != NGX_OK
        || ngx_http_session_hash_update(sha, extra, sizeof(extra))
           != NGX_OK
        || ngx_http_session_hash_final(sha, key) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* NGX_OK with the claims of a hit (a new reference) or NULL */

static ngx_int_t
ngx_http_session_jwt_zone_get(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, uint64_t generation, ngx_str_t *token,
    u_char *key, json_t **claims)
{
    ngx_int_t                          rc;
    ngx_str_t                          text;
    ngx_http_session_jwt_main_conf_t  *jmcf;

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_session_jwt_module);

    *claims = NULL;

    /* no key (a worker without SHA-256): a miss, verified */
    if (ngx_http_session_jwt_zone_key(r, jcf, generation, token, key)
        != NGX_OK)
    {
        return NGX_OK;
    }

    rc = ngx_http_session_zone_get(jmcf->zone, key, ngx_time(), r->pool,
                                   &text);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        /* written by zone_put from claims that passed the checks */
        *claims = json_loadb((char *) text.data, text.len,
                             JSON_REJECT_DUPLICATES, NULL);

        if (*claims != NULL && !json_is_object(*claims)) {
            json_decref(*claims);
            *claims = NULL;
        }
    }

    return NGX_OK;
}


static void
ngx_http_session_jwt_zone_put(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, uint64_t generation, ngx_str_t *token,
    u_char *key, int64_t exp, json_t *claims)
{
    char                              *text;
    ngx_str_t                          part;
    ngx_http_session_jwt_main_conf_t  *jmcf;

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_session_jwt_module);

    /* an exp beyond time_t, or before the epoch, is not worth a slot */
    if (exp <= 0 || exp > NGX_MAX_TIME_T_VALUE) {
        return;
    }

    if (ngx_http_session_jwt_zone_key(r, jcf, generation, token, key)
        != NGX_OK)
    {
        return;
    }

    text = json_dumps(claims, JSON_COMPACT);
    if (text == NULL) {
        return;
    }

    part.data = (u_char *) text;
    part.len = ngx_strlen(text);

    ngx_http_session_zone_put(jmcf->zone, key, (time_t) exp, &part, 1,
                              r->connection->log);

    free(text);
}


/*
 * The one place a token's refusal is decided: the status it is answered
 * with, the reason (SPEC 8's label, ngx_session_jwt_reason_name()) and
 * the description for error_description and $session_jwt_error.
 */

static void
ngx_http_session_jwt_refuse(ngx_http_session_jwt_ctx_t *ctx,
    ngx_uint_t status, ngx_session_jwt_reason_e reason, const char *error)
{
    ctx->status = status;
    ctx->reason = reason;
    ctx->error = error;
    ctx->scope = (reason == NGX_SESSION_JWT_SCOPE);
    ctx->decided = 1;
}


/*
 * NGX_OK with the token, NGX_DECLINED for "no token": no header, another
 * scheme, or an empty session_jwt_token value.
 */

static ngx_int_t
ngx_http_session_jwt_token(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, ngx_str_t *token)
{
    size_t            n;
    ngx_table_elt_t  *h;

    if (jcf->token) {
        if (ngx_http_complex_value(r, jcf->token, token) != NGX_OK) {
            return NGX_ERROR;
        }

        return token->len ? NGX_OK : NGX_DECLINED;
    }

    h = r->headers_in.authorization;

    if (h == NULL) {
        return NGX_DECLINED;
    }

    n = sizeof(NGX_HTTP_SESSION_BEARER) - 1;

    if (h->value.len < n
        || ngx_strncasecmp(h->value.data, (u_char *) NGX_HTTP_SESSION_BEARER,
                           n)
           != 0
        || (h->value.len > n && h->value.data[n] != ' '))
    {
        return NGX_DECLINED;
    }

    /* a bare "Bearer" is a token, an empty one: refused as malformed */

    n = ngx_min(h->value.len, n + 1);

    token->data = h->value.data + n;
    token->len = h->value.len - n;

    return NGX_OK;
}


/*
 * The tenant the token speaks for.  SPEC 3.2: a string as is, an integer in
 * decimal; an empty string and any other type count as missing.  The claim
 * is named exactly, as the claim variables name theirs.
 */

static ngx_int_t
ngx_http_session_jwt_owner_claim(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, ngx_http_session_jwt_ctx_t *ctx)
{
    json_t  *value;

    value = json_object_getn(ctx->claims, (char *) jcf->owner_claim.data,
                             jcf->owner_claim.len);

    if (value == NULL
        || !(json_is_string(value) || json_is_integer(value))
        || (json_is_string(value) && json_string_length(value) == 0))
    {
        ngx_http_session_jwt_refuse(ctx, NGX_HTTP_FORBIDDEN,
                                    NGX_SESSION_JWT_SCOPE,
                                    "the token does not name an owner");
        ctx->scope = 0;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session jwt: token has no usable \"%V\" claim",
                      &jcf->owner_claim);
        return NGX_OK;
    }

    if (ngx_http_session_jwt_claim_text(r, value, &ctx->owner) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a refused token's response; the phases end here */

static ngx_int_t
ngx_http_session_jwt_answer(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, ngx_http_session_jwt_ctx_t *ctx)
{
    ngx_str_t  code, text;

    /* SPEC 8: a token refused, once per request, where it is answered */

    if (ctx->status != NGX_HTTP_SERVICE_UNAVAILABLE) {
        ngx_http_session_metrics_refusal(r,
                              (ctx->status == NGX_HTTP_FORBIDDEN && !ctx->scope)
                              ? NGX_HTTP_SESSION_METRICS_OWNER_CLAIM
                              : (ngx_uint_t) ctx->reason);
    }

    switch (ctx->status) {

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "session jwt: no key set from the identity provider "
                      "yet, answering 503");

        ngx_str_set(&code, "temporarily_unavailable");
        text.data = (u_char *) ctx->error;
        text.len = ngx_strlen(ctx->error);

        /* the next fetch is no sooner than that */

        if (ngx_http_session_add_header(r, &ngx_http_session_retry_after,
                                        &ngx_http_session_jwt_retry, NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_http_finalize_request(r,
            ngx_http_session_send_error_text(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                             &code, &text));
        return NGX_DONE;

    case NGX_HTTP_FORBIDDEN:
        return ngx_http_session_jwt_deny(r, jcf, NGX_HTTP_FORBIDDEN,
                                         "insufficient_scope", ctx->error,
                                         ctx->scope ? &jcf->scope_list
                                                    : NULL);

    default: /* NGX_HTTP_UNAUTHORIZED */

        if (ctx->reason == NGX_SESSION_JWT_MISSING) {
            return ngx_http_session_jwt_deny(r, jcf, NGX_HTTP_UNAUTHORIZED,
                                             NULL, NULL, NULL);
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session jwt: token refused: %s", ctx->error);

        return ngx_http_session_jwt_deny(r, jcf, NGX_HTTP_UNAUTHORIZED,
                                         "invalid_token", ctx->error, NULL);
    }
}


/*
 * 401 and 403 with WWW-Authenticate (RFC 6750 3): no error attribute when
 * no token was presented, the required scopes for session_jwt_scope.  The
 * response is sent here and the phases end.
 */

static ngx_int_t
ngx_http_session_jwt_deny(ngx_http_request_t *r,
    ngx_http_session_jwt_conf_t *jcf, ngx_uint_t status, const char *error,
    const char *description, ngx_str_t *scope)
{
    size_t     len;
    u_char    *p;
    ngx_str_t  value, code, text;

    len = sizeof("Bearer realm=\"\"") - 1 + jcf->realm.len;

    if (error) {
        len += sizeof(", error=\"\"") - 1 + ngx_strlen(error);
    }

    if (description) {
        len += sizeof(", error_description=\"\"") - 1
               + ngx_strlen(description);
    }

    if (scope) {
        len += sizeof(", scope=\"\"") - 1 + scope->len;
    }

    value.data = ngx_pnalloc(r->pool, len);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    /* realm, scopes and texts hold no quote or backslash: checked or static */

    p = ngx_sprintf(value.data, "Bearer realm=\"%V\"", &jcf->realm);

    if (error) {
        p = ngx_sprintf(p, ", error=\"%s\"", error);
    }

    if (description) {
        p = ngx_sprintf(p, ", error_description=\"%s\"", description);
    }

    if (scope) {
        p = ngx_sprintf(p, ", scope=\"%V\"", scope);
    }

    value.len = p - value.data;

    if (ngx_http_session_add_header(r, &ngx_http_session_www_authenticate,
                                    &value, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (error == NULL) {
        ngx_str_set(&code, "unauthorized");
        ngx_str_set(&text, "a bearer token is required");

    } else {
        code.data = (u_char *) error;
        code.len = ngx_strlen(error);
        text.data = (u_char *) description;
        text.len = ngx_strlen(description);
    }

    ngx_http_finalize_request(r, ngx_http_session_send_error_text(r, status,
                                                                 &code, &text));
    return NGX_DONE;
}


static void
ngx_http_session_jwt_ctx_cleanup(void *data)
{
    ngx_http_session_jwt_ctx_t *ctx = data;

    if (ctx->claims) {
        json_decref(ctx->claims);
        ctx->claims = NULL;
    }
}


/*
 * $session_jwt_claim_<name>: the claim named exactly <name>.  nginx
 * lowercases variable names, so a claim with capitals is reached with
 * session_jwt_claim_set instead (docs/auth.md).
 */

static ngx_int_t
ngx_http_session_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    size_t  n;

    n = sizeof("session_jwt_claim_") - 1;

    return ngx_http_session_jwt_claim_value(r, v, name->data + n,
                                            name->len - n);
}


/* session_jwt_claim_set $variable claim */

static ngx_int_t
ngx_http_session_jwt_claim_set_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *claim = (ngx_str_t *) data;

    return ngx_http_session_jwt_claim_value(r, v, claim->data, claim->len);
}


static ngx_int_t
ngx_http_session_jwt_claim_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, u_char *name, size_t len)
{
    u_char                      *p;
    json_t                      *value;
    ngx_str_t                    text;
    ngx_http_session_jwt_ctx_t  *ctx;

    ctx = ngx_http_session_jwt_get_ctx(r);

    if (ctx == NULL || ctx->claims == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = json_object_getn(ctx->claims, (char *) name, len);

    if (value == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ngx_http_session_jwt_claim_text(r, value, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * A CR or LF would split a header that add_header builds from it, a
     * NUL cut it: a value with any control byte is not given out.
     */

    for (p = text.data; p < text.data + text.len; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "session jwt: claim \"%*s\" has a control byte, "
                           "not given out", len, name);
            v->not_found = 1;
            return NGX_OK;
        }
    }

    v->len = text.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = text.data;

    return NGX_OK;
}


/*
 * Strings as is, integers in decimal, anything else as compact JSON; in
 * r's pool, as nginx may keep a variable's value longer than the claims
 * (rewrite ... last into another policy releases them).
 */

static ngx_int_t
ngx_http_session_jwt_claim_text(ngx_http_request_t *r, json_t *value,
    ngx_str_t *text)
{
    char              *json;
    json_free_t        free_fn;
    json_malloc_t      malloc_fn;

    if (json_is_string(value)) {
        text->len = json_string_length(value);
        text->data = ngx_pnalloc(r->pool, text->len + 1);
        if (text->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(text->data, json_string_value(value), text->len);
        return NGX_OK;
    }

    if (json_is_integer(value)) {
        text->data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (text->data == NULL) {
            return NGX_ERROR;
        }

        text->len = ngx_sprintf(text->data, "%L",
                                (int64_t) json_integer_value(value))
                    - text->data;
        return NGX_OK;
    }

    json = json_dumps(value, JSON_COMPACT|JSON_ENCODE_ANY);
    if (json == NULL) {
        return NGX_ERROR;
    }

    text->len = ngx_strlen(json);
    text->data = ngx_pnalloc(r->pool, text->len);

    if (text->data) {
        ngx_memcpy(text->data, json, text->len);
    }

    /* json_dumps() allocates with jansson's allocator: free with its own */

    json_get_alloc_funcs(&malloc_fn, &free_fn);
    free_fn(json);

    return text->data ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_session_jwt_error_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_session_jwt_ctx_t  *ctx;

    ctx = ngx_http_session_jwt_get_ctx(r);

    if (ctx == NULL || ctx->error == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ngx_strlen(ctx->error);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) ctx->error;

    return NGX_OK;
}


static void *
ngx_http_session_jwt_create_conf(ngx_conf_t *cf)
{
    ngx_http_session_jwt_conf_t  *jcf;

    jcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_jwt_conf_t));
    if (jcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     jcf->realm = { 0, NULL };
     *     jcf->keys = NULL;
     *     jcf->issuer = { 0, NULL };
     *     jcf->owner_claim = { 0, NULL };
     *     jcf->key_request = { 0, NULL };
     *     jcf->policy = { 0 };
     *     jcf->scope_list = { 0, NULL };
     *     jcf->source = NULL;
     */

    jcf->enabled = NGX_CONF_UNSET;
    jcf->algorithms = NGX_CONF_UNSET_UINT;
    jcf->audiences = NGX_CONF_UNSET_PTR;
    jcf->leeway = NGX_CONF_UNSET;
    jcf->token = NGX_CONF_UNSET_PTR;
    jcf->types = NGX_CONF_UNSET_UINT;
    jcf->scopes = NGX_CONF_UNSET_PTR;
    jcf->key_cache = NGX_CONF_UNSET;

    return jcf;
}


static char *
ngx_http_session_jwt_merge_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_session_jwt_conf_t *prev = parent;
    ngx_http_session_jwt_conf_t *conf = child;

    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_session_jwt_main_conf_t  *jmcf;

    if (conf->enabled == NGX_CONF_UNSET) {
        conf->enabled = prev->enabled;
        conf->realm = prev->realm;
    }

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);

    /* array-directive inheritance: a level naming key files replaces all */

    if (conf->keys == NULL) {
        conf->keys = prev->keys;
    }

    ngx_conf_merge_uint_value(conf->algorithms, prev->algorithms,
                              NGX_SESSION_ALG_ALL);
    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);
    ngx_conf_merge_ptr_value(conf->token, prev->token, NULL);
    ngx_conf_merge_uint_value(conf->types, prev->types,
                              NGX_SESSION_JWT_TYPE_ALL);
    ngx_conf_merge_ptr_value(conf->scopes, prev->scopes, NULL);
    ngx_conf_merge_str_value(conf->key_request, prev->key_request, "");
    ngx_conf_merge_sec_value(conf->key_cache, prev->key_cache, 300);

    /* owner_claim is not inherited: the endpoint sets it where it serves */

    if (!conf->enabled) {
        return NGX_CONF_OK;
    }

    if (conf->keys == NULL && conf->key_request.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_jwt\" needs \"session_jwt_key_file\" "
                           "or \"session_jwt_key_request\"");
        return NGX_CONF_ERROR;
    }

    if (conf->key_request.len) {
        if (conf->key_request.data[0] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"session_jwt_key_request\" takes a URI "
                               "starting with \"/\", not \"%V\"",
                               &conf->key_request);
            return NGX_CONF_ERROR;
        }

        if (conf->key_cache <= 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"session_jwt_key_cache\" must be "
                               "at least 1s");
            return NGX_CONF_ERROR;
        }

        jmcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_session_jwt_module);

        conf->source = ngx_http_session_jwt_keys_add(cf, &jmcf->sources,
                                                     &conf->key_request,
                                                     conf->key_cache);
        if (conf->source == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_session_jwt_policy(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_session_jwt_module);
    conf->policy_id = ++jmcf->npolicies;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* a refusal is sent at once, as JSON: no other module may grant */

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_jwt\" cannot be used with "
                           "\"satisfy any\" (location \"%V\")",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the verifier's view of the configuration, prepared once */

static char *
ngx_http_session_jwt_policy(ngx_conf_t *cf, ngx_http_session_jwt_conf_t *jcf)
{
    ngx_uint_t    i;
    ngx_str_t    *aud;
    const char  **names;

    jcf->policy.keys = jcf->keys;
    jcf->policy.algorithms = jcf->algorithms;
    jcf->policy.issuer = jcf->issuer.len ? (char *) jcf->issuer.data : NULL;
    jcf->policy.leeway = jcf->leeway;
    jcf->policy.types = jcf->types;

    if (jcf->scopes) {
        if (ngx_http_session_jwt_policy_scopes(cf, jcf) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (jcf->audiences == NULL) {
        return NGX_CONF_OK;
    }

    names = ngx_palloc(cf->pool, jcf->audiences->nelts * sizeof(char *));
    if (names == NULL) {
        return NGX_CONF_ERROR;
    }

    aud = jcf->audiences->elts;

    for (i = 0; i < jcf->audiences->nelts; i++) {
        names[i] = (char *) aud[i].data;    /* NUL-terminated by the parser */
    }

    jcf->policy.audiences = names;
    jcf->policy.naudiences = jcf->audiences->nelts;

    return NGX_CONF_OK;
}


/* the verifier's list of scopes, and the same space-separated for 403s */

static char *
ngx_http_session_jwt_policy_scopes(ngx_conf_t *cf,
    ngx_http_session_jwt_conf_t *jcf)
{
    size_t        len;
    u_char       *p;
    ngx_uint_t    i;
    ngx_str_t    *scope;
    const char  **names;

    scope = jcf->scopes->elts;

    names = ngx_palloc(cf->pool, jcf->scopes->nelts * sizeof(char *));
    if (names == NULL) {
        return NGX_CONF_ERROR;
    }

    len = 0;

    for (i = 0; i < jcf->scopes->nelts; i++) {
        names[i] = (char *) scope[i].data;  /* NUL-terminated by the parser */
        len += scope[i].len + 1;
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    jcf->scope_list.data = p;

    for (i = 0; i < jcf->scopes->nelts; i++) {
        if (i) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, scope[i].data, scope[i].len);
    }

    jcf->scope_list.len = p - jcf->scope_list.data;

    jcf->policy.scopes = names;
    jcf->policy.nscopes = jcf->scopes->nelts;

    return NGX_CONF_OK;
}


/* session_jwt realm | off */

static char *
ngx_http_session_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_jwt_conf_t *jcf = conf;

    u_char     *p;
    ngx_str_t  *value;

    if (jcf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (ngx_http_session_check_args(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        jcf->enabled = 0;
        return NGX_CONF_OK;
    }

    /* the realm goes into a quoted-string as is */

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p == '"' || *p == '\\' || *p < 0x20 || *p == 0x7f) {
            return "has a realm with a quote, backslash or control character";
        }
    }

    jcf->enabled = 1;
    jcf->realm = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_session_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_jwt_conf_t *jcf = conf;

    char                         err[256];
    ngx_str_t                   *value, path;
    ngx_pool_cleanup_t          *cln;
    ngx_session_keyset_loader_t  loader;

    if (ngx_http_session_check_args(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (jcf->keys == NULL) {
        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        jcf->keys = ngx_session_keyset_create();
        if (jcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_session_jwt_keyset_cleanup;
        cln->data = jcf->keys;
    }

    /* read at configuration time, never per request */

    loader.warn = ngx_http_session_jwt_key_warn;
    loader.data = cf;

    if (ngx_session_keyset_load_file(jcf->keys, &loader,
                                     (char *) path.data, err, sizeof(err))
        != NGX_SESSION_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key file \"%V\": %s", &path, err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_session_jwt_keyset_cleanup(void *data)
{
    ngx_session_keyset_free(data);
}


/* SPEC 5: a key that is not for us is skipped, and the operator told */

static void
ngx_http_session_jwt_key_warn(void *data, const char *msg)
{
    ngx_conf_t  *cf = data;

    ngx_str_t  *value;

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0, "key file \"%V\": %s",
                       &value[1], msg);
}


static char *
ngx_http_session_jwt_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_session_jwt_conf_t *jcf = conf;

    unsigned     bit;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (jcf->algorithms != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    if (ngx_http_session_check_args(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    jcf->algorithms = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        bit = ngx_session_jwt_alg_bit((char *) value[i].data, value[i].len);

        if (bit == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "algorithm \"%V\" cannot be allowed: "
                               "use HS256, HS384, HS512, RS256, RS384, RS512, "
                               "PS256, PS384, PS512, ES256, ES384, ES512 "
                               "or EdDSA", &value[i]);
            return NGX_CONF_ERROR;
        }

        jcf->algorithms |= bit;
    }

    return NGX_CONF_OK;
}


/* session_jwt_audience name ... | off */

static char *
ngx_http_session_jwt_audience(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_jwt_conf_t *jcf = conf;

    return ngx_http_session_jwt_names(cf, &jcf->audiences);
}


/* a list directive, "name ... | off": its arguments, or NULL for "off" */

static char *
ngx_http_session_jwt_names(ngx_conf_t *cf, ngx_array_t **names)
{
    ngx_str_t   *value, *name;
    ngx_uint_t   i;

    if (*names != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    if (ngx_http_session_check_args(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        *names = NULL;
        return NGX_CONF_OK;
    }

    *names = ngx_array_create(cf->pool, cf->args->nelts - 1,
                              sizeof(ngx_str_t));
    if (*names == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        name = ngx_array_push(*names);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}


/* a string directive whose "off" switches it off in an inner level */

char *
ngx_http_session_jwt_str_or_off(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        ngx_str_set(field, "");
        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        return "takes a non-empty value or \"off\"";
    }

    *field = value[1];

    return NGX_CONF_OK;
}


/* session_jwt_cache entries | shared:name:size | off */

static char *
ngx_http_session_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_jwt_main_conf_t *jmcf = conf;

    ngx_str_t  *value;

    if (jmcf->cache_size != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        jmcf->cache_size = 0;
        return NGX_CONF_OK;
    }

    /* shared: no per-worker cache beside it */

    switch (ngx_http_session_zone_add(cf, &value[1],
                                      &ngx_http_session_jwt_module,
                                      &jmcf->zone))
    {
    case NGX_OK:
        jmcf->cache_size = 0;
        return NGX_CONF_OK;

    case NGX_ERROR:
        return NGX_CONF_ERROR;

    default: /* NGX_DECLINED: a number of entries */
        break;
    }

    jmcf->cache_size = ngx_atoi(value[1].data, value[1].len);

    if (jmcf->cache_size == NGX_ERROR || jmcf->cache_size < 4) {
        return "takes a number of entries (4 or more), "
               "\"shared:NAME:SIZE\" or \"off\"";
    }

    return NGX_CONF_OK;
}


/* session_jwt_type jwt | at+jwt ... */

static char *
ngx_http_session_jwt_type(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_jwt_conf_t *jcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (jcf->types != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    if (ngx_http_session_check_args(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    jcf->types = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "jwt") == 0) {
            jcf->types |= NGX_SESSION_JWT_TYPE_JWT;

        } else if (ngx_strcmp(value[i].data, "at+jwt") == 0) {
            jcf->types |= NGX_SESSION_JWT_TYPE_AT_JWT;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid token type \"%V\": use \"jwt\" "
                               "or \"at+jwt\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * session_jwt_scope scope ... | off.  A scope goes into a quoted-string of
 * WWW-Authenticate as is: RFC 6749 3.3's scope-token characters only.
 */

static char *
ngx_http_session_jwt_scope(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_jwt_conf_t *jcf = conf;

    char        *rv;
    u_char      *p;
    ngx_str_t   *scope;
    ngx_uint_t   i;

    rv = ngx_http_session_jwt_names(cf, &jcf->scopes);

    if (rv != NGX_CONF_OK || jcf->scopes == NULL) {
        return rv;
    }

    scope = jcf->scopes->elts;

    for (i = 0; i < jcf->scopes->nelts; i++) {

        if (scope[i].len == 0) {
            return "takes non-empty scopes";
        }

        for (p = scope[i].data; p < scope[i].data + scope[i].len; p++) {
            if (*p <= 0x20 || *p == '"' || *p == '\\' || *p >= 0x7f) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid scope \"%V\": a scope is "
                                   "printable ASCII without space, quote "
                                   "or backslash", &scope[i]);
                return NGX_CONF_ERROR;
            }
        }
    }

    return NGX_CONF_OK;
}


/*
 * session_jwt_claim_set $variable claim: the claim named exactly, capitals
 * and all, which $session_jwt_claim_<name> cannot reach (nginx lowercases
 * variable names).
 */

static char *
ngx_http_session_jwt_claim_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t            *value, *claim, name;
    ngx_http_variable_t  *var;

    value = cf->args->elts;

    if (value[1].len < 2 || value[1].data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid variable name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (value[2].len == 0) {
        return "takes a non-empty claim name";
    }

    name.data = value[1].data + 1;
    name.len = value[1].len - 1;

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_CONF_ERROR;
    }

    claim = ngx_palloc(cf->pool, sizeof(ngx_str_t));
    if (claim == NULL) {
        return NGX_CONF_ERROR;
    }

    *claim = value[2];

    var->get_handler = ngx_http_session_jwt_claim_set_variable;
    var->data = (uintptr_t) claim;

    return NGX_CONF_OK;
}


/* the owner claim's value of the request's verified token */

ngx_str_t *
ngx_http_session_jwt_owner(ngx_http_request_t *r)
{
    ngx_http_session_jwt_ctx_t  *ctx;

    ctx = ngx_http_session_jwt_get_ctx(r);

    if (ctx == NULL || ctx->status || ctx->owner.data == NULL) {
        return NULL;
    }

    return &ctx->owner;
}


/*
 * For the endpoint's merge, which runs after this module's: "config" puts
 * this module first.
 */

ngx_int_t
ngx_http_session_jwt_require_owner(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_http_session_jwt_conf_t  *jcf;

    jcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_session_jwt_module);

    if (!jcf->enabled) {
        return NGX_DECLINED;
    }

    jcf->owner_claim = *name;

    return NGX_OK;
}


/* a worker's own cache of verified tokens, or its digest context */

static ngx_int_t
ngx_http_session_jwt_init_process(ngx_cycle_t *cycle)
{
    ngx_http_session_jwt_main_conf_t  *jmcf;

    jmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_session_jwt_module);

    if (jmcf == NULL) {
        return NGX_OK;
    }

    if (jmcf->zone
        && ngx_http_session_hash_init(&jmcf->sha256, "SHA256") != NGX_OK)
    {
        /* no key, no lookup: every token is verified */
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "session jwt: no SHA-256 for the token cache");
    }

    if (jmcf->cache_size == 0) {
        return NGX_OK;
    }

    jmcf->cache = ngx_session_jwt_cache_create(jmcf->cache_size);

    /* the cache only saves work: without one, the worker still serves */

    if (jmcf->cache == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "session jwt: cannot allocate the token cache");
    }

    return NGX_OK;
}


static void
ngx_http_session_jwt_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_session_jwt_main_conf_t  *jmcf;

    jmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_session_jwt_module);

    if (jmcf == NULL) {
        return;
    }

    if (jmcf->cache) {
        ngx_session_jwt_cache_free(jmcf->cache);
        jmcf->cache = NULL;
    }

    ngx_http_session_hash_free(&jmcf->sha256);

    ngx_http_session_jwt_keys_free(&jmcf->sources);
}


static ngx_int_t
ngx_http_session_jwt_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_session_jwt_vars; v->name.len; v++) {
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
ngx_http_session_jwt_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_session_jwt_rewrite_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_session_jwt_access_handler;

    return NGX_OK;
}


static void *
ngx_http_session_jwt_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_session_jwt_main_conf_t  *jmcf;

    jmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_jwt_main_conf_t));
    if (jmcf == NULL) {
        return NULL;
    }

    jmcf->cache_size = NGX_CONF_UNSET;

    if (ngx_array_init(&jmcf->sources, cf->pool, 4,
                       sizeof(ngx_http_session_jwt_keys_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return jmcf;
}


static char *
ngx_http_session_jwt_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_session_jwt_main_conf_t *jmcf = conf;

    /* 4-way sets: room for a few thousand clients without thrashing */
    ngx_conf_init_value(jmcf->cache_size, 8192);

    return NGX_CONF_OK;
}
