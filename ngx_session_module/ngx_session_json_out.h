
/*
 * The writer of the 200 body (ngx_session_json.c builds it with this).
 * Pure C.
 */

#ifndef _NGX_SESSION_JSON_OUT_H_INCLUDED_
#define _NGX_SESSION_JSON_OUT_H_INCLUDED_


#include <string.h>

#include <jansson.h>

#include "ngx_session_data.h"


/*
 * The body is written straight into one buffer from alloc(), the size of
 * an estimate and regrown (doubled, copied) if escapes or indentation make
 * it larger.  jansson is used where the body needs a JSON parser: the
 * JSON-text fields and escaped stop values are parsed by it, and its
 * values are written out below in the form json_dumpb() gives them, so the
 * bytes (and the ETag) are those jansson would dump.  The fixed structure
 * around them is written directly: building jansson objects for it only
 * to dump them again cost most of a render (an allocation per value, a
 * loop check with snprintf("%p") per container).
 */

typedef struct {
    unsigned char         *start;
    unsigned char         *pos;
    unsigned char         *end;
    ngx_session_alloc_pt   alloc;
    void                  *pool;
    int                    pretty;
} ngx_session_out_t;


/* ngx_session_out_string(): the string is not valid UTF-8 */
#define NGX_SESSION_JSON_BAD_UTF8  -3


/*
 * Each writer returns NGX_SESSION_OK, or NGX_SESSION_ERROR when alloc()
 * failed (or the size would overflow).
 */

/* room for len more bytes: twice the size, or more; the old buffer stays */
int ngx_session_out_grow(ngx_session_out_t *out, size_t len);

/* inline: the builder writes most of the body in small pieces */
static inline int
ngx_session_out_bytes(ngx_session_out_t *out, const unsigned char *p,
    size_t len)
{
    if ((size_t) (out->end - out->pos) < len
        && ngx_session_out_grow(out, len) != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    memcpy(out->pos, p, len);
    out->pos += len;

    return NGX_SESSION_OK;
}

/* pretty: a new line and four spaces a level; compact: nothing */
int ngx_session_out_indent(ngx_session_out_t *out, int depth);

/* a member's key (plain ASCII) and separator; first: no comma before it */
int ngx_session_out_key(ngx_session_out_t *out, const char *name,
    size_t len, int depth, int first);

/* the close of a non-empty container whose own level is depth */
int ngx_session_out_end(ngx_session_out_t *out, int depth,
    unsigned char close);

/*
 * A JSON string.  checked: the bytes are valid UTF-8 already (from
 * jansson); else they are checked, NGX_SESSION_JSON_BAD_UTF8 if not.
 */
int ngx_session_out_string(ngx_session_out_t *out, const unsigned char *p,
    size_t len, int checked);

/* a string jansson decoded: valid UTF-8 already, maybe with NUL bytes */
int ngx_session_out_jansson_string(ngx_session_out_t *out, json_t *string);

/* a parsed value at the given depth, as json_dumpb() writes it */
int ngx_session_out_value(ngx_session_out_t *out, json_t *value, int depth);

/*
 * 1 if the JSON text is byte for byte jansson's compact dump of its own
 * parse (so it may be copied), 0 for anything else, errors included.
 */
int ngx_session_json_verbatim(const unsigned char *p, size_t len);

/*
 * The length of the UTF-8 sequence of 2 to 4 bytes at p, or 0 (RFC 3629,
 * as jansson judges strings).
 */
size_t ngx_session_utf8_sequence(const unsigned char *p,
    const unsigned char *end);

/*
 * Bytes in a JSON string: 0 plain ASCII, 1 part of a UTF-8 sequence, 2
 * escaped ('"', '\\', the control characters).
 */
extern const unsigned char  ngx_session_json_class[256];


#endif /* _NGX_SESSION_JSON_OUT_H_INCLUDED_ */
