
/*
 * The token path up to and through signature verification: header and
 * payload decoding, alg/kid/typ/crit handling, claim and scope checks.
 * Keys: an HS256 secret with a kid and one without, and an EC P-256 key in
 * the "files"; the RFC 8037 Ed25519 key as the "fetched" set, so that kid
 * selection across both sets, the OpenSSL-only path and algorithm/key-type
 * matching are reached.  A token that passes must have claims and the
 * reason OK; a refused one a reason and no claims.
 */


#include <string.h>

#include "ngx_session_jwt.h"


static const char  fuzz_keys[] =
    "{\"keys\":["
    "{\"kty\":\"oct\",\"kid\":\"k1\",\"alg\":\"HS256\","
    "\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0i"
    "PS4hcgUuTwjAzZr1Z9CAow\"},"
    "{\"kty\":\"oct\",\"k\":\"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0"
    "xMjM0\"},"
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e1\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";


static const char  fuzz_fetched[] =
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";


static ngx_session_keyset_t  *fuzz_keyset, *fuzz_fetched_set;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char  err[256];

    fuzz_keyset = ngx_session_keyset_create();
    fuzz_fetched_set = ngx_session_keyset_create();

    if (fuzz_keyset == NULL || fuzz_fetched_set == NULL
        || ngx_session_keyset_load(fuzz_keyset, NULL,
                                   (const unsigned char *) fuzz_keys,
                                   sizeof(fuzz_keys) - 1, err, sizeof(err))
           != NGX_SESSION_OK
        || ngx_session_keyset_load(fuzz_fetched_set, NULL,
                                   (const unsigned char *) fuzz_fetched,
                                   sizeof(fuzz_fetched) - 1, err, sizeof(err))
           != NGX_SESSION_OK)
    {
        __builtin_trap();
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char                *aud[] = { "vx-api" };
    const char                *scopes[] = { "read" };
    ngx_session_jwt_result_t   res;
    ngx_session_jwt_policy_t   policy;

    memset(&policy, 0, sizeof(ngx_session_jwt_policy_t));

    policy.keys = fuzz_keyset;
    policy.algorithms = NGX_SESSION_ALG_ALL;
    policy.leeway = 30;

    /*
     * The first byte, a base64url character, switches checks on: bit 0
     * issuer and audience, bit 1 a required scope, bits 2-3 the types.
     */
    if (size && (data[0] & 1)) {
        policy.issuer = "joe";
        policy.audiences = aud;
        policy.naudiences = 1;
    }

    if (size && (data[0] & 2)) {
        policy.scopes = scopes;
        policy.nscopes = 1;
    }

    if (size) {
        policy.types = (data[0] >> 2) & NGX_SESSION_JWT_TYPE_ALL;
    }

    if (ngx_session_jwt_verify2(&policy, fuzz_fetched_set,
                                (const char *) data, size, 1300819370, &res)
        == NGX_SESSION_OK)
    {
        if (res.claims == NULL || !json_is_object(res.claims)
            || res.reason != NGX_SESSION_JWT_OK)
        {
            __builtin_trap();
        }

        json_decref(res.claims);

    } else if (res.claims != NULL || res.error == NULL
               || res.reason == NGX_SESSION_JWT_OK
               || res.reason >= NGX_SESSION_JWT_NREASONS)
    {
        __builtin_trap();
    }

    return 0;
}
