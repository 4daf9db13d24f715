
/*
 * Rendered bodies, per worker: the reply the store sent, byte for byte, and
 * the options that shape the body, map to the body and its ETag.  A client
 * polling a session costs one store read and a comparison instead of a JSON
 * parse and render.  Pure C.
 */

#ifndef _NGX_SESSION_CACHE_H_INCLUDED_
#define _NGX_SESSION_CACHE_H_INCLUDED_


#include "ngx_session_data.h"


typedef struct ngx_session_cache_s  ngx_session_cache_t;


/* size: the memory the entries may take, in bytes */
ngx_session_cache_t *ngx_session_cache_create(size_t size);
void ngx_session_cache_free(ngx_session_cache_t *cache);

/*
 * The key is the pair (options, reply): options holds whatever else the
 * body depends on.  A hit sets body and etag to memory that stays valid
 * until the next ngx_session_cache_put(): copy it before yielding.
 */
int ngx_session_cache_get(ngx_session_cache_t *cache,
    const ngx_session_str_t *options, const ngx_session_str_t *reply,
    ngx_session_str_t *body, ngx_session_str_t *etag);

/* an entry larger than an eighth of the cache is not kept */
void ngx_session_cache_put(ngx_session_cache_t *cache,
    const ngx_session_str_t *options, const ngx_session_str_t *reply,
    const ngx_session_str_t *body, const ngx_session_str_t *etag);


#endif /* _NGX_SESSION_CACHE_H_INCLUDED_ */
