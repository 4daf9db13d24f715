
/*
 * Bearer JWT verification: keys, policy, and a per-worker cache of verified
 * tokens.  Pure C on libjwt 1.10, OpenSSL and jansson; no nginx types.
 */

#ifndef _NGX_SESSION_JWT_H_INCLUDED_
#define _NGX_SESSION_JWT_H_INCLUDED_


#include <time.h>
#include <jansson.h>

#include "ngx_session_data.h"


#define NGX_SESSION_JWT_MAX_TOKEN  8192

/* algorithm bits for ngx_session_jwt_policy_t.algorithms */
#define NGX_SESSION_ALG_HS256      0x0001
#define NGX_SESSION_ALG_HS384      0x0002
#define NGX_SESSION_ALG_HS512      0x0004
#define NGX_SESSION_ALG_RS256      0x0008
#define NGX_SESSION_ALG_RS384      0x0010
#define NGX_SESSION_ALG_RS512      0x0020
#define NGX_SESSION_ALG_ES256      0x0040
#define NGX_SESSION_ALG_ES384      0x0080
#define NGX_SESSION_ALG_ES512      0x0100
#define NGX_SESSION_ALG_ALL        0x01ff


/* "RS256" -> bit; 0 for an unknown name and for "none" */
unsigned ngx_session_jwt_alg_bit(const char *name, size_t len);


typedef struct ngx_session_keyset_s  ngx_session_keyset_t;

ngx_session_keyset_t *ngx_session_keyset_create(void);
void ngx_session_keyset_free(ngx_session_keyset_t *ks);

/*
 * Adds every key of a file: a JWKS ({"keys":[...]}), a single JWK, or a PEM
 * public key (RSA or EC).  Fails (NGX_SESSION_ERROR, err filled with a
 * reason that names no key material) on anything unusable: unreadable or
 * empty file, unknown kty, alg not fitting the key type, HMAC key shorter
 * than its hash output, no usable key left after skipping use != "sig".
 */
int ngx_session_keyset_load_file(ngx_session_keyset_t *ks, const char *path,
    char *err, size_t errlen);

/* the same, from a file's contents (len bytes, not NUL-terminated) */
int ngx_session_keyset_load(ngx_session_keyset_t *ks,
    const unsigned char *buf, size_t len, char *err, size_t errlen);

size_t ngx_session_keyset_count(const ngx_session_keyset_t *ks);


typedef struct {
    const ngx_session_keyset_t  *keys;
    unsigned                     algorithms;   /* NGX_SESSION_ALG_* bits */
    const char                  *issuer;       /* NULL: not checked */
    const char *const           *audiences;    /* NULL: not checked */
    size_t                       naudiences;
    int64_t                      leeway;       /* seconds, for exp and nbf */
} ngx_session_jwt_policy_t;


/*
 * Verifies a compact JWS at time now.  On NGX_SESSION_OK, *claims is a new
 * reference to the payload object (json_decref() it) and *exp its "exp".
 * On NGX_SESSION_ERROR, *error is a short static description suitable for
 * error_description (never token bytes).
 */
int ngx_session_jwt_verify(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, time_t now, json_t **claims, int64_t *exp,
    const char **error);


/*
 * Verified tokens, keyed by SHA-256 of the whole token and the policy
 * identity, bounded in entries, never returned at or after the token's exp.
 */
typedef struct ngx_session_jwt_cache_s  ngx_session_jwt_cache_t;

ngx_session_jwt_cache_t *ngx_session_jwt_cache_create(size_t entries);
void ngx_session_jwt_cache_free(ngx_session_jwt_cache_t *cache);

/* a hit returns a new reference to the claims; NULL on a miss */
json_t *ngx_session_jwt_cache_get(ngx_session_jwt_cache_t *cache,
    const void *policy_id, const char *token, size_t len, time_t now);

void ngx_session_jwt_cache_put(ngx_session_jwt_cache_t *cache,
    const void *policy_id, const char *token, size_t len, int64_t exp,
    json_t *claims);


#endif /* _NGX_SESSION_JWT_H_INCLUDED_ */
