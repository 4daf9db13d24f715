
/*
 * The 200 body of SPEC 3.1, written straight into one buffer with jansson
 * as the parser of stored JSON text, and the small syntax checks around
 * it.  Pure C: libc and jansson only.
 *
 * Errors: res->error is a static string that never quotes stored data; it
 * is NULL when the failure was memory (jansson or alloc()), which the
 * module answers with 500 rather than blaming the store.
 */


#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ngx_session_json.h"
#include "ngx_session_json_out.h"


/*
 * JSON text from the store.  Top-level scalars are fine for dcams_plus,
 * storage and documents.  "\u0000" is valid JSON, so it must not cost a
 * 502.  Duplicate keys are refused: RFC 8259 leaves their meaning to the
 * parser, and passing on one silently chosen value would let the writer
 * and our clients read different data.
 */
#define NGX_SESSION_JSON_DECODE                                               \
    (JSON_DECODE_ANY|JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL)


#define ngx_session_digit(c)   ((c) >= '0' && (c) <= '9')
#define ngx_session_alnum(c)                                                  \
    (ngx_session_digit(c) || ((c) >= 'a' && (c) <= 'z')                      \
     || ((c) >= 'A' && (c) <= 'Z'))


typedef struct {
    const char  *name;
    size_t       len;
    const char  *error;        /* the value is not a string or null */
    const char  *repeated;     /* the key comes twice */
} ngx_session_stop_key_t;


/* where the scanner found an emitted value of a stop */
typedef struct {
    const unsigned char  *data;       /* the string, quotes included; */
                                      /* NULL: missing or null */
    size_t                len;
    unsigned              escaped:1;  /* holds a backslash */
    unsigned              seen:1;
} ngx_session_stop_value_t;


/* the stop scanner: position, end, and the reason once it fails */
typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
    const char           *error;
} ngx_session_scan_t;


static int ngx_session_json_root(ngx_session_out_t *out,
    const ngx_session_data_t *sd, const unsigned char *request_id,
    size_t request_id_len, ngx_session_json_result_t *res);
static int ngx_session_json_field(ngx_session_out_t *out,
    const ngx_session_str_t *s, ngx_session_field_e field,
    ngx_session_json_result_t *res);
static int ngx_session_json_text(ngx_session_out_t *out,
    const ngx_session_data_t *sd, ngx_session_field_e field,
    ngx_session_json_result_t *res);
static int ngx_session_json_absent(ngx_session_out_t *out,
    ngx_session_field_e field);
static int ngx_session_json_journey(ngx_session_out_t *out,
    const ngx_session_data_t *sd, ngx_session_json_result_t *res);
static int ngx_session_json_stop(ngx_session_out_t *out,
    const ngx_session_str_t *s, int64_t *usec, int *parsed,
    ngx_session_json_result_t *res);
static int ngx_session_json_stop_value(ngx_session_out_t *out,
    const ngx_session_stop_value_t *v, int64_t *usec, int *parsed,
    ngx_session_json_result_t *res);
static json_t *ngx_session_json_decode(const unsigned char *p, size_t len,
    ngx_session_json_result_t *res);
static int ngx_session_stop_scan(const ngx_session_str_t *s,
    ngx_session_stop_value_t *values, const char **error);
static int ngx_session_stop_member(ngx_session_scan_t *sc,
    ngx_session_stop_value_t *values);
static int ngx_session_stop_index(const unsigned char *p, size_t len,
    int escaped);
static int ngx_session_scan_skip(ngx_session_scan_t *sc);
static int ngx_session_scan_scalar(ngx_session_scan_t *sc);
static int ngx_session_scan_string(ngx_session_scan_t *sc, int *escaped);
static int ngx_session_scan_utf8(ngx_session_scan_t *sc);
static int ngx_session_scan_number(ngx_session_scan_t *sc);
static const unsigned char *ngx_session_scan_digits(const unsigned char *p,
    const unsigned char *end);
static int ngx_session_scan_literal(ngx_session_scan_t *sc,
    const char *literal, size_t len);
static void ngx_session_scan_space(ngx_session_scan_t *sc);
static int ngx_session_scan_fail(ngx_session_scan_t *sc, const char *error);
static size_t ngx_session_json_estimate(const ngx_session_data_t *sd,
    int pretty);
static int ngx_session_json_too_deep(const unsigned char *p, size_t len);
static int ngx_session_hex4(const unsigned char *p);
static int ngx_session_number(const unsigned char *p, size_t n);
static int ngx_session_days_in_month(int year, int month);
static int64_t ngx_session_days_from_civil(int64_t year, int month,
    int day);
static int ngx_session_etagc(unsigned char c);


/* the emitted keys of a stop, in order */
#define ngx_session_stop_entry(name)                                          \
    { name, sizeof(name) - 1, "\"" name "\" is not a string or null",          \
      "\"" name "\" repeated" }

static const ngx_session_stop_key_t  ngx_session_stop_keys[] = {
    ngx_session_stop_entry("timestamp"),
    ngx_session_stop_entry("type"),
    ngx_session_stop_entry("source"),
    ngx_session_stop_entry("status"),
    ngx_session_stop_entry("action"),
    ngx_session_stop_entry("detail")
};

#define NGX_SESSION_STOP_NKEYS                                                \
    (sizeof(ngx_session_stop_keys) / sizeof(ngx_session_stop_keys[0]))


int
ngx_session_json_build(const ngx_session_data_t *sd,
    const unsigned char *request_id, size_t request_id_len, int pretty,
    ngx_session_alloc_pt alloc, void *pool, ngx_session_json_result_t *res)
{
    size_t             size;
    ngx_session_out_t  out;

    res->data = NULL;
    res->len = 0;
    res->error = NULL;
    res->field = NGX_SESSION_NFIELDS;
    res->stop = 0;

    size = ngx_session_json_estimate(sd, pretty);

    out.start = alloc(pool, size);
    if (out.start == NULL) {
        return NGX_SESSION_ERROR;
    }

    out.pos = out.start;
    out.end = out.start + size;
    out.alloc = alloc;
    out.pool = pool;
    out.pretty = pretty;

    if (ngx_session_json_root(&out, sd, request_id, request_id_len, res)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    res->data = out.start;
    res->len = out.pos - out.start;

    return NGX_SESSION_OK;
}


/* the keys of SPEC 3.1, in order; each writer fails with res set */

static int
ngx_session_json_root(ngx_session_out_t *out, const ngx_session_data_t *sd,
    const unsigned char *request_id, size_t request_id_len,
    ngx_session_json_result_t *res)
{
    const char           *name;
    ngx_session_str_t     id;
    ngx_session_field_e   f;

    if (ngx_session_out_bytes(out, (const unsigned char *) "{", 1)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    for (f = NGX_SESSION_FN; f <= NGX_SESSION_STATUS; f++) {
        name = ngx_session_field_name(f);

        if (ngx_session_out_key(out, name, ngx_session_field_name_len(f), 1,
                                f == NGX_SESSION_FN)
            != NGX_SESSION_OK
            || ngx_session_json_field(out, &sd->fields[f], f, res)
               != NGX_SESSION_OK)
        {
            return NGX_SESSION_ERROR;
        }
    }

    id = sd->fields[NGX_SESSION_REQUEST_ID];

    if (id.data == NULL) {
        id.data = request_id;
        id.len = request_id_len;
    }

    if (ngx_session_out_key(out, "request_id", 10, 1, 0) != NGX_SESSION_OK
        || ngx_session_json_field(out, &id, NGX_SESSION_REQUEST_ID, res)
           != NGX_SESSION_OK
        || ngx_session_out_key(out, "additionalData", 14, 1, 0)
           != NGX_SESSION_OK
        || ngx_session_json_text(out, sd, NGX_SESSION_ADDITIONAL_DATA, res)
           != NGX_SESSION_OK
        || ngx_session_out_key(out, "dcams_plus", 10, 1, 0) != NGX_SESSION_OK
        || ngx_session_json_text(out, sd, NGX_SESSION_DCAMS_PLUS, res)
           != NGX_SESSION_OK
        || ngx_session_out_key(out, "storage", 7, 1, 0) != NGX_SESSION_OK
        || ngx_session_json_text(out, sd, NGX_SESSION_STORAGE, res)
           != NGX_SESSION_OK
        || ngx_session_out_key(out, "journey", 7, 1, 0) != NGX_SESSION_OK
        || ngx_session_json_journey(out, sd, res) != NGX_SESSION_OK
        || ngx_session_out_key(out, "documents", 9, 1, 0) != NGX_SESSION_OK
        || ngx_session_json_text(out, sd, NGX_SESSION_DOCUMENTS, res)
           != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    return ngx_session_out_end(out, 0, '}');
}


/* a hash field's string, "" when absent */

static int
ngx_session_json_field(ngx_session_out_t *out, const ngx_session_str_t *s,
    ngx_session_field_e field, ngx_session_json_result_t *res)
{
    int                         rc;
    static const unsigned char  empty[] = "";

    rc = (s->data == NULL) ? ngx_session_out_string(out, empty, 0, 1)
                           : ngx_session_out_string(out, s->data, s->len, 0);

    if (rc == NGX_SESSION_JSON_BAD_UTF8) {
        res->error = "invalid UTF-8";
        res->field = field;
        return NGX_SESSION_ERROR;
    }

    return rc;
}


static int
ngx_session_json_text(ngx_session_out_t *out, const ngx_session_data_t *sd,
    ngx_session_field_e field, ngx_session_json_result_t *res)
{
    int                       rc;
    json_t                   *value;
    const ngx_session_str_t  *s;

    s = &sd->fields[field];

    if (s->data == NULL) {
        return ngx_session_json_absent(out, field);
    }

    if (ngx_session_json_too_deep(s->data, s->len)) {
        res->error = "JSON text nested too deeply";
        res->field = field;
        return NGX_SESSION_ERROR;
    }

    if (!out->pretty && ngx_session_json_verbatim(s->data, s->len)) {

        if (field != NGX_SESSION_ADDITIONAL_DATA
            || s->data[0] == '{' || s->data[0] == '[')
        {
            return ngx_session_out_bytes(out, s->data, s->len);
        }

        if (s->data[0] == 'n') {
            return ngx_session_json_absent(out, field);
        }

        /* a scalar where an object or array must be: jansson's verdict */
    }

    value = ngx_session_json_decode(s->data, s->len, res);
    if (value == NULL) {
        res->field = field;
        return NGX_SESSION_ERROR;
    }

    if (field == NGX_SESSION_ADDITIONAL_DATA
        && !json_is_object(value) && !json_is_array(value))
    {
        if (json_is_null(value)) {
            json_decref(value);
            return ngx_session_json_absent(out, field);
        }

        json_decref(value);

        res->error = "not a JSON object or array";
        res->field = field;

        return NGX_SESSION_ERROR;
    }

    rc = ngx_session_out_value(out, value, 1);

    json_decref(value);

    return rc;
}


static int
ngx_session_json_absent(ngx_session_out_t *out, ngx_session_field_e field)
{
    switch (field) {

    case NGX_SESSION_ADDITIONAL_DATA:
        return ngx_session_out_bytes(out, (const unsigned char *) "[]", 2);

    case NGX_SESSION_STORAGE:
        if (ngx_session_out_bytes(out, (const unsigned char *) "{", 1)
            != NGX_SESSION_OK
            || ngx_session_out_key(out, "success", 7, 2, 1) != NGX_SESSION_OK
            || ngx_session_out_bytes(out, (const unsigned char *) "null", 4)
               != NGX_SESSION_OK)
        {
            return NGX_SESSION_ERROR;
        }

        return ngx_session_out_end(out, 1, '}');

    default: /* dcams_plus, documents */
        return ngx_session_out_bytes(out, (const unsigned char *) "null", 4);
    }
}


static json_t *
ngx_session_json_decode(const unsigned char *p, size_t len,
    ngx_session_json_result_t *res)
{
    json_t        *value;
    json_error_t   err;

    /* err.text may quote the data: only its code is looked at */

    value = json_loadb((const char *) p, len, NGX_SESSION_JSON_DECODE, &err);

    if (value == NULL) {
        switch (json_error_code(&err)) {

        case json_error_out_of_memory:
            break;

        case json_error_invalid_utf8:
            res->error = "invalid UTF-8 in JSON text";
            break;

        case json_error_duplicate_key:
            res->error = "duplicate key in JSON text";
            break;

        case json_error_numeric_overflow:
            res->error = "number out of range in JSON text";
            break;

        default:
            res->error = "invalid JSON text";
            break;
        }
    }

    return value;
}


/* {"stops":[...],"duration":"HHh MMm SSs"}, at depth 1 */

static int
ngx_session_json_journey(ngx_session_out_t *out, const ngx_session_data_t *sd,
    ngx_session_json_result_t *res)
{
    int      parsed;
    char     duration[NGX_SESSION_DURATION_LEN];
    size_t   i, n, len;
    int64_t  usec, earliest, latest;

    if (ngx_session_out_bytes(out, (const unsigned char *) "{", 1)
        != NGX_SESSION_OK
        || ngx_session_out_key(out, "stops", 5, 2, 1) != NGX_SESSION_OK
        || ngx_session_out_bytes(out, (const unsigned char *) "[", 1)
           != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    n = 0;
    earliest = 0;
    latest = 0;

    for (i = 0; i < sd->nstops; i++) {

        if ((i && ngx_session_out_bytes(out, (const unsigned char *) ",", 1)
                  != NGX_SESSION_OK)
            || ngx_session_out_indent(out, 3) != NGX_SESSION_OK)
        {
            return NGX_SESSION_ERROR;
        }

        if (ngx_session_json_stop(out, &sd->stops[i], &usec, &parsed, res)
            != NGX_SESSION_OK)
        {
            res->field = NGX_SESSION_NFIELDS;
            res->stop = i;
            return NGX_SESSION_ERROR;
        }

        if (!parsed) {
            continue;
        }

        if (n == 0 || usec < earliest) {
            earliest = usec;
        }

        if (n == 0 || usec > latest) {
            latest = usec;
        }

        n++;
    }

    if (sd->nstops && ngx_session_out_indent(out, 2) != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    /* latest >= earliest, so the division floors */

    len = ngx_session_format_duration(
              n < 2 ? 0 : (latest - earliest) / 1000000, duration);

    if (ngx_session_out_bytes(out, (const unsigned char *) "]", 1)
        != NGX_SESSION_OK
        || ngx_session_out_key(out, "duration", 8, 2, 0) != NGX_SESSION_OK
        || ngx_session_out_string(out, (const unsigned char *) duration, len,
                                  1)
           != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    return ngx_session_out_end(out, 1, '}');
}


/*
 * A stored stop, cut down to the six keys, at depth 3; *parsed: timestamp
 * usable.
 *
 * Only the six values are read.  Every other member is dropped, so it is
 * only scanned: it must be JSON (RFC 8259 syntax, UTF-8), and it is not
 * judged further, since nothing of it is ever emitted: a number of any
 * size, a key repeated or holding "\u0000", a lone surrogate escape are
 * all fine there.  Nesting stays bounded by NGX_SESSION_JSON_MAX_DEPTH, the
 * stop itself counting as one: the bound protects the worker from the
 * text, whatever becomes of it.
 */

static int
ngx_session_json_stop(ngx_session_out_t *out, const ngx_session_str_t *s,
    int64_t *usec, int *parsed, ngx_session_json_result_t *res)
{
    size_t                     i;
    ngx_session_stop_value_t   values[NGX_SESSION_STOP_NKEYS];

    *parsed = 0;

    if (ngx_session_stop_scan(s, values, &res->error) != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    if (ngx_session_out_bytes(out, (const unsigned char *) "{", 1)
        != NGX_SESSION_OK)
    {
        return NGX_SESSION_ERROR;
    }

    for (i = 0; i < NGX_SESSION_STOP_NKEYS; i++) {
        if (ngx_session_out_key(out, ngx_session_stop_keys[i].name,
                                ngx_session_stop_keys[i].len, 4, i == 0)
            != NGX_SESSION_OK
            || ngx_session_json_stop_value(out, &values[i],
                                           i == 0 ? usec : NULL, parsed, res)
               != NGX_SESSION_OK)
        {
            return NGX_SESSION_ERROR;
        }
    }

    return ngx_session_out_end(out, 3, '}');
}


/*
 * The scanner has checked the string's syntax and UTF-8: without escapes,
 * its text with the quotes is already the value as jansson would dump it
 * (nothing in it needs escaping).  An escaped value is decoded by jansson
 * and written out again.  usec: the timestamp's value is wanted.
 */

static int
ngx_session_json_stop_value(ngx_session_out_t *out,
    const ngx_session_stop_value_t *v, int64_t *usec, int *parsed,
    ngx_session_json_result_t *res)
{
    int      rc;
    json_t  *value;

    if (v->data == NULL) {
        return ngx_session_out_bytes(out, (const unsigned char *) "\"\"", 2);
    }

    if (!v->escaped) {
        if (usec) {
            *parsed = (ngx_session_parse_timestamp(v->data + 1, v->len - 2,
                                                   usec)
                       == NGX_SESSION_OK);
        }

        return ngx_session_out_bytes(out, v->data, v->len);
    }

    value = ngx_session_json_decode(v->data, v->len, res);
    if (value == NULL) {
        return NGX_SESSION_ERROR;
    }

    if (!json_is_string(value)) {
        json_decref(value);
        res->error = "invalid JSON text";
        return NGX_SESSION_ERROR;
    }

    if (usec) {
        *parsed = (ngx_session_parse_timestamp(
                       (const unsigned char *) json_string_value(value),
                       json_string_length(value), usec)
                   == NGX_SESSION_OK);
    }

    rc = ngx_session_out_jansson_string(out, value);

    json_decref(value);

    return rc;
}


/*
 * The stop's text as one JSON object: values[] says where each of the six
 * values is.  A stop that is JSON but not an object is told apart from one
 * that is not JSON at all, for the log.
 */

static int
ngx_session_stop_scan(const ngx_session_str_t *s,
    ngx_session_stop_value_t *values, const char **error)
{
    ngx_session_scan_t  sc;

    memset(values, 0, NGX_SESSION_STOP_NKEYS * sizeof(*values));

    sc.p = s->data;
    sc.end = s->data + s->len;
    sc.error = NULL;

    ngx_session_scan_space(&sc);

    if (sc.p == sc.end || *sc.p != '{') {
        if (ngx_session_scan_skip(&sc) == NGX_SESSION_OK) {
            ngx_session_scan_space(&sc);

            if (sc.p == sc.end) {
                sc.error = "not a JSON object";
            }
        }

        *error = sc.error ? sc.error : "invalid JSON text";
        return NGX_SESSION_ERROR;
    }

    sc.p++;
    ngx_session_scan_space(&sc);

    if (sc.p < sc.end && *sc.p == '}') {
        sc.p++;

    } else {
        for ( ;; ) {
            if (ngx_session_stop_member(&sc, values) != NGX_SESSION_OK) {
                *error = sc.error;
                return NGX_SESSION_ERROR;
            }

            ngx_session_scan_space(&sc);

            if (sc.p < sc.end && *sc.p == ',') {
                sc.p++;
                ngx_session_scan_space(&sc);
                continue;
            }

            if (sc.p < sc.end && *sc.p == '}') {
                sc.p++;
                break;
            }

            *error = "invalid JSON text";
            return NGX_SESSION_ERROR;
        }
    }

    ngx_session_scan_space(&sc);

    if (sc.p != sc.end) {
        *error = "invalid JSON text";
        return NGX_SESSION_ERROR;
    }

    return NGX_SESSION_OK;
}


/* "key": value, at sc->p; a named key's value is noted, any other skipped */

static int
ngx_session_stop_member(ngx_session_scan_t *sc,
    ngx_session_stop_value_t *values)
{
    int                        i, escaped;
    const unsigned char       *key;
    ngx_session_stop_value_t  *v;

    if (sc->p == sc->end || *sc->p != '"') {
        return ngx_session_scan_fail(sc, "invalid JSON text");
    }

    key = sc->p;

    if (ngx_session_scan_string(sc, &escaped) != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    i = ngx_session_stop_index(key + 1, sc->p - key - 2, escaped);

    ngx_session_scan_space(sc);

    if (sc->p == sc->end || *sc->p != ':') {
        return ngx_session_scan_fail(sc, "invalid JSON text");
    }

    sc->p++;
    ngx_session_scan_space(sc);

    if (i < 0) {
        return ngx_session_scan_skip(sc);
    }

    /* two values for one emitted key: neither is more right than the other */

    v = &values[i];

    if (v->seen) {
        return ngx_session_scan_fail(sc, ngx_session_stop_keys[i].repeated);
    }

    v->seen = 1;

    if (sc->p < sc->end && *sc->p == '"') {
        v->data = sc->p;

        if (ngx_session_scan_string(sc, &escaped) != NGX_SESSION_OK) {
            return NGX_SESSION_ERROR;
        }

        v->len = sc->p - v->data;
        v->escaped = escaped;

        return NGX_SESSION_OK;
    }

    if (sc->p < sc->end && *sc->p == 'n') {
        return ngx_session_scan_literal(sc, "null", 4);
    }

    return ngx_session_scan_fail(sc, ngx_session_stop_keys[i].error);
}


/*
 * Which of the six keys a key's text names, or -1.  An escaped key is
 * decoded as far as it can still be one of them: they are short and ASCII,
 * so anything longer or beyond ASCII is another key.  The text has been
 * scanned, so every escape is complete.
 */

static int
ngx_session_stop_index(const unsigned char *p, size_t len, int escaped)
{
    size_t                i, n;
    unsigned              c;
    unsigned char         name[16];
    const unsigned char  *end;

    if (escaped) {
        end = p + len;
        n = 0;

        while (p < end) {
            c = *p++;

            if (c == '\\') {
                c = *p++;

                switch (c) {
                case 'b': c = '\b'; break;
                case 'f': c = '\f'; break;
                case 'n': c = '\n'; break;
                case 'r': c = '\r'; break;
                case 't': c = '\t'; break;
                case 'u':
                    c = ngx_session_hex4(p);
                    p += 4;
                    break;
                default:  /* '"', '\\', '/' stand for themselves */
                    break;
                }
            }

            if (c >= 0x80 || n == sizeof(name)) {
                return -1;
            }

            name[n++] = (unsigned char) c;
        }

        p = name;
        len = n;
    }

    for (i = 0; i < NGX_SESSION_STOP_NKEYS; i++) {
        if (len == ngx_session_stop_keys[i].len
            && memcmp(p, ngx_session_stop_keys[i].name, len) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


/*
 * Skips one JSON value of any kind, without recursion: arrays has bit d
 * set when the container open at depth d + 1 is an array.  Containers
 * count from the stop's own level, which is already one deep.
 */

static int
ngx_session_scan_skip(ngx_session_scan_t *sc)
{
    int        escaped;
    size_t     depth;
    uint64_t   arrays;
    enum {
        sw_value = 0,
        sw_key,
        sw_next
    } state;

    depth = 0;
    arrays = 0;
    state = sw_value;

    for ( ;; ) {

        ngx_session_scan_space(sc);

        if (sc->p == sc->end) {
            return ngx_session_scan_fail(sc, "invalid JSON text");
        }

        switch (state) {

        case sw_value:

            if (*sc->p == '[' || *sc->p == '{') {
                if (depth + 1 >= NGX_SESSION_JSON_MAX_DEPTH) {
                    return ngx_session_scan_fail(sc,
                                                 "JSON text nested too deeply");
                }

                if (*sc->p == '[') {
                    arrays |= (uint64_t) 1 << depth;
                    state = sw_value;

                } else {
                    arrays &= ~((uint64_t) 1 << depth);
                    state = sw_key;
                }

                depth++;
                sc->p++;

                ngx_session_scan_space(sc);

                /* an empty container */

                if (sc->p < sc->end
                    && *sc->p == ((arrays >> (depth - 1) & 1) ? ']' : '}'))
                {
                    sc->p++;
                    depth--;
                    state = sw_next;
                }

                break;
            }

            if (ngx_session_scan_scalar(sc) != NGX_SESSION_OK) {
                return NGX_SESSION_ERROR;
            }

            state = sw_next;
            break;

        case sw_key:

            if (*sc->p != '"'
                || ngx_session_scan_string(sc, &escaped) != NGX_SESSION_OK)
            {
                return ngx_session_scan_fail(sc, "invalid JSON text");
            }

            ngx_session_scan_space(sc);

            if (sc->p == sc->end || *sc->p != ':') {
                return ngx_session_scan_fail(sc, "invalid JSON text");
            }

            sc->p++;
            state = sw_value;
            break;

        default: /* sw_next, inside a container */

            if (*sc->p == ',') {
                sc->p++;
                state = (arrays >> (depth - 1) & 1) ? sw_value : sw_key;

            } else if (*sc->p == ((arrays >> (depth - 1) & 1) ? ']' : '}')) {
                sc->p++;
                depth--;

            } else {
                return ngx_session_scan_fail(sc, "invalid JSON text");
            }

            break;
        }

        if (state == sw_next && depth == 0) {
            return NGX_SESSION_OK;
        }
    }
}


/* a string, number, true, false or null at sc->p */

static int
ngx_session_scan_scalar(ngx_session_scan_t *sc)
{
    int  escaped;

    switch (*sc->p) {

    case '"':
        return ngx_session_scan_string(sc, &escaped);

    case 't':
        return ngx_session_scan_literal(sc, "true", 4);

    case 'f':
        return ngx_session_scan_literal(sc, "false", 5);

    case 'n':
        return ngx_session_scan_literal(sc, "null", 4);

    default:
        return ngx_session_scan_number(sc);
    }
}


/* a string at sc->p (its opening quote), up to after its closing quote */

static int
ngx_session_scan_string(ngx_session_scan_t *sc, int *escaped)
{
    unsigned char  c;

    *escaped = 0;
    sc->p++;

    while (sc->p < sc->end) {

        /* the run of plain ASCII first: most of any string */

        while (ngx_session_json_class[*sc->p] == 0) {
            if (++sc->p == sc->end) {
                goto failed;
            }
        }

        c = *sc->p;

        if (c == '"') {
            sc->p++;
            return NGX_SESSION_OK;
        }

        if (c < 0x20) {
            break;
        }

        if (c >= 0x80) {
            if (ngx_session_scan_utf8(sc) != NGX_SESSION_OK) {
                return NGX_SESSION_ERROR;
            }

            continue;
        }

        /* a backslash */

        sc->p++;
        *escaped = 1;

        if (sc->p == sc->end) {
            break;
        }

        switch (*sc->p++) {

        case '"': case '\\': case '/':
        case 'b': case 'f': case 'n': case 'r': case 't':
            continue;

        case 'u':
            if (sc->end - sc->p >= 4 && ngx_session_hex4(sc->p) >= 0) {
                sc->p += 4;
                continue;
            }

            break;
        }

        break;
    }

failed:

    return ngx_session_scan_fail(sc, "invalid JSON text");
}


/* one UTF-8 sequence at sc->p */

static int
ngx_session_scan_utf8(ngx_session_scan_t *sc)
{
    size_t  n;

    n = ngx_session_utf8_sequence(sc->p, sc->end);
    if (n == 0) {
        return ngx_session_scan_fail(sc, "invalid UTF-8 in JSON text");
    }

    sc->p += n;

    return NGX_SESSION_OK;
}


/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, of any size */

static int
ngx_session_scan_number(ngx_session_scan_t *sc)
{
    const unsigned char  *p, *end;

    p = sc->p;
    end = sc->end;

    if (p < end && *p == '-') {
        p++;
    }

    if (p < end && *p == '0') {
        p++;

    } else if ((p = ngx_session_scan_digits(p, end)) == NULL) {
        return ngx_session_scan_fail(sc, "invalid JSON text");
    }

    if (p < end && *p == '.') {
        if ((p = ngx_session_scan_digits(p + 1, end)) == NULL) {
            return ngx_session_scan_fail(sc, "invalid JSON text");
        }
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        if ((p = ngx_session_scan_digits(p, end)) == NULL) {
            return ngx_session_scan_fail(sc, "invalid JSON text");
        }
    }

    sc->p = p;

    return NGX_SESSION_OK;
}


/* one digit or more: what follows them, or NULL */

static const unsigned char *
ngx_session_scan_digits(const unsigned char *p, const unsigned char *end)
{
    const unsigned char  *start;

    for (start = p; p < end && ngx_session_digit(*p); p++) {
        /* void */
    }

    return p == start ? NULL : p;
}


static int
ngx_session_scan_literal(ngx_session_scan_t *sc, const char *literal,
    size_t len)
{
    if ((size_t) (sc->end - sc->p) < len || memcmp(sc->p, literal, len) != 0)
    {
        return ngx_session_scan_fail(sc, "invalid JSON text");
    }

    sc->p += len;

    return NGX_SESSION_OK;
}


/* JSON's whitespace: space, tab, LF, CR */

static void
ngx_session_scan_space(ngx_session_scan_t *sc)
{
    while (sc->p < sc->end
           && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n'
               || *sc->p == '\r'))
    {
        sc->p++;
    }
}


/* the first reason found is kept */

static int
ngx_session_scan_fail(ngx_session_scan_t *sc, const char *error)
{
    if (sc->error == NULL) {
        sc->error = error;
    }

    return NGX_SESSION_ERROR;
}


/*
 * Stored JSON is parsed, and later dumped, recursively: bound its nesting
 * well below jansson's own 2048 before parsing.  Brackets inside strings do
 * not count; whether the text is valid JSON is the parser's business.
 */

static int
ngx_session_json_too_deep(const unsigned char *p, size_t len)
{
    size_t  i, depth;
    int     in_string;

    depth = 0;
    in_string = 0;

    for (i = 0; i < len; i++) {

        if (in_string) {
            if (p[i] == '\\') {
                i++;

            } else if (p[i] == '"') {
                in_string = 0;
            }

            continue;
        }

        switch (p[i]) {

        case '"':
            in_string = 1;
            break;

        case '[':
        case '{':
            if (++depth > NGX_SESSION_JSON_MAX_DEPTH) {
                return 1;
            }
            break;

        case ']':
        case '}':
            if (depth) {
                depth--;
            }
            break;
        }
    }

    return 0;
}


/*
 * The body is about the size of the stored values plus the fixed keys;
 * escapes and indentation can make it larger, and then the buffer grows.
 */

static size_t
ngx_session_json_estimate(const ngx_session_data_t *sd, int pretty)
{
    size_t  i, size;

    size = 0;

    for (i = 0; i < NGX_SESSION_NFIELDS; i++) {
        size += sd->fields[i].len;
    }

    for (i = 0; i < sd->nstops; i++) {
        size += sd->stops[i].len + 128;
    }

    return size + size / 4 + (pretty ? size : 0) + 1024;
}


int
ngx_session_parse_timestamp(const unsigned char *p, size_t len,
    int64_t *usec)
{
    int                   year, month, day, hour, min, sec, frac, digits;
    int64_t               days;
    const unsigned char  *end;

    /* YYYY-MM-DD?HH:MM:SS */

    if (p == NULL || len < 19
        || p[4] != '-' || p[7] != '-' || (p[10] != ' ' && p[10] != 'T')
        || p[13] != ':' || p[16] != ':')
    {
        return NGX_SESSION_ERROR;
    }

    year = ngx_session_number(p, 4);
    month = ngx_session_number(p + 5, 2);
    day = ngx_session_number(p + 8, 2);
    hour = ngx_session_number(p + 11, 2);
    min = ngx_session_number(p + 14, 2);
    sec = ngx_session_number(p + 17, 2);

    if (year < 0 || month < 1 || month > 12
        || day < 1 || day > ngx_session_days_in_month(year, month)
        || hour < 0 || hour > 23 || min < 0 || min > 59
        || sec < 0 || sec > 59)
    {
        return NGX_SESSION_ERROR;
    }

    end = p + len;
    p += 19;
    frac = 0;

    if (p < end && *p == '.') {
        p++;

        for (digits = 0; digits < 6 && p < end && ngx_session_digit(*p);
             digits++)
        {
            frac = frac * 10 + (*p++ - '0');
        }

        if (digits == 0) {
            return NGX_SESSION_ERROR;
        }

        for ( /* void */ ; digits < 6; digits++) {
            frac *= 10;
        }
    }

    if (p < end && *p == 'Z') {
        p++;
    }

    /* a 7th fraction digit lands here too */

    if (p != end) {
        return NGX_SESSION_ERROR;
    }

    days = ngx_session_days_from_civil(year, month, day);

    *usec = ((days * 86400 + hour * 3600 + min * 60 + sec) * 1000000)
            + frac;

    return NGX_SESSION_OK;
}


size_t
ngx_session_format_duration(int64_t seconds, char *buf)
{
    int       i, n;
    char      hours[24];
    uint64_t  h;

    /* never produced by the caller (latest - earliest); harmless anyway */

    if (seconds < 0) {
        seconds = 0;
    }

    /* "%02lldh %02dm %02ds" without snprintf(), once per render */

    h = (uint64_t) seconds / 3600;
    n = 0;

    do {
        hours[n++] = (char) ('0' + h % 10);
        h /= 10;
    } while (h);

    if (n == 1) {
        hours[n++] = '0';
    }

    for (i = 0; i < n; i++) {
        buf[i] = hours[n - 1 - i];
    }

    buf[n++] = 'h';
    buf[n++] = ' ';
    buf[n++] = (char) ('0' + seconds / 60 % 60 / 10);
    buf[n++] = (char) ('0' + seconds / 60 % 10);
    buf[n++] = 'm';
    buf[n++] = ' ';
    buf[n++] = (char) ('0' + seconds % 60 / 10);
    buf[n++] = (char) ('0' + seconds % 10);
    buf[n++] = 's';
    buf[n] = '\0';

    return (size_t) n;
}


int
ngx_session_request_id_valid(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_SESSION_REQUEST_ID_MAX
        || !ngx_session_alnum(p[0]))
    {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (!ngx_session_alnum(p[i])
            && p[i] != '.' && p[i] != '_' && p[i] != '-')
        {
            return 0;
        }
    }

    return 1;
}


/*
 * If-None-Match = "*" / #entity-tag (RFC 9110 13.1.2), with empty list
 * elements ignored (5.6.1).  A malformed list is no match: the client then
 * just gets the full body.
 */

int
ngx_session_etag_match(const unsigned char *header, size_t len,
    const unsigned char *etag, size_t etag_len)
{
    int                   matched, listed;
    const unsigned char  *p, *end, *tag;

    p = header;
    end = header + len;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    if (end - p == 1 && *p == '*') {
        return 1;
    }

    matched = 0;
    listed = 0;   /* a tag since the last comma */

    while (p < end) {

        if (*p == ' ' || *p == '\t') {
            p++;
            continue;
        }

        if (*p == ',') {
            listed = 0;
            p++;
            continue;
        }

        if (listed) {
            return 0;
        }

        /* W/ is case-sensitive; weak comparison ignores it */

        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
        }

        if (p == end || *p != '"') {
            return 0;
        }

        tag = p++;

        while (p < end && *p != '"') {
            if (!ngx_session_etagc(*p)) {
                return 0;
            }

            p++;
        }

        if (p == end) {
            return 0;
        }

        p++;

        if ((size_t) (p - tag) == etag_len
            && memcmp(tag, etag, etag_len) == 0)
        {
            matched = 1;
        }

        listed = 1;
    }

    return matched;
}


/* 4 hex digits as a number, or -1 */

static int
ngx_session_hex4(const unsigned char *p)
{
    int            value;
    size_t         i;
    unsigned char  c;

    value = 0;

    for (i = 0; i < 4; i++) {
        c = p[i] | 0x20;

        if (ngx_session_digit(p[i])) {
            value = value * 16 + (p[i] - '0');

        } else if (c >= 'a' && c <= 'f') {
            value = value * 16 + (c - 'a' + 10);

        } else {
            return -1;
        }
    }

    return value;
}


/* n digits as a number, or -1 */

static int
ngx_session_number(const unsigned char *p, size_t n)
{
    int  value;

    for (value = 0; n; n--, p++) {
        if (!ngx_session_digit(*p)) {
            return -1;
        }

        value = value * 10 + (*p - '0');
    }

    return value;
}


static int
ngx_session_days_in_month(int year, int month)
{
    static const int  days[] = { 31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31 };

    if (month == 2
        && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
    {
        return 29;
    }

    return days[month - 1];
}


/*
 * Days since 1970-01-01 in the proleptic Gregorian calendar, counted in
 * 400-year eras of March-based years (H. Hinnant, "chrono-compatible
 * low-level date algorithms"); no timegm(), no TZ, no locale.
 */

static int64_t
ngx_session_days_from_civil(int64_t year, int month, int day)
{
    int64_t  era, yoe, doy, doe;

    year -= month <= 2;
    era = (year >= 0 ? year : year - 399) / 400;
    yoe = year - era * 400;
    doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


/* etagc = %x21 / %x23-7E / obs-text */

static int
ngx_session_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c != 0x7f);
}
