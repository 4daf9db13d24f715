
/*
 * Bearer JWT verification on libjwt 1.10, and the cache of verified tokens.
 *
 * libjwt 1.10 trusts the token header for the algorithm and uses whatever
 * key bytes it is given, so everything it cannot be trusted with happens
 * here first: size and syntax, "alg" against the allow-list, "kid", and a
 * key of the algorithm's own type.  It never sees an empty key (with none
 * it silently treats any token as "alg":"none").  It checks no claims;
 * exp, nbf, iss and aud are checked here.
 *
 * Choices worth knowing:
 *   - "typ", when present, must be "JWT" in any case: libjwt 1.10 refuses
 *     every other value (RFC 9068 "at+jwt" tokens cannot be used).
 *   - "crit" is refused: no extension is understood.
 *   - exp and nbf are NumericDates: integers, or reals rounded to the
 *     stricter side (exp down, nbf up).  exp is required.
 *   - an oct key without "alg" serves each HS alg whose hash output its
 *     length covers (see ngx_session_jwk.c).
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
#include <openssl/sha.h>

#include "ngx_session_jwk.h"


/* the header, as far as key selection needs it */
typedef struct {
    unsigned                 alg;       /* one NGX_SESSION_ALG_* bit */
    const char              *kid;       /* NULL: no "kid" */
    size_t                   kid_len;
} ngx_session_jwt_header_t;


typedef struct {
    const char              *name;
    size_t                   len;
    unsigned                 bit;
    jwt_alg_t                jwt;
    const EVP_MD          *(*md)(void);
} ngx_session_jwt_alg_t;


#define NGX_SESSION_CACHE_WAYS   4

typedef struct {
    unsigned char            digest[SHA256_DIGEST_LENGTH];
    const void              *policy_id;
    int64_t                  exp;
    json_t                  *claims;    /* NULL: a free slot */
    uint64_t                 used;      /* the tick of the last hit */
} ngx_session_jwt_cache_entry_t;


/*
 * Set-associative: a token's digest picks one set of up to four entries;
 * within the set the least recently used entry makes room.
 */
struct ngx_session_jwt_cache_s {
    ngx_session_jwt_cache_entry_t  *entries;
    size_t                          nsets;
    size_t                          ways;
    uint64_t                        tick;
};


static int ngx_session_jwt_split(const char *token, size_t len,
    size_t *dot1, size_t *dot2);
static int ngx_session_jwt_header(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, json_t **root,
    ngx_session_jwt_header_t *hdr, const char **error);
static int ngx_session_jwt_check_sig(const ngx_session_jwt_policy_t *policy,
    const ngx_session_jwt_header_t *hdr, const char *token, size_t dot2,
    size_t len, json_t **claims, const char **error);
static int ngx_session_jwt_key_fits(const ngx_session_key_t *key,
    unsigned alg);
static int ngx_session_jwt_precheck(const ngx_session_key_t *key,
    unsigned alg, const char *token, size_t dot2, size_t len);
static int ngx_session_jwt_hmac_matches(const ngx_session_key_t *key,
    const EVP_MD *md, const char *token, size_t dot2,
    const unsigned char *sig, size_t sig_len);
static int ngx_session_jwt_pkey_matches(const ngx_session_key_t *key,
    const EVP_MD *md, const char *token, size_t dot2,
    const unsigned char *sig, size_t sig_len);
static int ngx_session_jwt_ecdsa_der(const ngx_session_key_t *key,
    const unsigned char *sig, size_t sig_len, unsigned char *der,
    size_t *der_len);
static int ngx_session_jwt_decode(const ngx_session_key_t *key, unsigned alg,
    const char *token, json_t **claims);
static int ngx_session_jwt_claims(const ngx_session_jwt_policy_t *policy,
    json_t *claims, time_t now, int64_t *exp, const char **error);
static int ngx_session_jwt_time(json_t *v, int round_up, int64_t *t);
static int ngx_session_jwt_audience(const ngx_session_jwt_policy_t *policy,
    json_t *aud);
static int ngx_session_jwt_string_is(json_t *v, const char *s);
static const ngx_session_jwt_alg_t *ngx_session_jwt_alg_by_bit(unsigned bit);
static ngx_session_jwt_cache_entry_t *ngx_session_jwt_cache_set(
    ngx_session_jwt_cache_t *cache, const void *policy_id,
    const unsigned char *digest);
static void ngx_session_jwt_cache_clear(ngx_session_jwt_cache_entry_t *e);


#define ngx_session_jwt_alg(s, bit, jwt, md)                                  \
    { s, sizeof(s) - 1, NGX_SESSION_ALG_ ## bit, jwt, md }

static const ngx_session_jwt_alg_t  ngx_session_jwt_algs[] = {
    ngx_session_jwt_alg("HS256", HS256, JWT_ALG_HS256, EVP_sha256),
    ngx_session_jwt_alg("HS384", HS384, JWT_ALG_HS384, EVP_sha384),
    ngx_session_jwt_alg("HS512", HS512, JWT_ALG_HS512, EVP_sha512),
    ngx_session_jwt_alg("RS256", RS256, JWT_ALG_RS256, EVP_sha256),
    ngx_session_jwt_alg("RS384", RS384, JWT_ALG_RS384, EVP_sha384),
    ngx_session_jwt_alg("RS512", RS512, JWT_ALG_RS512, EVP_sha512),
    ngx_session_jwt_alg("ES256", ES256, JWT_ALG_ES256, EVP_sha256),
    ngx_session_jwt_alg("ES384", ES384, JWT_ALG_ES384, EVP_sha384),
    ngx_session_jwt_alg("ES512", ES512, JWT_ALG_ES512, EVP_sha512)
};

#define NGX_SESSION_JWT_NALGS                                                 \
    (sizeof(ngx_session_jwt_algs) / sizeof(ngx_session_jwt_algs[0]))


/* alg names are case-sensitive (RFC 7515 4.1.1); libjwt's are not */

unsigned
ngx_session_jwt_alg_bit(const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < NGX_SESSION_JWT_NALGS; i++) {
        if (ngx_session_jwt_algs[i].len == len
            && memcmp(ngx_session_jwt_algs[i].name, name, len) == 0)
        {
            return ngx_session_jwt_algs[i].bit;
        }
    }

    return 0;
}


int
ngx_session_jwt_verify(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, time_t now, json_t **claims, int64_t *exp,
    const char **error)
{
    int                        rc;
    size_t                     dot1, dot2;
    json_t                    *header, *payload;
    ngx_session_jwt_header_t   hdr;

    *claims = NULL;

    if (len > NGX_SESSION_JWT_MAX_TOKEN) {
        *error = "token too large";
        return NGX_SESSION_ERROR;
    }

    if (ngx_session_jwt_split(token, len, &dot1, &dot2) != NGX_SESSION_OK) {
        *error = "malformed token";
        return NGX_SESSION_ERROR;
    }

    if (ngx_session_jwt_header(policy, token, dot1, &header, &hdr, error)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    /* hdr.kid points into header: release it only after the check */

    rc = ngx_session_jwt_check_sig(policy, &hdr, token, dot2, len, &payload,
                                   error);

    json_decref(header);

    if (rc != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    if (ngx_session_jwt_claims(policy, payload, now, exp, error)
        != NGX_SESSION_OK)
    {
        json_decref(payload);
        return NGX_SESSION_ERROR;
    }

    *claims = payload;

    return NGX_SESSION_OK;
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


static int
ngx_session_jwt_header(const ngx_session_jwt_policy_t *policy,
    const char *token, size_t len, json_t **root,
    ngx_session_jwt_header_t *hdr, const char **error)
{
    size_t          n;
    json_t         *h, *v;
    const char     *s;
    unsigned char   buf[NGX_SESSION_JWT_MAX_TOKEN / 4 * 3];

    *error = "malformed token";

    if (ngx_session_b64url_decode(token, len, buf, &n) != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    /* duplicate members could mean one thing here and another in libjwt */

    h = json_loadb((const char *) buf, n, JSON_REJECT_DUPLICATES, NULL);

    if (!json_is_object(h)) {
        goto failed;
    }

    v = json_object_get(h, "alg");
    if (!json_is_string(v)) {
        goto failed;
    }

    /* "none" and unknown names are 0: never in the allow-list */

    hdr->alg = ngx_session_jwt_alg_bit(json_string_value(v),
                                       json_string_length(v));

    if ((hdr->alg & policy->algorithms) == 0) {
        *error = "algorithm not allowed";
        goto failed;
    }

    /* RFC 7515 4.1.11: we understand no extension, so any "crit" fails */

    if (json_object_get(h, "crit") != NULL) {
        *error = "unsupported critical header";
        goto failed;
    }

    /* libjwt 1.10 refuses any typ but "JWT" (any case); say so clearly */

    v = json_object_get(h, "typ");
    if (v != NULL) {
        s = json_string_value(v);

        if (s == NULL) {
            goto failed;
        }

        if (strcasecmp(s, "JWT") != 0 || json_string_length(v) != 3) {
            *error = "unsupported token type";
            goto failed;
        }
    }

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


/*
 * With a kid only the keys carrying that kid are candidates; without one,
 * every key of the algorithm's type.  A kid never falls back to all keys.
 */

static int
ngx_session_jwt_check_sig(const ngx_session_jwt_policy_t *policy,
    const ngx_session_jwt_header_t *hdr, const char *token, size_t dot2,
    size_t len, json_t **claims, const char **error)
{
    size_t                       i, named, fit;
    char                         buf[NGX_SESSION_JWT_MAX_TOKEN + 1];
    const ngx_session_key_t     *key;
    const ngx_session_keyset_t  *ks;

    ks = policy->keys;
    named = 0;
    fit = 0;

    /* libjwt wants a C string */

    memcpy(buf, token, len);
    buf[len] = '\0';

    for (i = 0; ks != NULL && i < ks->nkeys; i++) {
        key = &ks->keys[i];

        if (hdr->kid != NULL
            && (key->kid == NULL || key->kid_len != hdr->kid_len
                || memcmp(key->kid, hdr->kid, hdr->kid_len) != 0))
        {
            continue;
        }

        named++;

        if (!ngx_session_jwt_key_fits(key, hdr->alg)) {
            continue;
        }

        fit++;

        if (!ngx_session_jwt_precheck(key, hdr->alg, token, dot2, len)) {
            continue;
        }

        if (ngx_session_jwt_decode(key, hdr->alg, buf, claims)
            == NGX_SESSION_OK)
        {
            return NGX_SESSION_OK;
        }
    }

    if (hdr->kid != NULL && named == 0) {
        *error = "unknown kid";

    } else if (fit == 0) {
        *error = "no key for the algorithm";

    } else {
        *error = "signature verification failed";
    }

    return NGX_SESSION_ERROR;
}


static int
ngx_session_jwt_key_fits(const ngx_session_key_t *key, unsigned alg)
{
    /* algs already holds only algorithms of the key's own type */
    return key->len > 0 && (key->algs & alg) != 0;
}


/*
 * Our own check of the signature before libjwt's, which stays the verifier
 * of record.  It filters cheaply: libjwt 1.10 parses the PEM key on every
 * call (hundreds of microseconds in OpenSSL 3.0), so a bad signature, or
 * a key tried in vain when the token has no kid, costs only the crypto.
 * For HMAC it also compares in constant time: upstream libjwt 1.10.2 uses
 * strcmp() (CVE-2024-25189; Debian patched it, others may not), so libjwt
 * only ever compares a signature that already matched.
 */

static int
ngx_session_jwt_precheck(const ngx_session_key_t *key, unsigned alg,
    const char *token, size_t dot2, size_t len)
{
    size_t                        sig_len;
    const EVP_MD                 *md;
    unsigned char                 sig[NGX_SESSION_JWT_MAX_TOKEN / 4 * 3];
    const ngx_session_jwt_alg_t  *a;

    a = ngx_session_jwt_alg_by_bit(alg);
    if (a == NULL) {
        return 0;
    }

    md = a->md();

    if (ngx_session_b64url_decode(token + dot2 + 1, len - dot2 - 1, sig,
                                  &sig_len)
        != NGX_SESSION_OK)
    {
        return 0;
    }

    if (key->type == NGX_SESSION_KEY_OCT) {
        return ngx_session_jwt_hmac_matches(key, md, token, dot2, sig,
                                            sig_len);
    }

    return ngx_session_jwt_pkey_matches(key, md, token, dot2, sig, sig_len);
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
ngx_session_jwt_pkey_matches(const ngx_session_key_t *key, const EVP_MD *md,
    const char *token, size_t dot2, const unsigned char *sig, size_t sig_len)
{
    int             rc;
    size_t          der_len;
    EVP_MD_CTX     *ctx;
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

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return 0;
    }

    /* RSA: PKCS #1 v1.5, the default padding */

    rc = EVP_DigestVerifyInit(ctx, NULL, md, NULL, key->pkey) == 1
         && EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *) token,
                             dot2) == 1;

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


static int
ngx_session_jwt_decode(const ngx_session_key_t *key, unsigned alg,
    const char *token, json_t **claims)
{
    int                           rc;
    char                         *s;
    jwt_t                        *jwt;
    json_t                       *c;
    json_free_t                   free_fn;
    json_malloc_t                 malloc_fn;
    const ngx_session_jwt_alg_t  *a;

    a = ngx_session_jwt_alg_by_bit(alg);

    if (a == NULL || key->len == 0) {
        return NGX_SESSION_ERROR;
    }

    rc = jwt_decode(&jwt, token, key->data, (int) key->len);

    if (rc != 0 || jwt == NULL) {
        /* a bad signature leaves errors in the thread's OpenSSL queue */
        ERR_clear_error();
        return NGX_SESSION_ERROR;
    }

    /* with no key libjwt would have downgraded to "none"; be sure */

    if (jwt_get_alg(jwt) != a->jwt) {
        jwt_free(jwt);
        return NGX_SESSION_ERROR;
    }

    s = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);

    if (s == NULL) {
        return NGX_SESSION_ERROR;
    }

    c = json_loads(s, 0, NULL);

    /* json_dumps() memory belongs to jansson's allocator */

    json_get_alloc_funcs(&malloc_fn, &free_fn);
    free_fn(s);

    if (c == NULL) {
        return NGX_SESSION_ERROR;
    }

    *claims = c;

    return NGX_SESSION_OK;
}


static int
ngx_session_jwt_claims(const ngx_session_jwt_policy_t *policy,
    json_t *claims, time_t now, int64_t *exp, const char **error)
{
    json_t   *v;
    int64_t   t, leeway, n;

    if (!json_is_object(claims)) {
        *error = "claims are not a JSON object";
        return NGX_SESSION_ERROR;
    }

    leeway = policy->leeway > 0 ? policy->leeway : 0;
    n = (int64_t) now;

    v = json_object_get(claims, "exp");

    if (v == NULL) {
        *error = "missing exp";
        return NGX_SESSION_ERROR;
    }

    if (ngx_session_jwt_time(v, 0, &t) != NGX_SESSION_OK) {
        *error = "invalid exp";
        return NGX_SESSION_ERROR;
    }

    /* expired when now >= exp + leeway, without overflowing */

    if (t <= INT64_MAX - leeway && n >= t + leeway) {
        *error = "token expired";
        return NGX_SESSION_ERROR;
    }

    *exp = t;

    v = json_object_get(claims, "nbf");

    if (v != NULL) {
        if (ngx_session_jwt_time(v, 1, &t) != NGX_SESSION_OK) {
            *error = "invalid nbf";
            return NGX_SESSION_ERROR;
        }

        if (n <= INT64_MAX - leeway && n + leeway < t) {
            *error = "token not yet valid";
            return NGX_SESSION_ERROR;
        }
    }

    if (policy->issuer != NULL
        && !ngx_session_jwt_string_is(json_object_get(claims, "iss"),
                                      policy->issuer))
    {
        *error = "issuer mismatch";
        return NGX_SESSION_ERROR;
    }

    if (policy->audiences != NULL
        && !ngx_session_jwt_audience(policy, json_object_get(claims, "aud")))
    {
        *error = "audience mismatch";
        return NGX_SESSION_ERROR;
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


static const ngx_session_jwt_alg_t *
ngx_session_jwt_alg_by_bit(unsigned bit)
{
    size_t  i;

    for (i = 0; i < NGX_SESSION_JWT_NALGS; i++) {
        if (ngx_session_jwt_algs[i].bit == bit) {
            return &ngx_session_jwt_algs[i];
        }
    }

    return NULL;
}


/*
 * entries is an upper bound: sets of four (fewer for a tiny cache), as many
 * whole sets as fit.  0 entries: no cache (NULL).
 */

ngx_session_jwt_cache_t *
ngx_session_jwt_cache_create(size_t entries)
{
    ngx_session_jwt_cache_t  *cache;

    if (entries == 0) {
        return NULL;
    }

    cache = calloc(1, sizeof(ngx_session_jwt_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    cache->ways = entries < NGX_SESSION_CACHE_WAYS
                  ? entries : NGX_SESSION_CACHE_WAYS;
    cache->nsets = entries / cache->ways;

    cache->entries = calloc(cache->nsets * cache->ways,
                            sizeof(ngx_session_jwt_cache_entry_t));
    if (cache->entries == NULL) {
        free(cache);
        return NULL;
    }

    return cache;
}


void
ngx_session_jwt_cache_free(ngx_session_jwt_cache_t *cache)
{
    size_t  i;

    if (cache == NULL) {
        return;
    }

    for (i = 0; i < cache->nsets * cache->ways; i++) {
        ngx_session_jwt_cache_clear(&cache->entries[i]);
    }

    free(cache->entries);
    free(cache);
}


json_t *
ngx_session_jwt_cache_get(ngx_session_jwt_cache_t *cache,
    const void *policy_id, const char *token, size_t len, time_t now)
{
    size_t                          i;
    unsigned char                   digest[SHA256_DIGEST_LENGTH];
    ngx_session_jwt_cache_entry_t  *set, *e;

    if (cache == NULL || token == NULL) {
        return NULL;
    }

    SHA256((const unsigned char *) token, len, digest);

    set = ngx_session_jwt_cache_set(cache, policy_id, digest);

    for (i = 0; i < cache->ways; i++) {
        e = &set[i];

        if (e->claims == NULL || e->policy_id != policy_id
            || memcmp(e->digest, digest, SHA256_DIGEST_LENGTH) != 0)
        {
            continue;
        }

        if ((int64_t) now >= e->exp) {
            ngx_session_jwt_cache_clear(e);
            return NULL;
        }

        e->used = ++cache->tick;

        return json_incref(e->claims);
    }

    return NULL;
}


void
ngx_session_jwt_cache_put(ngx_session_jwt_cache_t *cache,
    const void *policy_id, const char *token, size_t len, int64_t exp,
    json_t *claims)
{
    size_t                          i;
    unsigned char                   digest[SHA256_DIGEST_LENGTH];
    ngx_session_jwt_cache_entry_t  *set, *e, *victim;

    if (cache == NULL || token == NULL || claims == NULL) {
        return;
    }

    SHA256((const unsigned char *) token, len, digest);

    set = ngx_session_jwt_cache_set(cache, policy_id, digest);
    victim = &set[0];

    /* the same token again, else a free slot, else the least recently used */

    for (i = 0; i < cache->ways; i++) {
        e = &set[i];

        if (e->claims != NULL && e->policy_id == policy_id
            && memcmp(e->digest, digest, SHA256_DIGEST_LENGTH) == 0)
        {
            victim = e;
            break;
        }

        if (victim->claims != NULL
            && (e->claims == NULL || e->used < victim->used))
        {
            victim = e;
        }
    }

    ngx_session_jwt_cache_clear(victim);

    memcpy(victim->digest, digest, SHA256_DIGEST_LENGTH);
    victim->policy_id = policy_id;
    victim->exp = exp;
    victim->claims = json_incref(claims);
    victim->used = ++cache->tick;
}


static ngx_session_jwt_cache_entry_t *
ngx_session_jwt_cache_set(ngx_session_jwt_cache_t *cache,
    const void *policy_id, const unsigned char *digest)
{
    uint64_t  h;

    /* the digest is uniform already; fold the policy in */

    memcpy(&h, digest, sizeof(uint64_t));
    h ^= (uint64_t) (uintptr_t) policy_id * 0x9e3779b97f4a7c15ULL;

    return &cache->entries[(h % cache->nsets) * cache->ways];
}


static void
ngx_session_jwt_cache_clear(ngx_session_jwt_cache_entry_t *e)
{
    json_decref(e->claims);
    e->claims = NULL;
    e->policy_id = NULL;
    e->used = 0;
}
