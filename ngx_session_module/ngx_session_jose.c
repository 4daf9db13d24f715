
/*
 * The algorithm table and strict base64url.  Pure C.
 */


#include <string.h>

#include <openssl/evp.h>

#include "ngx_session_data.h"
#include "ngx_session_jose.h"


#define ngx_session_jose_alg_entry(s, bit, kty, md)                           \
    { s, sizeof(s) - 1, NGX_SESSION_ALG_ ## bit, NGX_SESSION_KEY_ ## kty, md }

static const ngx_session_jose_alg_t  ngx_session_jose_algs[] = {
    ngx_session_jose_alg_entry("HS256", HS256, OCT, EVP_sha256),
    ngx_session_jose_alg_entry("HS384", HS384, OCT, EVP_sha384),
    ngx_session_jose_alg_entry("HS512", HS512, OCT, EVP_sha512),
    ngx_session_jose_alg_entry("RS256", RS256, RSA, EVP_sha256),
    ngx_session_jose_alg_entry("RS384", RS384, RSA, EVP_sha384),
    ngx_session_jose_alg_entry("RS512", RS512, RSA, EVP_sha512),
    ngx_session_jose_alg_entry("ES256", ES256, EC, EVP_sha256),
    ngx_session_jose_alg_entry("ES384", ES384, EC, EVP_sha384),
    ngx_session_jose_alg_entry("ES512", ES512, EC, EVP_sha512),
    ngx_session_jose_alg_entry("PS256", PS256, RSA, EVP_sha256),
    ngx_session_jose_alg_entry("PS384", PS384, RSA, EVP_sha384),
    ngx_session_jose_alg_entry("PS512", PS512, RSA, EVP_sha512),
    ngx_session_jose_alg_entry("EdDSA", EDDSA, OKP, NULL)
};

#define NGX_SESSION_JOSE_NALGS                                                \
    (sizeof(ngx_session_jose_algs) / sizeof(ngx_session_jose_algs[0]))


/*
 * The rest of the IANA registry: key management and content encryption
 * (RFC 7518 4, 5), and signatures we do not verify (RFC 8812 ES256K, RFC
 * 9864's fully-specified names, the post-quantum drafts).  "none" is not
 * here: a key "for" none is nonsense, never a key to skip.
 */

static const char  *ngx_session_jose_foreign[] = {
    "RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "RSA-OAEP-384", "RSA-OAEP-512",
    "A128KW", "A192KW", "A256KW", "dir",
    "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW",
    "A128GCMKW", "A192GCMKW", "A256GCMKW",
    "PBES2-HS256+A128KW", "PBES2-HS384+A192KW", "PBES2-HS512+A256KW",
    "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512",
    "A128GCM", "A192GCM", "A256GCM",
    "ES256K", "RS1", "HS1", "Ed25519", "Ed448",
    "ESP256", "ESP384", "ESP512", "ESB256", "ESB320", "ESB384", "ESB512",
    "ML-DSA-44", "ML-DSA-65", "ML-DSA-87"
};

#define NGX_SESSION_JOSE_NFOREIGN                                             \
    (sizeof(ngx_session_jose_foreign) / sizeof(ngx_session_jose_foreign[0]))


const ngx_session_jose_alg_t *
ngx_session_jose_alg(const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < NGX_SESSION_JOSE_NALGS; i++) {
        if (ngx_session_jose_algs[i].len == len
            && memcmp(ngx_session_jose_algs[i].name, name, len) == 0)
        {
            return &ngx_session_jose_algs[i];
        }
    }

    return NULL;
}


const ngx_session_jose_alg_t *
ngx_session_jose_alg_by_bit(unsigned bit)
{
    size_t  i;

    for (i = 0; i < NGX_SESSION_JOSE_NALGS; i++) {
        if (ngx_session_jose_algs[i].bit == bit) {
            return &ngx_session_jose_algs[i];
        }
    }

    return NULL;
}


int
ngx_session_jose_alg_foreign(const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < NGX_SESSION_JOSE_NFOREIGN; i++) {
        if (strlen(ngx_session_jose_foreign[i]) == len
            && memcmp(ngx_session_jose_foreign[i], name, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* -1: not in the base64url alphabet */

static const signed char  ngx_session_b64url_map[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
};


int
ngx_session_b64url_valid(const char *src, size_t len)
{
    size_t               i;
    const unsigned char  *p;

    p = (const unsigned char *) src;

    if (len % 4 == 1) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (ngx_session_b64url_map[p[i]] < 0) {
            return 0;
        }
    }

    /* the bits past the last whole byte must be zero (RFC 4648 3.5) */

    switch (len % 4) {
    case 2:
        return (ngx_session_b64url_map[p[len - 1]] & 0x0f) == 0;
    case 3:
        return (ngx_session_b64url_map[p[len - 1]] & 0x03) == 0;
    default:
        return 1;
    }
}


int
ngx_session_b64url_decode(const char *src, size_t len, unsigned char *dst,
    size_t *dst_len)
{
    size_t               i, n;
    uint32_t             acc;
    unsigned             bits;
    const unsigned char  *p;

    if (!ngx_session_b64url_valid(src, len)) {
        return NGX_SESSION_ERROR;
    }

    p = (const unsigned char *) src;
    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        acc = (acc << 6) | (uint32_t) ngx_session_b64url_map[p[i]];
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (unsigned char) (acc >> bits);
        }
    }

    *dst_len = n;

    return NGX_SESSION_OK;
}
