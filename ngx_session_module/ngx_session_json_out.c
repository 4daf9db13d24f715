
/*
 * The writer of the 200 body: bytes into one buffer that grows, JSON
 * strings escaped as jansson's dump escapes them, parsed jansson values in
 * json_dumpb()'s form, and the check that lets canonical JSON text be
 * copied as it is.  Pure C: libc and jansson only.
 */


#include <string.h>

#include <jansson.h>

#include "ngx_session_json.h"
#include "ngx_session_json_out.h"


#define ngx_session_digit(c)   ((c) >= '0' && (c) <= '9')


static int ngx_session_out_object(ngx_session_out_t *out, json_t *object,
    int depth);
static int ngx_session_out_array(ngx_session_out_t *out, json_t *array,
    int depth);
static int ngx_session_out_integer(ngx_session_out_t *out, json_int_t n);
static int ngx_session_out_real(ngx_session_out_t *out, json_t *real);
static const unsigned char *ngx_session_json_verbatim_string(
    const unsigned char *p, const unsigned char *end);
static const unsigned char *ngx_session_json_verbatim_integer(
    const unsigned char *p, const unsigned char *end);


/*
 * A parsed value at the given depth, as json_dumpb() writes it with
 * JSON_COMPACT or JSON_INDENT(4).  The text was bounded by
 * NGX_SESSION_JSON_MAX_DEPTH before it was parsed, so is the recursion.
 */

int
ngx_session_out_value(ngx_session_out_t *out, json_t *value, int depth)
{
    switch (json_typeof(value)) {

    case JSON_OBJECT:
        return ngx_session_out_object(out, value, depth);

    case JSON_ARRAY:
        return ngx_session_out_array(out, value, depth);

    case JSON_STRING:
        return ngx_session_out_jansson_string(out, value);

    case JSON_INTEGER:
        return ngx_session_out_integer(out, json_integer_value(value));

    case JSON_REAL:
        return ngx_session_out_real(out, value);

    case JSON_TRUE:
        return ngx_session_out_bytes(out, (const unsigned char *) "true", 4);

    case JSON_FALSE:
        return ngx_session_out_bytes(out, (const unsigned char *) "false", 5);

    default: /* JSON_NULL */
        return ngx_session_out_bytes(out, (const unsigned char *) "null", 4);
    }
}


/* members in jansson's order, the order of the text */

static int
ngx_session_out_object(ngx_session_out_t *out, json_t *object, int depth)
{
    int    first;
    void  *iter;

    iter = json_object_iter(object);

    if (iter == NULL) {
        return ngx_session_out_bytes(out, (const unsigned char *) "{}", 2);
    }

    if (ngx_session_out_bytes(out, (const unsigned char *) "{", 1)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    for (first = 1; iter; iter = json_object_iter_next(object, iter)) {

        if ((!first && ngx_session_out_bytes(out, (const unsigned char *) ",",
                                             1)
                       != NGX_SESSION_OK)
            || ngx_session_out_indent(out, depth + 1) != NGX_SESSION_OK
            || ngx_session_out_string(out,
                          (const unsigned char *) json_object_iter_key(iter),
                          json_object_iter_key_len(iter), 1)
               != NGX_SESSION_OK
            || ngx_session_out_bytes(out, (const unsigned char *) ": ",
                                     out->pretty ? 2 : 1)
               != NGX_SESSION_OK
            || ngx_session_out_value(out, json_object_iter_value(iter),
                                     depth + 1)
               != NGX_SESSION_OK)
        {
            return NGX_SESSION_ERROR;
        }

        first = 0;
    }

    return ngx_session_out_end(out, depth, '}');
}


static int
ngx_session_out_array(ngx_session_out_t *out, json_t *array, int depth)
{
    size_t  i, n;

    n = json_array_size(array);

    if (n == 0) {
        return ngx_session_out_bytes(out, (const unsigned char *) "[]", 2);
    }

    if (ngx_session_out_bytes(out, (const unsigned char *) "[", 1)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    for (i = 0; i < n; i++) {
        if ((i && ngx_session_out_bytes(out, (const unsigned char *) ",", 1)
                  != NGX_SESSION_OK)
            || ngx_session_out_indent(out, depth + 1) != NGX_SESSION_OK
            || ngx_session_out_value(out, json_array_get(array, i), depth + 1)
               != NGX_SESSION_OK)
        {
            return NGX_SESSION_ERROR;
        }
    }

    return ngx_session_out_end(out, depth, ']');
}


/* a string jansson decoded: valid UTF-8 already, maybe with NUL bytes */

int
ngx_session_out_jansson_string(ngx_session_out_t *out, json_t *string)
{
    return ngx_session_out_string(out,
                              (const unsigned char *) json_string_value(string),
                              json_string_length(string), 1);
}


static int
ngx_session_out_integer(ngx_session_out_t *out, json_int_t n)
{
    unsigned char        buf[24], *p;
    unsigned long long   u;

    /* the magnitude as unsigned: -LLONG_MIN does not fit a json_int_t */
    u = (n < 0) ? 0ULL - (unsigned long long) n : (unsigned long long) n;

    p = buf + sizeof(buf);

    do {
        *--p = (unsigned char) ('0' + u % 10);
        u /= 10;
    } while (u);

    if (n < 0) {
        *--p = '-';
    }

    return ngx_session_out_bytes(out, p, buf + sizeof(buf) - p);
}


/* jansson's own formatting of a double (%.17g, made to look like a real) */

static int
ngx_session_out_real(ngx_session_out_t *out, json_t *real)
{
    char    buf[64];
    size_t  len;

    len = json_dumpb(real, buf, sizeof(buf), JSON_ENCODE_ANY);

    if (len == 0 || len > sizeof(buf)) {
        return NGX_SESSION_ERROR;
    }

    return ngx_session_out_bytes(out, (const unsigned char *) buf, len);
}


/* a member's key and separator; first: no comma before it */

int
ngx_session_out_key(ngx_session_out_t *out, const char *name, size_t len,
    int depth, int first)
{
    if ((!first && ngx_session_out_bytes(out, (const unsigned char *) ",", 1)
                   != NGX_SESSION_OK)
        || ngx_session_out_indent(out, depth) != NGX_SESSION_OK
        || ngx_session_out_bytes(out, (const unsigned char *) "\"", 1)
           != NGX_SESSION_OK
        || ngx_session_out_bytes(out, (const unsigned char *) name, len)
           != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    return ngx_session_out_bytes(out, (const unsigned char *) "\": ",
                                 out->pretty ? 3 : 2);
}


/* the close of a non-empty container whose own level is depth */

int
ngx_session_out_end(ngx_session_out_t *out, int depth, unsigned char close)
{
    if (ngx_session_out_indent(out, depth) != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    return ngx_session_out_bytes(out, &close, 1);
}


/* pretty: a new line and four spaces a level; compact: nothing */

int
ngx_session_out_indent(ngx_session_out_t *out, int depth)
{
    size_t  n;

    if (!out->pretty) {
        return NGX_SESSION_OK;
    }

    n = 1 + 4 * (size_t) depth;

    if ((size_t) (out->end - out->pos) < n
        && ngx_session_out_grow(out, n) != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    *out->pos = '\n';
    memset(out->pos + 1, ' ', n - 1);
    out->pos += n;

    return NGX_SESSION_OK;
}


/*
 * A JSON string, escaped as jansson's dump escapes it: '"', '\\' and the
 * control characters, the five with short forms by them, the others as
 * \u00XX; everything else as it is.  checked: valid UTF-8 already (from
 * jansson); otherwise it is checked here and NGX_SESSION_JSON_BAD_UTF8 means
 * invalid UTF-8.
 */

const unsigned char  ngx_session_json_class[256] = {
    /* 0x00-0x1f: escaped */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    /* '"' and '\\' escaped, the rest of ASCII as it is */
    0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x80-0xff: part of a UTF-8 sequence */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
};


int
ngx_session_out_string(ngx_session_out_t *out, const unsigned char *p,
    size_t len, int checked)
{
    size_t                n;
    unsigned char         esc[6], c;
    const unsigned char  *run, *end;
    unsigned              plain;
    static const char     hex[] = "0123456789ABCDEF";

    /* checked: bytes of a UTF-8 sequence are as plain as ASCII */
    plain = checked ? 1 : 0;
    end = p + len;

    if (ngx_session_out_bytes(out, (const unsigned char *) "\"", 1)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    while (p < end) {

        for (run = p; p < end && ngx_session_json_class[*p] <= plain; p++) {
            /* void */
        }

        if (p != run
            && ngx_session_out_bytes(out, run, p - run) != NGX_SESSION_OK)
        {
            return NGX_SESSION_ERROR;
        }

        if (p == end) {
            break;
        }

        c = *p;

        if (ngx_session_json_class[c] == 1) {
            n = ngx_session_utf8_sequence(p, end);
            if (n == 0) {
                return NGX_SESSION_JSON_BAD_UTF8;
            }

            if (ngx_session_out_bytes(out, p, n) != NGX_SESSION_OK) {
                return NGX_SESSION_ERROR;
            }

            p += n;
            continue;
        }

        esc[0] = '\\';
        n = 2;

        switch (c) {
        case '"':  esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            n = 6;
            break;
        }

        if (ngx_session_out_bytes(out, esc, n) != NGX_SESSION_OK) {
            return NGX_SESSION_ERROR;
        }

        p++;
    }

    return ngx_session_out_bytes(out, (const unsigned char *) "\"", 1);
}


/* room for len more bytes: twice the size, or more; the old buffer stays */

int
ngx_session_out_grow(ngx_session_out_t *out, size_t len)
{
    size_t          used, size;
    unsigned char  *buf;

    used = out->pos - out->start;
    size = out->end - out->start;

    if (size > SIZE_MAX / 2 || len > SIZE_MAX / 2 - size) {
        return NGX_SESSION_ERROR;
    }

    size = (len > size) ? size + len : 2 * size;

    buf = out->alloc(out->pool, size);
    if (buf == NULL) {
        return NGX_SESSION_ERROR;
    }

    memcpy(buf, out->start, used);

    out->start = buf;
    out->pos = buf + used;
    out->end = buf + size;

    return NGX_SESSION_OK;
}


/*
 * Is the JSON text, byte for byte, what jansson's compact dump of its own
 * parse of it would be?  Then it is written as it is, without building
 * jansson values only to dump them again: the writer stores most fields
 * so (no spaces, no escapes, integers).  Anything else (spaces, an
 * escape, a real, an integer of 19 digits or more, "-0", a repeated key,
 * more keys open at once than are tracked here, any error) answers 0, and
 * jansson parses the text, so every error and every other form is its.
 */

#define NGX_SESSION_VERBATIM_KEYS  64

int
ngx_session_json_verbatim(const unsigned char *p, size_t len)
{
    size_t                 depth, nkeys, i, n;
    size_t                 first[NGX_SESSION_JSON_MAX_DEPTH];
    uint64_t               arrays;
    ngx_session_str_t      keys[NGX_SESSION_VERBATIM_KEYS], key;
    const unsigned char   *end;
    enum {
        sw_value = 0,
        sw_key,
        sw_next
    } state;

    end = p + len;
    depth = 0;
    nkeys = 0;
    arrays = 0;
    state = sw_value;

    while (p < end) {

        switch (state) {

        case sw_value:

            if (*p == '[' || *p == '{') {
                if (depth == NGX_SESSION_JSON_MAX_DEPTH) {
                    return 0;
                }

                if (*p == '[') {
                    arrays |= (uint64_t) 1 << depth;

                } else {
                    arrays &= ~((uint64_t) 1 << depth);
                    first[depth] = nkeys;
                    state = sw_key;
                }

                depth++;
                p++;

                if (p < end && *p == ((arrays >> (depth - 1) & 1) ? ']' : '}'))
                {
                    p++;
                    depth--;
                    state = sw_next;
                }

                break;
            }

            if (*p == '"') {
                p = ngx_session_json_verbatim_string(p, end);

            } else if (*p == '-' || ngx_session_digit(*p)) {
                p = ngx_session_json_verbatim_integer(p, end);

            } else if (*p == 't' && end - p >= 4 && memcmp(p, "true", 4) == 0) {
                p += 4;

            } else if (*p == 'f' && end - p >= 5 && memcmp(p, "false", 5) == 0)
            {
                p += 5;

            } else if (*p == 'n' && end - p >= 4 && memcmp(p, "null", 4) == 0) {
                p += 4;

            } else {
                return 0;
            }

            if (p == NULL) {
                return 0;
            }

            state = sw_next;
            break;

        case sw_key:

            key.data = p;
            p = (*p == '"') ? ngx_session_json_verbatim_string(p, end) : NULL;

            if (p == NULL || p == end || *p != ':'
                || nkeys == NGX_SESSION_VERBATIM_KEYS)
            {
                return 0;
            }

            key.len = p - key.data;

            for (i = first[depth - 1]; i < nkeys; i++) {
                if (keys[i].len == key.len
                    && memcmp(keys[i].data, key.data, key.len) == 0)
                {
                    return 0;
                }
            }

            keys[nkeys++] = key;
            p++;
            state = sw_value;
            break;

        default: /* sw_next */

            if (depth == 0) {
                return 0;
            }

            n = arrays >> (depth - 1) & 1;

            if (*p == ',') {
                state = n ? sw_value : sw_key;

            } else if (*p == (n ? ']' : '}')) {
                depth--;

                if (!n) {
                    nkeys = first[depth];
                }

            } else {
                return 0;
            }

            p++;
            break;
        }
    }

    return state == sw_next && depth == 0;
}


/* a string without escapes or control characters, valid UTF-8: its end */

static const unsigned char *
ngx_session_json_verbatim_string(const unsigned char *p,
    const unsigned char *end)
{
    size_t  n;

    for (p++; p < end; p++) {

        switch (ngx_session_json_class[*p]) {

        case 0:
            continue;

        case 1:
            n = ngx_session_utf8_sequence(p, end);
            if (n == 0) {
                return NULL;
            }

            p += n - 1;
            continue;

        default:
            return (*p == '"') ? p + 1 : NULL;
        }
    }

    return NULL;
}


/* -?(0|[1-9][0-9]{0,17}) but "-0", and no fraction or exponent: its end */

static const unsigned char *
ngx_session_json_verbatim_integer(const unsigned char *p,
    const unsigned char *end)
{
    int                   negative;
    const unsigned char  *digits;

    negative = (*p == '-');
    digits = p + negative;
    p = digits;

    if (p < end && *p == '0') {
        if (negative) {
            return NULL;
        }

        p++;

    } else {
        while (p < end && ngx_session_digit(*p)) {
            p++;
        }

        if (p == digits || p - digits > 18) {
            return NULL;
        }
    }

    /* a second guard: what follows a value is also judged by the caller */

    if (p < end && (ngx_session_digit(*p) || *p == '.' || *p == 'e'
                    || *p == 'E'))
    {
        return NULL;
    }

    return p;
}


/*
 * The length of the UTF-8 sequence of 2 to 4 bytes at p (RFC 3629), or 0:
 * no overlong forms, no surrogates, nothing past U+10FFFF, as jansson
 * judges the strings it is given.
 */

size_t
ngx_session_utf8_sequence(const unsigned char *p, const unsigned char *end)
{
    size_t    i, n;
    uint32_t  cp, min;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        cp = p[0] & 0x1f;
        min = 0x80;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        cp = p[0] & 0x0f;
        min = 0x800;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        cp = p[0] & 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if ((size_t) (end - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }

    return n;
}
