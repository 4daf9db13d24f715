
/*
 * Bearer JWT verification, and the cache of verified tokens.
 *
 * Who verifies what.  libjwt 1.10 stays the verifier of record for what it
 * implements: HS*, RS* and ES* tokens with no "typ" or "typ":"JWT".  It
 * knows neither PS* nor EdDSA, and its jwt_decode() refuses any other "typ",
 * so RFC 9068 "at+jwt" access tokens (of any algorithm), PS* and EdDSA
 * tokens are verified with OpenSSL 3 alone, with the keys parsed once at
 * load time.  OpenSSL checks every token first in any case: libjwt 1.10
 * parses its PEM key on each call (hundreds of microseconds) and compares
 * HMACs with strcmp() upstream (CVE-2024-25189), so it only ever sees a
 * signature that already matched, with a key of the algorithm's own type.
 *
 * libjwt also trusts the token header for the algorithm and uses whatever
 * key bytes it is given, so everything it cannot be trusted with happens
 * here first: size and syntax, "alg" against the allow-list, "typ", "kid",
 * and a key of the algorithm's own type.  It never sees an empty key (with
 * none it silently treats any token as "alg":"none").
 *
 * Choices worth knowing:
 *   - header and claims are parsed here, refusing duplicate member names;
 *     the claims handed out are this parse, never libjwt's (last wins).
 *   - "typ" compares case-insensitively (RFC 7515 4.1.9).
 *   - "crit" is refused: no extension is understood.
 *   - exp and nbf are NumericDates: integers, or reals rounded to the
 *     stricter side (exp down, nbf up).  exp is required.
 *   - ES* signatures are R || S of exactly twice the curve size.
 *   - PS*: PSS with MGF1 of the same hash and a salt as long as the hash
 *     (RFC 7518 3.5).
 *
 * Pure C.
 */


#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "ngx_session_cache.h"
#include "ngx_session_jwt.h"


#define NGX_SESSION_JWT_SIG_MAX   (NGX_SESSION_JWT_MAX_TOKEN / 4 * 3)


/* the header, as far as key selection needs it */
typedef struct {
    const ngx_session_jose_alg_t  *alg;
    const char                    *kid;       /* NULL: no "kid" */
    size_t                         kid_len;
    unsigned                       libjwt;    /* libjwt verifies it too */
} ngx_session_jwt_header_t;


/* one token on its way through the key sets */
typedef struct {
    const ngx_session_jwt_header_t  *hdr;
    const char                      *token;
    size_t                           dot2;     /* signing input length */
    unsigned char                    sig[NGX_SESSION_JWT_SIG_MAX];
    size_t                           sig_len;
    char                             cstr[NGX_SESSION_JWT_MAX_TOKEN + 1];
    size_t                           named;    /* keys with the kid */
    size_t                           fit;      /* ... and of its type */
} ngx_session_jwt_check_t;


typedef struct {
    unsigned char            digest[SHA256_DIGEST_LENGTH];
    const void              *policy_id;
    uint64_t                 generation;
    int64_t                  exp;
    json_t                  *claims;
} ngx_session_jwt_cache_entry_t;


/*
 * SHA256() fetches the algorithm by name on every call in OpenSSL 3, which
 * costs more than hashing a token: the cache fetches it once.
 */

struct ngx_session_jwt_cache_s {
    ngx_session_assoc_t      assoc;
    EVP_MD                  *sha256;
    EVP_MD_CTX              *ctx;
};


static int ngx_session_jwt_open(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, size_t *dot1, size_t *dot2,
    json_t **header, ngx_session_jwt_header_t *hdr,
    ngx_session_jwt_result_t *res);
static int ngx_session_jwt_refuse(ngx_session_jwt_result_t *res,
    ngx_session_jwt_reason_e reason, const char *error);
static int ngx_session_jwt_split(const char *token, size_t len,
    size_t *dot1, size_t *dot2);
static json_t *ngx_session_jwt_part(const char *p, size_t len);
static int ngx_session_jwt_header(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, json_t **root,
    ngx_session_jwt_header_t *hdr, ngx_session_jwt_result_t *res);
static unsigned ngx_session_jwt_type(json_t *typ);
static int ngx_session_jwt_check_sig(const ngx_session_jwt_policy_t *policy,
    const ngx_session_keyset_t *fetched, ngx_session_jwt_check_t *ck,
    ngx_session_jwt_result_t *res);
static int ngx_session_jwt_try_keys(const ngx_session_keyset_t *ks,
    ngx_session_jwt_check_t *ck);
static int ngx_session_jwt_openssl(const ngx_session_key_t *key,
    const ngx_session_jwt_check_t *ck);
static int ngx_session_jwt_hmac_matches(const ngx_session_key_t *key,
    const EVP_MD *md, const char *token, size_t dot2,
    const unsigned char *sig, size_t sig_len);
static int ngx_session_jwt_pkey_matches(const ngx_session_key_t *key,
    const ngx_session_jose_alg_t *alg, const char *token, size_t dot2,
    const unsigned char *sig, size_t sig_len);
static int ngx_session_jwt_ecdsa_der(const ngx_session_key_t *key,
    const unsigned char *sig, size_t sig_len, unsigned char *der,
    size_t *der_len);
static int ngx_session_jwt_libjwt(const ngx_session_key_t *key,
    const ngx_session_jose_alg_t *alg, const char *token);
static int ngx_session_jwt_claims(const ngx_session_jwt_policy_t *policy,
    json_t *claims, time_t now, ngx_session_jwt_result_t *res);
static int ngx_session_jwt_time(json_t *v, int round_up, int64_t *t);
static int ngx_session_jwt_audience(const ngx_session_jwt_policy_t *policy,
    json_t *aud);
static int ngx_session_jwt_scopes(const ngx_session_jwt_policy_t *policy,
    json_t *claims);
static int ngx_session_jwt_has_scope(json_t *scope, json_t *scp,
    const char *want);
static int ngx_session_jwt_string_is(json_t *v, const char *s);
static int ngx_session_jwt_cache_digest(ngx_session_jwt_cache_t *cache,
    const char *token, size_t len, unsigned char *digest);
static uint64_t ngx_session_jwt_cache_hash(const unsigned char *digest,
    const void *policy_id, uint64_t generation);
static int ngx_session_jwt_cache_match(const void *value, const void *key);
static void ngx_session_jwt_cache_drop(void *data, void *value);


static const char  *ngx_session_jwt_reasons[] = {
    "ok", "missing", "malformed", "signature", "expired", "not_yet_valid",
    "issuer", "audience", "unknown_kid", "algorithm", "type", "scope"
};


/* alg names are case-sensitive (RFC 7515 4.1.1); libjwt's are not */

unsigned
ngx_session_jwt_alg_bit(const char *name, size_t len)
{
    const ngx_session_jose_alg_t  *a;

    a = ngx_session_jose_alg(name, len);

    return a ? a->bit : 0;
}


const char *
ngx_session_jwt_reason_name(ngx_session_jwt_reason_e reason)
{
    if ((unsigned) reason >= NGX_SESSION_JWT_NREASONS) {
        return "unknown";
    }

    return ngx_session_jwt_reasons[reason];
}


int
ngx_session_jwt_verify(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, time_t now, json_t **claims, int64_t *exp,
    const char **error)
{
    int                       rc;
    ngx_session_jwt_result_t  res;

    rc = ngx_session_jwt_verify2(policy, NULL, token, len, now, &res);

    *claims = res.claims;
    *exp = res.exp;
    *error = res.error;

    return rc;
}


int
ngx_session_jwt_verify2(const ngx_session_jwt_policy_t *policy,
    const ngx_session_keyset_t *fetched, const char *token, size_t len,
    time_t now, ngx_session_jwt_result_t *res)
{
    int                        rc;
    size_t                     dot1, dot2;
    json_t                    *header, *claims;
    ngx_session_jwt_header_t   hdr;
    ngx_session_jwt_check_t   *ck;

    if (ngx_session_jwt_open(policy, token, len, &dot1, &dot2, &header,
                             &hdr, res)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    /* the signature and a copy of the token: too large for the stack */

    ck = malloc(sizeof(ngx_session_jwt_check_t));
    if (ck == NULL) {
        json_decref(header);
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_MALFORMED,
                                      "out of memory");
    }

    ck->hdr = &hdr;
    ck->token = token;
    ck->dot2 = dot2;

    /* hdr.kid points into header: release it only after the check */

    rc = NGX_SESSION_ERROR;

    if (ngx_session_b64url_decode(token + dot2 + 1, len - dot2 - 1, ck->sig,
                                  &ck->sig_len)
        != NGX_SESSION_OK)
    {
        ngx_session_jwt_refuse(res, NGX_SESSION_JWT_MALFORMED,
                               "malformed token");

    } else {
        /* libjwt wants a C string; split() keeps NUL out of it */
        memcpy(ck->cstr, token, len);
        ck->cstr[len] = '\0';

        rc = ngx_session_jwt_check_sig(policy, fetched, ck, res);
    }

    free(ck);
    json_decref(header);

    if (rc != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    /* only signed bytes are parsed into claims */

    claims = ngx_session_jwt_part(token + dot1 + 1, dot2 - dot1 - 1);

    if (claims == NULL) {
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_MALFORMED,
                                      "malformed claims");
    }

    if (!json_is_object(claims)) {
        json_decref(claims);
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_MALFORMED,
                                      "claims are not a JSON object");
    }

    if (ngx_session_jwt_claims(policy, claims, now, res) != NGX_SESSION_OK) {
        json_decref(claims);
        return NGX_SESSION_ERROR;
    }

    res->claims = claims;
    res->reason = NGX_SESSION_JWT_OK;

    return NGX_SESSION_OK;
}


int
ngx_session_jwt_precheck(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, ngx_session_jwt_result_t *res)
{
    size_t                     dot1, dot2;
    json_t                    *header;
    ngx_session_jwt_header_t   hdr;

    if (ngx_session_jwt_open(policy, token, len, &dot1, &dot2, &header,
                             &hdr, res)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    json_decref(header);

    res->reason = NGX_SESSION_JWT_OK;
    res->error = NULL;

    return NGX_SESSION_OK;
}


/* the size, the three parts and the header: what needs no key */

static int
ngx_session_jwt_open(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, size_t *dot1, size_t *dot2,
    json_t **header, ngx_session_jwt_header_t *hdr,
    ngx_session_jwt_result_t *res)
{
    memset(res, 0, sizeof(ngx_session_jwt_result_t));

    if (len > NGX_SESSION_JWT_MAX_TOKEN) {
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_MALFORMED,
                                      "token too large");
    }

    if (ngx_session_jwt_split(token, len, dot1, dot2) != NGX_SESSION_OK) {
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_MALFORMED,
                                      "malformed token");
    }

    return ngx_session_jwt_header(policy, token, *dot1, header, hdr, res);
}


static int
ngx_session_jwt_refuse(ngx_session_jwt_result_t *res,
    ngx_session_jwt_reason_e reason, const char *error)
{
    res->reason = reason;
    res->error = error;

    return NGX_SESSION_ERROR;
}


/*
 * Three non-empty parts of strict base64url, checked before anything is
 * decoded; this also keeps NUL bytes out of what libjwt sees as a string.
 */

static int
ngx_session_jwt_split(const char *token, size_t len, size_t *dot1,
    size_t *dot2)
{
    const char  *p, *q;

    if (len == 0) {
        return NGX_SESSION_ERROR;
    }

    p = memchr(token, '.', len);
    if (p == NULL) {
        return NGX_SESSION_ERROR;
    }

    q = memchr(p + 1, '.', len - (size_t) (p + 1 - token));
    if (q == NULL) {
        return NGX_SESSION_ERROR;
    }

    *dot1 = (size_t) (p - token);
    *dot2 = (size_t) (q - token);

    if (*dot1 == 0 || *dot2 == *dot1 + 1 || *dot2 == len - 1) {
        return NGX_SESSION_ERROR;
    }

    /* a third dot fails here: '.' is not in the alphabet */

    if (!ngx_session_b64url_valid(token, *dot1)
        || !ngx_session_b64url_valid(p + 1, *dot2 - *dot1 - 1)
        || !ngx_session_b64url_valid(q + 1, len - *dot2 - 1))
    {
        return NGX_SESSION_ERROR;
    }

    return NGX_SESSION_OK;
}


/* one part decoded and parsed; duplicate member names refused */

static json_t *
ngx_session_jwt_part(const char *p, size_t len)
{
    size_t          n;
    unsigned char   buf[NGX_SESSION_JWT_SIG_MAX];

    if (ngx_session_b64url_decode(p, len, buf, &n) != NGX_SESSION_OK) {
        return NULL;
    }

    return json_loadb((const char *) buf, n, JSON_REJECT_DUPLICATES, NULL);
}


static int
ngx_session_jwt_header(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, json_t **root,
    ngx_session_jwt_header_t *hdr, ngx_session_jwt_result_t *res)
{
    json_t    *h, *v;
    unsigned   type, types;

    ngx_session_jwt_refuse(res, NGX_SESSION_JWT_MALFORMED, "malformed token");

    /* a repeated member could mean one thing here and another in libjwt */

    h = ngx_session_jwt_part(token, len);

    if (!json_is_object(h)) {
        goto failed;
    }

    v = json_object_get(h, "alg");
    if (!json_is_string(v)) {
        goto failed;
    }

    /* "none" and unknown names have no entry: never in the allow-list */

    hdr->alg = ngx_session_jose_alg(json_string_value(v),
                                    json_string_length(v));

    if (hdr->alg == NULL || (hdr->alg->bit & policy->algorithms) == 0) {
        ngx_session_jwt_refuse(res, NGX_SESSION_JWT_ALGORITHM,
                               "algorithm not allowed");
        goto failed;
    }

    /* RFC 7515 4.1.11: we understand no extension, so any "crit" fails */

    if (json_object_get(h, "crit") != NULL) {
        ngx_session_jwt_refuse(res, NGX_SESSION_JWT_MALFORMED,
                               "unsupported critical header");
        goto failed;
    }

    v = json_object_get(h, "typ");

    if (v != NULL && !json_is_string(v)) {
        goto failed;
    }

    type = ngx_session_jwt_type(v);
    types = policy->types ? policy->types : NGX_SESSION_JWT_TYPE_ALL;

    if ((type & types) == 0) {
        ngx_session_jwt_refuse(res, NGX_SESSION_JWT_TYPE,
                               "unsupported token type");
        goto failed;
    }

    /* what libjwt 1.10 can verify, it verifies too (see the top) */

    hdr->libjwt = (type == NGX_SESSION_JWT_TYPE_JWT
                   && (hdr->alg->bit & (NGX_SESSION_ALG_HS | NGX_SESSION_ALG_RS
                                        | NGX_SESSION_ALG_ES)));

    hdr->kid = NULL;
    hdr->kid_len = 0;

    v = json_object_get(h, "kid");
    if (v != NULL) {
        if (!json_is_string(v)) {
            goto failed;
        }

        hdr->kid = json_string_value(v);
        hdr->kid_len = json_string_length(v);
    }

    *root = h;

    return NGX_SESSION_OK;

failed:

    json_decref(h);

    return NGX_SESSION_ERROR;
}


/* SPEC 7: no "typ" or "JWT"; "at+jwt" or "application/at+jwt" (RFC 9068) */

static unsigned
ngx_session_jwt_type(json_t *typ)
{
    size_t       len;
    const char  *s;

    if (typ == NULL) {
        return NGX_SESSION_JWT_TYPE_JWT;
    }

    s = json_string_value(typ);
    len = json_string_length(typ);

    /* strncasecmp() stops at an embedded NUL, which then differs */

    if (len == 3 && strncasecmp(s, "JWT", 3) == 0) {
        return NGX_SESSION_JWT_TYPE_JWT;
    }

    if ((len == 6 && strncasecmp(s, "at+jwt", 6) == 0)
        || (len == 18 && strncasecmp(s, "application/at+jwt", 18) == 0))
    {
        return NGX_SESSION_JWT_TYPE_AT_JWT;
    }

    return 0;
}


/*
 * With a kid only the keys carrying that kid are candidates, in the key
 * files and in the fetched set alike; without one, every key of the
 * algorithm's type.  A kid never falls back to all keys.
 */

static int
ngx_session_jwt_check_sig(const ngx_session_jwt_policy_t *policy,
    const ngx_session_keyset_t *fetched, ngx_session_jwt_check_t *ck,
    ngx_session_jwt_result_t *res)
{
    ck->named = 0;
    ck->fit = 0;

    if (ngx_session_jwt_try_keys(policy->keys, ck) == NGX_SESSION_OK
        || ngx_session_jwt_try_keys(fetched, ck) == NGX_SESSION_OK)
    {
        return NGX_SESSION_OK;
    }

    if (ck->hdr->kid != NULL && ck->named == 0) {
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_UNKNOWN_KID,
                                      "unknown kid");
    }

    if (ck->fit == 0) {
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_ALGORITHM,
                                      "no key for the algorithm");
    }

    return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_SIGNATURE,
                                  "signature verification failed");
}


static int
ngx_session_jwt_try_keys(const ngx_session_keyset_t *ks,
    ngx_session_jwt_check_t *ck)
{
    size_t                           i;
    const ngx_session_key_t         *key;
    const ngx_session_jwt_header_t  *hdr;

    hdr = ck->hdr;

    for (i = 0; ks != NULL && i < ks->nkeys; i++) {
        key = &ks->keys[i];

        if (hdr->kid != NULL
            && (key->kid == NULL || key->kid_len != hdr->kid_len
                || memcmp(key->kid, hdr->kid, hdr->kid_len) != 0))
        {
            continue;
        }

        ck->named++;

        /* algs holds only algorithms of the key's own type */

        if (key->len == 0 || key->type != hdr->alg->kty
            || (key->algs & hdr->alg->bit) == 0)
        {
            continue;
        }

        ck->fit++;

        if (ngx_session_jwt_openssl(key, ck)
            && (!hdr->libjwt
                || ngx_session_jwt_libjwt(key, hdr->alg, ck->cstr)
                   == NGX_SESSION_OK))
        {
            return NGX_SESSION_OK;
        }
    }

    return NGX_SESSION_ERROR;
}


static int
ngx_session_jwt_openssl(const ngx_session_key_t *key,
    const ngx_session_jwt_check_t *ck)
{
    const ngx_session_jose_alg_t  *alg;

    alg = ck->hdr->alg;

    if (key->type == NGX_SESSION_KEY_OCT) {
        return ngx_session_jwt_hmac_matches(key, alg->md(), ck->token,
                                            ck->dot2, ck->sig, ck->sig_len);
    }

    return ngx_session_jwt_pkey_matches(key, alg, ck->token, ck->dot2,
                                        ck->sig, ck->sig_len);
}


static int
ngx_session_jwt_hmac_matches(const ngx_session_key_t *key, const EVP_MD *md,
    const char *token, size_t dot2, const unsigned char *sig, size_t sig_len)
{
    unsigned int   mac_len;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (HMAC(md, key->data, (int) key->len, (const unsigned char *) token,
             dot2, mac, &mac_len) == NULL)
    {
        return 0;
    }

    return mac_len == sig_len && CRYPTO_memcmp(mac, sig, sig_len) == 0;
}


static int
ngx_session_jwt_pkey_matches(const ngx_session_key_t *key,
    const ngx_session_jose_alg_t *alg, const char *token, size_t dot2,
    const unsigned char *sig, size_t sig_len)
{
    int             rc;
    size_t          der_len;
    EVP_MD_CTX     *ctx;
    EVP_PKEY_CTX   *pctx;
    unsigned char   der[2 * 66 + 16];

    if (key->pkey == NULL) {
        return 0;
    }

    if (key->type == NGX_SESSION_KEY_EC) {
        if (ngx_session_jwt_ecdsa_der(key, sig, sig_len, der, &der_len)
            != NGX_SESSION_OK)
        {
            return 0;
        }

        sig = der;
        sig_len = der_len;
    }

    /*
     * RFC 8017 8.1.2: an RSA signature is exactly as long as the modulus.
     * OpenSSL's PSS path accepts a shorter one (leading zero octets
     * dropped), which would give one signed text several token strings.
     */

    if (key->type == NGX_SESSION_KEY_RSA
        && sig_len != (size_t) EVP_PKEY_get_size(key->pkey))
    {
        return 0;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return 0;
    }

    /* EdDSA: no digest of ours, one-shot only; RSA: PKCS #1 v1.5 default */

    pctx = NULL;

    rc = EVP_DigestVerifyInit(ctx, &pctx, alg->md ? alg->md() : NULL, NULL,
                              key->pkey) == 1;

    if (rc && (alg->bit & NGX_SESSION_ALG_PS)) {
        rc = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
             && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, alg->md()) == 1
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                 RSA_PSS_SALTLEN_DIGEST) == 1;
    }

    rc = rc && EVP_DigestVerify(ctx, sig, sig_len,
                                (const unsigned char *) token, dot2) == 1;

    EVP_MD_CTX_free(ctx);

    if (!rc) {
        /* a bad signature leaves errors in the thread's OpenSSL queue */
        ERR_clear_error();
    }

    return rc;
}


/* JWS ECDSA signatures are R || S, each as wide as the curve (RFC 7518) */

static int
ngx_session_jwt_ecdsa_der(const ngx_session_key_t *key,
    const unsigned char *sig, size_t sig_len, unsigned char *der,
    size_t *der_len)
{
    int             n;
    size_t          half;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    unsigned char  *p;

    half = (size_t) (EVP_PKEY_get_bits(key->pkey) + 7) / 8;

    if (sig_len != 2 * half || half > 66) {
        return NGX_SESSION_ERROR;
    }

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int) half, NULL);
    s = BN_bin2bn(sig + half, (int) half, NULL);

    if (es == NULL || r == NULL || s == NULL
        || ECDSA_SIG_set0(es, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return NGX_SESSION_ERROR;
    }

    /* r and s belong to es now */

    n = i2d_ECDSA_SIG(es, NULL);

    if (n <= 0 || (size_t) n > 2 * 66 + 16) {
        ECDSA_SIG_free(es);
        return NGX_SESSION_ERROR;
    }

    p = der;
    n = i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);

    if (n <= 0) {
        return NGX_SESSION_ERROR;
    }

    *der_len = (size_t) n;

    return NGX_SESSION_OK;
}


/*
 * libjwt's verdict on a token OpenSSL already accepted; its parse of the
 * claims is not used (it takes a repeated member's last value).
 */

static int
ngx_session_jwt_libjwt(const ngx_session_key_t *key,
    const ngx_session_jose_alg_t *alg, const char *token)
{
    int        rc;
    jwt_t     *jwt;
    jwt_alg_t  want;

    want = jwt_str_alg(alg->name);

    if (want == JWT_ALG_INVAL || want == JWT_ALG_NONE || key->len == 0) {
        return NGX_SESSION_ERROR;
    }

    rc = jwt_decode(&jwt, token, key->data, (int) key->len);

    if (rc != 0 || jwt == NULL) {
        /* a bad signature leaves errors in the thread's OpenSSL queue */
        ERR_clear_error();
        return NGX_SESSION_ERROR;
    }

    /* with no key libjwt would have downgraded to "none"; be sure */

    rc = (jwt_get_alg(jwt) == want) ? NGX_SESSION_OK : NGX_SESSION_ERROR;

    jwt_free(jwt);

    return rc;
}


static int
ngx_session_jwt_claims(const ngx_session_jwt_policy_t *policy,
    json_t *claims, time_t now, ngx_session_jwt_result_t *res)
{
    json_t   *v;
    int64_t   t, leeway, n;

    leeway = policy->leeway > 0 ? policy->leeway : 0;
    n = (int64_t) now;

    v = json_object_get(claims, "exp");

    if (v == NULL) {
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_MALFORMED,
                                      "missing exp");
    }

    if (ngx_session_jwt_time(v, 0, &t) != NGX_SESSION_OK) {
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_MALFORMED,
                                      "invalid exp");
    }

    /* expired when now >= exp + leeway, without overflowing */

    if (t <= INT64_MAX - leeway && n >= t + leeway) {
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_EXPIRED,
                                      "token expired");
    }

    res->exp = t;

    v = json_object_get(claims, "nbf");

    if (v != NULL) {
        if (ngx_session_jwt_time(v, 1, &t) != NGX_SESSION_OK) {
            return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_MALFORMED,
                                          "invalid nbf");
        }

        if (n <= INT64_MAX - leeway && n + leeway < t) {
            return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_NOT_YET_VALID,
                                          "token not yet valid");
        }
    }

    if (policy->issuer != NULL
        && !ngx_session_jwt_string_is(json_object_get(claims, "iss"),
                                      policy->issuer))
    {
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_ISSUER,
                                      "issuer mismatch");
    }

    if (policy->audiences != NULL
        && !ngx_session_jwt_audience(policy, json_object_get(claims, "aud")))
    {
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_AUDIENCE,
                                      "audience mismatch");
    }

    /* last: a token refused here is valid, and the answer is 403 */

    if (!ngx_session_jwt_scopes(policy, claims)) {
        return ngx_session_jwt_refuse(res, NGX_SESSION_JWT_SCOPE,
                                      "insufficient scope");
    }

    return NGX_SESSION_OK;
}



/*
 * NumericDate (RFC 7519 section 2): an integer, or a finite real that is
 * rounded to the stricter side (exp down, nbf up).
 */

static int
ngx_session_jwt_time(json_t *v, int round_up, int64_t *t)
{
    double  d;

    if (json_is_integer(v)) {
        *t = (int64_t) json_integer_value(v);
        return NGX_SESSION_OK;
    }

    if (!json_is_real(v)) {
        return NGX_SESSION_ERROR;
    }

    d = json_real_value(v);

    /* both bounds exactly representable; NaN fails both comparisons */

    if (!(d > -9223372036854775808.0 && d < 9223372036854775807.0)) {
        return NGX_SESSION_ERROR;
    }

    /* the cast truncates toward zero; floor() and ceil() need libm */

    *t = (int64_t) d;

    if (round_up ? (double) *t < d : (double) *t > d) {
        *t += round_up ? 1 : -1;
    }

    return NGX_SESSION_OK;
}


static int
ngx_session_jwt_audience(const ngx_session_jwt_policy_t *policy, json_t *aud)
{
    size_t   i, j;
    json_t  *v;

    for (i = 0; i < policy->naudiences; i++) {

        if (ngx_session_jwt_string_is(aud, policy->audiences[i])) {
            return 1;
        }

        /* RFC 7519 4.1.3: an array of strings; others never match */

        json_array_foreach(aud, j, v) {
            if (ngx_session_jwt_string_is(v, policy->audiences[i])) {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * Every required scope, in "scope" (space-separated, RFC 9068 2.2.3 and
 * RFC 8693 4.2) or in "scp" (an array of strings, as some providers issue
 * it); exact tokens, byte for byte.
 */

static int
ngx_session_jwt_scopes(const ngx_session_jwt_policy_t *policy,
    json_t *claims)
{
    size_t   i;
    json_t  *scope, *scp;

    scope = json_object_get(claims, "scope");
    scp = json_object_get(claims, "scp");

    for (i = 0; policy->scopes != NULL && i < policy->nscopes; i++) {
        if (!ngx_session_jwt_has_scope(scope, scp, policy->scopes[i])) {
            return 0;
        }
    }

    return 1;
}


static int
ngx_session_jwt_has_scope(json_t *scope, json_t *scp, const char *want)
{
    size_t       i, len, wlen, start;
    json_t      *v;
    const char  *s;

    wlen = strlen(want);

    if (json_is_string(scope)) {
        s = json_string_value(scope);
        len = json_string_length(scope);

        for (start = 0, i = 0; i <= len; i++) {
            if (i < len && s[i] != ' ') {
                continue;
            }

            if (i - start == wlen && memcmp(s + start, want, wlen) == 0) {
                return 1;
            }

            start = i + 1;
        }
    }

    json_array_foreach(scp, i, v) {
        if (ngx_session_jwt_string_is(v, want)) {
            return 1;
        }
    }

    return 0;
}


static int
ngx_session_jwt_string_is(json_t *v, const char *s)
{
    size_t  len;

    if (!json_is_string(v)) {
        return 0;
    }

    len = strlen(s);

    return json_string_length(v) == len
           && memcmp(json_string_value(v), s, len) == 0;
}


/*
 * entries is an upper bound: sets of four (fewer for a tiny cache), as many
 * whole sets as fit.  0 entries: no cache (NULL).
 */

ngx_session_jwt_cache_t *
ngx_session_jwt_cache_create(size_t entries)
{
    size_t                    ways;
    ngx_session_jwt_cache_t  *cache;

    if (entries == 0) {
        return NULL;
    }

    cache = calloc(1, sizeof(ngx_session_jwt_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    ways = entries < NGX_SESSION_CACHE_WAYS ? entries : NGX_SESSION_CACHE_WAYS;

    cache->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    cache->ctx = EVP_MD_CTX_new();

    if (cache->sha256 == NULL || cache->ctx == NULL) {
        goto failed;
    }

    if (ngx_session_assoc_init(&cache->assoc, entries / ways, ways,
                               ngx_session_jwt_cache_drop, NULL)
        != NGX_SESSION_OK)
    {
        goto failed;
    }

    return cache;

failed:

    EVP_MD_CTX_free(cache->ctx);
    EVP_MD_free(cache->sha256);
    free(cache);

    return NULL;
}


void
ngx_session_jwt_cache_free(ngx_session_jwt_cache_t *cache)
{
    if (cache == NULL) {
        return;
    }

    ngx_session_assoc_destroy(&cache->assoc);
    EVP_MD_CTX_free(cache->ctx);
    EVP_MD_free(cache->sha256);
    free(cache);
}


json_t *
ngx_session_jwt_cache_get(ngx_session_jwt_cache_t *cache,
    const void *policy_id, const char *token, size_t len, time_t now)
{
    return ngx_session_jwt_cache_lookup(cache, policy_id, 0, token, len,
                                        now);
}


void
ngx_session_jwt_cache_put(ngx_session_jwt_cache_t *cache,
    const void *policy_id, const char *token, size_t len, int64_t exp,
    json_t *claims)
{
    ngx_session_jwt_cache_store(cache, policy_id, 0, token, len, exp,
                                claims);
}


json_t *
ngx_session_jwt_cache_lookup(ngx_session_jwt_cache_t *cache,
    const void *policy_id, uint64_t generation, const char *token,
    size_t len, time_t now)
{
    ngx_session_assoc_way_t        *way;
    ngx_session_jwt_cache_entry_t   key, *e;

    if (cache == NULL || token == NULL) {
        return NULL;
    }

    if (ngx_session_jwt_cache_digest(cache, token, len, key.digest)
        != NGX_SESSION_OK)
    {
        return NULL;
    }

    key.policy_id = policy_id;
    key.generation = generation;

    way = ngx_session_assoc_find(&cache->assoc,
                                 ngx_session_jwt_cache_hash(key.digest,
                                                            policy_id,
                                                            generation),
                                 ngx_session_jwt_cache_match, &key);
    if (way == NULL) {
        return NULL;
    }

    e = way->value;

    if ((int64_t) now >= e->exp) {
        ngx_session_assoc_drop(&cache->assoc, way);
        return NULL;
    }

    return json_incref(e->claims);
}


void
ngx_session_jwt_cache_store(ngx_session_jwt_cache_t *cache,
    const void *policy_id, uint64_t generation, const char *token,
    size_t len, int64_t exp, json_t *claims)
{
    ngx_session_assoc_way_t        *way;
    ngx_session_jwt_cache_entry_t  *e;

    if (cache == NULL || token == NULL || claims == NULL) {
        return;
    }

    e = malloc(sizeof(ngx_session_jwt_cache_entry_t));
    if (e == NULL) {
        return;
    }

    if (ngx_session_jwt_cache_digest(cache, token, len, e->digest)
        != NGX_SESSION_OK)
    {
        free(e);
        return;
    }

    e->policy_id = policy_id;
    e->generation = generation;
    e->exp = exp;
    e->claims = json_incref(claims);

    /* the same token again, else a free way, else the least recently used */

    way = ngx_session_assoc_claim(&cache->assoc,
                                  ngx_session_jwt_cache_hash(e->digest,
                                                             policy_id,
                                                             generation),
                                  ngx_session_jwt_cache_match, e);
    way->value = e;
}


static int
ngx_session_jwt_cache_digest(ngx_session_jwt_cache_t *cache,
    const char *token, size_t len, unsigned char *digest)
{
    if (EVP_DigestInit_ex(cache->ctx, cache->sha256, NULL) != 1
        || EVP_DigestUpdate(cache->ctx, token, len) != 1
        || EVP_DigestFinal_ex(cache->ctx, digest, NULL) != 1)
    {
        return NGX_SESSION_ERROR;
    }

    return NGX_SESSION_OK;
}


/* the digest is uniform already; fold the policy and the generation in */

static uint64_t
ngx_session_jwt_cache_hash(const unsigned char *digest,
    const void *policy_id, uint64_t generation)
{
    uint64_t  h;

    memcpy(&h, digest, sizeof(uint64_t));

    return h ^ ((uint64_t) (uintptr_t) policy_id + generation)
               * 0x9e3779b97f4a7c15ULL;
}


static int
ngx_session_jwt_cache_match(const void *value, const void *key)
{
    const ngx_session_jwt_cache_entry_t  *e = value, *k = key;

    return e->policy_id == k->policy_id && e->generation == k->generation
           && memcmp(e->digest, k->digest, SHA256_DIGEST_LENGTH) == 0;
}


static void
ngx_session_jwt_cache_drop(void *data, void *value)
{
    ngx_session_jwt_cache_entry_t  *e = value;

    (void) data;

    json_decref(e->claims);
    free(e);
}
