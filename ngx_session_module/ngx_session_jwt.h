
/*
 * Bearer JWT verification: policy, verification, and a per-worker cache of
 * verified tokens.  Pure C on libjwt 1.10, OpenSSL and jansson; no nginx
 * types.
 */

#ifndef _NGX_SESSION_JWT_H_INCLUDED_
#define _NGX_SESSION_JWT_H_INCLUDED_


#include <time.h>
#include <jansson.h>

#include "ngx_session_data.h"
#include "ngx_session_jose.h"

/* the key-set API, for the module's convenience; jwt.c calls none of it */
#include "ngx_session_jwk.h"


#define NGX_SESSION_JWT_MAX_TOKEN  8192

/* ngx_session_jwt_policy_t.types; 0 means both */
#define NGX_SESSION_JWT_TYPE_JWT     0x01    /* no "typ", or "JWT" */
/* "at+jwt", "application/at+jwt" */
#define NGX_SESSION_JWT_TYPE_AT_JWT  0x02
#define NGX_SESSION_JWT_TYPE_ALL     0x03


/* "RS256" -> bit; 0 for an unknown name and for "none" */
unsigned ngx_session_jwt_alg_bit(const char *name, size_t len);


/*
 * Read-only configuration: one per location, shared by every request.
 * Keys fetched at run time are not here but passed to
 * ngx_session_jwt_verify2() beside it.
 */
typedef struct {
    const ngx_session_keyset_t  *keys;         /* from key files; may be NULL */
    unsigned                     algorithms;   /* NGX_SESSION_ALG_* bits */
    const char                  *issuer;       /* NULL: not checked */
    const char *const           *audiences;    /* NULL: not checked */
    size_t                       naudiences;
    int64_t                      leeway;       /* seconds, for exp and nbf */
    unsigned                     types;        /* NGX_SESSION_JWT_TYPE_* */
    const char *const           *scopes;       /* all required; NULL: none */
    size_t                       nscopes;
} ngx_session_jwt_policy_t;


/* why a token was refused: stable, for metrics (SPEC 8) and for the caller */
typedef enum {
    NGX_SESSION_JWT_OK = 0,
    NGX_SESSION_JWT_MISSING,        /* no token: the caller's, never ours */
    NGX_SESSION_JWT_MALFORMED,
    NGX_SESSION_JWT_SIGNATURE,
    NGX_SESSION_JWT_EXPIRED,
    NGX_SESSION_JWT_NOT_YET_VALID,
    NGX_SESSION_JWT_ISSUER,
    NGX_SESSION_JWT_AUDIENCE,
    NGX_SESSION_JWT_UNKNOWN_KID,    /* a refetch of the key set may help */
    NGX_SESSION_JWT_ALGORITHM,
    NGX_SESSION_JWT_TYPE,
    NGX_SESSION_JWT_SCOPE,          /* valid token: 403 insufficient_scope */
    NGX_SESSION_JWT_NREASONS
} ngx_session_jwt_reason_e;

/* "missing", "malformed", ... "scope": the metric's label value */
const char *ngx_session_jwt_reason_name(ngx_session_jwt_reason_e reason);


typedef struct {
    json_t                      *claims;   /* OK: a new reference */
    int64_t                      exp;      /* OK: the token's exp */
    ngx_session_jwt_reason_e     reason;   /* NGX_SESSION_JWT_OK on success */
    const char                  *error;    /* refused: for error_description */
} ngx_session_jwt_result_t;


/*
 * Verifies a compact JWS at time now against the policy's key files and,
 * when not NULL, a key set fetched at run time (tried after the files; a
 * kid is looked up in both).  The claims come from this function's own
 * parse, which refuses duplicate member names, so every check and every
 * variable reads the same claim.  On NGX_SESSION_ERROR, res->error is a
 * short static description suitable for error_description (never token
 * bytes) and res->claims NULL.
 */
int ngx_session_jwt_verify2(const ngx_session_jwt_policy_t *policy,
    const ngx_session_keyset_t *fetched, const char *token, size_t len,
    time_t now, ngx_session_jwt_result_t *res);

/*
 * The checks that need no key: size, three parts of base64url, a JSON
 * header with an allowed alg, an accepted typ, no crit, a string kid.
 * NGX_SESSION_OK when the token may be worth a key fetch; otherwise res
 * says why, as ngx_session_jwt_verify2() would.
 */
int ngx_session_jwt_precheck(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, ngx_session_jwt_result_t *res);

/* the same with key files only */
int ngx_session_jwt_verify(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, time_t now, json_t **claims, int64_t *exp,
    const char **error);


/*
 * Verified tokens, keyed by SHA-256 of the whole token, the policy identity
 * and a key-set generation (the caller's number for the fetched set it
 * verified with: a changed set changes it, so no entry outlives its keys),
 * bounded in entries, never returned at or after the token's exp.
 */
typedef struct ngx_session_jwt_cache_s  ngx_session_jwt_cache_t;

ngx_session_jwt_cache_t *ngx_session_jwt_cache_create(size_t entries);
void ngx_session_jwt_cache_free(ngx_session_jwt_cache_t *cache);

/* a hit returns a new reference to the claims; NULL on a miss */
json_t *ngx_session_jwt_cache_lookup(ngx_session_jwt_cache_t *cache,
    const void *policy_id, uint64_t generation, const char *token,
    size_t len, time_t now);

void ngx_session_jwt_cache_store(ngx_session_jwt_cache_t *cache,
    const void *policy_id, uint64_t generation, const char *token,
    size_t len, int64_t exp, json_t *claims);

/* generation 0: key files only */
json_t *ngx_session_jwt_cache_get(ngx_session_jwt_cache_t *cache,
    const void *policy_id, const char *token, size_t len, time_t now);

void ngx_session_jwt_cache_put(ngx_session_jwt_cache_t *cache,
    const void *policy_id, const char *token, size_t len, int64_t exp,
    json_t *claims);


#endif /* _NGX_SESSION_JWT_H_INCLUDED_ */
