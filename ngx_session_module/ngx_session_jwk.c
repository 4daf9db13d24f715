
/*
 * Verification keys from a key file or a fetched reply: a JWKS, a single
 * JWK, or PEM public keys.  RSA and EC keys end up as SubjectPublicKeyInfo
 * PEM because that is what libjwt 1.10 takes, and every asymmetric key also
 * as an EVP_PKEY parsed once, for OpenSSL; oct keys as the raw secret.
 * Each key records the algorithms it may verify, so a key is never used
 * outside its own type (RFC 8725 section 3.1, algorithm confusion).
 *
 * Providers publish encryption keys and algorithms we do not implement
 * beside the signing keys (SPEC 5): those are skipped with a warning; a
 * key of a kind we do implement that is broken fails the whole set.
 * Pure C.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ngx_session_jwk.h"

/* RFC 7518 section 3.3 */
#define NGX_SESSION_RSA_MIN_BITS   2048

/* RFC 7518 section 3.2: at least the hash output; 32 for HS256 */
#define NGX_SESSION_HMAC_MIN       32


typedef struct {
    const char              *crv;       /* JWK "crv" */
    int                      nid;
    size_t                   len;       /* bytes of one coordinate */
    unsigned                 alg;
} ngx_session_curve_t;


/* the loader's state for one set; keys move to the real set on success */
typedef struct {
    ngx_session_keyset_t                set;
    char                               *err;
    size_t                              errlen;
    char                                where[32];
    size_t                              skipped;
    const ngx_session_keyset_loader_t  *loader;
} ngx_session_jwk_load_t;


/* a kid in a warning: printable ASCII, bounded; it is not key material */
#define NGX_SESSION_KID_SHOWN      64


static int ngx_session_read_file(const char *path, unsigned char **buf,
    size_t *len, char *err, size_t errlen);
static int ngx_session_has_pem(const unsigned char *buf, size_t len);
static int ngx_session_jwk_error(ngx_session_jwk_load_t *ld,
    const char *reason);
static int ngx_session_jwk_skip(ngx_session_jwk_load_t *ld, json_t *jwk,
    const char *what, const char *value, size_t value_len);
static int ngx_session_jwk_unused(ngx_session_jwk_load_t *ld, json_t *jwk,
    const char *kty, size_t kty_len, unsigned *skip);
static int ngx_session_jwks_load(ngx_session_jwk_load_t *ld,
    const unsigned char *buf, size_t len);
static int ngx_session_jwk_load(ngx_session_jwk_load_t *ld, json_t *jwk);
static void ngx_session_jwk_printable(char *dst, const char *src,
    size_t len);
static int ngx_session_jwk_string(ngx_session_jwk_load_t *ld, json_t *jwk,
    const char *name, const char **value, size_t *len);
static int ngx_session_jwk_bytes(ngx_session_jwk_load_t *ld, json_t *jwk,
    const char *name, unsigned char **out, size_t *out_len);
static int ngx_session_jwk_oct(ngx_session_jwk_load_t *ld, json_t *jwk,
    unsigned alg, ngx_session_key_t *key);
static int ngx_session_jwk_rsa(ngx_session_jwk_load_t *ld, json_t *jwk,
    EVP_PKEY **pkey);
static int ngx_session_jwk_ec(ngx_session_jwk_load_t *ld, json_t *jwk,
    EVP_PKEY **pkey);
static int ngx_session_jwk_okp(ngx_session_jwk_load_t *ld, json_t *jwk,
    EVP_PKEY **pkey);
static int ngx_session_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld,
    EVP_PKEY **pkey);
static int ngx_session_pem_load(ngx_session_jwk_load_t *ld,
    const unsigned char *buf, size_t len);
static EVP_PKEY *ngx_session_pem_decode(const char *name,
    const unsigned char *der, long len);
static int ngx_session_key_from_pkey(ngx_session_jwk_load_t *ld,
    EVP_PKEY *pkey, unsigned alg, ngx_session_key_t *key);
static const ngx_session_curve_t *ngx_session_curve_by_nid(int nid);
static int ngx_session_keyset_push(ngx_session_keyset_t *ks,
    ngx_session_key_t *key);
static void ngx_session_key_free(ngx_session_key_t *key);


static const ngx_session_curve_t  ngx_session_curves[] = {
    { "P-256", NID_X9_62_prime256v1, 32, NGX_SESSION_ALG_ES256 },
    { "P-384", NID_secp384r1,        48, NGX_SESSION_ALG_ES384 },
    { "P-521", NID_secp521r1,        66, NGX_SESSION_ALG_ES512 }
};

#define NGX_SESSION_NCURVES                                                   \
    (sizeof(ngx_session_curves) / sizeof(ngx_session_curves[0]))


ngx_session_keyset_t *
ngx_session_keyset_create(void)
{
    return calloc(1, sizeof(ngx_session_keyset_t));
}


void
ngx_session_keyset_free(ngx_session_keyset_t *ks)
{
    size_t  i;

    if (ks == NULL) {
        return;
    }

    for (i = 0; i < ks->nkeys; i++) {
        ngx_session_key_free(&ks->keys[i]);
    }

    free(ks->keys);
    free(ks);
}


size_t
ngx_session_keyset_count(const ngx_session_keyset_t *ks)
{
    return ks ? ks->nkeys : 0;
}


int
ngx_session_keyset_load_file(ngx_session_keyset_t *ks,
    const ngx_session_keyset_loader_t *loader, const char *path, char *err,
    size_t errlen)
{
    int             rc;
    size_t          len;
    unsigned char  *buf;

    if (ngx_session_read_file(path, &buf, &len, err, errlen)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    rc = ngx_session_keyset_load(ks, loader, buf, len, err, errlen);

    free(buf);

    return rc;
}


int
ngx_session_keyset_load(ngx_session_keyset_t *ks,
    const ngx_session_keyset_loader_t *loader, const unsigned char *buf,
    size_t len, char *err, size_t errlen)
{
    int                      rc;
    size_t                   i, skip;
    ngx_session_jwk_load_t   ld;

    memset(&ld, 0, sizeof(ngx_session_jwk_load_t));
    ld.err = err;
    ld.errlen = errlen;
    ld.loader = loader;

    /* a fetched reply is bounded here, as a file is before it is read */

    if (len > NGX_SESSION_KEYSET_MAX) {
        snprintf(err, errlen, "larger than %d bytes", NGX_SESSION_KEYSET_MAX);
        return NGX_SESSION_ERROR;
    }

    for (skip = 0; skip < len; skip++) {
        if (buf[skip] != ' ' && buf[skip] != '\t' && buf[skip] != '\r'
            && buf[skip] != '\n')
        {
            break;
        }
    }

    if (skip == len) {
        snprintf(err, errlen, "empty");
        rc = NGX_SESSION_ERROR;

    } else if (buf[skip] == '{') {
        rc = ngx_session_jwks_load(&ld, buf, len);

    } else if (ngx_session_has_pem(buf, len)) {
        rc = ngx_session_pem_load(&ld, buf, len);

    } else {
        snprintf(err, errlen, "neither a JWK, a JWKS nor a PEM public key");
        rc = NGX_SESSION_ERROR;
    }

    /* the queue is per thread: leave nothing for nginx's SSL code to find */
    ERR_clear_error();

    if (rc == NGX_SESSION_OK && ld.set.nkeys == 0) {
        snprintf(err, errlen, "no usable key (%zu skipped)", ld.skipped);
        rc = NGX_SESSION_ERROR;
    }

    /* a file is all or nothing: move its keys only when all loaded */

    for (i = 0; rc == NGX_SESSION_OK && i < ld.set.nkeys; i++) {
        rc = ngx_session_keyset_push(ks, &ld.set.keys[i]);
        if (rc != NGX_SESSION_OK) {
            snprintf(err, errlen, "out of memory");
            ks->nkeys -= i;
            break;
        }
    }

    if (rc != NGX_SESSION_OK) {
        for (i = 0; i < ld.set.nkeys; i++) {
            ngx_session_key_free(&ld.set.keys[i]);
        }
    }

    free(ld.set.keys);

    return rc;
}


static int
ngx_session_read_file(const char *path, unsigned char **buf, size_t *len,
    char *err, size_t errlen)
{
    int            fd;
    size_t         size, got;
    ssize_t        n;
    struct stat    st;
    unsigned char *p;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return NGX_SESSION_ERROR;
    }

    if (fstat(fd, &st) == -1) {
        snprintf(err, errlen, "cannot stat: %s", strerror(errno));
        goto failed;
    }

    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        goto failed;
    }

    if (st.st_size == 0) {
        snprintf(err, errlen, "empty file");
        goto failed;
    }

    if (st.st_size > NGX_SESSION_KEYSET_MAX) {
        snprintf(err, errlen, "larger than %d bytes",
                 NGX_SESSION_KEYSET_MAX);
        goto failed;
    }

    size = (size_t) st.st_size;

    p = malloc(size);
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    for (got = 0; got < size; got += (size_t) n) {
        n = read(fd, p + got, size - got);

        if (n == -1 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            snprintf(err, errlen, "cannot read: %s",
                     n == 0 ? "file shrank" : strerror(errno));
            free(p);
            goto failed;
        }
    }

    close(fd);

    *buf = p;
    *len = size;

    return NGX_SESSION_OK;

failed:

    close(fd);

    return NGX_SESSION_ERROR;
}


/* memmem() is a GNU extension */

static int
ngx_session_has_pem(const unsigned char *buf, size_t len)
{
    size_t  i;

    for (i = 0; i + 11 <= len; i++) {
        if (buf[i] == '-' && memcmp(buf + i, "-----BEGIN ", 11) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
ngx_session_jwk_error(ngx_session_jwk_load_t *ld, const char *reason)
{
    snprintf(ld->err, ld->errlen, "%s: %s", ld->where, reason);

    return NGX_SESSION_ERROR;
}


static int
ngx_session_jwks_load(ngx_session_jwk_load_t *ld, const unsigned char *buf,
    size_t len)
{
    int           rc;
    size_t        i;
    json_t       *root, *keys;
    json_error_t  jerr;

    root = json_loadb((const char *) buf, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        /* jerr.text may quote the file, i.e. key material: position only */
        snprintf(ld->err, ld->errlen, "invalid JSON at line %d, column %d",
                 jerr.line, jerr.column);
        return NGX_SESSION_ERROR;
    }

    rc = NGX_SESSION_OK;

    keys = json_object_get(root, "keys");

    if (keys != NULL) {
        if (!json_is_array(keys)) {
            snprintf(ld->err, ld->errlen, "JWKS \"keys\" is not an array");
            rc = NGX_SESSION_ERROR;
        }

        for (i = 0; rc == NGX_SESSION_OK && i < json_array_size(keys); i++) {
            snprintf(ld->where, sizeof(ld->where), "keys[%zu]", i);
            rc = ngx_session_jwk_load(ld, json_array_get(keys, i));
        }

    } else if (json_object_get(root, "kty") != NULL) {
        snprintf(ld->where, sizeof(ld->where), "JWK");
        rc = ngx_session_jwk_load(ld, root);

    } else {
        snprintf(ld->err, ld->errlen,
                 "JSON object is neither a JWK (\"kty\") "
                 "nor a JWKS (\"keys\")");
        rc = NGX_SESSION_ERROR;
    }

    json_decref(root);

    return rc;
}


static int
ngx_session_jwk_load(ngx_session_jwk_load_t *ld, json_t *jwk)
{
    int                            rc;
    size_t                         len, kid_len, kty_len;
    unsigned                       alg, skip;
    EVP_PKEY                      *pkey;
    const char                    *s, *kid, *kty;
    ngx_session_key_t              key;
    const ngx_session_jose_alg_t  *a;

    if (!json_is_object(jwk)) {
        return ngx_session_jwk_error(ld, "not a JSON object");
    }

    kid = NULL;
    kid_len = 0;

    if (json_object_get(jwk, "kid") != NULL
        && ngx_session_jwk_string(ld, jwk, "kid", &kid, &kid_len)
           != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    /* RFC 7517 section 4.2: encryption keys are not ours to verify with */

    if (json_object_get(jwk, "use") != NULL) {
        if (ngx_session_jwk_string(ld, jwk, "use", &s, &len)
            != NGX_SESSION_OK)
        {
            return NGX_SESSION_ERROR;
        }

        if (len != 3 || memcmp(s, "sig", 3) != 0) {
            return ngx_session_jwk_skip(ld, jwk, "\"use\"", s, len);
        }
    }

    if (ngx_session_jwk_string(ld, jwk, "kty", &kty, &kty_len)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    if (ngx_session_jwk_unused(ld, jwk, kty, kty_len, &skip)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    if (skip) {
        return NGX_SESSION_OK;
    }

    alg = 0;

    if (json_object_get(jwk, "alg") != NULL) {
        if (ngx_session_jwk_string(ld, jwk, "alg", &s, &len)
            != NGX_SESSION_OK)
        {
            return NGX_SESSION_ERROR;
        }

        a = ngx_session_jose_alg(s, len);
        if (a == NULL) {
            return ngx_session_jwk_error(ld, "unsupported \"alg\"");
        }

        alg = a->bit;
    }

    memset(&key, 0, sizeof(ngx_session_key_t));
    pkey = NULL;

    if (kty_len == 3 && memcmp(kty, "oct", 3) == 0) {
        rc = ngx_session_jwk_oct(ld, jwk, alg, &key);

    } else if (kty_len == 3 && memcmp(kty, "RSA", 3) == 0) {
        rc = ngx_session_jwk_rsa(ld, jwk, &pkey);

    } else if (kty_len == 2 && memcmp(kty, "EC", 2) == 0) {
        rc = ngx_session_jwk_ec(ld, jwk, &pkey);

    } else {
        rc = ngx_session_jwk_okp(ld, jwk, &pkey);
    }

    if (rc == NGX_SESSION_OK && pkey != NULL) {
        rc = ngx_session_key_from_pkey(ld, pkey, alg, &key);
    }

    EVP_PKEY_free(pkey);

    if (rc == NGX_SESSION_OK && kid != NULL) {
        /* kid_len + 1: a kid may hold "\u0000", so compare by length */
        key.kid = malloc(kid_len + 1);
        if (key.kid == NULL) {
            rc = ngx_session_jwk_error(ld, "out of memory");

        } else {
            memcpy(key.kid, kid, kid_len + 1);
            key.kid_len = kid_len;
        }
    }

    if (rc == NGX_SESSION_OK
        && ngx_session_keyset_push(&ld->set, &key) != NGX_SESSION_OK)
    {
        rc = ngx_session_jwk_error(ld, "out of memory");
    }

    if (rc != NGX_SESSION_OK) {
        ngx_session_key_free(&key);
    }

    return rc;
}


/*
 * SPEC 5's "not for us": a JOSE algorithm or a key type or curve this
 * module does not implement.  Decided before any other member is looked
 * at, so that a key we would never use cannot fail the set.  An "alg" that
 * is no JOSE algorithm at all, or one of ours on the wrong key type, is
 * left to the caller to refuse.
 */

static int
ngx_session_jwk_unused(ngx_session_jwk_load_t *ld, json_t *jwk,
    const char *kty, size_t kty_len, unsigned *skip)
{
    json_t      *v;
    const char  *crv;

    *skip = 1;

    v = json_object_get(jwk, "alg");

    if (json_is_string(v)
        && ngx_session_jose_alg_foreign(json_string_value(v),
                                        json_string_length(v)))
    {
        return ngx_session_jwk_skip(ld, jwk, "\"alg\"", json_string_value(v),
                                    json_string_length(v));
    }

    v = json_object_get(jwk, "crv");
    crv = json_is_string(v) ? json_string_value(v) : NULL;

    if (kty_len == 3 && (memcmp(kty, "oct", 3) == 0
                         || memcmp(kty, "RSA", 3) == 0))
    {
        *skip = 0;

    } else if (kty_len == 2 && memcmp(kty, "EC", 2) == 0) {
        if (crv == NULL || strcmp(crv, "P-256") == 0
            || strcmp(crv, "P-384") == 0 || strcmp(crv, "P-521") == 0)
        {
            *skip = 0;
        }

    } else if (kty_len == 3 && memcmp(kty, "OKP", 3) == 0) {
        if (crv == NULL || strcmp(crv, "Ed25519") == 0) {
            *skip = 0;
        }

    } else {
        return ngx_session_jwk_skip(ld, jwk, "\"kty\"", kty, kty_len);
    }

    if (*skip) {
        return ngx_session_jwk_skip(ld, jwk, "\"crv\"", crv,
                                    json_string_length(v));
    }

    return NGX_SESSION_OK;
}


/* tells the caller which key is skipped and why; never fails the set */

static int
ngx_session_jwk_skip(ngx_session_jwk_load_t *ld, json_t *jwk,
    const char *what, const char *value, size_t value_len)
{
    char     msg[256], kid[NGX_SESSION_KID_SHOWN + 1],
             val[NGX_SESSION_KID_SHOWN + 1];
    json_t  *v;

    ld->skipped++;

    if (ld->loader == NULL || ld->loader->warn == NULL) {
        return NGX_SESSION_OK;
    }

    v = json_object_get(jwk, "kid");

    ngx_session_jwk_printable(kid, json_string_value(v),
                              json_string_length(v));
    ngx_session_jwk_printable(val, value, value_len);

    if (json_is_string(v)) {
        snprintf(msg, sizeof(msg), "%s (kid \"%s\") skipped: %s is \"%s\"",
                 ld->where, kid, what, val);

    } else {
        snprintf(msg, sizeof(msg), "%s (no kid) skipped: %s is \"%s\"",
                 ld->where, what, val);
    }

    ld->loader->warn(ld->loader->data, msg);

    return NGX_SESSION_OK;
}


/* a member's value for a log line: printable ASCII, bounded, no quote */

static void
ngx_session_jwk_printable(char *dst, const char *src, size_t len)
{
    size_t  i;

    for (i = 0; src != NULL && i < len && i < NGX_SESSION_KID_SHOWN; i++) {
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f && src[i] != '"')
                 ? src[i] : '?';
    }

    dst[i] = '\0';
}


static int
ngx_session_jwk_string(ngx_session_jwk_load_t *ld, json_t *jwk,
    const char *name, const char **value, size_t *len)
{
    char     reason[64];
    json_t  *v;

    v = json_object_get(jwk, name);

    if (!json_is_string(v)) {
        snprintf(reason, sizeof(reason), "%s \"%s\"",
                 v == NULL ? "missing" : "non-string", name);
        return ngx_session_jwk_error(ld, reason);
    }

    *value = json_string_value(v);
    *len = json_string_length(v);

    return NGX_SESSION_OK;
}


/*
 * A base64url member, decoded into malloc()ed memory.  RFC 7518 says no
 * padding; correctly placed padding is tolerated here for the odd JWKS
 * producer, never in tokens.
 */

static int
ngx_session_jwk_bytes(ngx_session_jwk_load_t *ld, json_t *jwk,
    const char *name, unsigned char **out, size_t *out_len)
{
    char            reason[64];
    size_t          len, pad;
    const char     *s;
    unsigned char  *p;

    if (ngx_session_jwk_string(ld, jwk, name, &s, &len) != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    pad = 0;

    if (len % 4 == 0 && len >= 4) {
        pad = (s[len - 1] == '=') + (s[len - 2] == '=' && s[len - 1] == '=');
    }

    len -= pad;

    p = malloc(ngx_session_b64url_decoded_len(len) + 1);
    if (p == NULL) {
        return ngx_session_jwk_error(ld, "out of memory");
    }

    if ((pad != 0 && len % 4 != 4 - pad)
        || ngx_session_b64url_decode(s, len, p, out_len) != NGX_SESSION_OK)
    {
        free(p);
        snprintf(reason, sizeof(reason), "bad base64url in \"%s\"", name);
        return ngx_session_jwk_error(ld, reason);
    }

    *out = p;

    return NGX_SESSION_OK;
}


static int
ngx_session_jwk_oct(ngx_session_jwk_load_t *ld, json_t *jwk, unsigned alg,
    ngx_session_key_t *key)
{
    size_t          len, min;
    unsigned        algs;
    unsigned char  *k;

    if (alg != 0 && (alg & NGX_SESSION_ALG_HS) == 0) {
        return ngx_session_jwk_error(ld, "\"alg\" does not fit kty \"oct\"");
    }

    if (ngx_session_jwk_bytes(ld, jwk, "k", &k, &len) != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    /*
     * With an alg, the key must be as long as that hash output.  Without
     * one it needs 32 bytes and serves each HS alg whose hash output it
     * covers: 32 bytes HS256, 48 also HS384, 64 all three.
     */

    min = (alg == NGX_SESSION_ALG_HS512) ? 64
          : (alg == NGX_SESSION_ALG_HS384) ? 48 : NGX_SESSION_HMAC_MIN;

    if (len < min) {
        OPENSSL_cleanse(k, len);
        free(k);
        return ngx_session_jwk_error(ld, min == 64
                     ? "HMAC key shorter than 64 bytes (HS512)"
                     : min == 48 ? "HMAC key shorter than 48 bytes (HS384)"
                     : "HMAC key shorter than 32 bytes");
    }

    algs = NGX_SESSION_ALG_HS256;

    if (len >= 48) {
        algs |= NGX_SESSION_ALG_HS384;
    }

    if (len >= 64) {
        algs |= NGX_SESSION_ALG_HS512;
    }

    key->type = NGX_SESSION_KEY_OCT;
    key->algs = alg ? alg : algs;
    key->data = k;
    key->len = len;

    return NGX_SESSION_OK;
}


static int
ngx_session_jwk_rsa(ngx_session_jwk_load_t *ld, json_t *jwk, EVP_PKEY **pkey)
{
    int              rc;
    size_t           n_len, e_len;
    BIGNUM          *n, *e;
    unsigned char   *n_bin, *e_bin;
    OSSL_PARAM_BLD  *bld;

    if (ngx_session_jwk_bytes(ld, jwk, "n", &n_bin, &n_len)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    if (ngx_session_jwk_bytes(ld, jwk, "e", &e_bin, &e_len)
        != NGX_SESSION_OK)
    {
        free(n_bin);
        return NGX_SESSION_ERROR;
    }

    rc = NGX_SESSION_ERROR;

    n = BN_bin2bn(n_bin, (int) n_len, NULL);
    e = BN_bin2bn(e_bin, (int) e_len, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (n == NULL || e == NULL || bld == NULL) {
        ngx_session_jwk_error(ld, "out of memory");
        goto done;
    }

    if (n_len == 0 || e_len == 0 || e_len > 8) {
        ngx_session_jwk_error(ld, "bad RSA \"n\" or \"e\"");
        goto done;
    }

    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
    {
        ngx_session_jwk_error(ld, "out of memory");
        goto done;
    }

    rc = ngx_session_pkey_fromdata("RSA", bld, pkey);

    if (rc != NGX_SESSION_OK) {
        ngx_session_jwk_error(ld, "not a usable RSA public key");
    }

done:

    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(n_bin);
    free(e_bin);

    return rc;
}


static int
ngx_session_jwk_ec(ngx_session_jwk_load_t *ld, json_t *jwk, EVP_PKEY **pkey)
{
    int                         rc;
    size_t                      i, len, x_len, y_len;
    const char                 *crv;
    unsigned char              *x, *y, point[1 + 2 * 66];
    OSSL_PARAM_BLD             *bld;
    const ngx_session_curve_t  *c;

    if (ngx_session_jwk_string(ld, jwk, "crv", &crv, &len) != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    c = NULL;

    for (i = 0; i < NGX_SESSION_NCURVES; i++) {
        if (len == 5 && memcmp(crv, ngx_session_curves[i].crv, 5) == 0) {
            c = &ngx_session_curves[i];
        }
    }

    if (c == NULL) {
        return ngx_session_jwk_error(ld, "unsupported \"crv\"");
    }

    if (ngx_session_jwk_bytes(ld, jwk, "x", &x, &x_len) != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    if (ngx_session_jwk_bytes(ld, jwk, "y", &y, &y_len) != NGX_SESSION_OK) {
        free(x);
        return NGX_SESSION_ERROR;
    }

    rc = NGX_SESSION_ERROR;
    bld = NULL;

    /* RFC 7518 section 6.2.1.2: exactly the coordinate size, no trimming */

    if (x_len != c->len || y_len != c->len) {
        ngx_session_jwk_error(ld, "\"x\" or \"y\" has the wrong length "
                                  "for \"crv\"");
        goto done;
    }

    point[0] = POINT_CONVERSION_UNCOMPRESSED;
    memcpy(point + 1, x, c->len);
    memcpy(point + 1 + c->len, y, c->len);

    bld = OSSL_PARAM_BLD_new();

    if (bld == NULL
        || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                            OBJ_nid2sn(c->nid), 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                             point, 1 + 2 * c->len))
    {
        ngx_session_jwk_error(ld, "out of memory");
        goto done;
    }

    /* a point off the curve fails here or in the public check later */

    rc = ngx_session_pkey_fromdata("EC", bld, pkey);

    if (rc != NGX_SESSION_OK) {
        ngx_session_jwk_error(ld, "EC point is not on the curve");
    }

done:

    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);

    return rc;
}


/* RFC 8037 section 2: "x" is the 32-byte public key, as it is */

static int
ngx_session_jwk_okp(ngx_session_jwk_load_t *ld, json_t *jwk, EVP_PKEY **pkey)
{
    size_t          len;
    const char     *crv;
    unsigned char  *x;

    /* ngx_session_jwk_unused() let only Ed25519, or no "crv", through */

    if (ngx_session_jwk_string(ld, jwk, "crv", &crv, &len) != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    if (ngx_session_jwk_bytes(ld, jwk, "x", &x, &len) != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    if (len != 32) {
        free(x);
        return ngx_session_jwk_error(ld, "\"x\" has the wrong length "
                                         "for Ed25519");
    }

    *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, len);

    free(x);

    if (*pkey == NULL) {
        return ngx_session_jwk_error(ld, "not a usable Ed25519 public key");
    }

    return NGX_SESSION_OK;
}


static int
ngx_session_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld,
    EVP_PKEY **pkey)
{
    int            rc;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx;

    rc = NGX_SESSION_ERROR;

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params != NULL && ctx != NULL
        && EVP_PKEY_fromdata_init(ctx) == 1
        && EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) == 1)
    {
        rc = NGX_SESSION_OK;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);

    return rc;
}


/*
 * Every "PUBLIC KEY" (SubjectPublicKeyInfo) or "RSA PUBLIC KEY" (PKCS#1)
 * block of the file.  Other blocks (private keys, certificates) are an
 * error rather than silently ignored: the operator meant something else.
 */

static int
ngx_session_pem_load(ngx_session_jwk_load_t *ld, const unsigned char *buf,
    size_t len)
{
    int                 rc;
    long                der_len;
    BIO                *bio;
    char               *name, *header;
    size_t              n;
    EVP_PKEY           *pkey;
    unsigned long       e;
    unsigned char      *der;
    ngx_session_key_t   key;

    if (len > NGX_SESSION_KEYSET_MAX) {
        snprintf(ld->err, ld->errlen, "file too large");
        return NGX_SESSION_ERROR;
    }

    bio = BIO_new_mem_buf(buf, (int) len);
    if (bio == NULL) {
        snprintf(ld->err, ld->errlen, "out of memory");
        return NGX_SESSION_ERROR;
    }

    rc = NGX_SESSION_OK;

    for (n = 1; rc == NGX_SESSION_OK; n++) {
        snprintf(ld->where, sizeof(ld->where), "PEM block %zu", n);

        ERR_clear_error();

        if (PEM_read_bio(bio, &name, &header, &der, &der_len) != 1) {
            e = ERR_peek_last_error();

            if (n == 1 || ERR_GET_LIB(e) != ERR_LIB_PEM
                || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
            {
                rc = ngx_session_jwk_error(ld, "bad PEM encoding");
            }

            break;
        }

        pkey = ngx_session_pem_decode(name, der, der_len);

        if (pkey == NULL) {
            rc = ngx_session_jwk_error(ld, strcmp(name, "PUBLIC KEY") == 0
                                       || strcmp(name, "RSA PUBLIC KEY") == 0
                                       ? "not a valid public key"
                                       : "not a \"PUBLIC KEY\" or "
                                         "\"RSA PUBLIC KEY\" block");

        } else {
            memset(&key, 0, sizeof(ngx_session_key_t));

            rc = ngx_session_key_from_pkey(ld, pkey, 0, &key);

            if (rc == NGX_SESSION_OK
                && ngx_session_keyset_push(&ld->set, &key) != NGX_SESSION_OK)
            {
                rc = ngx_session_jwk_error(ld, "out of memory");
            }

            if (rc != NGX_SESSION_OK) {
                ngx_session_key_free(&key);
            }

            EVP_PKEY_free(pkey);
        }

        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
    }

    BIO_free(bio);

    return rc;
}


static EVP_PKEY *
ngx_session_pem_decode(const char *name, const unsigned char *der, long len)
{
    EVP_PKEY             *pkey;
    const unsigned char  *p;

    p = der;

    if (strcmp(name, "PUBLIC KEY") == 0) {
        pkey = d2i_PUBKEY(NULL, &p, len);

    } else if (strcmp(name, "RSA PUBLIC KEY") == 0) {
        pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);

    } else {
        return NULL;
    }

    /* trailing bytes inside the block mean it is not what it claims */

    if (pkey != NULL && p != der + len) {
        EVP_PKEY_free(pkey);
        return NULL;
    }

    return pkey;
}


/*
 * The part shared by JWK and PEM keys: the key type decides the algorithms
 * (RSA: RS* and PS*; EC: the ES* of its curve; Ed25519: EdDSA), a JWK "alg"
 * may narrow them to one, and libjwt gets SPKI PEM.
 */

static int
ngx_session_key_from_pkey(ngx_session_jwk_load_t *ld, EVP_PKEY *pkey,
    unsigned alg, ngx_session_key_t *key)
{
    int                         ok;
    BIO                        *bio;
    char                        group[64];
    long                        len;
    char                       *pem;
    size_t                      glen;
    unsigned                    algs;
    EVP_PKEY_CTX               *ctx;
    const ngx_session_curve_t  *c;

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        if (EVP_PKEY_get_bits(pkey) < NGX_SESSION_RSA_MIN_BITS) {
            return ngx_session_jwk_error(ld, "RSA key shorter than 2048 bits");
        }

        key->type = NGX_SESSION_KEY_RSA;
        algs = NGX_SESSION_ALG_RS | NGX_SESSION_ALG_PS;

    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        c = NULL;

        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) == 1) {
            c = ngx_session_curve_by_nid(OBJ_sn2nid(group));
        }

        if (c == NULL) {
            return ngx_session_jwk_error(ld, "EC curve is not P-256, P-384 "
                                             "or P-521");
        }

        key->type = NGX_SESSION_KEY_EC;
        algs = c->alg;

    } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
        key->type = NGX_SESSION_KEY_OKP;
        algs = NGX_SESSION_ALG_EDDSA;

    } else {
        return ngx_session_jwk_error(ld, "key type is neither RSA, EC "
                                         "nor Ed25519");
    }

    if (alg != 0) {
        if ((alg & algs) == 0) {
            return ngx_session_jwk_error(ld, key->type == NGX_SESSION_KEY_RSA
                                         ? "\"alg\" does not fit kty \"RSA\""
                                         : key->type == NGX_SESSION_KEY_EC
                                         ? "\"alg\" does not fit the EC "
                                           "curve"
                                         : "\"alg\" does not fit kty \"OKP\"");
        }

        algs = alg;
    }

    key->algs = algs;

    /* n odd and e sane for RSA; the point on the curve and of order n */

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    ok = (ctx != NULL && EVP_PKEY_public_check(ctx) == 1);
    EVP_PKEY_CTX_free(ctx);

    if (!ok) {
        return ngx_session_jwk_error(ld, key->type == NGX_SESSION_KEY_EC
                                     ? "EC point is not on the curve"
                                     : key->type == NGX_SESSION_KEY_RSA
                                     ? "not a usable RSA public key"
                                     : "not a usable Ed25519 public key");
    }

    bio = BIO_new(BIO_s_mem());

    if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
        BIO_free(bio);
        return ngx_session_jwk_error(ld, "cannot encode the key as PEM");
    }

    len = BIO_get_mem_data(bio, &pem);

    key->data = (len > 0) ? malloc((size_t) len) : NULL;

    if (key->data == NULL) {
        BIO_free(bio);
        return ngx_session_jwk_error(ld, "out of memory");
    }

    memcpy(key->data, pem, (size_t) len);
    key->len = (size_t) len;

    BIO_free(bio);

    if (EVP_PKEY_up_ref(pkey) != 1) {
        return ngx_session_jwk_error(ld, "out of memory");
    }

    key->pkey = pkey;

    return NGX_SESSION_OK;
}


static const ngx_session_curve_t *
ngx_session_curve_by_nid(int nid)
{
    size_t  i;

    for (i = 0; i < NGX_SESSION_NCURVES; i++) {
        if (ngx_session_curves[i].nid == nid) {
            return &ngx_session_curves[i];
        }
    }

    return NULL;
}


static int
ngx_session_keyset_push(ngx_session_keyset_t *ks, ngx_session_key_t *key)
{
    size_t              n;
    ngx_session_key_t  *keys;

    if (ks->nkeys == ks->nalloc) {
        n = ks->nalloc ? 2 * ks->nalloc : 4;

        keys = realloc(ks->keys, n * sizeof(ngx_session_key_t));
        if (keys == NULL) {
            return NGX_SESSION_ERROR;
        }

        ks->keys = keys;
        ks->nalloc = n;
    }

    ks->keys[ks->nkeys++] = *key;

    return NGX_SESSION_OK;
}


static void
ngx_session_key_free(ngx_session_key_t *key)
{
    if (key->data != NULL) {
        /* HMAC secrets must not linger in freed memory */
        OPENSSL_cleanse(key->data, key->len);
        free(key->data);
        key->data = NULL;
    }

    free(key->kid);
    key->kid = NULL;

    EVP_PKEY_free(key->pkey);
    key->pkey = NULL;
}
