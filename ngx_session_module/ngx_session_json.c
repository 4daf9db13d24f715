
/*
 * The 200 body of SPEC 3.1, built with jansson, and the small syntax checks
 * around it.  Pure C: libc and jansson only.
 *
 * Errors: res->error is a static string that never quotes stored data; it
 * is NULL when the failure was memory (jansson or alloc()), which the
 * module answers with 500 rather than blaming the store.
 */


#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ngx_session_json.h"


/*
 * JSON text from the store.  Top-level scalars are fine for dcams_plus,
 * storage and documents.  "\u0000" is valid JSON, so it must not cost a
 * 502.  Duplicate keys are refused: RFC 8259 leaves their meaning to the
 * parser, and passing on one silently chosen value would let the writer
 * and our clients read different data.
 */
#define NGX_SESSION_JSON_DECODE                                               \
    (JSON_DECODE_ANY|JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL)

#define NGX_SESSION_JSON_PRETTY    JSON_INDENT(4)
#define NGX_SESSION_JSON_COMPACT   JSON_COMPACT


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


static json_t *ngx_session_json_root(const ngx_session_data_t *sd,
    const unsigned char *request_id, size_t request_id_len,
    ngx_session_json_result_t *res);
static json_t *ngx_session_json_string(const ngx_session_str_t *s,
    ngx_session_field_e field, ngx_session_json_result_t *res);
static json_t *ngx_session_json_text(const ngx_session_data_t *sd,
    ngx_session_field_e field, ngx_session_json_result_t *res);
static json_t *ngx_session_json_load(const ngx_session_str_t *s,
    ngx_session_json_result_t *res);
static json_t *ngx_session_json_journey(const ngx_session_data_t *sd,
    ngx_session_json_result_t *res);
static json_t *ngx_session_json_stop(const ngx_session_str_t *s,
    int64_t *usec, int *parsed, ngx_session_json_result_t *res);
static json_t *ngx_session_json_stop_value(const ngx_session_stop_value_t *v,
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
static int ngx_session_json_dump(json_t *root, size_t size, int pretty,
    ngx_session_alloc_pt alloc, void *pool, ngx_session_json_result_t *res);
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
    int      rc;
    json_t  *root;

    res->data = NULL;
    res->len = 0;
    res->error = NULL;
    res->field = NGX_SESSION_NFIELDS;
    res->stop = 0;

    root = ngx_session_json_root(sd, request_id, request_id_len, res);
    if (root == NULL) {
        return NGX_SESSION_ERROR;
    }

    rc = ngx_session_json_dump(root, ngx_session_json_estimate(sd, pretty),
                               pretty, alloc, pool, res);

    json_decref(root);

    return rc;
}


/*
 * json_object_set_new() takes the value's reference even when it fails,
 * and fails on a NULL value: each step below either lands in root or is
 * already released.
 */

static json_t *
ngx_session_json_root(const ngx_session_data_t *sd,
    const unsigned char *request_id, size_t request_id_len,
    ngx_session_json_result_t *res)
{
    json_t               *root, *value;
    ngx_session_str_t     id;
    ngx_session_field_e   f;

    root = json_object();
    if (root == NULL) {
        return NULL;
    }

    for (f = NGX_SESSION_FN; f <= NGX_SESSION_STATUS; f++) {
        value = ngx_session_json_string(&sd->fields[f], f, res);

        if (json_object_set_new(root, ngx_session_field_name(f), value) != 0)
        {
            goto failed;
        }
    }

    id = sd->fields[NGX_SESSION_REQUEST_ID];

    if (id.data == NULL) {
        id.data = request_id;
        id.len = request_id_len;
    }

    value = ngx_session_json_string(&id, NGX_SESSION_REQUEST_ID, res);
    if (json_object_set_new(root, "request_id", value) != 0) {
        goto failed;
    }

    value = ngx_session_json_text(sd, NGX_SESSION_ADDITIONAL_DATA, res);
    if (json_object_set_new(root, "additionalData", value) != 0) {
        goto failed;
    }

    value = ngx_session_json_text(sd, NGX_SESSION_DCAMS_PLUS, res);
    if (json_object_set_new(root, "dcams_plus", value) != 0) {
        goto failed;
    }

    value = ngx_session_json_text(sd, NGX_SESSION_STORAGE, res);
    if (json_object_set_new(root, "storage", value) != 0) {
        goto failed;
    }

    value = ngx_session_json_journey(sd, res);
    if (json_object_set_new(root, "journey", value) != 0) {
        goto failed;
    }

    value = ngx_session_json_text(sd, NGX_SESSION_DOCUMENTS, res);
    if (json_object_set_new(root, "documents", value) != 0) {
        goto failed;
    }

    return root;

failed:

    json_decref(root);

    return NULL;
}


static json_t *
ngx_session_json_string(const ngx_session_str_t *s,
    ngx_session_field_e field, ngx_session_json_result_t *res)
{
    json_t  *value;

    if (s->data == NULL) {
        return json_stringn("", 0);
    }

    /* NULL for invalid UTF-8; jansson reports memory the same way */

    value = json_stringn((const char *) s->data, s->len);
    if (value == NULL) {
        res->error = "invalid UTF-8";
        res->field = field;
    }

    return value;
}


static json_t *
ngx_session_json_text(const ngx_session_data_t *sd,
    ngx_session_field_e field, ngx_session_json_result_t *res)
{
    json_t                   *value;
    const ngx_session_str_t  *s;

    s = &sd->fields[field];

    if (s->data == NULL) {
        goto absent;
    }

    value = ngx_session_json_load(s, res);
    if (value == NULL) {
        res->field = field;
        return NULL;
    }

    if (field != NGX_SESSION_ADDITIONAL_DATA
        || json_is_object(value) || json_is_array(value))
    {
        return value;
    }

    if (json_is_null(value)) {
        goto absent;
    }

    json_decref(value);

    res->error = "not a JSON object or array";
    res->field = field;

    return NULL;

absent:

    switch (field) {

    case NGX_SESSION_ADDITIONAL_DATA:
        return json_array();

    case NGX_SESSION_STORAGE:
        return json_pack("{s:n}", "success");

    default: /* dcams_plus, documents */
        return json_null();
    }
}


static json_t *
ngx_session_json_load(const ngx_session_str_t *s,
    ngx_session_json_result_t *res)
{
    if (ngx_session_json_too_deep(s->data, s->len)) {
        res->error = "JSON text nested too deeply";
        return NULL;
    }

    return ngx_session_json_decode(s->data, s->len, res);
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


static json_t *
ngx_session_json_journey(const ngx_session_data_t *sd,
    ngx_session_json_result_t *res)
{
    int      parsed;
    char     duration[NGX_SESSION_DURATION_LEN];
    size_t   i, n, len;
    json_t  *journey, *stops, *stop;
    int64_t  usec, earliest, latest;

    journey = json_object();
    stops = json_array();

    if (journey == NULL || stops == NULL) {
        goto failed;
    }

    n = 0;
    earliest = 0;
    latest = 0;

    for (i = 0; i < sd->nstops; i++) {
        stop = ngx_session_json_stop(&sd->stops[i], &usec, &parsed, res);

        if (json_array_append_new(stops, stop) != 0) {
            res->field = NGX_SESSION_NFIELDS;
            res->stop = i;
            goto failed;
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

    /* latest >= earliest, so the division floors */

    len = ngx_session_format_duration(
              n < 2 ? 0 : (latest - earliest) / 1000000, duration);

    if (json_object_set_new(journey, "stops", stops) != 0) {
        json_decref(journey);
        return NULL;
    }

    if (json_object_set_new(journey, "duration", json_stringn(duration, len))
        != 0)
    {
        json_decref(journey);
        return NULL;
    }

    return journey;

failed:

    json_decref(stops);
    json_decref(journey);

    return NULL;
}


/*
 * A stored stop, cut down to the six keys; *parsed: timestamp usable.
 *
 * Only the six values are decoded, by jansson.  Every other member is
 * dropped, so it is only scanned: it must be JSON (RFC 8259 syntax, UTF-8),
 * and it is not judged further, since nothing of it is ever emitted: a
 * number of any size, a key repeated or holding "\u0000", a lone surrogate
 * escape are all fine there.  Nesting stays bounded by
 * NGX_SESSION_JSON_MAX_DEPTH, the stop itself counting as one: the bound
 * protects the worker from the text, whatever becomes of it.
 */

static json_t *
ngx_session_json_stop(const ngx_session_str_t *s, int64_t *usec,
    int *parsed, ngx_session_json_result_t *res)
{
    size_t                     i;
    json_t                    *stop, *value;
    ngx_session_stop_value_t   values[NGX_SESSION_STOP_NKEYS];

    *parsed = 0;

    if (ngx_session_stop_scan(s, values, &res->error) != NGX_SESSION_OK) {
        return NULL;
    }

    stop = json_object();
    if (stop == NULL) {
        return NULL;
    }

    for (i = 0; i < NGX_SESSION_STOP_NKEYS; i++) {
        value = ngx_session_json_stop_value(&values[i], res);

        if (json_object_set_new(stop, ngx_session_stop_keys[i].name, value)
            != 0)
        {
            json_decref(stop);
            return NULL;
        }
    }

    value = json_object_get(stop, "timestamp");

    *parsed = (ngx_session_parse_timestamp(
                   (const unsigned char *) json_string_value(value),
                   json_string_length(value), usec)
               == NGX_SESSION_OK);

    return stop;
}


/*
 * The scanner has checked the string's syntax and UTF-8: without escapes
 * its text is the value.  json_stringn() still checks UTF-8, as for every
 * other string of the body.
 */

static json_t *
ngx_session_json_stop_value(const ngx_session_stop_value_t *v,
    ngx_session_json_result_t *res)
{
    json_t  *value;

    if (v->data == NULL) {
        return json_stringn("", 0);
    }

    if (!v->escaped) {
        value = json_stringn((const char *) v->data + 1, v->len - 2);
        if (value == NULL) {
            res->error = "invalid UTF-8 in JSON text";
        }

        return value;
    }

    value = ngx_session_json_decode(v->data, v->len, res);

    if (value != NULL && !json_is_string(value)) {
        json_decref(value);
        res->error = "invalid JSON text";
        return NULL;
    }

    return value;
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

        sc->p++;

        if (c != '\\') {
            continue;
        }

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

    return ngx_session_scan_fail(sc, "invalid JSON text");
}


/*
 * One UTF-8 sequence of 2 to 4 bytes (RFC 3629): no overlong forms, no
 * surrogates, nothing past U+10FFFF; as jansson judges the emitted values.
 */

static int
ngx_session_scan_utf8(ngx_session_scan_t *sc)
{
    size_t               i, n;
    uint32_t             cp, min;
    const unsigned char  *p;

    p = sc->p;

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
        return ngx_session_scan_fail(sc, "invalid UTF-8 in JSON text");
    }

    if ((size_t) (sc->end - p) < n) {
        return ngx_session_scan_fail(sc, "invalid UTF-8 in JSON text");
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return ngx_session_scan_fail(sc, "invalid UTF-8 in JSON text");
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
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
 * Output is about the size of the input plus the fixed keys; escapes and
 * indentation can make it larger, and then the dump is redone with the
 * exact size.
 */

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


static int
ngx_session_json_dump(json_t *root, size_t size, int pretty,
    ngx_session_alloc_pt alloc, void *pool, ngx_session_json_result_t *res)
{
    size_t          len, flags;
    unsigned char  *buf;

    flags = pretty ? NGX_SESSION_JSON_PRETTY : NGX_SESSION_JSON_COMPACT;

    buf = alloc(pool, size);
    if (buf == NULL) {
        return NGX_SESSION_ERROR;
    }

    /* json_dumpb() returns the size it needs, even when it did not fit */

    len = json_dumpb(root, (char *) buf, size, flags);

    if (len > size) {
        size = len;

        buf = alloc(pool, size);
        if (buf == NULL) {
            return NGX_SESSION_ERROR;
        }

        len = json_dumpb(root, (char *) buf, size, flags);
    }

    if (len == 0 || len > size) {
        return NGX_SESSION_ERROR;
    }

    res->data = buf;
    res->len = len;

    return NGX_SESSION_OK;
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
    int  n;

    /* never produced by the caller (latest - earliest); harmless anyway */

    if (seconds < 0) {
        seconds = 0;
    }

    n = snprintf(buf, NGX_SESSION_DURATION_LEN, "%02lldh %02dm %02ds",
                 (long long) (seconds / 3600), (int) (seconds / 60 % 60),
                 (int) (seconds % 60));

    return n > 0 ? (size_t) n : 0;
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
