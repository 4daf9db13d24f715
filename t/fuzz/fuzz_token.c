
/*
 * The token path up to and through signature verification: header and
 * payload decoding, alg/kid/typ/crit handling, claim checks.  Keys: an HS256
 * secret with a kid and one without, and an EC P-256 key, so that kid
 * selection and algorithm/key-type matching are reached.  A token that
 * passes must have claims and an exp.
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


static ngx_session_keyset_t  *fuzz_keyset;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char  err[256];

    fuzz_keyset = ngx_session_keyset_create();

    if (fuzz_keyset == NULL
        || ngx_session_keyset_load(fuzz_keyset,
                                   (const unsigned char *) fuzz_keys,
                                   sizeof(fuzz_keys) - 1, err, sizeof(err))
           != NGX_SESSION_OK)
    {
        __builtin_trap();
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t                    *claims;
    int64_t                    exp;
    const char                *error;
    const char                *aud[] = { "vx-api" };
    ngx_session_jwt_policy_t   policy;

    memset(&policy, 0, sizeof(ngx_session_jwt_policy_t));

    policy.keys = fuzz_keyset;
    policy.algorithms = NGX_SESSION_ALG_ALL;
    policy.leeway = 30;

    /* the first byte switches the issuer and audience checks on */
    if (size && (data[0] & 1)) {
        policy.issuer = "joe";
        policy.audiences = aud;
        policy.naudiences = 1;
    }

    claims = NULL;

    if (ngx_session_jwt_verify(&policy, (const char *) data, size,
                               1300819370, &claims, &exp, &error)
        == NGX_SESSION_OK)
    {
        if (claims == NULL || !json_is_object(claims)) {
            __builtin_trap();
        }

        json_decref(claims);

    } else if (claims != NULL || error == NULL) {
        __builtin_trap();
    }

    return 0;
}
