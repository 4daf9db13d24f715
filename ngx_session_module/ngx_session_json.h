
/*
 * The 200 body of SPEC 3.1 (jansson parses the stored JSON text), and the
 * small syntax checks around it.  Pure C.
 */

#ifndef _NGX_SESSION_JSON_H_INCLUDED_
#define _NGX_SESSION_JSON_H_INCLUDED_


#include "ngx_session_data.h"


/*
 * Deepest nesting of stored JSON text accepted (arrays and objects).  A
 * stop counts as one level, and its dropped members are bounded with it:
 * they are never emitted, but they are still scanned by the worker.
 */
#define NGX_SESSION_JSON_MAX_DEPTH  64


typedef struct {
    unsigned char         *data;      /* the body, from alloc() */
    size_t                 len;
    const char            *error;     /* static reason, on failure */
    ngx_session_field_e    field;     /* the field at fault, on failure; */
                                      /* NGX_SESSION_NFIELDS: the stops */
    size_t                 stop;      /* index of the stop at fault */
} ngx_session_json_result_t;


/*
 * Builds the body.  request_id is the one from the URL (used when the hash
 * has none).  Returns NGX_SESSION_OK, or NGX_SESSION_ERROR for stored data
 * that breaks SPEC 3.2 (invalid UTF-8, unparsable or wrongly shaped JSON
 * text), with res->error/field/stop saying what.
 *
 * In a stop only the six emitted values are judged beyond JSON syntax (a
 * string or null, once each); every other member is dropped, and any valid
 * JSON within the nesting bound is fine there: numbers of any size,
 * repeated keys, "\u0000" in keys.
 */
int ngx_session_json_build(const ngx_session_data_t *sd,
    const unsigned char *request_id, size_t request_id_len, int pretty,
    ngx_session_alloc_pt alloc, void *pool, ngx_session_json_result_t *res);


/*
 * "YYYY-MM-DD[ T]HH:MM:SS[.f{1,6}][Z]", UTC, strictly validated.
 * Returns NGX_SESSION_OK with microseconds since the epoch, or
 * NGX_SESSION_ERROR.
 */
int ngx_session_parse_timestamp(const unsigned char *p, size_t len,
    int64_t *usec);

/* "%02dh %02dm %02ds"; buf must hold NGX_SESSION_DURATION_LEN bytes */
#define NGX_SESSION_DURATION_LEN  64
size_t ngx_session_format_duration(int64_t seconds, char *buf);

/* 1–128 of [A-Za-z0-9._-], first alphanumeric */
#define NGX_SESSION_REQUEST_ID_MAX  128

int ngx_session_request_id_valid(const unsigned char *p, size_t len);

/*
 * Does an If-None-Match value match the strong etag (with its quotes)?
 * "*" matches; W/ prefixes are ignored (weak comparison, RFC 9110 13.1.2).
 */
int ngx_session_etag_match(const unsigned char *header, size_t len,
    const unsigned char *etag, size_t etag_len);


#endif /* _NGX_SESSION_JSON_H_INCLUDED_ */
