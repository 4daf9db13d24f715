
/*
 * Unit tests of ngx_session_jwt.c and ngx_session_jwk.c: key files, token
 * verification, the cache.  Tokens are minted here with OpenSSL directly,
 * never with libjwt, so that libjwt is checked against an independent
 * implementation; keys are generated fresh and written to a temporary
 * directory.
 */

#define _GNU_SOURCE

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "tap.h"
#include "ngx_session_jwt.h"


#define NOW  ((time_t) 1700000000)


#define is_str(got, want, ...)                                                \
    (ok(strcmp(got, want) == 0, __VA_ARGS__)                                  \
     || (printf("#   got \"%s\"\n#   want \"%s\"\n", got, want), 0))

#define has_str(got, want, ...)                                               \
    (ok(strstr(got, want) != NULL, __VA_ARGS__)                               \
     || (printf("#   got \"%s\"\n#   want it to contain \"%s\"\n",            \
                got, want), 0))


/* what a token is signed with; alg may differ from the header's */
typedef struct {
    const char           *alg;
    EVP_PKEY             *pkey;
    const unsigned char  *secret;
    size_t                secret_len;
} signer_t;


static char     tmpdir[] = "/tmp/test_jwt.XXXXXX";

/* the loader's warnings, one after the other, and how many */
static char     warnings[4096];
static size_t   nwarnings;

static void     collect_warning(void *data, const char *msg);

static const ngx_session_keyset_loader_t  loader = { collect_warning, NULL };
static void   **garbage;
static size_t   ngarbage;

static EVP_PKEY  *rsa1, *rsa2, *rsa_small, *ec256, *ec384, *ec521, *ec_k1,
                 *ed1, *ed2;
static unsigned char  hs_key[64], hs_key32[32];


/* everything allocated for a test is freed at the end, for valgrind */

static void
collect_warning(void *data, const char *msg)
{
    size_t  n;

    (void) data;

    n = strlen(warnings);
    snprintf(warnings + n, sizeof(warnings) - n, "%s\n", msg);
    nwarnings++;
}


static void
clear_warnings(void)
{
    warnings[0] = '\0';
    nwarnings = 0;
}


static void *
keep(void *p)
{
    garbage = realloc(garbage, (ngarbage + 1) * sizeof(void *));
    garbage[ngarbage++] = p;
    return p;
}


static char *
fmt(const char *f, ...)
{
    char     *s;
    va_list   args;

    va_start(args, f);
    if (vasprintf(&s, f, args) == -1) {
        abort();
    }
    va_end(args);

    return keep(s);
}


static char *
b64url(const unsigned char *p, size_t len)
{
    static const char  tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "abcdefghijklmnopqrstuvwxyz0123456789-_";
    char    *s, *d;
    size_t   i;
    unsigned v;

    s = keep(malloc(len / 3 * 4 + 5));
    d = s;

    for (i = 0; i + 2 < len; i += 3) {
        v = (unsigned) p[i] << 16 | (unsigned) p[i + 1] << 8 | p[i + 2];
        *d++ = tab[v >> 18];
        *d++ = tab[(v >> 12) & 63];
        *d++ = tab[(v >> 6) & 63];
        *d++ = tab[v & 63];
    }

    if (len - i == 1) {
        v = (unsigned) p[i] << 16;
        *d++ = tab[v >> 18];
        *d++ = tab[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = (unsigned) p[i] << 16 | (unsigned) p[i + 1] << 8;
        *d++ = tab[v >> 18];
        *d++ = tab[(v >> 12) & 63];
        *d++ = tab[(v >> 6) & 63];
    }

    *d = '\0';

    return s;
}


static char *
b64s(const char *s)
{
    return b64url((const unsigned char *) s, strlen(s));
}


static const EVP_MD *
md_of(const char *alg)
{
    return strcmp(alg + 2, "256") == 0 ? EVP_sha256()
           : strcmp(alg + 2, "384") == 0 ? EVP_sha384() : EVP_sha512();
}


/* ECDSA gives DER; JWS wants R || S, each as wide as the curve order */

static char *
der_to_raw(const unsigned char *der, size_t der_len, EVP_PKEY *pkey)
{
    int                   n;
    ECDSA_SIG            *sig;
    const BIGNUM         *r, *s;
    unsigned char         raw[2 * 66];
    const unsigned char  *p;

    n = (EVP_PKEY_get_bits(pkey) + 7) / 8;
    p = der;

    sig = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
    if (sig == NULL) {
        abort();
    }

    ECDSA_SIG_get0(sig, &r, &s);
    BN_bn2binpad(r, raw, n);
    BN_bn2binpad(s, raw + n, n);
    ECDSA_SIG_free(sig);

    return b64url(raw, 2 * (size_t) n);
}


static char *
sign(const signer_t *k, const char *input, int der)
{
    size_t          len;
    unsigned int    mac_len;
    EVP_MD_CTX     *ctx;
    EVP_PKEY_CTX   *pctx;
    unsigned char   sig[1024];

    if (strcmp(k->alg, "none") == 0) {
        return "";
    }

    if (k->alg[0] == 'H') {
        HMAC(md_of(k->alg), k->secret, (int) k->secret_len,
             (const unsigned char *) input, strlen(input), sig, &mac_len);
        return b64url(sig, mac_len);
    }

    ctx = EVP_MD_CTX_new();
    len = sizeof(sig);
    pctx = NULL;

    /* EdDSA hashes by itself; PS*: MGF1 of the same hash, salt = hash */

    if (EVP_DigestSignInit(ctx, &pctx,
                           strcmp(k->alg, "EdDSA") == 0 ? NULL
                                                       : md_of(k->alg),
                           NULL, k->pkey) != 1
        || (k->alg[0] == 'P'
            && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING)
                != 1
                || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                    RSA_PSS_SALTLEN_DIGEST)
                   != 1))
        || EVP_DigestSign(ctx, sig, &len, (const unsigned char *) input,
                          strlen(input)) != 1)
    {
        abort();
    }

    EVP_MD_CTX_free(ctx);

    if (k->alg[0] == 'E' && k->alg[1] == 'S' && !der) {
        return der_to_raw(sig, len, k->pkey);
    }

    return b64url(sig, len);
}


static char *
token(const char *header, const char *payload, const signer_t *k)
{
    char  *input;

    input = fmt("%s.%s", b64s(header), b64s(payload));

    return fmt("%s.%s", input, sign(k, input, 0));
}


static char *
hdr(const char *alg, const char *extra)
{
    return fmt("{\"alg\":\"%s\",\"typ\":\"JWT\"%s}", alg, extra);
}


static char *
claims(const char *extra)
{
    return fmt("{\"sub\":\"alice\",\"exp\":%lld%s}",
               (long long) NOW + 3600, extra);
}


static char *
bn_param(EVP_PKEY *pkey, const char *name, int pad)
{
    int             n;
    char           *s;
    BIGNUM         *bn;
    unsigned char   buf[1024];

    bn = NULL;

    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
        abort();
    }

    n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    s = b64url(buf, (size_t) n);
    BN_free(bn);

    return s;
}


static char *
jwk_rsa(EVP_PKEY *pkey, const char *extra)
{
    return fmt("{%s\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}", extra,
               bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, 0),
               bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, 0));
}


static char *
jwk_ec(EVP_PKEY *pkey, const char *crv, const char *extra)
{
    int  n;

    n = (EVP_PKEY_get_bits(pkey) + 7) / 8;

    return fmt("{%s\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
               extra, crv, bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, n),
               bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, n));
}


static char *
jwk_oct(const unsigned char *k, size_t len, const char *extra)
{
    return fmt("{%s\"kty\":\"oct\",\"k\":\"%s\"}", extra, b64url(k, len));
}


static char *
bio_string(BIO *bio)
{
    long   len;
    char  *p, *s;

    len = BIO_get_mem_data(bio, &p);
    s = keep(malloc((size_t) len + 1));
    memcpy(s, p, (size_t) len);
    s[len] = '\0';
    BIO_free(bio);

    return s;
}


static char *
pem_pub(EVP_PKEY *pkey)
{
    BIO  *bio;

    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey);

    return bio_string(bio);
}


static char *
pem_rsa_pkcs1(EVP_PKEY *pkey)
{
    int             len;
    BIO            *bio;
    unsigned char  *der;

    der = NULL;
    len = i2d_PublicKey(pkey, &der);

    bio = BIO_new(BIO_s_mem());
    PEM_write_bio(bio, "RSA PUBLIC KEY", "", der, len);
    OPENSSL_free(der);

    return bio_string(bio);
}


static char *
pem_private(EVP_PKEY *pkey)
{
    BIO  *bio;

    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);

    return bio_string(bio);
}


static char *
write_file(const char *name, const char *content)
{
    char  *path;
    FILE  *f;

    path = fmt("%s/%s", tmpdir, name);

    f = fopen(path, "w");
    fputs(content, f);
    fclose(f);

    return path;
}


static ngx_session_keyset_t *
load(const char *name, const char *content)
{
    char                   err[256];
    ngx_session_keyset_t  *ks;

    ks = ngx_session_keyset_create();
    err[0] = '\0';

    if (ngx_session_keyset_load_file(ks, &loader, write_file(name, content), err,
                                     sizeof(err))
        != NGX_SESSION_OK)
    {
        printf("# load %s: %s\n", name, err);
        ngx_session_keyset_free(ks);
        return NULL;
    }

    return ks;
}


/* the load must fail with a message containing want */

static void
load_fails(const char *name, const char *content, const char *want)
{
    int                    rc;
    char                   err[256];
    char                  *path;
    ngx_session_keyset_t  *ks;

    ks = ngx_session_keyset_create();
    path = content ? write_file(name, content) : (char *) name;

    strcpy(err, "(unset)");
    rc = ngx_session_keyset_load_file(ks, &loader, path, err, sizeof(err));

    /* name the file in the test's description without the temporary dir */
    name = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;

    ok(rc == NGX_SESSION_ERROR && ngx_session_keyset_count(ks) == 0,
       "key file %s refused", name);
    has_str(err, want, "key file %s: reason", name);

    ngx_session_keyset_free(ks);
}


static const char *
verify(const ngx_session_jwt_policy_t *policy, const char *tok, time_t now)
{
    int          rc;
    json_t      *c;
    int64_t      exp;
    const char  *error;

    error = "(unset)";
    c = (json_t *) 1;

    rc = ngx_session_jwt_verify(policy, tok, strlen(tok), now, &c, &exp,
                                &error);

    if (rc == NGX_SESSION_OK) {
        if (!json_is_object(c)) {
            return "claims not an object";
        }

        json_decref(c);
        return "OK";
    }

    if (c != NULL) {
        return "claims set on error";
    }

    return error;
}


static ngx_session_jwt_policy_t
policy(const ngx_session_keyset_t *ks)
{
    ngx_session_jwt_policy_t  p;

    memset(&p, 0, sizeof(ngx_session_jwt_policy_t));
    p.keys = ks;
    p.algorithms = NGX_SESSION_ALG_ALL;

    return p;
}


static void
generate_keys(void)
{
    rsa1 = EVP_RSA_gen(2048);
    rsa2 = EVP_RSA_gen(2048);
    rsa_small = EVP_RSA_gen(1024);
    ec256 = EVP_EC_gen("P-256");
    ec384 = EVP_EC_gen("P-384");
    ec521 = EVP_EC_gen("P-521");
    ec_k1 = EVP_EC_gen("secp256k1");
    ed1 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ed2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

    if (rsa1 == NULL || rsa2 == NULL || rsa_small == NULL || ec256 == NULL
        || ec384 == NULL || ec521 == NULL || ec_k1 == NULL
        || ed1 == NULL || ed2 == NULL
        || RAND_bytes(hs_key, sizeof(hs_key)) != 1
        || RAND_bytes(hs_key32, sizeof(hs_key32)) != 1)
    {
        abort();
    }
}


static void
test_alg_bit(void)
{
    is_int(ngx_session_jwt_alg_bit("RS256", 5), NGX_SESSION_ALG_RS256,
           "alg_bit RS256");
    is_int(ngx_session_jwt_alg_bit("ES512", 5), NGX_SESSION_ALG_ES512,
           "alg_bit ES512");
    is_int(ngx_session_jwt_alg_bit("none", 4), 0, "alg_bit none is 0");
    is_int(ngx_session_jwt_alg_bit("hs256", 5), 0, "alg_bit is "
           "case-sensitive");
    is_int(ngx_session_jwt_alg_bit("HS2560", 6), 0, "alg_bit exact length");
    is_int(ngx_session_jwt_alg_bit("HS25", 4), 0, "alg_bit prefix");
}


/* what needs no key: the module asks for a fetched set only past this */

static void
test_precheck(void)
{
    size_t                     i;
    char                      *tok, *big;
    ngx_session_jwt_policy_t   p;
    ngx_session_jwt_result_t   res;

    static const struct {
        const char                *header;
        ngx_session_jwt_reason_e   reason;
        const char                *name;
    } cases[] = {
        { "{\"alg\":\"RS256\",\"kid\":\"k\"}", NGX_SESSION_JWT_OK,
          "precheck: RS256 with a kid" },
        { "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}", NGX_SESSION_JWT_OK,
          "precheck: at+jwt" },
        { "{\"alg\":\"none\"}", NGX_SESSION_JWT_ALGORITHM,
          "precheck: alg none" },
        { "{\"alg\":\"HS256\"}", NGX_SESSION_JWT_ALGORITHM,
          "precheck: alg not in the policy" },
        { "{\"alg\":\"RS256\",\"typ\":\"dpop+jwt\"}", NGX_SESSION_JWT_TYPE,
          "precheck: typ not accepted" },
        { "{\"alg\":\"RS256\",\"crit\":[\"x\"]}", NGX_SESSION_JWT_MALFORMED,
          "precheck: crit" },
        { "{\"alg\":\"RS256\",\"kid\":1}", NGX_SESSION_JWT_MALFORMED,
          "precheck: kid not a string" },
        { "{\"alg\":\"RS256\",\"alg\":\"none\"}", NGX_SESSION_JWT_MALFORMED,
          "precheck: a repeated member" },
        { "[\"alg\"]", NGX_SESSION_JWT_MALFORMED, "precheck: not an object" },
        { "{\"alg\":", NGX_SESSION_JWT_MALFORMED, "precheck: not JSON" },
    };

    p = policy(NULL);
    p.algorithms = NGX_SESSION_ALG_ALL & ~NGX_SESSION_ALG_HS;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tok = fmt("%s.eyJzdWIiOiJ4In0.c2ln",
                  b64url((const unsigned char *) cases[i].header,
                         strlen(cases[i].header)));

        ngx_session_jwt_precheck(&p, tok, strlen(tok), &res);
        is_int(res.reason, cases[i].reason, cases[i].name);
    }

    tok = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0";
    is_int(ngx_session_jwt_precheck(&p, tok, strlen(tok), &res),
           NGX_SESSION_ERROR, "precheck: two parts");
    is_int(res.reason, NGX_SESSION_JWT_MALFORMED, "precheck: two parts "
           "malformed");

    tok = "eyJhbGciOiJSUzI1NiJ9.eyJzd*IiOiJ4In0.c2ln";
    ngx_session_jwt_precheck(&p, tok, strlen(tok), &res);
    is_int(res.reason, NGX_SESSION_JWT_MALFORMED, "precheck: not base64url");

    big = keep(malloc(NGX_SESSION_JWT_MAX_TOKEN + 2));
    memset(big, 'A', NGX_SESSION_JWT_MAX_TOKEN + 1);
    big[NGX_SESSION_JWT_MAX_TOKEN + 1] = '\0';
    ngx_session_jwt_precheck(&p, big, NGX_SESSION_JWT_MAX_TOKEN + 1, &res);
    is_str(res.error, "token too large", "precheck: too large");
}


/* one JWKS with a key of every type; every algorithm accepted */

static void
test_accept_all(void)
{
    size_t                     i;
    char                      *jwks;
    json_t                    *c;
    int64_t                    exp;
    const char                *error;
    signer_t                   k;
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;

    static const char  *algs[] = {
        "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
        "ES256", "ES384", "ES512"
    };

    jwks = fmt("{\"keys\":[%s,%s,%s,%s,%s]}",
               jwk_oct(hs_key, sizeof(hs_key), "\"kid\":\"hs\","),
               jwk_rsa(rsa1, "\"kid\":\"rsa\",\"use\":\"sig\","),
               jwk_ec(ec256, "P-256", "\"kid\":\"ec256\","),
               jwk_ec(ec384, "P-384", "\"kid\":\"ec384\",\"alg\":\"ES384\","),
               jwk_ec(ec521, "P-521", ""));

    ks = load("all.jwks", jwks);
    ok(ks != NULL, "JWKS with oct, RSA and three EC keys loads");
    if (ks == NULL) {
        return;
    }

    is_int(ngx_session_keyset_count(ks), 5, "five keys");

    p = policy(ks);

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        memset(&k, 0, sizeof(signer_t));
        k.alg = algs[i];
        k.secret = hs_key;
        k.secret_len = sizeof(hs_key);
        k.pkey = algs[i][0] == 'R' ? rsa1
                 : strcmp(algs[i], "ES256") == 0 ? ec256
                 : strcmp(algs[i], "ES384") == 0 ? ec384 : ec521;

        is_str(verify(&p, token(hdr(algs[i], ""), claims(""), &k), NOW),
               "OK", "%s accepted (no kid)", algs[i]);
    }

    k.alg = "ES256";
    k.pkey = ec256;
    is_str(verify(&p, token(hdr("ES256", ",\"kid\":\"ec256\""), claims(""),
                            &k), NOW),
           "OK", "ES256 accepted with kid");

    k.alg = "HS384";
    is_str(verify(&p, token(hdr("HS384", ",\"kid\":\"hs\""), claims(""), &k),
                  NOW),
           "OK", "HS384 accepted with kid");

    /* the claims and exp come back */

    k.alg = "RS256";
    k.pkey = rsa1;
    {
        const char  *t = token(hdr("RS256", ""), claims(",\"n\":12"), &k);

        c = NULL;
        exp = 0;
        ok(ngx_session_jwt_verify(&p, t, strlen(t), NOW, &c, &exp, &error)
           == NGX_SESSION_OK, "verify returns OK");
        is_int(exp, NOW + 3600, "exp returned");
        is_str(json_string_value(json_object_get(c, "sub")) ?: "", "alice",
               "claim sub returned");
        is_int(json_integer_value(json_object_get(c, "n")), 12,
               "claim n returned");
        json_decref(c);
    }

    /* ECDSA signatures must be raw R || S, not DER */

    k.alg = "ES256";
    k.pkey = ec256;
    {
        char  *in = fmt("%s.%s", b64s(hdr("ES256", "")), b64s(claims("")));

        is_str(verify(&p, fmt("%s.%s", in, sign(&k, in, 1)), NOW),
               "signature verification failed", "ES256 with DER signature");
    }

    /* allow-list */

    p.algorithms = NGX_SESSION_ALG_ALL & ~NGX_SESSION_ALG_RS256;
    k.alg = "RS256";
    k.pkey = rsa1;
    is_str(verify(&p, token(hdr("RS256", ""), claims(""), &k), NOW),
           "algorithm not allowed", "RS256 outside the allow-list");
    k.alg = "RS384";
    is_str(verify(&p, token(hdr("RS384", ""), claims(""), &k), NOW), "OK",
           "RS384 inside the allow-list");

    ngx_session_keyset_free(ks);
}


static void
test_pem(void)
{
    signer_t                   k;
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;

    memset(&k, 0, sizeof(signer_t));

    ks = load("rsa.pem", pem_pub(rsa2));
    ok(ks != NULL, "RSA SubjectPublicKeyInfo PEM loads");
    if (ks != NULL) {
        p = policy(ks);
        k.alg = "RS512";
        k.pkey = rsa2;
        is_str(verify(&p, token(hdr("RS512", ""), claims(""), &k), NOW),
               "OK", "RS512 with a PEM key");
        k.alg = "RS256";
        k.pkey = rsa1;
        is_str(verify(&p, token(hdr("RS256", ""), claims(""), &k), NOW),
               "signature verification failed", "RS256 by another key");
        ngx_session_keyset_free(ks);
    }

    ks = load("rsa1.pem", pem_rsa_pkcs1(rsa2));
    ok(ks != NULL, "RSA PUBLIC KEY (PKCS#1) PEM loads");
    if (ks != NULL) {
        p = policy(ks);
        k.alg = "RS256";
        k.pkey = rsa2;
        is_str(verify(&p, token(hdr("RS256", ""), claims(""), &k), NOW),
               "OK", "RS256 with a PKCS#1 PEM key");
        ngx_session_keyset_free(ks);
    }

    ks = load("ec.pem", fmt("# comment line\n%s%s", pem_pub(ec384),
                            pem_pub(ec256)));
    ok(ks != NULL, "PEM file with two EC keys loads");
    if (ks != NULL) {
        is_int(ngx_session_keyset_count(ks), 2, "two keys from two blocks");
        p = policy(ks);
        k.alg = "ES256";
        k.pkey = ec256;
        is_str(verify(&p, token(hdr("ES256", ""), claims(""), &k), NOW),
               "OK", "ES256 with a PEM key");
        k.alg = "ES384";
        k.pkey = ec384;
        is_str(verify(&p, token(hdr("ES384", ""), claims(""), &k), NOW),
               "OK", "ES384 with a PEM key");
        k.alg = "ES512";
        k.pkey = ec521;
        is_str(verify(&p, token(hdr("ES512", ""), claims(""), &k), NOW),
               "no key for the algorithm", "ES512 with no P-521 key");
        ngx_session_keyset_free(ks);
    }

    /* libjwt alone would accept ES256 made with a P-384 key */

    ks = load("ec384.pem", pem_pub(ec384));
    if (ks != NULL) {
        p = policy(ks);
        k.alg = "ES256";
        k.pkey = ec384;
        is_str(verify(&p, token(hdr("ES256", ""), claims(""), &k), NOW),
               "no key for the algorithm", "ES256 signed with a P-384 key");
        ngx_session_keyset_free(ks);
    }
}


static void
test_none_and_confusion(void)
{
    char                      *pem, *in;
    signer_t                   k;
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;

    pem = pem_pub(rsa1);

    ks = load("confusion.pem", pem);
    if (ks == NULL) {
        ok(0, "confusion key loads");
        return;
    }

    p = policy(ks);
    memset(&k, 0, sizeof(signer_t));

    /* alg none, unsigned and with a made-up signature */

    k.alg = "none";
    is_str(verify(&p, token("{\"alg\":\"none\"}", claims(""), &k), NOW),
           "malformed token", "alg none without signature");

    in = fmt("%s.%s", b64s("{\"alg\":\"none\"}"), b64s(claims("")));
    is_str(verify(&p, fmt("%s.AAAA", in), NOW), "algorithm not allowed",
           "alg none with a signature");
    in = fmt("%s.%s", b64s("{\"alg\":\"NONE\"}"), b64s(claims("")));
    is_str(verify(&p, fmt("%s.AAAA", in), NOW), "algorithm not allowed",
           "alg NONE with a signature");
    in = fmt("%s.%s", b64s("{\"alg\":\"rs256\"}"), b64s(claims("")));
    is_str(verify(&p, fmt("%s.AAAA", in), NOW), "algorithm not allowed",
           "alg in lower case");

    /* the classic: HS256 keyed with the RSA public key's PEM bytes */

    k.alg = "HS256";
    k.secret = (const unsigned char *) pem;
    k.secret_len = strlen(pem);
    is_str(verify(&p, token(hdr("HS256", ""), claims(""), &k), NOW),
           "no key for the algorithm", "HS256 signed with the RSA PEM");

    k.secret_len = strlen(pem) - 1;
    is_str(verify(&p, token(hdr("HS256", ""), claims(""), &k), NOW),
           "no key for the algorithm", "HS256 signed with the PEM, no "
           "newline");

    /* an empty keyset accepts nothing */

    ngx_session_keyset_free(ks);
    ks = ngx_session_keyset_create();
    p = policy(ks);
    k.secret = (const unsigned char *) "";
    k.secret_len = 0;
    is_str(verify(&p, token(hdr("HS256", ""), claims(""), &k), NOW),
           "no key for the algorithm", "HS256 with an empty secret, no keys");

    p.keys = NULL;
    is_str(verify(&p, token(hdr("HS256", ""), claims(""), &k), NOW),
           "no key for the algorithm", "no keyset at all");

    ngx_session_keyset_free(ks);
}


static void
test_kid(void)
{
    signer_t                   k;
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;

    ks = load("rotation.jwks",
              fmt("{\"keys\":[%s,%s,%s,%s]}",
                  jwk_rsa(rsa1, "\"kid\":\"k1\","),
                  jwk_rsa(rsa2, "\"kid\":\"k2\",\"alg\":\"RS256\","),
                  jwk_ec(ec256, "P-256", "\"kid\":\"ec\","),
                  jwk_oct(hs_key32, sizeof(hs_key32), "\"kid\":\"hs\",")));
    if (ks == NULL) {
        ok(0, "rotation keys load");
        return;
    }

    p = policy(ks);
    memset(&k, 0, sizeof(signer_t));
    k.alg = "RS256";

    k.pkey = rsa1;
    is_str(verify(&p, token(hdr("RS256", ",\"kid\":\"k1\""), claims(""), &k),
                  NOW), "OK", "rotation: old key by kid");
    k.pkey = rsa2;
    is_str(verify(&p, token(hdr("RS256", ",\"kid\":\"k2\""), claims(""), &k),
                  NOW), "OK", "rotation: new key by kid");
    is_str(verify(&p, token(hdr("RS256", ""), claims(""), &k), NOW), "OK",
           "rotation: no kid tries every RSA key");
    is_str(verify(&p, token(hdr("RS256", ",\"kid\":\"k1\""), claims(""), &k),
                  NOW), "signature verification failed",
           "kid names another key than the signer: no fallback");
    is_str(verify(&p, token(hdr("RS256", ",\"kid\":\"k3\""), claims(""), &k),
                  NOW), "unknown kid", "unknown kid");
    is_str(verify(&p, token(hdr("RS256", ",\"kid\":\"\""), claims(""), &k),
                  NOW), "unknown kid", "empty kid");
    is_str(verify(&p, token(hdr("RS256", ",\"kid\":7"), claims(""), &k),
                  NOW), "malformed token", "kid not a string");

    /* JWK alg narrows a key to one algorithm */

    k.alg = "RS384";
    is_str(verify(&p, token(hdr("RS384", ",\"kid\":\"k2\""), claims(""),
                            &k), NOW),
           "no key for the algorithm", "kid of a key restricted to RS256");
    k.pkey = rsa1;
    is_str(verify(&p, token(hdr("RS384", ",\"kid\":\"k1\""), claims(""),
                            &k), NOW),
           "OK", "RS384 with an unrestricted RSA key");

    /* kid of a key of another type */

    k.alg = "ES256";
    k.pkey = ec256;
    is_str(verify(&p, token(hdr("RS256", ",\"kid\":\"ec\""), claims(""),
                            &k), NOW),
           "no key for the algorithm", "RS256 naming an EC key's kid");
    k.alg = "HS256";
    k.secret = hs_key32;
    k.secret_len = sizeof(hs_key32);
    is_str(verify(&p, token(hdr("HS256", ",\"kid\":\"k1\""), claims(""),
                            &k), NOW),
           "no key for the algorithm", "HS256 naming an RSA key's kid");
    is_str(verify(&p, token(hdr("HS256", ",\"kid\":\"hs\""), claims(""),
                            &k), NOW),
           "OK", "HS256 naming the oct key");

    /* a 32-byte oct key without alg is HS256 only */

    k.alg = "HS384";
    is_str(verify(&p, token(hdr("HS384", ",\"kid\":\"hs\""), claims(""),
                            &k), NOW),
           "no key for the algorithm", "HS384 with a 32-byte key");

    ngx_session_keyset_free(ks);
}


static char *
replace_part(const char *tok, int part, const char *with)
{
    const char  *d1, *d2;

    d1 = strchr(tok, '.');
    d2 = strchr(d1 + 1, '.');

    switch (part) {
    case 0:
        return fmt("%s%s", with, d1);
    case 1:
        return fmt("%.*s.%s%s", (int) (d1 - tok), tok, with, d2);
    default:
        return fmt("%.*s.%s", (int) (d2 - tok), tok, with);
    }
}


static void
test_malformed(void)
{
    int                        i;
    char                      *t, *big, *s;
    size_t                     len, n;
    signer_t                   k, r;
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;

    ks = load("malformed.jwks",
              fmt("{\"keys\":[%s,%s]}",
                  jwk_oct(hs_key, sizeof(hs_key), ""),
                  jwk_ec(ec256, "P-256", "")));
    if (ks == NULL) {
        ok(0, "keys load");
        return;
    }

    p = policy(ks);
    memset(&k, 0, sizeof(signer_t));
    k.alg = "HS256";
    k.secret = hs_key;
    k.secret_len = sizeof(hs_key);
    memset(&r, 0, sizeof(signer_t));
    r.alg = "ES256";
    r.pkey = ec256;

    t = token(hdr("HS256", ""), claims(""), &k);
    is_str(verify(&p, t, NOW), "OK", "baseline HS256 token");

    /* tampering */

    is_str(verify(&p, replace_part(t, 0, b64s(hdr("HS256", ",\"x\":1"))),
                  NOW), "signature verification failed", "tampered header");
    is_str(verify(&p, replace_part(t, 1, b64s(claims(",\"admin\":true"))),
                  NOW), "signature verification failed", "tampered payload");

    s = fmt("%s", t);
    len = strlen(s);
    s[len - 2] = s[len - 2] == 'A' ? 'B' : 'A';
    is_str(verify(&p, s, NOW), "signature verification failed",
           "tampered HMAC signature");

    s = fmt("%s", token(hdr("ES256", ""), claims(""), &r));
    is_str(verify(&p, s, NOW), "OK", "baseline ES256 token");
    len = strlen(s);
    s[len - 10] = s[len - 10] == 'A' ? 'B' : 'A';
    is_str(verify(&p, s, NOW), "signature verification failed",
           "tampered ECDSA signature");
    is_str(verify(&p, replace_part(s, 1, b64s(claims(",\"a\":1"))), NOW),
           "signature verification failed", "tampered ES256 payload");

    /* a longer HMAC signature (an HS512 tag on an HS256 header) */

    k.alg = "HS512";
    is_str(verify(&p, token(hdr("HS256", ""), claims(""), &k), NOW),
           "signature verification failed", "HS512 tag under HS256");
    k.alg = "HS256";

    /* structure */

    len = strlen(t);
    is_str(verify(&p, "", NOW), "malformed token", "empty token");
    is_str(verify(&p, fmt("%.*s", (int) (strchr(t, '.') - t), t), NOW),
           "malformed token", "header only");
    is_str(verify(&p, fmt("%.*s", (int) (strrchr(t, '.') - t), t), NOW),
           "malformed token", "no signature part");
    is_str(verify(&p, fmt("%.*s", (int) (strrchr(t, '.') - t + 1), t), NOW),
           "malformed token", "empty signature");
    is_str(verify(&p, fmt("%.*s", (int) len - 3, t), NOW),
           "signature verification failed", "signature cut by 3 chars");
    is_str(verify(&p, fmt("%.*s", (int) len - 2, t), NOW),
           "malformed token", "signature cut to a 4n+1 length");
    is_str(verify(&p, fmt("%s.", t), NOW), "malformed token", "four parts");
    is_str(verify(&p, fmt("%s.AAAA", t), NOW), "malformed token",
           "four non-empty parts");
    is_str(verify(&p, fmt("%s=", t), NOW), "malformed token",
           "padded signature");
    is_str(verify(&p, fmt(" %s", t), NOW), "malformed token",
           "leading space");
    is_str(verify(&p, replace_part(t, 1, ""), NOW), "malformed token",
           "empty payload part");
    is_str(verify(&p, replace_part(t, 0, ""), NOW), "malformed token",
           "empty header part");
    is_str(verify(&p, "..", NOW), "malformed token", "two dots");
    is_str(verify(&p, "garbage", NOW), "malformed token", "garbage");
    is_str(verify(&p, "a+b/.c.d", NOW), "malformed token",
           "standard base64 alphabet");
    is_str(verify(&p, "eyJhbGciOiJIUzI1NiJ9.e30.\xff\xfe", NOW),
           "malformed token", "bytes above 0x7f");

    s = fmt("%s", t);
    s[3] = '\0';
    {
        json_t       *c;
        int64_t       exp;
        const char   *error;

        /* a NUL inside the given length */
        ok(ngx_session_jwt_verify(&p, s, len, NOW, &c, &exp, &error)
           == NGX_SESSION_ERROR && strcmp(error, "malformed token") == 0,
           "NUL byte inside the token");
    }

    /* non-canonical base64url: unused low bits set in the header */
    s = fmt("%s", b64s("{\"alg\":\"HS256\" }"));
    n = strlen(s);
    if (n % 4 != 0) {
        s[n - 1] = s[n - 1] == 'Q' ? 'R' : s[n - 1] + 1;
        is_str(verify(&p, fmt("%s.%s.AAAA", s, b64s(claims(""))), NOW),
               "malformed token", "non-canonical base64url");
    } else {
        ok(1, "non-canonical base64url (not applicable)");
    }

    /* header shapes */

    is_str(verify(&p, token("[\"HS256\"]", claims(""), &k), NOW),
           "malformed token", "header is an array");
    is_str(verify(&p, token("{\"typ\":\"JWT\"}", claims(""), &k), NOW),
           "malformed token", "header without alg");
    is_str(verify(&p, token("{\"alg\":256}", claims(""), &k), NOW),
           "malformed token", "alg not a string");
    is_str(verify(&p, token("{\"alg\":\"HS256\"", claims(""), &k), NOW),
           "malformed token", "header JSON cut");
    is_str(verify(&p, token("{\"alg\":\"HS256\",\"alg\":\"none\"}",
                            claims(""), &k), NOW),
           "malformed token", "duplicate alg in header");
    is_str(verify(&p, token("{\"alg\":\"PS999\"}", claims(""), &k), NOW),
           "algorithm not allowed", "unknown alg");
    is_str(verify(&p, token("{\"alg\":\"ES256K\"}", claims(""), &k), NOW),
           "algorithm not allowed", "alg not verified here");
    is_str(verify(&p, token("{\"alg\":\"HS256\"}", claims(""), &k), NOW),
           "OK", "header without typ");
    is_str(verify(&p, token(hdr("HS256", ",\"crit\":[\"exp\"]"), claims(""),
                            &k), NOW),
           "unsupported critical header", "crit header");

    /* typ: "JWT" in any case (libjwt's path); at+jwt: see test_types() */

    is_str(verify(&p, token("{\"alg\":\"HS256\",\"typ\":\"jwt\"}",
                            claims(""), &k), NOW),
           "OK", "typ jwt in lower case");
    is_str(verify(&p, token("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}",
                            claims(""), &k), NOW),
           "OK", "typ at+jwt");
    is_str(verify(&p, token("{\"alg\":\"HS256\",\"typ\":1}", claims(""),
                            &k), NOW),
           "malformed token", "typ not a string");

    /* payload shapes */

    is_str(verify(&p, token(hdr("HS256", ""), "[1,2]", &k), NOW),
           "claims are not a JSON object", "payload is an array");
    is_str(verify(&p, token(hdr("HS256", ""), "\"x\"", &k), NOW),
           "signature verification failed", "payload is a string "
           "(libjwt refuses it)");
    is_str(verify(&p, token(hdr("HS256", ""), "{\"exp\":", &k), NOW),
           "signature verification failed", "payload JSON cut "
           "(libjwt refuses it)");

    /* size: exactly 8192 bytes is fine, 8193 is not */

    for (i = 0; i < 2; i++) {
        for (n = 5000; n < 6500; n++) {
            big = fmt("%0*d", (int) n, 0);
            s = fmt("%s.%s", b64s(hdr("HS256", "")),
                    b64s(claims(fmt(",\"pad\":\"%s\"", big))));

            /* 43 bytes of HS256 signature and one dot */
            if (strlen(s) + 44 == (size_t) NGX_SESSION_JWT_MAX_TOKEN + i) {
                break;
            }
        }

        t = token(hdr("HS256", ""), claims(fmt(",\"pad\":\"%s\"", big)), &k);
        is_int(strlen(t), NGX_SESSION_JWT_MAX_TOKEN + i, "token of %d bytes",
               NGX_SESSION_JWT_MAX_TOKEN + i);
        is_str(verify(&p, t, NOW), i ? "token too large" : "OK",
               "token of %d bytes", NGX_SESSION_JWT_MAX_TOKEN + i);
    }

    big = keep(malloc(100000));
    memset(big, 'A', 99999);
    big[99999] = '\0';
    big[10] = '.';
    big[20] = '.';
    is_str(verify(&p, big, NOW), "token too large", "100000 bytes");

    ngx_session_keyset_free(ks);
}


static void
test_claims(void)
{
    const char                *aud[] = { "api", "other" };
    signer_t                   k;
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;

#define T(payload)  token(hdr("HS256", ""), payload, &k)
#define EXP(t, extra)  fmt("{\"exp\":%lld%s}", (long long) (t), extra)

    ks = load("claims.jwk", jwk_oct(hs_key, sizeof(hs_key), ""));
    if (ks == NULL) {
        ok(0, "claims key loads");
        return;
    }

    p = policy(ks);
    memset(&k, 0, sizeof(signer_t));
    k.alg = "HS256";
    k.secret = hs_key;
    k.secret_len = sizeof(hs_key);

    /* exp */

    is_str(verify(&p, T(EXP(NOW + 1, "")), NOW), "OK", "exp now + 1");
    is_str(verify(&p, T(EXP(NOW, "")), NOW), "token expired", "exp now");
    is_str(verify(&p, T(EXP(NOW - 1, "")), NOW), "token expired",
           "exp now - 1");
    is_str(verify(&p, T("{\"sub\":\"alice\"}"), NOW), "missing exp",
           "missing exp");
    is_str(verify(&p, T("{\"exp\":\"1800000000\"}"), NOW), "invalid exp",
           "exp as a string");
    is_str(verify(&p, T("{\"exp\":null}"), NOW), "invalid exp", "exp null");
    is_str(verify(&p, T(fmt("{\"exp\":%lld.5}", (long long) NOW + 1)), NOW),
           "OK", "exp real now + 1.5");
    is_str(verify(&p, T(fmt("{\"exp\":%lld.5}", (long long) NOW)), NOW),
           "token expired", "exp real now + 0.5 (rounded down)");
    is_str(verify(&p, T("{\"exp\":1e300}"), NOW), "invalid exp",
           "exp real out of range");
    is_str(verify(&p, T("{\"exp\":9223372036854775807}"), NOW), "OK",
           "exp INT64_MAX");

    {
        json_t       *c;
        int64_t       exp;
        const char   *error, *t;

        t = T(fmt("{\"exp\":%lld.9}", (long long) NOW + 7));
        ok(ngx_session_jwt_verify(&p, t, strlen(t), NOW, &c, &exp, &error)
           == NGX_SESSION_OK, "real exp verifies");
        is_int(exp, NOW + 7, "real exp returned rounded down");
        json_decref(c);
    }

    /* nbf */

    is_str(verify(&p, T(EXP(NOW + 60, fmt(",\"nbf\":%lld", (long long) NOW))),
                  NOW), "OK", "nbf now");
    is_str(verify(&p, T(EXP(NOW + 60, fmt(",\"nbf\":%lld",
                                         (long long) NOW + 1))), NOW),
           "token not yet valid", "nbf now + 1");
    is_str(verify(&p, T(EXP(NOW + 60, fmt(",\"nbf\":%lld.5",
                                         (long long) NOW - 1))), NOW),
           "OK", "nbf real now - 0.5");
    is_str(verify(&p, T(EXP(NOW + 60, fmt(",\"nbf\":%lld.5",
                                         (long long) NOW))), NOW),
           "token not yet valid", "nbf real now + 0.5 (rounded up)");
    is_str(verify(&p, T(EXP(NOW + 60, ",\"nbf\":\"x\"")), NOW),
           "invalid nbf", "nbf as a string");

    /* leeway, both sides */

    p.leeway = 60;
    is_str(verify(&p, T(EXP(NOW - 59, "")), NOW), "OK",
           "leeway 60: exp now - 59");
    is_str(verify(&p, T(EXP(NOW - 60, "")), NOW), "token expired",
           "leeway 60: exp now - 60");
    is_str(verify(&p, T(EXP(NOW + 600, fmt(",\"nbf\":%lld",
                                          (long long) NOW + 60))), NOW),
           "OK", "leeway 60: nbf now + 60");
    is_str(verify(&p, T(EXP(NOW + 600, fmt(",\"nbf\":%lld",
                                          (long long) NOW + 61))), NOW),
           "token not yet valid", "leeway 60: nbf now + 61");
    is_str(verify(&p, T("{\"exp\":9223372036854775807}"), NOW), "OK",
           "leeway 60: exp INT64_MAX does not overflow");
    p.leeway = 0;

    /* iss */

    p.issuer = "https://issuer.example";
    is_str(verify(&p, T(EXP(NOW + 60, ",\"iss\":\"https://issuer.example\"")),
                  NOW), "OK", "iss matches");
    is_str(verify(&p, T(EXP(NOW + 60, ",\"iss\":\"https://issuer.example/\"")),
                  NOW), "issuer mismatch", "iss differs");
    is_str(verify(&p, T(EXP(NOW + 60, ",\"iss\":\"https://issuer.EXAMPLE\"")),
                  NOW), "issuer mismatch", "iss is case-sensitive");
    is_str(verify(&p, T(EXP(NOW + 60, "")), NOW), "issuer mismatch",
           "iss missing");
    is_str(verify(&p, T(EXP(NOW + 60, ",\"iss\":[\"https://issuer.example\"]")),
                  NOW), "issuer mismatch", "iss not a string");
    p.issuer = NULL;
    is_str(verify(&p, T(EXP(NOW + 60, ",\"iss\":7")), NOW), "OK",
           "iss not checked without an issuer");

    /* aud */

    p.audiences = aud;
    p.naudiences = 2;
    is_str(verify(&p, T(EXP(NOW + 60, ",\"aud\":\"api\"")), NOW), "OK",
           "aud string matches");
    is_str(verify(&p, T(EXP(NOW + 60, ",\"aud\":\"other\"")), NOW), "OK",
           "aud string matches the second audience");
    is_str(verify(&p, T(EXP(NOW + 60, ",\"aud\":[\"x\",\"other\"]")), NOW),
           "OK", "aud array contains one");
    is_str(verify(&p, T(EXP(NOW + 60, ",\"aud\":[1,\"api\"]")), NOW),
           "OK", "aud array with a non-string element");
    is_str(verify(&p, T(EXP(NOW + 60, ",\"aud\":\"apis\"")), NOW),
           "audience mismatch", "aud string differs");
    is_str(verify(&p, T(EXP(NOW + 60, ",\"aud\":[\"x\",\"y\"]")), NOW),
           "audience mismatch", "aud array without a match");
    is_str(verify(&p, T(EXP(NOW + 60, ",\"aud\":[]")), NOW),
           "audience mismatch", "aud empty array");
    is_str(verify(&p, T(EXP(NOW + 60, ",\"aud\":{\"api\":1}")), NOW),
           "audience mismatch", "aud object");
    is_str(verify(&p, T(EXP(NOW + 60, "")), NOW), "audience mismatch",
           "aud missing");

    ngx_session_keyset_free(ks);

#undef T
#undef EXP
}


static void
test_bad_key_files(void)
{
    char                  *dir, *x, *y;
    size_t                 n;
    unsigned char          pt[66];
    char                   err[256];
    ngx_session_keyset_t  *ks;

    load_fails("empty", "", "empty file");
    load_fails("blank", " \n\t\n", "empty");
    load_fails(fmt("%s/does-not-exist", tmpdir), NULL, "cannot open");

    dir = fmt("%s/subdir", tmpdir);
    mkdir(dir, 0700);
    load_fails(dir, NULL, "not a regular file");

    load_fails("text", "hello world\n", "neither a JWK, a JWKS nor a PEM");
    load_fails("array.json", "[]", "neither a JWK, a JWKS nor a PEM");
    load_fails("cut.json", "{\"keys\":[", "invalid JSON at line");
    load_fails("dup.json", "{\"kty\":\"oct\",\"kty\":\"RSA\"}",
               "invalid JSON");
    load_fails("other.json", "{\"a\":1}", "neither a JWK (\"kty\") nor a "
               "JWKS");
    load_fails("keys-object.json", "{\"keys\":{}}", "\"keys\" is not an "
               "array");
    load_fails("no-keys.json", "{\"keys\":[]}", "no usable key");
    load_fails("element.json",
               fmt("{\"keys\":[%s,42]}", jwk_oct(hs_key, 32, "")),
               "keys[1]: not a JSON object");
    load_fails("kty-okp.json",
               fmt("{\"keys\":[%s,{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                   "\"x\":\"AAAA\"}]}", jwk_rsa(rsa1, "")),
               "keys[1]: \"x\" has the wrong length for Ed25519");
    load_fails("kty-missing.json", "{\"keys\":[{\"k\":\"AAAA\"}]}",
               "keys[0]: missing \"kty\"");
    load_fails("kty-number.json", "{\"kty\":1}", "JWK: non-string \"kty\"");
    load_fails("rsa-no-n.json", "{\"kty\":\"RSA\",\"e\":\"AQAB\"}",
               "JWK: missing \"n\"");
    load_fails("rsa-bad-b64.json",
               "{\"kty\":\"RSA\",\"n\":\"ab+c\",\"e\":\"AQAB\"}",
               "JWK: bad base64url in \"n\"");
    load_fails("rsa-bad-pad.json",
               "{\"kty\":\"RSA\",\"n\":\"ab=c\",\"e\":\"AQAB\"}",
               "JWK: bad base64url in \"n\"");
    load_fails("rsa-short.json", jwk_rsa(rsa_small, ""),
               "RSA key shorter than 2048 bits");
    load_fails("rsa-alg.json", jwk_rsa(rsa1, "\"alg\":\"ES256\","),
               "JWK: \"alg\" does not fit kty \"RSA\"");
    load_fails("rsa-hs.json", jwk_rsa(rsa1, "\"alg\":\"HS256\","),
               "\"alg\" does not fit kty \"RSA\"");
    load_fails("rsa-eddsa.json", jwk_rsa(rsa1, "\"alg\":\"EdDSA\","),
               "\"alg\" does not fit kty \"RSA\"");
    load_fails("rsa-unknown-alg.json", jwk_rsa(rsa1, "\"alg\":\"RS999\","),
               "unsupported \"alg\"");
    load_fails("alg-none.json", jwk_rsa(rsa1, "\"alg\":\"none\","),
               "unsupported \"alg\"");
    load_fails("oct-rs.json",
               jwk_oct(hs_key, sizeof(hs_key), "\"alg\":\"RS256\","),
               "\"alg\" does not fit kty \"oct\"");
    load_fails("ec-alg.json", jwk_ec(ec256, "P-256", "\"alg\":\"ES384\","),
               "\"alg\" does not fit the EC curve");
    load_fails("kid-number.json", jwk_oct(hs_key, 32, "\"kid\":1,"),
               "non-string \"kid\"");
    load_fails("use-number.json", jwk_oct(hs_key, 32, "\"use\":1,"),
               "non-string \"use\"");

    /* HMAC key lengths (RFC 7518 3.2) */

    load_fails("oct-31.json", jwk_oct(hs_key, 31, ""),
               "HMAC key shorter than 32 bytes");
    load_fails("oct-empty.json", "{\"kty\":\"oct\",\"k\":\"\"}",
               "HMAC key shorter than 32 bytes");
    load_fails("oct-47.json", jwk_oct(hs_key, 47, "\"alg\":\"HS384\","),
               "HMAC key shorter than 48 bytes");
    load_fails("oct-63.json", jwk_oct(hs_key, 63, "\"alg\":\"HS512\","),
               "HMAC key shorter than 64 bytes");

    /* the message never carries key material */

    ks = ngx_session_keyset_create();
    ngx_session_keyset_load_file(ks, &loader,
        write_file("oct-secret.json", jwk_oct(hs_key, 31, "")), err,
        sizeof(err));
    ok(strstr(err, b64url(hs_key, 31)) == NULL
       && strstr(err, b64url(hs_key, 6)) == NULL,
       "short HMAC key: message names no key bytes");
    ngx_session_keyset_free(ks);

    ks = ngx_session_keyset_create();
    ngx_session_keyset_load_file(ks, &loader,
        write_file("secret-bad.json",
                   fmt("{\"kty\":\"oct\",\"k\":\"%s\"", b64url(hs_key, 32))),
        err, sizeof(err));
    ok(strstr(err, b64url(hs_key, 3)) == NULL,
       "bad JSON: message quotes nothing of the file (%s)", err);
    ngx_session_keyset_free(ks);

    /* EC */

    load_fails("ec-k1.json", jwk_ec(ec_k1, "secp256k1", ""),
               "no usable key (1 skipped)");
    load_fails("ec-k1.pem", pem_pub(ec_k1), "EC curve is not P-256");
    load_fails("ec-crv.json", jwk_ec(ec384, "P-256", ""),
               "\"x\" or \"y\" has the wrong length");

    x = bn_param(ec256, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    y = bn_param(ec256, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    {
        BIGNUM  *bn = NULL;

        EVP_PKEY_get_bn_param(ec256, OSSL_PKEY_PARAM_EC_PUB_Y, &bn);
        BN_bn2binpad(bn, pt, 32);
        BN_free(bn);
        pt[31] ^= 1;
    }
    load_fails("ec-off-curve.json",
               fmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
                   "\"y\":\"%s\"}", x, b64url(pt, 32)),
               "EC point is not on the curve");
    load_fails("ec-short-x.json",
               fmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
                   "\"y\":\"%s\"}", b64url(pt, 31), y),
               "wrong length");
    memset(pt, 0, sizeof(pt));
    load_fails("ec-zero.json",
               fmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
                   "\"y\":\"%s\"}", b64url(pt, 32), b64url(pt, 32)),
               "EC point is not on the curve");
    load_fails("ec-no-y.json",
               fmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\"}", x),
               "missing \"y\"");

    /* use */

    load_fails("only-enc.json",
               fmt("{\"keys\":[%s,%s]}",
                   jwk_rsa(rsa1, "\"use\":\"enc\","),
                   jwk_oct(hs_key, 32, "\"use\":\"enc\",")),
               "no usable key");
    load_fails("single-enc.json", jwk_rsa(rsa1, "\"use\":\"enc\","),
               "no usable key");

    /* PEM */

    load_fails("private.pem", pem_private(ec256),
               "PEM block 1: not a \"PUBLIC KEY\" or \"RSA PUBLIC KEY\"");
    load_fails("second-private.pem",
               fmt("%s%s", pem_pub(ec256), pem_private(ec384)),
               "PEM block 2: not a \"PUBLIC KEY\"");
    load_fails("bad-b64.pem",
               "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
               "bad PEM encoding");
    load_fails("no-end.pem", "-----BEGIN PUBLIC KEY-----\nMFkw\n",
               "bad PEM encoding");
    load_fails("not-a-key.pem",
               "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
               "PEM block 1: not a valid public key");
    load_fails("rsa-small.pem", pem_pub(rsa_small), "shorter than 2048");

    /* a failed file leaves the set as it was */

    ks = ngx_session_keyset_create();
    ok(ngx_session_keyset_load_file(ks, &loader,
           write_file("good.jwk", jwk_oct(hs_key, 32, "")), err, sizeof(err))
       == NGX_SESSION_OK, "good file loads");
    ok(ngx_session_keyset_load_file(ks, &loader,
           write_file("half.jwks", fmt("{\"keys\":[%s,%s]}",
                                       jwk_oct(hs_key, 64, ""),
                                       jwk_oct(hs_key, 8, ""))),
           err, sizeof(err))
       == NGX_SESSION_ERROR, "half-bad file refused");
    is_int(ngx_session_keyset_count(ks), 1, "the set keeps only the good "
           "file's key");
    ok(ngx_session_keyset_load_file(ks, &loader, write_file("second.pem",
                                                   pem_pub(rsa1)),
                                    err, sizeof(err))
       == NGX_SESSION_OK, "a second file adds to the set");
    is_int(ngx_session_keyset_count(ks), 2, "two keys from two files");
    ngx_session_keyset_free(ks);

    n = 0;
    ok(ngx_session_keyset_count(NULL) == n, "count of NULL set");
    ngx_session_keyset_free(NULL);
}


static void
test_use_and_padding(void)
{
    char                      *k64;
    signer_t                   k;
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;

    ks = load("mixed-use.jwks",
              fmt("{\"keys\":[%s,%s,%s]}",
                  jwk_rsa(rsa1, "\"use\":\"enc\",\"kid\":\"e\","),
                  "{\"kty\":\"OKP\",\"use\":\"enc\",\"crv\":\"X25519\"}",
                  jwk_oct(hs_key, 32, "\"use\":\"sig\",\"kid\":\"s\",")));
    ok(ks != NULL, "use=enc keys skipped beside a sig key");
    if (ks == NULL) {
        return;
    }

    is_int(ngx_session_keyset_count(ks), 1, "only the sig key kept");

    p = policy(ks);
    memset(&k, 0, sizeof(signer_t));
    k.alg = "RS256";
    k.pkey = rsa1;
    is_str(verify(&p, token(hdr("RS256", ",\"kid\":\"e\""), claims(""), &k),
                  NOW), "unknown kid", "kid of a skipped enc key");
    is_str(verify(&p, token(hdr("RS256", ""), claims(""), &k), NOW),
           "no key for the algorithm", "RS256 with only an oct key");

    ngx_session_keyset_free(ks);

    /* padded base64url in a JWK is tolerated when well placed */

    k64 = b64url(hs_key, 32);         /* 43 chars: one '=' of padding */
    ks = load("padded.jwk", fmt("{\"kty\":\"oct\",\"k\":\"%s=\"}", k64));
    ok(ks != NULL, "JWK with padded base64url loads");
    ngx_session_keyset_free(ks);

    load_fails("overpadded.jwk", fmt("{\"kty\":\"oct\",\"k\":\"%s==\"}", k64),
               "bad base64url in \"k\"");
}


static void
test_cache(void)
{
    int                       i, a_id, b_id;
    json_t                   *c1, *c2, *got;
    const char               *ta, *tb, *tc, *td, *te;
    ngx_session_jwt_cache_t  *cache;

    ok(ngx_session_jwt_cache_create(0) == NULL, "no cache of 0 entries");
    ok(ngx_session_jwt_cache_get(NULL, &a_id, "x", 1, NOW) == NULL,
       "get on a NULL cache");
    ngx_session_jwt_cache_put(NULL, &a_id, "x", 1, NOW, NULL);
    ngx_session_jwt_cache_free(NULL);

    ta = "aaa.bbb.ccc";
    tb = "aaa.bbb.ccd";
    tc = "token-c";
    td = "token-d";
    te = "token-e";

    c1 = json_pack("{s:s}", "sub", "one");
    c2 = json_pack("{s:s}", "sub", "two");

    cache = ngx_session_jwt_cache_create(64);
    ok(cache != NULL, "cache of 64");

    ok(ngx_session_jwt_cache_get(cache, &a_id, ta, strlen(ta), NOW) == NULL,
       "miss before put");

    ngx_session_jwt_cache_put(cache, &a_id, ta, strlen(ta), NOW + 10, c1);

    got = ngx_session_jwt_cache_get(cache, &a_id, ta, strlen(ta), NOW);
    ok(got == c1, "hit after put");
    is_int(got ? got->refcount : 0, 3, "hit returns a new reference");
    json_decref(got);

    ok(ngx_session_jwt_cache_get(cache, &a_id, tb, strlen(tb), NOW) == NULL,
       "a token one byte apart misses");
    ok(ngx_session_jwt_cache_get(cache, &a_id, ta, strlen(ta) - 1, NOW)
       == NULL, "a prefix misses");
    ok(ngx_session_jwt_cache_get(cache, &b_id, ta, strlen(ta), NOW) == NULL,
       "another policy misses");

    got = ngx_session_jwt_cache_get(cache, &a_id, ta, strlen(ta), NOW + 9);
    ok(got == c1, "hit at exp - 1");
    json_decref(got);

    ok(ngx_session_jwt_cache_get(cache, &a_id, ta, strlen(ta), NOW + 10)
       == NULL, "miss at exp");
    is_int(c1->refcount, 1, "the expired entry released its claims");
    ok(ngx_session_jwt_cache_get(cache, &a_id, ta, strlen(ta), NOW) == NULL,
       "an expired entry is gone");

    /* the same token under two policies, then replaced */

    ngx_session_jwt_cache_put(cache, &a_id, ta, strlen(ta), NOW + 10, c1);
    ngx_session_jwt_cache_put(cache, &b_id, ta, strlen(ta), NOW + 10, c2);

    got = ngx_session_jwt_cache_get(cache, &a_id, ta, strlen(ta), NOW);
    ok(got == c1, "policy a sees its claims");
    json_decref(got);
    got = ngx_session_jwt_cache_get(cache, &b_id, ta, strlen(ta), NOW);
    ok(got == c2, "policy b sees its claims");
    json_decref(got);

    ngx_session_jwt_cache_put(cache, &a_id, ta, strlen(ta), NOW + 20, c2);
    got = ngx_session_jwt_cache_get(cache, &a_id, ta, strlen(ta), NOW + 15);
    ok(got == c2, "put replaces the entry");
    json_decref(got);
    is_int(c1->refcount, 1, "the replaced claims were released");

    ngx_session_jwt_cache_free(cache);
    is_int(c2->refcount, 1, "free releases every entry");

    /* one entry: the second token evicts the first */

    cache = ngx_session_jwt_cache_create(1);
    ngx_session_jwt_cache_put(cache, &a_id, ta, strlen(ta), NOW + 10, c1);
    ngx_session_jwt_cache_put(cache, &a_id, tb, strlen(tb), NOW + 10, c2);
    ok(ngx_session_jwt_cache_get(cache, &a_id, ta, strlen(ta), NOW) == NULL,
       "one entry: first evicted");
    got = ngx_session_jwt_cache_get(cache, &a_id, tb, strlen(tb), NOW);
    ok(got == c2, "one entry: second present");
    json_decref(got);
    is_int(c1->refcount, 1, "evicted claims released");
    ngx_session_jwt_cache_free(cache);

    /* four entries, one set: least recently used goes */

    cache = ngx_session_jwt_cache_create(4);
    ngx_session_jwt_cache_put(cache, &a_id, ta, strlen(ta), NOW + 10, c1);
    ngx_session_jwt_cache_put(cache, &a_id, tb, strlen(tb), NOW + 10, c1);
    ngx_session_jwt_cache_put(cache, &a_id, tc, strlen(tc), NOW + 10, c1);
    ngx_session_jwt_cache_put(cache, &a_id, td, strlen(td), NOW + 10, c1);
    got = ngx_session_jwt_cache_get(cache, &a_id, ta, strlen(ta), NOW);
    json_decref(got);
    ngx_session_jwt_cache_put(cache, &a_id, te, strlen(te), NOW + 10, c2);

    ok(ngx_session_jwt_cache_get(cache, &a_id, tb, strlen(tb), NOW) == NULL,
       "LRU: the least recently used entry evicted");

    for (i = 0; i < 4; i++) {
        const char  *t = i == 0 ? ta : i == 1 ? tc : i == 2 ? td : te;

        got = ngx_session_jwt_cache_get(cache, &a_id, t, strlen(t), NOW);
        ok(got != NULL, "LRU: entry %d kept", i);
        json_decref(got);
    }

    ngx_session_jwt_cache_free(cache);

    /* many tokens through a small cache stay bounded and correct */

    cache = ngx_session_jwt_cache_create(16);
    for (i = 0; i < 1000; i++) {
        char  *t = fmt("tok-%d", i);

        ngx_session_jwt_cache_put(cache, &a_id, t, strlen(t), NOW + 10,
                                  i % 2 ? c1 : c2);
        got = ngx_session_jwt_cache_get(cache, &a_id, t, strlen(t), NOW);
        if (got != (i % 2 ? c1 : c2)) {
            break;
        }
        json_decref(got);
    }
    is_int(i, 1000, "1000 tokens through 16 entries");
    ok(c1->refcount + c2->refcount <= 2 + 16, "at most 16 entries held");
    ngx_session_jwt_cache_free(cache);

    is_int(c1->refcount + c2->refcount, 2, "all released");

    json_decref(c1);
    json_decref(c2);
}


static char *
jwk_okp(EVP_PKEY *pkey, const char *extra)
{
    size_t         len;
    unsigned char  raw[32];

    len = sizeof(raw);

    if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1) {
        abort();
    }

    return fmt("{%s\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", extra,
               b64url(raw, len));
}


/* from memory, the way a fetched key set arrives; warnings collected */

static ngx_session_keyset_t *
load_mem(const char *content, char *err, size_t errlen)
{
    ngx_session_keyset_t  *ks;

    ks = ngx_session_keyset_create();
    clear_warnings();
    strcpy(err, "(unset)");

    if (ngx_session_keyset_load(ks, &loader, (const unsigned char *) content,
                                strlen(content), err, errlen)
        != NGX_SESSION_OK)
    {
        ngx_session_keyset_free(ks);
        return NULL;
    }

    return ks;
}


/* error text and reason of verify2 against files and a fetched set */

static const char *
verify2(const ngx_session_jwt_policy_t *policy,
    const ngx_session_keyset_t *fetched, const char *tok,
    ngx_session_jwt_reason_e *reason)
{
    int                       rc;
    ngx_session_jwt_result_t  res;

    rc = ngx_session_jwt_verify2(policy, fetched, tok, strlen(tok), NOW,
                                 &res);
    *reason = res.reason;

    if (rc == NGX_SESSION_OK) {
        if (!json_is_object(res.claims) || res.reason != NGX_SESSION_JWT_OK) {
            return "bad result on success";
        }

        json_decref(res.claims);
        return "OK";
    }

    if (res.claims != NULL || res.error == NULL) {
        return "bad result on error";
    }

    return res.error;
}


/*
 * SPEC 5, row by row: each skipped kind beside a good key loads with one
 * warning naming the kid; each refused kind beside a good key fails the set.
 */

static void
test_skip_and_refuse(void)
{
    char                  err[256], *good, *set;
    size_t                i;
    unsigned char         pt[66];
    ngx_session_keyset_t  *ks;

    static const struct {
        const char  *name;
        int          which;      /* the key the row is built on */
        const char  *extra;      /* members added to it */
        const char  *want;       /* in the warning */
    } skip[] = {
        { "use enc", 0, "\"use\":\"enc\",", "\"use\" is \"enc\"" },
        { "alg RSA-OAEP", 0, "\"alg\":\"RSA-OAEP\",",
          "\"alg\" is \"RSA-OAEP\"" },
        { "alg RSA-OAEP-256, no use", 0, "\"alg\":\"RSA-OAEP-256\",",
          "\"alg\" is \"RSA-OAEP-256\"" },
        { "alg ES256K", 1, "\"alg\":\"ES256K\",", "\"alg\" is \"ES256K\"" },
        { "alg A128KW", 2, "\"alg\":\"A128KW\",", "\"alg\" is \"A128KW\"" },
        { "EC secp256k1", 1, "", "\"crv\" is \"secp256k1\"" },
        { "OKP X25519", 3, "", "\"crv\" is \"X25519\"" },
        { "OKP Ed448", 4, "", "\"crv\" is \"Ed448\"" },
        { "kty AKP", 5, "", "\"kty\" is \"AKP\"" }
    };

    static const struct {
        const char  *name;
        const char  *jwk;        /* NULL: built below */
        const char  *want;       /* in the error */
    } refuse[] = {
        { "bad base64url", "{\"kty\":\"RSA\",\"n\":\"a*b\",\"e\":\"AQAB\"}",
          "keys[1]: bad base64url in \"n\"" },
        { "EC x of 31 bytes", NULL, "keys[1]: \"x\" or \"y\" has the wrong "
          "length" },
        { "OKP x of 31 bytes", NULL, "keys[1]: \"x\" has the wrong length "
          "for Ed25519" },
        { "RSA of 1024 bits", NULL, "keys[1]: RSA key shorter than 2048" },
        { "oct with alg RS256", NULL, "keys[1]: \"alg\" does not fit kty "
          "\"oct\"" },
        { "HS256 key of 31 bytes", NULL, "shorter than 32 bytes" },
        { "oct without alg, 31 bytes", NULL, "shorter than 32 bytes" },
        { "HS512 key of 63 bytes", NULL, "shorter than 64 bytes" },
        { "OKP Ed25519 without x", "{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}",
          "keys[1]: missing \"x\"" },
        { "OKP without crv", "{\"kty\":\"OKP\",\"x\":\"AAAA\"}",
          "keys[1]: missing \"crv\"" }
    };

    const char  *base[6];

    memset(pt, 7, sizeof(pt));

    base[0] = jwk_rsa(rsa1, "\"kid\":\"row\",");
    base[1] = jwk_ec(ec_k1, "secp256k1", "\"kid\":\"row\",");
    base[2] = jwk_oct(hs_key, 16, "\"kid\":\"row\",");
    base[3] = fmt("{\"kid\":\"row\",\"kty\":\"OKP\",\"crv\":\"X25519\","
                  "\"x\":\"%s\"}", b64url(pt, 32));
    base[4] = fmt("{\"kid\":\"row\",\"kty\":\"OKP\",\"crv\":\"Ed448\","
                  "\"x\":\"%s\"}", b64url(pt, 57));
    base[5] = "{\"kid\":\"row\",\"kty\":\"AKP\",\"pub\":\"AAAA\"}";

    good = jwk_oct(hs_key, 32, "\"kid\":\"good\",");

    for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
        set = fmt("{\"keys\":[%s,%s]}",
                  fmt("{%s%s", skip[i].extra, base[skip[i].which] + 1), good);
        ks = load_mem(set, err, sizeof(err));

        ok(ks != NULL, "skip %s: the set loads (%s)", skip[i].name,
           ks ? "" : err);
        is_int(ngx_session_keyset_count(ks), 1, "skip %s: one key",
               skip[i].name);
        is_int(nwarnings, 1, "skip %s: one warning", skip[i].name);
        has_str(warnings, "keys[0] (kid \"row\") skipped: ",
                "skip %s: names the key", skip[i].name);
        has_str(warnings, skip[i].want, "skip %s: says why", skip[i].name);

        ngx_session_keyset_free(ks);
    }

    for (i = 0; i < sizeof(refuse) / sizeof(refuse[0]); i++) {
        const char  *jwk = refuse[i].jwk;

        if (jwk == NULL) {
            switch (i) {
            case 1:
                jwk = fmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
                          "\"y\":\"%s\"}", b64url(pt, 31), b64url(pt, 32));
                break;
            case 2:
                jwk = fmt("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                          "\"x\":\"%s\"}", b64url(pt, 31));
                break;
            case 3:
                jwk = jwk_rsa(rsa_small, "");
                break;
            case 4:
                jwk = jwk_oct(hs_key, 64, "\"alg\":\"RS256\",");
                break;
            case 5:
                jwk = jwk_oct(hs_key, 31, "\"alg\":\"HS256\",");
                break;
            case 6:
                jwk = jwk_oct(hs_key, 31, "");
                break;
            default:
                jwk = jwk_oct(hs_key, 63, "\"alg\":\"HS512\",");
                break;
            }
        }

        ks = load_mem(fmt("{\"keys\":[%s,%s]}", good, jwk), err, sizeof(err));

        ok(ks == NULL, "refuse %s: the set fails", refuse[i].name);
        has_str(err, refuse[i].want, "refuse %s: says why", refuse[i].name);

        ngx_session_keyset_free(ks);
    }

    /* the set as a whole */

    ks = load_mem("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"X25519\","
                  "\"x\":\"AAAA\",\"kid\":\"a\"},{\"kty\":\"RSA\","
                  "\"use\":\"enc\",\"kid\":\"b\"}]}", err, sizeof(err));
    ok(ks == NULL, "refuse a set left with no usable key");
    has_str(err, "no usable key (2 skipped)", "no usable key: says so");
    is_int(nwarnings, 2, "no usable key: both skipped keys reported");

    ks = load_mem("hello", err, sizeof(err));
    ok(ks == NULL, "refuse text that is not JSON, PEM or a JWK");
    has_str(err, "neither a JWK, a JWKS nor a PEM", "not JSON: says so");

    ks = load_mem("{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\","
                  "\"kid\":\"x\\u0001\\\"y\"}]}", err, sizeof(err));
    has_str(warnings, "(kid \"x??y\")", "a kid is logged printable only");
}


static void
test_pss(void)
{
    size_t                     i;
    signer_t                   k;
    const char                *algs[] = { "PS256", "PS384", "PS512" };
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;

    ks = load("pss.jwks", fmt("{\"keys\":[%s,%s]}",
                              jwk_rsa(rsa1, "\"kid\":\"r1\","),
                              jwk_rsa(rsa2, "\"kid\":\"r2\","
                                            "\"alg\":\"PS384\",")));
    ok(ks != NULL, "RSA JWKs load for PS*");
    if (ks == NULL) {
        return;
    }

    p = policy(ks);
    memset(&k, 0, sizeof(signer_t));
    k.pkey = rsa1;

    for (i = 0; i < 3; i++) {
        k.alg = algs[i];
        is_str(verify(&p, token(hdr(algs[i], ",\"kid\":\"r1\""), claims(""),
                                &k), NOW),
               "OK", "%s with an RSA key", algs[i]);
        is_str(verify(&p, token(hdr(algs[i], ""), claims(""), &k), NOW),
               "OK", "%s without kid", algs[i]);
    }

    /* a PKCS #1 v1.5 signature under a PS header is not PSS */

    k.alg = "RS256";
    is_str(verify(&p, token(hdr("PS256", ",\"kid\":\"r1\""), claims(""), &k),
                  NOW),
           "signature verification failed", "RS256 signature as PS256");

    k.alg = "PS256";
    is_str(verify(&p, token(hdr("RS256", ",\"kid\":\"r1\""), claims(""), &k),
                  NOW),
           "signature verification failed", "PS256 signature as RS256");

    /* the JWK alg pins r2 to PS384 */

    k.pkey = rsa2;
    k.alg = "PS384";
    is_str(verify(&p, token(hdr("PS384", ",\"kid\":\"r2\""), claims(""), &k),
                  NOW), "OK", "alg PS384 key: PS384");
    k.alg = "PS256";
    is_str(verify(&p, token(hdr("PS256", ",\"kid\":\"r2\""), claims(""), &k),
                  NOW), "no key for the algorithm", "alg PS384 key: PS256");

    /* an HS token cannot use the RSA key, a PS token not an oct key */

    p.algorithms = NGX_SESSION_ALG_ALL & ~NGX_SESSION_ALG_PS256;
    k.pkey = rsa1;
    is_str(verify(&p, token(hdr("PS256", ""), claims(""), &k), NOW),
           "algorithm not allowed", "PS256 off the allow-list");

    ngx_session_keyset_free(ks);

    ks = load("pss-oct.jwk", jwk_oct(hs_key, 64, ""));
    p = policy(ks);
    is_str(verify(&p, token(hdr("PS256", ""), claims(""), &k), NOW),
           "no key for the algorithm", "PS256 with only an oct key");
    ngx_session_keyset_free(ks);
}


static void
test_eddsa(void)
{
    signer_t                   k;
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;

    memset(&k, 0, sizeof(signer_t));
    k.alg = "EdDSA";
    k.pkey = ed1;

    ks = load("ed.jwk", jwk_okp(ed1, "\"kid\":\"ed\",\"use\":\"sig\","));
    ok(ks != NULL, "OKP Ed25519 JWK loads");
    p = policy(ks);
    is_str(verify(&p, token(hdr("EdDSA", ",\"kid\":\"ed\""), claims(""), &k),
                  NOW), "OK", "EdDSA with an OKP JWK");
    is_str(verify(&p, token(hdr("EdDSA", ""), claims(""), &k), NOW),
           "OK", "EdDSA without kid");

    k.pkey = ed2;
    is_str(verify(&p, token(hdr("EdDSA", ""), claims(""), &k), NOW),
           "signature verification failed", "EdDSA by another key");

    k.alg = "ES256";
    k.pkey = ec256;
    is_str(verify(&p, token(hdr("ES256", ""), claims(""), &k), NOW),
           "no key for the algorithm", "ES256 cannot use the OKP key");
    ngx_session_keyset_free(ks);

    ks = load("ed.pem", pem_pub(ed2));
    ok(ks != NULL, "Ed25519 SPKI PEM loads");
    p = policy(ks);
    k.alg = "EdDSA";
    k.pkey = ed2;
    is_str(verify(&p, token(hdr("EdDSA", ""), claims(""), &k), NOW),
           "OK", "EdDSA with a PEM key");

    /* an HS256 token "signed" with the public key bytes */

    k.alg = "HS256";
    k.secret = (const unsigned char *) pem_pub(ed2);
    k.secret_len = strlen((const char *) k.secret);
    is_str(verify(&p, token(hdr("HS256", ""), claims(""), &k), NOW),
           "no key for the algorithm", "HS256 cannot use the Ed25519 key");
    ngx_session_keyset_free(ks);

    load_fails("ed-rs.jwk", jwk_okp(ed1, "\"alg\":\"RS256\","),
               "\"alg\" does not fit kty \"OKP\"");
    load_fails("rsa-eddsa-pem-alg.jwk", jwk_ec(ec256, "P-256",
                                              "\"alg\":\"EdDSA\","),
               "\"alg\" does not fit the EC curve");
}


/* RFC 8037 appendix A.4, byte for byte; its payload is no claims set */

static void
test_rfc8037(void)
{
    const char                *tok, *bad;
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;
    ngx_session_jwt_reason_e   reason;

    ks = load("rfc8037.jwk", "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
              "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}");
    ok(ks != NULL, "RFC 8037 A.2 public key loads");
    if (ks == NULL) {
        return;
    }

    p = policy(ks);

    tok = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
          "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5B"
          "hVsPt9g7sVvpAr_MuM0KAg";

    /* the signature holds; then the payload is refused as claims */

    is_str(verify2(&p, NULL, tok, &reason), "malformed claims",
           "RFC 8037 A.4: signature verified, text payload refused");
    is_int(reason, NGX_SESSION_JWT_MALFORMED, "A.4: reason malformed");

    bad = fmt("%.*sA", (int) strlen(tok) - 1, tok);
    is_str(verify2(&p, NULL, bad, &reason), "signature verification failed",
           "RFC 8037 A.4 with its last signature character changed");
    is_int(reason, NGX_SESSION_JWT_SIGNATURE, "A.4 altered: reason");

    ngx_session_keyset_free(ks);
}


/* ES* signatures: R || S of exactly twice the curve size */

/*
 * RFC 8017 8.1.2: a PSS signature one octet short of the modulus (its
 * leading zero dropped) is refused, though OpenSSL alone would accept it.
 */

static void
test_pss_short(void)
{
    int                        i;
    char                      *input, *sig;
    size_t                     len;
    signer_t                   k;
    unsigned char              raw[600];
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;

    ks = load("pss-short.jwk", jwk_rsa(rsa1, ""));
    p = policy(ks);
    memset(&k, 0, sizeof(signer_t));
    k.alg = "PS256";
    k.pkey = rsa1;

    /* PSS is randomised: about one signature in 256 starts with 0x00 */

    for (i = 0; i < 20000; i++) {
        input = fmt("%s.%s", b64s(hdr("PS256", "")),
                    b64s(claims(fmt(",\"jti\":\"%d\"", i))));
        sig = sign(&k, input, 0);

        if (ngx_session_b64url_decode(sig, strlen(sig), raw, &len)
                == NGX_SESSION_OK
            && raw[0] == 0)
        {
            break;
        }
    }

    ok(i < 20000, "a PS256 signature with a leading zero octet");

    if (i < 20000) {
        is_str(verify(&p, fmt("%s.%s", input, sig), NOW), "OK",
               "PS256 full-length signature with a leading zero");
        is_str(verify(&p, fmt("%s.%s", input, b64url(raw + 1, len - 1)), NOW),
               "signature verification failed",
               "PS256 signature with its leading zero dropped");
    }

    ngx_session_keyset_free(ks);
}


static void
test_ecdsa_size(void)
{
    char                      *t, *input, *sig;
    signer_t                   k;
    unsigned char              raw[200];
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;

    ks = load("ec-size.jwk", jwk_ec(ec256, "P-256", ""));
    p = policy(ks);
    memset(&k, 0, sizeof(signer_t));
    k.alg = "ES256";
    k.pkey = ec256;

    input = fmt("%s.%s", b64s(hdr("ES256", "")), b64s(claims("")));
    is_str(verify(&p, fmt("%s.%s", input, sign(&k, input, 0)), NOW), "OK",
           "ES256 raw 64-byte signature");
    is_str(verify(&p, fmt("%s.%s", input, sign(&k, input, 1)), NOW),
           "signature verification failed", "ES256 DER signature");

    memset(raw, 0, sizeof(raw));
    sig = sign(&k, input, 0);
    t = fmt("%s.%sAA", input, sig);        /* 65 bytes */
    is_str(verify(&p, t, NOW), "signature verification failed",
           "ES256 signature one byte long");
    t = fmt("%s.%s", input, b64url(raw, 63));
    is_str(verify(&p, t, NOW), "signature verification failed",
           "ES256 signature of 63 bytes");

    ngx_session_keyset_free(ks);
}


static void
test_types(void)
{
    size_t                     i;
    signer_t                   k, r;
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;
    ngx_session_jwt_reason_e   reason;

    static const struct {
        const char  *typ;        /* NULL: no typ */
        unsigned     types;      /* the policy */
        const char  *want;
    } cases[] = {
        { NULL, 0, "OK" },
        { "JWT", 0, "OK" },
        { "jwt", 0, "OK" },
        { "at+jwt", 0, "OK" },
        { "AT+JWT", 0, "OK" },
        { "application/at+jwt", 0, "OK" },
        { "Application/AT+JWT", 0, "OK" },
        { "application/jwt", 0, "unsupported token type" },
        { "at+jwt ", 0, "unsupported token type" },
        { "JOSE", 0, "unsupported token type" },
        { "", 0, "unsupported token type" },
        { NULL, NGX_SESSION_JWT_TYPE_JWT, "OK" },
        { "JWT", NGX_SESSION_JWT_TYPE_JWT, "OK" },
        { "at+jwt", NGX_SESSION_JWT_TYPE_JWT, "unsupported token type" },
        { NULL, NGX_SESSION_JWT_TYPE_AT_JWT, "unsupported token type" },
        { "JWT", NGX_SESSION_JWT_TYPE_AT_JWT, "unsupported token type" },
        { "at+jwt", NGX_SESSION_JWT_TYPE_AT_JWT, "OK" },
        { "application/at+jwt", NGX_SESSION_JWT_TYPE_AT_JWT, "OK" }
    };

    static const char  *algs[] = { "HS256", "RS256", "ES256", "PS256",
                                   "EdDSA" };

    ks = load("types.jwks", fmt("{\"keys\":[%s,%s,%s,%s]}",
                                jwk_oct(hs_key, 32, ""), jwk_rsa(rsa1, ""),
                                jwk_ec(ec256, "P-256", ""),
                                jwk_okp(ed1, "")));
    ok(ks != NULL, "types: keys load");
    p = policy(ks);

    memset(&k, 0, sizeof(signer_t));
    k.alg = "RS256";
    k.pkey = rsa1;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p.types = cases[i].types;
        is_str(verify2(&p, NULL,
                       token(cases[i].typ
                             ? fmt("{\"alg\":\"RS256\",\"typ\":\"%s\"}",
                                   cases[i].typ)
                             : "{\"alg\":\"RS256\"}", claims(""), &k),
                       &reason),
               cases[i].want, "typ %s, policy %u", cases[i].typ
               ? cases[i].typ : "(none)", cases[i].types);

        if (strcmp(cases[i].want, "OK") != 0) {
            is_int(reason, NGX_SESSION_JWT_TYPE, "typ %s: reason type",
                   cases[i].typ ? cases[i].typ : "(none)");
        }
    }

    /* at+jwt of every algorithm: OpenSSL alone (libjwt refuses the typ) */

    p.types = 0;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        memset(&r, 0, sizeof(signer_t));
        r.alg = algs[i];
        r.pkey = algs[i][0] == 'R' || algs[i][0] == 'P' ? rsa1
                 : algs[i][1] == 'S' ? ec256 : ed1;
        r.secret = hs_key;
        r.secret_len = 32;

        is_str(verify(&p, token(fmt("{\"alg\":\"%s\",\"typ\":\"at+jwt\"}",
                                    algs[i]), claims(""), &r), NOW),
               "OK", "at+jwt %s", algs[i]);

        r.secret = hs_key32;
        r.pkey = algs[i][0] == 'R' || algs[i][0] == 'P' ? rsa2
                 : algs[i][1] == 'S' ? ec384 : ed2;
        if (algs[i][0] == 'E' && algs[i][1] == 'S') {
            r.pkey = NULL;
            continue;
        }

        is_str(verify(&p, token(fmt("{\"alg\":\"%s\",\"typ\":\"at+jwt\"}",
                                    algs[i]), claims(""), &r), NOW),
               "signature verification failed", "at+jwt %s, wrong key",
               algs[i]);
    }

    is_str(verify(&p, token("{\"alg\":\"RS256\",\"typ\":1}", claims(""), &k),
                  NOW), "malformed token", "typ not a string");

    ngx_session_keyset_free(ks);
}


static void
test_scopes(void)
{
    size_t                     i;
    signer_t                   k;
    const char                *req[] = { "read:sessions", "vx" };
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;
    ngx_session_jwt_reason_e   reason;

    static const struct {
        const char  *claims;
        const char  *want;
    } cases[] = {
        { ",\"scope\":\"read:sessions vx\"", "OK" },
        { ",\"scope\":\"vx openid read:sessions\"", "OK" },
        { ",\"scp\":[\"vx\",\"read:sessions\"]", "OK" },
        { ",\"scope\":\"vx\",\"scp\":[\"read:sessions\"]", "OK" },
        { ",\"scope\":\"read:sessions\"", "insufficient scope" },
        { ",\"scope\":\"read:sessions vxx\"", "insufficient scope" },
        { ",\"scope\":\"read:session vx\"", "insufficient scope" },
        { ",\"scope\":\"READ:SESSIONS VX\"", "insufficient scope" },
        { ",\"scope\":\"read:sessions,vx\"", "insufficient scope" },
        { ",\"scope\":[\"read:sessions\",\"vx\"]", "insufficient scope" },
        { ",\"scp\":\"read:sessions vx\"", "insufficient scope" },
        { ",\"scp\":[\"read:sessions vx\"]", "insufficient scope" },
        { "", "insufficient scope" }
    };

    ks = load("scopes.jwk", jwk_rsa(rsa1, ""));
    p = policy(ks);
    p.scopes = req;
    p.nscopes = 2;

    memset(&k, 0, sizeof(signer_t));
    k.alg = "RS256";
    k.pkey = rsa1;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_str(verify2(&p, NULL, token(hdr("RS256", ""),
                                       claims(cases[i].claims), &k),
                       &reason),
               cases[i].want, "scopes: claims %s", cases[i].claims);

        if (strcmp(cases[i].want, "OK") != 0) {
            is_int(reason, NGX_SESSION_JWT_SCOPE, "scopes: reason scope");
        }
    }

    /* scope is checked last: an expired token is expired, not 403 */

    is_str(verify2(&p, NULL, token(hdr("RS256", ""),
                   "{\"exp\":1,\"scope\":\"x\"}", &k), &reason),
           "token expired", "expired and without scope: expired");

    p.scopes = NULL;
    p.nscopes = 0;
    is_str(verify2(&p, NULL, token(hdr("RS256", ""), claims(""), &k),
                   &reason), "OK", "no scopes required");

    ngx_session_keyset_free(ks);
}


/* SPEC 3.2: a repeated member name anywhere refuses the token */

static void
test_duplicates(void)
{
    signer_t                   k;
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;
    ngx_session_jwt_reason_e   reason;

    ks = load("dup.jwk", jwk_rsa(rsa1, ""));
    p = policy(ks);
    memset(&k, 0, sizeof(signer_t));
    k.alg = "RS256";
    k.pkey = rsa1;

    is_str(verify2(&p, NULL, token(hdr("RS256", ""),
                   claims(",\"tenant\":\"a\",\"tenant\":\"b\""), &k),
                   &reason), "malformed claims", "duplicate claim refused");
    is_int(reason, NGX_SESSION_JWT_MALFORMED, "duplicate claim: malformed");

    is_str(verify2(&p, NULL, token(hdr("RS256", ""),
                   fmt("{\"exp\":%lld,\"exp\":1}", (long long) NOW + 60),
                   &k), &reason),
           "malformed claims", "duplicate exp refused");

    is_str(verify2(&p, NULL, token(hdr("RS256", ",\"kid\":\"a\",\"kid\":\"b\""),
                   claims(""), &k), &reason),
           "malformed token", "duplicate header member refused");

    is_str(verify2(&p, NULL, token(hdr("RS256", ""),
                   claims(",\"o\":{\"a\":1,\"a\":2}"), &k), &reason),
           "malformed claims", "duplicate member in a nested object");

    /* case differs: two claims, not a duplicate */

    is_str(verify2(&p, NULL, token(hdr("RS256", ""),
                   claims(",\"tenantId\":\"a\",\"tenantid\":\"b\""), &k),
                   &reason), "OK", "names differing in case are distinct");

    ngx_session_keyset_free(ks);
}


static void
test_reasons(void)
{
    signer_t                   k;
    const char                *aud[] = { "vx" };
    ngx_session_keyset_t      *ks;
    ngx_session_jwt_policy_t   p;
    ngx_session_jwt_reason_e   reason;

    static const char  *names[] = {
        "ok", "missing", "malformed", "signature", "expired", "not_yet_valid",
        "issuer", "audience", "unknown_kid", "algorithm", "type", "scope"
    };
    size_t  i;

    for (i = 0; i < NGX_SESSION_JWT_NREASONS; i++) {
        is_str(ngx_session_jwt_reason_name(i), names[i], "reason %zu name",
               i);
    }

    is_str(ngx_session_jwt_reason_name(NGX_SESSION_JWT_NREASONS), "unknown",
           "reason out of range");

    ks = load("reasons.jwk", jwk_rsa(rsa1, "\"kid\":\"r\","));
    p = policy(ks);
    p.issuer = "https://idp/";
    p.audiences = aud;
    p.naudiences = 1;
    memset(&k, 0, sizeof(signer_t));
    k.alg = "RS256";
    k.pkey = rsa1;

#define R(tok, want, what)                                                    \
    verify2(&p, NULL, tok, &reason);                                          \
    is_int(reason, want, what)

    R("a.b", NGX_SESSION_JWT_MALFORMED, "malformed");
    R(token(hdr("RS256", ""), claims(",\"iss\":\"https://idp/\","
            "\"aud\":\"vx\""), &k), NGX_SESSION_JWT_OK, "ok");
    R(token(hdr("none", ""), claims(""), &k), NGX_SESSION_JWT_ALGORITHM,
      "alg none");
    R(token(hdr("RS256", ",\"kid\":\"x\""), claims(""), &k),
      NGX_SESSION_JWT_UNKNOWN_KID, "unknown kid");
    R(fmt("%s*", token(hdr("RS256", ""), claims(""), &k)),
      NGX_SESSION_JWT_MALFORMED, "signature outside base64url");
    k.pkey = rsa2;
    R(token(hdr("RS256", ""), claims(""), &k), NGX_SESSION_JWT_SIGNATURE,
      "signature");
    k.pkey = rsa1;
    R(token(hdr("RS256", ""), "{\"exp\":1}", &k), NGX_SESSION_JWT_EXPIRED,
      "expired");
    R(token(hdr("RS256", ""), claims(",\"nbf\":9999999999"), &k),
      NGX_SESSION_JWT_NOT_YET_VALID, "not yet valid");
    R(token(hdr("RS256", ""), claims(",\"iss\":\"x\""), &k),
      NGX_SESSION_JWT_ISSUER, "issuer");
    R(token(hdr("RS256", ""), claims(",\"iss\":\"https://idp/\","
            "\"aud\":\"y\""), &k), NGX_SESSION_JWT_AUDIENCE, "audience");
    R(token("{\"alg\":\"RS256\",\"typ\":\"JOSE+JSON\"}", claims(""), &k),
      NGX_SESSION_JWT_TYPE, "type");

#undef R

    ngx_session_keyset_free(ks);
}


/* a fetched set is used beside the key files, and only where given */

static void
test_fetched(void)
{
    char                       err[256];
    signer_t                   k;
    ngx_session_keyset_t      *files, *fetched;
    ngx_session_jwt_policy_t   p;
    ngx_session_jwt_reason_e   reason;

    files = load("files.jwk", jwk_rsa(rsa1, "\"kid\":\"file\","));
    fetched = load_mem(fmt("{\"keys\":[%s]}",
                           jwk_rsa(rsa2, "\"kid\":\"rotated\",")),
                       err, sizeof(err));
    ok(files != NULL && fetched != NULL, "fetched: both sets load");

    p = policy(files);
    memset(&k, 0, sizeof(signer_t));
    k.alg = "RS256";
    k.pkey = rsa2;

    is_str(verify2(&p, NULL, token(hdr("RS256", ",\"kid\":\"rotated\""),
                                   claims(""), &k), &reason),
           "unknown kid", "new kid without the fetched set");
    is_int(reason, NGX_SESSION_JWT_UNKNOWN_KID, "...reason unknown_kid");

    is_str(verify2(&p, fetched, token(hdr("RS256", ",\"kid\":\"rotated\""),
                                      claims(""), &k), &reason),
           "OK", "new kid with the fetched set");
    is_str(verify2(&p, fetched, token(hdr("RS256", ""), claims(""), &k),
                   &reason),
           "OK", "no kid: the fetched key is tried after the files");

    k.pkey = rsa1;
    is_str(verify2(&p, fetched, token(hdr("RS256", ",\"kid\":\"file\""),
                                      claims(""), &k), &reason),
           "OK", "the file key still works beside a fetched set");

    /* kid selection spans both: the file kid never falls back */

    k.pkey = rsa2;
    is_str(verify2(&p, fetched, token(hdr("RS256", ",\"kid\":\"file\""),
                                      claims(""), &k), &reason),
           "signature verification failed", "file kid signed by fetched key");

    p.keys = NULL;
    is_str(verify2(&p, fetched, token(hdr("RS256", ",\"kid\":\"rotated\""),
                                      claims(""), &k), &reason),
           "OK", "a fetched set alone");

    ngx_session_keyset_free(files);
    ngx_session_keyset_free(fetched);
}


/* the buffer entry point: single JWK, PEM, the size bound, all or nothing */

static void
test_keyset_memory(void)
{
    char                  err[256], *big;
    size_t                n;
    ngx_session_keyset_t  *ks;

    ks = load_mem(jwk_okp(ed1, "\"kid\":\"one\","), err, sizeof(err));
    ok(ks != NULL && ngx_session_keyset_count(ks) == 1,
       "a single JWK from memory");
    ngx_session_keyset_free(ks);

    ks = load_mem(pem_pub(rsa1), err, sizeof(err));
    ok(ks != NULL, "PEM from memory");
    ngx_session_keyset_free(ks);

    ks = load_mem(jwk_rsa(rsa1, "\"use\":\"enc\",\"kid\":\"e\","), err,
                  sizeof(err));
    ok(ks == NULL, "a single skipped JWK: no usable key");
    has_str(warnings, "JWK (kid \"e\") skipped", "a single JWK's warning");

    n = NGX_SESSION_KEYSET_MAX + 1;
    big = keep(malloc(n + 1));
    memset(big, ' ', n);
    memcpy(big, "{\"keys\":[]}", 11);
    big[n] = '\0';

    ks = ngx_session_keyset_create();
    ok(ngx_session_keyset_load(ks, &loader, (unsigned char *) big, n, err,
                               sizeof(err)) == NGX_SESSION_ERROR,
       "a reply over NGX_SESSION_KEYSET_MAX is refused");
    has_str(err, "larger than", "...saying so");

    ok(ngx_session_keyset_load(ks, NULL, (unsigned char *) "{\"kty\":\"RSA\","
                               "\"use\":\"enc\"}", 27, err, sizeof(err))
       == NGX_SESSION_ERROR, "no loader: skips still counted");
    ngx_session_keyset_free(ks);
}


/* no entry outlives the key set it was verified with */

static void
test_cache_generation(void)
{
    int                       pid;
    json_t                   *c, *got;
    ngx_session_jwt_cache_t  *cache;

    cache = ngx_session_jwt_cache_create(64);
    c = json_pack("{s:s}", "sub", "alice");

    ngx_session_jwt_cache_store(cache, &pid, 7, "tok", 3, NOW + 60, c);

    got = ngx_session_jwt_cache_lookup(cache, &pid, 7, "tok", 3, NOW);
    ok(got == c, "same generation: hit");
    json_decref(got);

    got = ngx_session_jwt_cache_lookup(cache, &pid, 8, "tok", 3, NOW);
    ok(got == NULL, "next generation: miss");

    got = ngx_session_jwt_cache_get(cache, &pid, "tok", 3, NOW);
    ok(got == NULL, "generation 0 (the old API): miss");

    ngx_session_jwt_cache_put(cache, &pid, "tok", 3, NOW + 60, c);
    got = ngx_session_jwt_cache_lookup(cache, &pid, 0, "tok", 3, NOW);
    ok(got == c, "put is generation 0");
    json_decref(got);

    got = ngx_session_jwt_cache_lookup(cache, &pid, 7, "tok", 3, NOW + 60);
    ok(got == NULL, "at exp: miss");

    json_decref(c);
    ngx_session_jwt_cache_free(cache);
}


int
main(void)
{
    size_t  i;

    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }

    generate_keys();

    test_alg_bit();
    test_precheck();
    test_accept_all();
    test_pem();
    test_none_and_confusion();
    test_kid();
    test_malformed();
    test_claims();
    test_bad_key_files();
    test_use_and_padding();
    test_skip_and_refuse();
    test_pss();
    test_eddsa();
    test_rfc8037();
    test_ecdsa_size();
    test_pss_short();
    test_types();
    test_scopes();
    test_duplicates();
    test_reasons();
    test_fetched();
    test_keyset_memory();
    test_cache();
    test_cache_generation();

    EVP_PKEY_free(rsa1);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(rsa_small);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ec521);
    EVP_PKEY_free(ec_k1);
    EVP_PKEY_free(ed1);
    EVP_PKEY_free(ed2);

    if (system(fmt("rm -rf '%s'", tmpdir)) != 0) {
        printf("# could not remove %s\n", tmpdir);
    }

    for (i = 0; i < ngarbage; i++) {
        free(garbage[i]);
    }

    free(garbage);

    return tap_done();
}
