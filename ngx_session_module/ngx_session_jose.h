
/*
 * JOSE basics shared by the key loader (ngx_session_jwk.c) and the
 * verifier (ngx_session_jwt.c): the algorithms this module verifies, the
 * key and key-set model both sides agree on, and strict base64url.  A leaf:
 * it calls neither of them.  Pure C on OpenSSL.
 */

#ifndef _NGX_SESSION_JOSE_H_INCLUDED_
#define _NGX_SESSION_JOSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>


/* algorithm bits, for allow-lists and for what a key may verify */
#define NGX_SESSION_ALG_HS256      0x0001
#define NGX_SESSION_ALG_HS384      0x0002
#define NGX_SESSION_ALG_HS512      0x0004
#define NGX_SESSION_ALG_RS256      0x0008
#define NGX_SESSION_ALG_RS384      0x0010
#define NGX_SESSION_ALG_RS512      0x0020
#define NGX_SESSION_ALG_ES256      0x0040
#define NGX_SESSION_ALG_ES384      0x0080
#define NGX_SESSION_ALG_ES512      0x0100
#define NGX_SESSION_ALG_PS256      0x0200
#define NGX_SESSION_ALG_PS384      0x0400
#define NGX_SESSION_ALG_PS512      0x0800
#define NGX_SESSION_ALG_EDDSA      0x1000
#define NGX_SESSION_ALG_ALL        0x1fff

#define NGX_SESSION_ALG_HS  (NGX_SESSION_ALG_HS256 | NGX_SESSION_ALG_HS384   \
                             | NGX_SESSION_ALG_HS512)
#define NGX_SESSION_ALG_RS  (NGX_SESSION_ALG_RS256 | NGX_SESSION_ALG_RS384   \
                             | NGX_SESSION_ALG_RS512)
#define NGX_SESSION_ALG_PS  (NGX_SESSION_ALG_PS256 | NGX_SESSION_ALG_PS384   \
                             | NGX_SESSION_ALG_PS512)
#define NGX_SESSION_ALG_ES  (NGX_SESSION_ALG_ES256 | NGX_SESSION_ALG_ES384   \
                             | NGX_SESSION_ALG_ES512)


typedef enum {
    NGX_SESSION_KEY_OCT = 1,
    NGX_SESSION_KEY_RSA,
    NGX_SESSION_KEY_EC,
    NGX_SESSION_KEY_OKP            /* Ed25519 only */
} ngx_session_key_type_e;


typedef struct {
    const char              *name;
    size_t                   len;
    unsigned                 bit;
    ngx_session_key_type_e   kty;       /* the only key type it takes */
    const EVP_MD          *(*md)(void); /* NULL: EdDSA hashes by itself */
} ngx_session_jose_alg_t;


/* by name, case-sensitive (RFC 7515 4.1.1); NULL for "none" and unknowns */
const ngx_session_jose_alg_t *ngx_session_jose_alg(const char *name,
    size_t len);
const ngx_session_jose_alg_t *ngx_session_jose_alg_by_bit(unsigned bit);

/*
 * A registered JOSE algorithm (IANA "JSON Web Signature and Encryption
 * Algorithms") that this module does not verify: RSA-OAEP, ES256K, A128KW...
 * A key restricted to one of them is not for us and is skipped, while an
 * alg nobody registered is a broken key.
 */
int ngx_session_jose_alg_foreign(const char *name, size_t len);


typedef struct {
    ngx_session_key_type_e   type;
    unsigned                 algs;      /* NGX_SESSION_ALG_* it may verify */
    char                    *kid;       /* NULL: the key has no kid */
    size_t                   kid_len;
    unsigned char           *data;      /* SPKI PEM (RSA, EC, OKP) or secret */
    size_t                   len;       /* never 0 */
    EVP_PKEY                *pkey;      /* RSA, EC, OKP: parsed once */
} ngx_session_key_t;


/* built by ngx_session_jwk.c, read-only to ngx_session_jwt.c */
typedef struct ngx_session_keyset_s {
    ngx_session_key_t       *keys;
    size_t                   nkeys;
    size_t                   nalloc;
} ngx_session_keyset_t;


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


#endif /* _NGX_SESSION_JOSE_H_INCLUDED_ */
