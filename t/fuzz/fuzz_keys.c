
/*
 * The key loader on arbitrary key files and fetched replies: JWKS, JWK,
 * PEM.  A set either loads whole or fails with a reason; nothing leaks
 * either way.
 */


#include <string.h>

#include "ngx_session_jwk.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                   err[256];
    ngx_session_keyset_t  *ks;

    ks = ngx_session_keyset_create();
    if (ks == NULL) {
        return 0;
    }

    if (ngx_session_keyset_load(ks, NULL, data, size, err, sizeof(err))
        != NGX_SESSION_OK
        && ngx_session_keyset_count(ks) != 0)
    {
        __builtin_trap();
    }

    ngx_session_keyset_free(ks);

    return 0;
}
