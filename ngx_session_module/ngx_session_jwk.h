
/*
 * The key set behind ngx_session_keyset_t, shared by the key loader
 * (ngx_session_jwk.c) and the verifier (ngx_session_jwt.c).  Internal to
 * those two files; the module sees only ngx_session_jwt.h.
 */

#ifndef _NGX_SESSION_JWK_H_INCLUDED_
#define _NGX_SESSION_JWK_H_INCLUDED_


#include <openssl/evp.h>

#include "ngx_session_jwt.h"


#define NGX_SESSION_ALG_HS  (NGX_SESSION_ALG_HS256 | NGX_SESSION_ALG_HS384   \
                             | NGX_SESSION_ALG_HS512)
#define NGX_SESSION_ALG_RS  (NGX_SESSION_ALG_RS256 | NGX_SESSION_ALG_RS384   \
                             | NGX_SESSION_ALG_RS512)
#define NGX_SESSION_ALG_ES  (NGX_SESSION_ALG_ES256 | NGX_SESSION_ALG_ES384   \
                             | NGX_SESSION_ALG_ES512)


typedef enum {
    NGX_SESSION_KEY_OCT = 1,
    NGX_SESSION_KEY_RSA,
    NGX_SESSION_KEY_EC
} ngx_session_key_type_e;


typedef struct {
    ngx_session_key_type_e   type;
    unsigned                 algs;      /* NGX_SESSION_ALG_* it may verify */
    char                    *kid;       /* NULL: the key has no kid */
    size_t                   kid_len;
    unsigned char           *data;      /* SPKI PEM (RSA, EC) or secret */
    size_t                   len;       /* never 0 */
    EVP_PKEY                *pkey;      /* RSA, EC: parsed once, for the */
                                        /* pre-check before libjwt */
} ngx_session_key_t;


struct ngx_session_keyset_s {
    ngx_session_key_t       *keys;
    size_t                   nkeys;
    size_t                   nalloc;
};


/*
 * Strict base64url (RFC 4648 section 5) without padding: only the URL-safe
 * alphabet, no length of the form 4n+1, unused trailing bits zero, so that
 * every string has one decoding and every decoding one string.
 */
#define ngx_session_b64url_decoded_len(n)  ((n) / 4 * 3 + ((n) % 4) * 3 / 4)

int ngx_session_b64url_valid(const char *src, size_t len);

/* dst holds ngx_session_b64url_decoded_len(len) bytes */
int ngx_session_b64url_decode(const char *src, size_t len,
    unsigned char *dst, size_t *dst_len);


#endif /* _NGX_SESSION_JWK_H_INCLUDED_ */
