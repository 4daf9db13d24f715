
/*
 * The response builder on arbitrary stored data: the input is split at
 * 0xff bytes into field values (in ngx_session_field_e order) and then
 * stops.  Invalid UTF-8, deep JSON and odd shapes must give a 502 reason,
 * never a crash or a leak.
 *
 * A body that builds is exactly what jansson's own dump of it gives, in
 * the compact and in the pretty form: the builder writes the structure and
 * copies canonical JSON text itself, and must never differ from jansson.
 *
 * Each stop is also rendered alone and checked against jansson: a stop
 * jansson parses strictly (duplicates refused, nesting within the bound)
 * must render, and whatever renders must carry the six values jansson
 * reads from it.  The builder only scans the members it drops.
 */


#include <string.h>

#include <jansson.h>

#include "ngx_session_json.h"
#include "fuzz.h"


#define FUZZ_MAX_STOPS  64


static const char  *fuzz_keys[] = {
    "timestamp", "type", "source", "status", "action", "detail"
};


static size_t
fuzz_depth(json_t *v)
{
    size_t       d, max, i;
    json_t      *child;
    const char  *key;

    if (!json_is_object(v) && !json_is_array(v)) {
        return 0;
    }

    max = 0;

    if (json_is_array(v)) {
        json_array_foreach(v, i, child) {
            d = fuzz_depth(child);
            max = d > max ? d : max;
        }

    } else {
        json_object_foreach(v, key, child) {
            d = fuzz_depth(child);
            max = d > max ? d : max;
        }
    }

    return max + 1;
}


/* the six values as jansson reads them, or NULL when a value is not one */

static json_t *
fuzz_expected(json_t *stored)
{
    size_t   i;
    json_t  *stop, *v;

    if (!json_is_object(stored)) {
        return NULL;
    }

    stop = json_object();

    for (i = 0; i < 6; i++) {
        v = json_object_get(stored, fuzz_keys[i]);

        if (v == NULL || json_is_null(v)) {
            v = json_string("");

        } else if (json_is_string(v)) {
            json_incref(v);

        } else {
            json_decref(stop);
            return NULL;
        }

        json_object_set_new(stop, fuzz_keys[i], v);
    }

    return stop;
}


static void
fuzz_one_stop(const ngx_session_str_t *s)
{
    int                         rc, strict;
    json_t                     *stored, *expected, *body, *got;
    fuzz_pool_t                 pool = { 0 };
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    memset(&sd, 0, sizeof(ngx_session_data_t));
    sd.stops = (ngx_session_str_t *) s;
    sd.nstops = 1;

    rc = ngx_session_json_build(&sd, (const unsigned char *) "fuzz-id", 7,
                                0, fuzz_alloc, &pool, &res);

    stored = json_loadb((const char *) s->data, s->len,
                        JSON_DECODE_ANY|JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL,
                        NULL);
    /*
     * jansson reads past a raw NUL byte between tokens ("{\"a\":1\0}"),
     * which JSON (RFC 8259) does not allow and the scanner refuses: such
     * text is no strict JSON, whatever jansson says.
     */

    strict = (stored != NULL
              && memchr(s->data, '\0', s->len) == NULL
              && fuzz_depth(stored) <= NGX_SESSION_JSON_MAX_DEPTH);

    if (stored == NULL && rc == NGX_SESSION_OK) {
        /* duplicates dropped, the last one kept: emitted keys are unique */
        stored = json_loadb((const char *) s->data, s->len,
                            JSON_DECODE_ANY|JSON_ALLOW_NUL, NULL);
    }

    expected = stored ? fuzz_expected(stored) : NULL;

    if (strict && expected != NULL && rc != NGX_SESSION_OK) {
        __builtin_trap();
    }

    if (rc == NGX_SESSION_OK && stored != NULL) {
        body = json_loadb((const char *) res.data, res.len, JSON_ALLOW_NUL,
                          NULL);
        got = json_array_get(json_object_get(json_object_get(body, "journey"),
                                             "stops"), 0);

        if (expected == NULL || !json_equal(got, expected)) {
            __builtin_trap();
        }

        json_decref(body);
    }

    json_decref(expected);
    json_decref(stored);
    fuzz_pool_free(&pool);
}


static void
fuzz_jansson_form(const ngx_session_data_t *sd, int pretty)
{
    char                       *dump;
    size_t                      n;
    json_t                     *body;
    fuzz_pool_t                 pool = { 0 };
    ngx_session_json_result_t   res;

    if (ngx_session_json_build(sd, (const unsigned char *) "fuzz-id", 7,
                               pretty, fuzz_alloc, &pool, &res)
        == NGX_SESSION_OK)
    {
        body = json_loadb((const char *) res.data, res.len, JSON_ALLOW_NUL,
                          NULL);
        if (body == NULL) {
            __builtin_trap();
        }

        dump = fuzz_alloc(&pool, res.len + 1);
        n = json_dumpb(body, dump, res.len + 1,
                       pretty ? JSON_INDENT(4) : JSON_COMPACT);
        json_decref(body);

        if (n != res.len || memcmp(dump, res.data, n) != 0) {
            __builtin_trap();
        }
    }

    fuzz_pool_free(&pool);
}


/*
 * The split below reaches the JSON-text fields only after a dozen 0xff
 * separators, which the fuzzer seldom writes: the whole input is also
 * each JSON-text field and a string field, so the copy of canonical text
 * and the escaper see every input.
 */

static void
fuzz_whole(const uint8_t *data, size_t size)
{
    size_t                      i;
    ngx_session_data_t          sd;
    static const ngx_session_field_e  fields[] = {
        NGX_SESSION_FN, NGX_SESSION_ADDITIONAL_DATA, NGX_SESSION_DCAMS_PLUS,
        NGX_SESSION_STORAGE, NGX_SESSION_DOCUMENTS
    };

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        memset(&sd, 0, sizeof(ngx_session_data_t));
        sd.fields[fields[i]].data = data;
        sd.fields[fields[i]].len = size;

        fuzz_jansson_form(&sd, 0);
        fuzz_jansson_form(&sd, 1);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                      i, n, start;
    ngx_session_str_t           stops[FUZZ_MAX_STOPS], *s;
    ngx_session_data_t          sd;

    if (size < 1) {
        return 0;
    }

    memset(&sd, 0, sizeof(ngx_session_data_t));
    sd.stops = stops;

    n = 0;
    start = 1;

    for (i = 1; i <= size; i++) {
        if (i < size && data[i] != 0xff) {
            continue;
        }

        if (n < NGX_SESSION_NFIELDS) {
            s = &sd.fields[n];

        } else if (sd.nstops < FUZZ_MAX_STOPS) {
            s = &stops[sd.nstops++];

        } else {
            break;
        }

        /* bit n of the first byte leaves field n absent */
        if (n >= 8 || !(data[0] & (1u << n))) {
            s->data = data + start;
            s->len = i - start;
        }

        n++;
        start = i + 1;
    }

    sd.hash_len = n;

    fuzz_jansson_form(&sd, 0);
    fuzz_jansson_form(&sd, 1);

    fuzz_whole(data + 1, size - 1);

    for (i = 0; i < sd.nstops; i++) {
        fuzz_one_stop(&stops[i]);
    }

    return 0;
}
