
/*
 * Key sets: loading verification keys from a key file or from a fetched
 * JWKS, with the same rules for both (SPEC 5: skip what is not for us,
 * refuse what is broken).  Pure C on OpenSSL and jansson.
 */

#ifndef _NGX_SESSION_JWK_H_INCLUDED_
#define _NGX_SESSION_JWK_H_INCLUDED_


#include <stddef.h>

#include "ngx_session_data.h"
#include "ngx_session_jose.h"


/* far above any real key set; a key file or fetched reply larger fails */
#define NGX_SESSION_KEYSET_MAX     (1024 * 1024)


/*
 * A skipped key's description, e.g. keys[2] (kid "enc-1"): "use" is "enc".
 * It names no key material; the caller adds the source (file or URI) and
 * logs it at warn.
 */
typedef void (*ngx_session_keyset_warn_pt)(void *data, const char *msg);

typedef struct {
    ngx_session_keyset_warn_pt   warn;     /* NULL: skipped keys go unsaid */
    void                        *data;
} ngx_session_keyset_loader_t;


ngx_session_keyset_t *ngx_session_keyset_create(void);
void ngx_session_keyset_free(ngx_session_keyset_t *ks);

/*
 * The one entry point for key material in memory: a key file's contents or
 * a fetched reply (len bytes, not NUL-terminated, at most
 * NGX_SESSION_KEYSET_MAX).  Accepts a JWKS ({"keys":[...]}), a single JWK,
 * or PEM public keys (RSA, EC P-256/384/521, Ed25519).
 *
 * Skipped, each reported through ld->warn: a JWK whose "use" is not "sig",
 * whose "alg" is a JOSE algorithm not verified here, whose "kty" or "crv"
 * this module does not verify.  Refused (NGX_SESSION_ERROR, err filled
 * with a reason that names no key material; ks unchanged): anything else
 * that is unusable, and a set left with no usable key.  All or nothing: on
 * success every usable key is added to ks.  ld may be NULL.
 */
int ngx_session_keyset_load(ngx_session_keyset_t *ks,
    const ngx_session_keyset_loader_t *ld, const unsigned char *buf,
    size_t len, char *err, size_t errlen);

/* a file read whole (at configuration time), then as above */
int ngx_session_keyset_load_file(ngx_session_keyset_t *ks,
    const ngx_session_keyset_loader_t *ld, const char *path, char *err,
    size_t errlen);

size_t ngx_session_keyset_count(const ngx_session_keyset_t *ks);


#endif /* _NGX_SESSION_JWK_H_INCLUDED_ */
