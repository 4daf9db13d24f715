
/*
 * Unit tests of ngx_session_json.c: the SPEC 3.1 body and the syntax checks.
 *
 * Run from the repository root, which finds the published example at
 * ../shared/fixtures/seed-session.json; or pass its path as argv[1].
 */


#define _GNU_SOURCE  /* memmem() */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tap.h"
#include "ngx_session_json.h"
#include "seed.h"


#define TEST_FIXTURE  "../shared/fixtures/seed-session.json"
#define TEST_URL_ID   "url-id"


typedef struct {
    const char  *text;
    int          valid;
    int64_t      usec;
} test_timestamp_t;


typedef struct {
    const char  *text;
    int          match;
} test_etag_t;


/* a stored stop, and the stop emitted or the reason of the 502 */
typedef struct {
    const char  *name;
    const char  *stop;
    const char  *emitted;     /* NULL: refused */
    const char  *error;
} test_stop_t;


/* every block handed out, freed at the end, as the request pool would */
static void   **test_blocks;
static size_t   test_nblocks;
static int      test_alloc_fail;

/* the last test_member() result */
static char     test_buf[32768];
static size_t   test_len;


static void *
test_alloc(void *pool, size_t size)
{
    void   *p, **blocks;

    (void) pool;

    if (test_alloc_fail) {
        return NULL;
    }

    blocks = realloc(test_blocks, (test_nblocks + 1) * sizeof(void *));
    if (blocks == NULL) {
        return NULL;
    }

    test_blocks = blocks;

    p = malloc(size);
    if (p != NULL) {
        test_blocks[test_nblocks++] = p;
    }

    return p;
}


static void
test_free_all(void)
{
    while (test_nblocks) {
        free(test_blocks[--test_nblocks]);
    }

    free(test_blocks);
    test_blocks = NULL;
}


static void
test_set(ngx_session_data_t *sd, ngx_session_field_e field, const char *v)
{
    sd->fields[field].data = (const unsigned char *) v;
    sd->fields[field].len = v ? strlen(v) : 0;
    sd->hash_len++;
}


static void
test_stops(ngx_session_data_t *sd, ngx_session_str_t *stops,
    const char **texts, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        stops[i].data = (const unsigned char *) texts[i];
        stops[i].len = strlen(texts[i]);
    }

    sd->stops = stops;
    sd->nstops = n;
}


static int
test_build(const ngx_session_data_t *sd, int pretty,
    ngx_session_json_result_t *res)
{
    return ngx_session_json_build(sd, (const unsigned char *) TEST_URL_ID,
                                  sizeof(TEST_URL_ID) - 1, pretty,
                                  test_alloc, NULL, res);
}


/* a member of the body by dotted path, compact, into test_buf */

static void
test_member(const ngx_session_json_result_t *res, const char *path)
{
    char    key[64];
    size_t  n;
    json_t  *root, *v;

    test_len = 0;

    root = json_loadb((const char *) res->data, res->len, JSON_ALLOW_NUL,
                      NULL);
    v = root;

    while (v != NULL && *path) {
        n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int) n, path);
        v = json_object_get(v, key);
        path += n + (path[n] == '.');
    }

    if (v != NULL) {
        test_len = json_dumpb(v, test_buf, sizeof(test_buf),
                              JSON_COMPACT|JSON_ENCODE_ANY);
    }

    if (test_len > sizeof(test_buf)) {
        test_len = 0;
    }

    json_decref(root);
}


static int
test_contains(const ngx_session_json_result_t *res, const char *s)
{
    size_t  n;

    n = strlen(s);

    return res->len >= n
           && memmem(res->data, res->len, s, n) != NULL;
}


static char *
test_read_file(const char *path, size_t *len)
{
    long   size;
    char  *buf;
    FILE  *f;

    *len = 0;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    buf = NULL;

    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0
        && fseek(f, 0, SEEK_SET) == 0)
    {
        buf = malloc(size + 1);

        if (buf != NULL && fread(buf, 1, size, f) != (size_t) size) {
            free(buf);
            buf = NULL;
        }

        *len = size;
    }

    fclose(f);

    return buf;
}




static void
test_seed(ngx_session_data_t *sd, ngx_session_str_t *stops)
{
    size_t  i;

    memset(sd, 0, sizeof(ngx_session_data_t));

    for (i = 0; i < SEED_NFIELDS; i++) {
        test_set(sd, seed_fields[i].field, seed_fields[i].value);
    }

    test_stops(sd, stops, seed_stops, 3);
}


static void
test_published_example(const char *path)
{
    int                         rc;
    char                       *file, compact[4096];
    size_t                      len, n;
    json_t                     *fixture;
    ngx_session_str_t           stops[3];
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    file = test_read_file(path, &len);

    if (!ok(file != NULL, "read %s", path)) {
        return;
    }

    /* the file ends with a newline; the body does not */

    if (len && file[len - 1] == '\n') {
        file[--len] = '\0';
    }

    test_seed(&sd, stops);

    rc = test_build(&sd, 1, &res);
    is_int(rc, NGX_SESSION_OK, "example: pretty build");
    if (!ok(res.len == len && memcmp(res.data, file, len) == 0,
            "example: pretty body equals the fixture byte for byte"))
    {
        printf("#   got:\n%.*s\n", (int) res.len, res.data);
    }

    fixture = json_loadb(file, len, 0, NULL);
    ok(fixture != NULL, "example: fixture parses");

    n = json_dumpb(fixture, compact, sizeof(compact) - 1, JSON_COMPACT);
    compact[n < sizeof(compact) ? n : 0] = '\0';
    json_decref(fixture);

    rc = test_build(&sd, 0, &res);
    is_int(rc, NGX_SESSION_OK, "example: compact build");
    is_mem(res.data, res.len, compact,
           "example: compact body equals the fixture's compact dump");

    ok(!test_contains(&res, "owner") && !test_contains(&res, "client-a"),
       "example: owner never emitted");

    free(file);
}


static void
test_defaults(void)
{
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    memset(&sd, 0, sizeof(sd));

    is_int(test_build(&sd, 0, &res), NGX_SESSION_OK, "defaults: build");
    is_mem(res.data, res.len,
           "{\"fn\":\"\",\"ln\":\"\",\"addr\":\"\",\"city\":\"\","
           "\"state\":\"\",\"zip\":\"\",\"dob\":\"\",\"email\":\"\","
           "\"phone\":\"\",\"reference\":\"\",\"status\":\"\","
           "\"request_id\":\"" TEST_URL_ID "\",\"additionalData\":[],"
           "\"dcams_plus\":null,\"storage\":{\"success\":null},"
           "\"journey\":{\"stops\":[],\"duration\":\"00h 00m 00s\"},"
           "\"documents\":null}",
           "defaults: every key, in order, with its default");

    is_int(test_build(&sd, 1, &res), NGX_SESSION_OK, "defaults: pretty");
    is_mem(res.data, res.len,
           "{\n    \"fn\": \"\",\n    \"ln\": \"\",\n    \"addr\": \"\",\n"
           "    \"city\": \"\",\n    \"state\": \"\",\n    \"zip\": \"\",\n"
           "    \"dob\": \"\",\n    \"email\": \"\",\n    \"phone\": \"\",\n"
           "    \"reference\": \"\",\n    \"status\": \"\",\n"
           "    \"request_id\": \"" TEST_URL_ID "\",\n"
           "    \"additionalData\": [],\n    \"dcams_plus\": null,\n"
           "    \"storage\": {\n        \"success\": null\n    },\n"
           "    \"journey\": {\n        \"stops\": [],\n"
           "        \"duration\": \"00h 00m 00s\"\n    },\n"
           "    \"documents\": null\n}",
           "defaults: pretty layout");
}


static void
test_fields(void)
{
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    memset(&sd, 0, sizeof(sd));
    test_set(&sd, NGX_SESSION_STATUS, "PASS");
    test_set(&sd, NGX_SESSION_FN, "J\xc3\xa9r\xc3\xb4me \"q\"\\");
    test_set(&sd, NGX_SESSION_OWNER, "tenant-secret");

    is_int(test_build(&sd, 0, &res), NGX_SESSION_OK, "fields: build");
    test_member(&res, "fn");
    is_mem(test_buf, test_len, "\"J\xc3\xa9r\xc3\xb4me \\\"q\\\"\\\\\"",
           "fields: UTF-8 and escapes");
    test_member(&res, "status");
    is_mem(test_buf, test_len, "\"PASS\"", "fields: status");
    ok(!test_contains(&res, "owner") && !test_contains(&res, "tenant-secret"),
       "whitelist: owner never emitted");

    /* the hash fields the RESP side drops before they get here */

    is_int(ngx_session_field_lookup((const unsigned char *) "ssn", 3),
           NGX_SESSION_NFIELDS, "whitelist: ssn is not ours");
    is_int(ngx_session_field_lookup((const unsigned char *) "journey", 7),
           NGX_SESSION_NFIELDS, "whitelist: journey is not ours");
    is_int(ngx_session_field_lookup((const unsigned char *) "stops", 5),
           NGX_SESSION_NFIELDS, "whitelist: stops is not ours");
    is_int(ngx_session_field_lookup((const unsigned char *) "duration", 8),
           NGX_SESSION_NFIELDS, "whitelist: duration is not ours");

    /* an embedded NUL is valid UTF-8 */

    sd.fields[NGX_SESSION_LN].data = (const unsigned char *) "a\0b";
    sd.fields[NGX_SESSION_LN].len = 3;

    is_int(test_build(&sd, 0, &res), NGX_SESSION_OK, "fields: NUL byte");
    test_member(&res, "ln");
    is_mem(test_buf, test_len, "\"a\\u0000b\"", "fields: NUL escaped");
}


static void
test_request_id_fallback(void)
{
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    memset(&sd, 0, sizeof(sd));

    test_build(&sd, 0, &res);
    test_member(&res, "request_id");
    is_mem(test_buf, test_len, "\"" TEST_URL_ID "\"",
           "request_id: absent, the URL's");

    test_set(&sd, NGX_SESSION_REQUEST_ID, "stored-id");
    test_build(&sd, 0, &res);
    test_member(&res, "request_id");
    is_mem(test_buf, test_len, "\"stored-id\"", "request_id: the hash's");

    test_set(&sd, NGX_SESSION_REQUEST_ID, "");
    test_build(&sd, 0, &res);
    test_member(&res, "request_id");
    is_mem(test_buf, test_len, "\"\"", "request_id: stored empty stays");
}


static void
test_bad_field(ngx_session_field_e field, const char *value,
    const char *name)
{
    int                         rc;
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    memset(&sd, 0, sizeof(sd));
    test_set(&sd, field, value);

    rc = test_build(&sd, 0, &res);
    is_int(rc, NGX_SESSION_ERROR, "%s: error", name);
    ok(res.error != NULL && res.field == field && res.data == NULL,
       "%s: reason and field (%s)", name, res.error ? res.error : "none");
}


static void
test_json_field(ngx_session_field_e field, const char *value,
    const char *want, const char *name)
{
    int                         rc;
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    memset(&sd, 0, sizeof(sd));
    test_set(&sd, field, value);

    rc = test_build(&sd, 0, &res);
    is_int(rc, NGX_SESSION_OK, "%s: build", name);
    test_member(&res, ngx_session_field_name(field));
    is_mem(test_buf, test_len, want, "%s: value", name);
}


static void test_bad_stop(const char *text, const char *name);


/* stored JSON nested NGX_SESSION_JSON_MAX_DEPTH deep passes, one more not */

static void
test_depth(void)
{
    int                         rc;
    char                        deep[2 * NGX_SESSION_JSON_MAX_DEPTH + 64];
    size_t                      i, n;
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    for (n = NGX_SESSION_JSON_MAX_DEPTH; n <= NGX_SESSION_JSON_MAX_DEPTH + 1;
         n++)
    {
        for (i = 0; i < n; i++) {
            deep[i] = '[';
            deep[n + i] = ']';
        }

        deep[2 * n] = '\0';

        memset(&sd, 0, sizeof(sd));
        test_set(&sd, NGX_SESSION_DCAMS_PLUS, deep);
        rc = test_build(&sd, 0, &res);

        if (n == NGX_SESSION_JSON_MAX_DEPTH) {
            is_int(rc, NGX_SESSION_OK, "nesting %zu deep: accepted", n);

        } else {
            is_int(rc, NGX_SESSION_ERROR, "nesting %zu deep: refused", n);
            ok(res.error && strcmp(res.error, "JSON text nested too deeply")
                            == 0, "nesting: the reason");
        }
    }

    /* brackets in strings, escaped quotes included, are text */

    n = snprintf(deep, sizeof(deep), "[\"\\\"");
    for (i = 0; i < NGX_SESSION_JSON_MAX_DEPTH + 10; i++) {
        deep[n++] = '[';
    }
    snprintf(deep + n, sizeof(deep) - n, "\"]");

    memset(&sd, 0, sizeof(sd));
    test_set(&sd, NGX_SESSION_ADDITIONAL_DATA, deep);
    is_int(test_build(&sd, 0, &res), NGX_SESSION_OK,
           "brackets inside a string do not nest");

    test_bad_stop("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                  "[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                  "]]]]]]]]]]]]]]]]]]]}", "a stop nested too deeply");
}


static void
test_stored_shapes(void)
{
    test_bad_field(NGX_SESSION_FN, "\xff", "fn invalid UTF-8");
    test_bad_field(NGX_SESSION_EMAIL, "a\xc0\xaf" "b", "email overlong UTF-8");
    test_bad_field(NGX_SESSION_STATUS, "\xed\xa0\x80", "status surrogate");
    test_bad_field(NGX_SESSION_REQUEST_ID, "id\xe2\x82", "request_id cut");

    test_bad_field(NGX_SESSION_DCAMS_PLUS, "{", "dcams_plus unparsable");
    test_bad_field(NGX_SESSION_DCAMS_PLUS, "{} x", "dcams_plus trailing");
    test_bad_field(NGX_SESSION_STORAGE, "nul", "storage unparsable");
    test_bad_field(NGX_SESSION_STORAGE, "{\"a\":1,\"a\":2}",
                   "storage duplicate key");
    test_bad_field(NGX_SESSION_DOCUMENTS, "", "documents empty text");
    test_bad_field(NGX_SESSION_DOCUMENTS, "[\"\xff\"]",
                   "documents invalid UTF-8");
    test_bad_field(NGX_SESSION_ADDITIONAL_DATA, "\"text\"",
                   "additionalData string");
    test_bad_field(NGX_SESSION_ADDITIONAL_DATA, "3", "additionalData number");
    test_bad_field(NGX_SESSION_ADDITIONAL_DATA, "true",
                   "additionalData boolean");
    test_bad_field(NGX_SESSION_ADDITIONAL_DATA, "[", "additionalData cut");

    /* canonical-looking text with the wrong closer: never copied as it is */

    test_bad_field(NGX_SESSION_DCAMS_PLUS, "[}", "dcams_plus [}");
    test_bad_field(NGX_SESSION_STORAGE, "{]", "storage {]");
    test_bad_field(NGX_SESSION_DOCUMENTS, "{\"a\":[}}", "documents nested [}");
    test_bad_field(NGX_SESSION_ADDITIONAL_DATA, "[{]]", "additionalData {]");

    test_json_field(NGX_SESSION_ADDITIONAL_DATA, "null", "[]",
                    "additionalData null");
    test_json_field(NGX_SESSION_ADDITIONAL_DATA, " {\"k\": [1, 2]} ",
                    "{\"k\":[1,2]}", "additionalData object");
    test_json_field(NGX_SESSION_ADDITIONAL_DATA, "[{}]", "[{}]",
                    "additionalData array");
    test_json_field(NGX_SESSION_DCAMS_PLUS, "42", "42", "dcams_plus number");
    test_json_field(NGX_SESSION_DCAMS_PLUS, "\"s\"", "\"s\"",
                    "dcams_plus string");
    test_json_field(NGX_SESSION_STORAGE, "null", "null",
                    "storage stored null");
    test_json_field(NGX_SESSION_STORAGE, "false", "false", "storage false");
    test_json_field(NGX_SESSION_DOCUMENTS, "[\"\\u0000\"]", "[\"\\u0000\"]",
                    "documents escaped NUL");

    /* jansson keeps doubles and prints them with %.17g */

    test_json_field(NGX_SESSION_DOCUMENTS, "{\"x\":0.1,\"y\":1.5,\"z\":1e2}",
                    "{\"x\":0.10000000000000001,\"y\":1.5,\"z\":100.0}",
                    "documents reals");

    /* beyond int64: jansson refuses it */

    test_bad_field(NGX_SESSION_DOCUMENTS, "18446744073709551616",
                   "documents integer overflow");
}


/* the six values emitted: T the type, everything else "" */
#define TEST_STOP_T                                                           \
    "[{\"timestamp\":\"\",\"type\":\"T\",\"source\":\"\",\"status\":\"\","     \
    "\"action\":\"\",\"detail\":\"\"}]"

#define TEST_STOP_STATUS(s)                                                   \
    "[{\"timestamp\":\"\",\"type\":\"\",\"source\":\"\","                      \
    "\"status\":" s ",\"action\":\"\",\"detail\":\"\"}]"

#define TEST_INVALID   "invalid JSON text"
#define TEST_UTF8      "invalid UTF-8 in JSON text"
#define TEST_DEEP      "JSON text nested too deeply"

/* 62 and 63 containers inside the stop: 63 and 64 levels with it */
#define TEST_A8    "[[[[[[[["
#define TEST_Z8    "]]]]]]]]"
#define TEST_A62                                                              \
    TEST_A8 TEST_A8 TEST_A8 TEST_A8 TEST_A8 TEST_A8 TEST_A8 "[[[[[["
#define TEST_Z62                                                              \
    TEST_Z8 TEST_Z8 TEST_Z8 TEST_Z8 TEST_Z8 TEST_Z8 TEST_Z8 "]]]]]]"


/*
 * SPEC 3.2: only the six values of a stop are judged; any other member is
 * dropped, so whatever valid JSON it holds cannot fail the session (issue
 * 9 item 4).  Nesting stays bounded, the stop counting as one level.
 */

static const test_stop_t  test_stop_cases[] = {

    /* dropped members: any valid JSON */

    { "dropped 1e999", "{\"type\":\"T\",\"score\":1e999}", TEST_STOP_T, NULL },
    { "dropped -1e999", "{\"score\":-1e999,\"type\":\"T\"}", TEST_STOP_T,
      NULL },
    { "dropped 1E-999", "{\"score\":1E-999,\"type\":\"T\"}", TEST_STOP_T,
      NULL },
    { "dropped 2^64", "{\"id\":18446744073709551616,\"type\":\"T\"}",
      TEST_STOP_T, NULL },
    { "dropped below int64",
      "{\"id\":-9223372036854775809,\"type\":\"T\"}", TEST_STOP_T, NULL },
    { "dropped 40-digit id",
      "{\"id\":1234567890123456789012345678901234567890,\"type\":\"T\"}",
      TEST_STOP_T, NULL },
    { "dropped duplicate key", "{\"x\":1,\"type\":\"T\",\"x\":2}",
      TEST_STOP_T, NULL },
    { "dropped duplicate nested",
      "{\"type\":\"T\",\"v\":{\"a\":1,\"a\":[1,{\"b\":2,\"b\":3}]}}",
      TEST_STOP_T, NULL },
    { "dropped \\u0000 in a key", "{\"a\\u0000b\":1,\"type\":\"T\"}",
      TEST_STOP_T, NULL },
    { "dropped key \\u0000 alone", "{\"\\u0000\":1,\"type\":\"T\"}",
      TEST_STOP_T, NULL },
    { "dropped nested \\u0000 key",
      "{\"type\":\"T\",\"v\":{\"\\u0000\":{\"\\u0000\":null}}}", TEST_STOP_T,
      NULL },
    { "dropped \"status\\u0000\" is not status",
      "{\"status\\u0000\":1,\"type\":\"T\"}", TEST_STOP_T, NULL },
    { "dropped lone surrogate", "{\"x\":\"\\ud800\",\"type\":\"T\"}",
      TEST_STOP_T, NULL },
    { "dropped every kind",
      "{\"type\":\"T\",\"v\":[true,false,null,-0,0.5e+3,\"\\\"\\\\\\/\\b\\f\\n"
      "\\r\\t\\u00E9\",{},[],{\"k\":[]}, \"\xc3\xa9\\uD83D\\uDE00\"]}",
      TEST_STOP_T, NULL },
    { "dropped whitespace",
      " \t\r\n{ \"x\" : [ 1 , { } ] , \"type\" : \"T\" } \n", TEST_STOP_T,
      NULL },
    { "dropped 63 levels in all",
      "{\"type\":\"T\",\"v\":" TEST_A62 TEST_Z62 "}", TEST_STOP_T, NULL },
    { "dropped 64 levels in all",
      "{\"type\":\"T\",\"v\":[" TEST_A62 TEST_Z62 "]}", TEST_STOP_T, NULL },
    { "a 64-level stop: key order does not matter",
      "{\"v\":{\"w\":" TEST_A62 TEST_Z62 "},\"type\":\"T\"}", TEST_STOP_T,
      NULL },

    /* ... but still JSON, and still bounded */

    { "dropped 65 levels in all",
      "{\"type\":\"T\",\"v\":[[" TEST_A62 TEST_Z62 "]]}", NULL, TEST_DEEP },
    { "dropped 65 levels, objects",
      "{\"type\":\"T\",\"v\":{\"a\":[" TEST_A62 TEST_Z62 "]}}", NULL,
      TEST_DEEP },
    { "dropped leading zero", "{\"x\":01}", NULL, TEST_INVALID },
    { "dropped bare minus", "{\"x\":-}", NULL, TEST_INVALID },
    { "dropped dot without digits", "{\"x\":1.}", NULL, TEST_INVALID },
    { "dropped exponent without digits", "{\"x\":1e+}", NULL, TEST_INVALID },
    { "dropped hex", "{\"x\":0x1}", NULL, TEST_INVALID },
    { "dropped NaN", "{\"x\":NaN}", NULL, TEST_INVALID },
    { "dropped bad literal", "{\"x\":tru}", NULL, TEST_INVALID },
    { "dropped literal too long", "{\"x\":nulls}", NULL, TEST_INVALID },
    { "dropped no value", "{\"x\":}", NULL, TEST_INVALID },
    { "dropped no colon", "{\"x\" 1}", NULL, TEST_INVALID },
    { "dropped no comma", "{\"x\":1 \"y\":2}", NULL, TEST_INVALID },
    { "dropped trailing comma", "{\"x\":[1,]}", NULL, TEST_INVALID },
    { "dropped trailing comma in object", "{\"x\":{\"a\":1,}}", NULL,
      TEST_INVALID },
    { "stop trailing comma", "{\"x\":1,}", NULL, TEST_INVALID },
    { "dropped key not a string", "{\"x\":{1:2}}", NULL, TEST_INVALID },
    { "dropped key without value", "{\"x\":{\"a\"}}", NULL, TEST_INVALID },
    { "dropped bracket mismatch", "{\"x\":[1}", NULL, TEST_INVALID },
    { "dropped brace mismatch", "{\"x\":{\"a\":1]}", NULL, TEST_INVALID },
    { "dropped unterminated", "{\"x\":[1,2", NULL, TEST_INVALID },
    { "dropped string unterminated", "{\"x\":\"ab}", NULL, TEST_INVALID },
    { "dropped bad escape", "{\"x\":\"\\q\"}", NULL, TEST_INVALID },
    { "dropped short \\u", "{\"x\":\"\\u12\"}", NULL, TEST_INVALID },
    { "dropped \\u not hex", "{\"x\":\"\\u12g4\"}", NULL, TEST_INVALID },
    { "dropped raw tab", "{\"x\":\"a\tb\"}", NULL, TEST_INVALID },
    { "dropped single quotes", "{\"x\":'a'}", NULL, TEST_INVALID },
    { "dropped invalid UTF-8", "{\"x\":\"\xff\"}", NULL, TEST_UTF8 },
    { "dropped overlong UTF-8", "{\"x\":\"\xc0\xaf\"}", NULL, TEST_UTF8 },
    { "dropped UTF-8 surrogate", "{\"x\":\"\xed\xa0\x80\"}", NULL, TEST_UTF8 },
    { "dropped past U+10FFFF", "{\"x\":\"\xf4\x90\x80\x80\"}", NULL,
      TEST_UTF8 },
    { "dropped UTF-8 cut", "{\"x\":\"\xe2\x82\"}", NULL, TEST_UTF8 },
    { "UTF-8 in a dropped key", "{\"\xff\":1}", NULL, TEST_UTF8 },
    { "stop trailing data", "{\"x\":1} x", NULL, TEST_INVALID },
    { "two stops in one", "{}{}", NULL, TEST_INVALID },
    { "stop cut", "{\"type\":\"T\"", NULL, TEST_INVALID },
    { "stop NUL byte", "{\"type\":\"T\"}\0", NULL, TEST_INVALID },

    /* emitted members: strings or null, once */

    { "empty stop", "{}", TEST_STOP_STATUS("\"\""), NULL },
    { "status null", "{\"status\":null}", TEST_STOP_STATUS("\"\""), NULL },
    { "status escapes decoded",
      "{\"status\":\"a\\\"b\\u00e9\\n\\ud83d\\ude00\"}",
      TEST_STOP_STATUS("\"a\\\"b\xc3\xa9\\n\xf0\x9f\x98\x80\""), NULL },
    { "status \\u0000 kept", "{\"status\":\"a\\u0000b\"}",
      TEST_STOP_STATUS("\"a\\u0000b\""), NULL },
    { "status UTF-8", "{\"status\":\"\xc3\xa9\"}",
      TEST_STOP_STATUS("\"\xc3\xa9\""), NULL },
    { "escaped key names status", "{\"st\\u0061tus\":\"S\"}",
      TEST_STOP_STATUS("\"S\""), NULL },
    { "status repeated", "{\"status\":\"a\",\"status\":\"b\"}", NULL,
      "\"status\" repeated" },
    { "status repeated, same value", "{\"status\":\"a\",\"status\":\"a\"}",
      NULL, "\"status\" repeated" },
    { "status repeated as null", "{\"status\":null,\"status\":null}", NULL,
      "\"status\" repeated" },
    { "status repeated, escaped", "{\"status\":\"a\",\"\\u0073tatus\":\"b\"}",
      NULL, "\"status\" repeated" },
    { "status 1e999", "{\"status\":1e999}", NULL,
      "\"status\" is not a string or null" },
    { "type 2^64", "{\"type\":18446744073709551616}", NULL,
      "\"type\" is not a string or null" },
    { "detail an array", "{\"detail\":[]}", NULL,
      "\"detail\" is not a string or null" },
    { "action false", "{\"action\":false}", NULL,
      "\"action\" is not a string or null" },
    { "source nul", "{\"source\":nul}", NULL, TEST_INVALID },
    { "status lone surrogate", "{\"status\":\"\\udc00\"}", NULL, TEST_INVALID },
    { "status invalid UTF-8", "{\"status\":\"\xc3\"}", NULL, TEST_UTF8 },

    /* not an object at all */

    { "stop array", "[{\"type\":\"T\"}]", NULL, "not a JSON object" },
    { "stop number", " 1e999 ", NULL, "not a JSON object" },
    { "stop unparsable", "nope", NULL, TEST_INVALID },
    { "stop empty", "", NULL, TEST_INVALID },
    { "stop blank", " ", NULL, TEST_INVALID }
};


static void
test_stop_members(void)
{
    int                         rc;
    size_t                      i, len;
    const char                 *stops[1];
    ngx_session_str_t           strs[1];
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;
    const test_stop_t          *t;

    for (i = 0; i < sizeof(test_stop_cases) / sizeof(test_stop_cases[0]);
         i++)
    {
        t = &test_stop_cases[i];

        memset(&sd, 0, sizeof(sd));
        stops[0] = t->stop;
        test_stops(&sd, strs, stops, 1);

        /* the NUL byte case: its text goes one past the C string */
        len = strlen(t->stop);
        if (strcmp(t->name, "stop NUL byte") == 0) {
            strs[0].len = len + 1;
        }

        rc = test_build(&sd, 0, &res);

        if (t->emitted) {
            is_int(rc, NGX_SESSION_OK, "%s: rendered (%s)", t->name,
                   res.error ? res.error : "ok");
            test_member(&res, "journey.stops");
            is_mem(test_buf, test_len, t->emitted, "%s: emitted", t->name);
            ok(rc != NGX_SESSION_OK
               || (!test_contains(&res, "\"x\"")
                   && !test_contains(&res, "\"v\"")
                   && !test_contains(&res, "\"id\"")),
               "%s: dropped members not emitted", t->name);
            continue;
        }

        is_int(rc, NGX_SESSION_ERROR, "%s: 502", t->name);
        ok(res.error != NULL && strcmp(res.error, t->error) == 0
           && res.field == NGX_SESSION_NFIELDS && res.stop == 0,
           "%s: stop 0, \"%s\" (got \"%s\")", t->name, t->error,
           res.error ? res.error : "memory");
    }
}


static void
test_bad_stop(const char *text, const char *name)
{
    int                         rc;
    const char                 *stops[2];
    ngx_session_str_t           strs[2];
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    memset(&sd, 0, sizeof(sd));

    stops[0] = seed_stops[0];
    stops[1] = text;
    test_stops(&sd, strs, stops, 2);

    rc = test_build(&sd, 0, &res);
    is_int(rc, NGX_SESSION_ERROR, "%s: error", name);
    ok(res.error != NULL && res.field == NGX_SESSION_NFIELDS
       && res.stop == 1,
       "%s: stop 1 named (%s)", name, res.error ? res.error : "none");
}


static void
test_stop_shapes(void)
{
    const char                 *stops[1];
    ngx_session_str_t           strs[1];
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    test_bad_stop("[]", "stop array");
    test_bad_stop("\"s\"", "stop string");
    test_bad_stop("null", "stop null");
    test_bad_stop("nope", "stop unparsable");
    test_bad_stop("", "stop empty");
    test_bad_stop("{\"type\":1}", "stop number value");
    test_bad_stop("{\"detail\":{}}", "stop object value");
    test_bad_stop("{\"timestamp\":true}", "stop boolean timestamp");
    test_bad_stop("{\"type\":\"\xff\"}", "stop invalid UTF-8");

    memset(&sd, 0, sizeof(sd));

    stops[0] = "{\"ssn\":\"123-45-6789\",\"extra\":{\"x\":[1]},"
               "\"detail\":null,\"type\":\"T\",\"timestamp\":\"when\"}";
    test_stops(&sd, strs, stops, 1);

    is_int(test_build(&sd, 0, &res), NGX_SESSION_OK, "stop: build");
    test_member(&res, "journey");
    is_mem(test_buf, test_len,
           "{\"stops\":[{\"timestamp\":\"when\",\"type\":\"T\","
           "\"source\":\"\",\"status\":\"\",\"action\":\"\","
           "\"detail\":\"\"}],\"duration\":\"00h 00m 00s\"}",
           "stop: six keys in order, extra dropped, null and missing \"\"");
    ok(!test_contains(&res, "ssn") && !test_contains(&res, "extra"),
       "stop: extra keys never emitted");
}


static void
test_duration(const char **timestamps, size_t n, const char *want,
    const char *name)
{
    char                        texts[8][128];
    size_t                      i;
    const char                 *stops[8];
    ngx_session_str_t           strs[8];
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    memset(&sd, 0, sizeof(sd));

    /* NULL: a stop without a timestamp */

    for (i = 0; i < n; i++) {
        if (timestamps[i] == NULL) {
            snprintf(texts[i], sizeof(texts[i]), "{\"type\":\"x\"}");

        } else {
            snprintf(texts[i], sizeof(texts[i]), "{\"timestamp\":\"%s\"}",
                     timestamps[i]);
        }

        stops[i] = texts[i];
    }

    test_stops(&sd, strs, stops, n);

    is_int(test_build(&sd, 0, &res), NGX_SESSION_OK, "%s: build", name);
    test_member(&res, "journey.duration");
    is_mem(test_buf, test_len, want, "%s: duration", name);
}


static void
test_durations(void)
{
    static const char  *one[] = { "2024-01-01 00:00:00" };
    static const char  *unordered[] = {
        "2024-08-19 20:56:57.448256",
        "2024-08-19 20:56:25.223174",
        "2024-08-19 20:56:41.280685"
    };
    static const char  *hours[] = {
        "2024-01-06 03:04:05", "2024-01-01 00:00:00"
    };
    static const char  *tz[] = {
        "2024-01-01T00:00:00Z", "2024-01-01 00:01:00.5"
    };
    static const char  *fraction[] = {
        "2024-01-01 00:00:00.9", "2024-01-01 00:00:02.1"
    };
    static const char  *year[] = {
        "2023-12-31 23:59:59", "2024-01-01 00:00:01Z"
    };
    static const char  *mixed[] = {
        "garbage", "2024-01-01 00:00:05", "2024-13-01 00:00:00", NULL,
        "2024-01-01 00:00:15", "2024-01-01 00:00:00 ", "1900-02-29 00:00:00"
    };
    static const char  *lone[] = {
        "2024-01-01 00:00:00", "2024-01-01 00:00", NULL
    };

    test_duration(NULL, 0, "\"00h 00m 00s\"", "duration: no stops");
    test_duration(one, 1, "\"00h 00m 00s\"", "duration: one stop");
    test_duration(unordered, 3, "\"00h 00m 32s\"", "duration: unordered");
    test_duration(hours, 2, "\"123h 04m 05s\"", "duration: over 99 hours");
    test_duration(tz, 2, "\"00h 01m 00s\"", "duration: T and Z");
    test_duration(fraction, 2, "\"00h 00m 01s\"", "duration: floored");
    test_duration(year, 2, "\"00h 00m 02s\"", "duration: across years");
    test_duration(mixed, 7, "\"00h 00m 10s\"", "duration: bad ones ignored");
    test_duration(lone, 3, "\"00h 00m 00s\"", "duration: one parseable");
}


static void
test_format_duration(void)
{
    char    buf[NGX_SESSION_DURATION_LEN];
    size_t  n;

    n = ngx_session_format_duration(0, buf);
    is_mem(buf, n, "00h 00m 00s", "format: zero");
    n = ngx_session_format_duration(3599, buf);
    is_mem(buf, n, "00h 59m 59s", "format: under an hour");
    n = ngx_session_format_duration(100 * 3600 + 61, buf);
    is_mem(buf, n, "100h 01m 01s", "format: three-digit hours");
    n = ngx_session_format_duration(INT64_MAX, buf);
    is_mem(buf, n, "2562047788015215h 30m 07s", "format: int64 max");
    n = ngx_session_format_duration(-5, buf);
    is_mem(buf, n, "00h 00m 00s", "format: negative clamps");
}


static void
test_timestamps(void)
{
    int      rc;
    size_t   i;
    int64_t  usec;

    static const test_timestamp_t  tests[] = {
        { "1970-01-01 00:00:00", 1, 0 },
        { "2024-08-19 20:56:25.223174", 1, 1724100985223174LL },
        { "1969-12-31 23:59:59.5", 1, -500000 },
        { "2000-02-29 12:00:00", 1, 951825600000000LL },
        { "2024-02-29T00:00:00.000001Z", 1, 1709164800000001LL },
        { "0000-01-01 00:00:00", 1, -62167219200000000LL },
        { "0001-01-01 00:00:00", 1, -62135596800000000LL },
        { "9999-12-31 23:59:59.999999", 1, 253402300799999999LL },
        { "2024-04-30 23:59:59", 1, 0 },
        { "2024-12-31T23:59:59Z", 1, 0 },
        { "1900-02-29 00:00:00", 0, 0 },
        { "2023-02-29 00:00:00", 0, 0 },
        { "2100-02-29 00:00:00", 0, 0 },
        { "2024-04-31 00:00:00", 0, 0 },
        { "2024-06-31 00:00:00", 0, 0 },
        { "2024-00-10 00:00:00", 0, 0 },
        { "2024-13-10 00:00:00", 0, 0 },
        { "2024-01-00 00:00:00", 0, 0 },
        { "2024-01-32 00:00:00", 0, 0 },
        { "2024-01-01 24:00:00", 0, 0 },
        { "2024-01-01 00:60:00", 0, 0 },
        { "2024-01-01 00:00:60", 0, 0 },
        { "2024-01-01 00:00:00.1234567", 0, 0 },
        { "2024-01-01 00:00:00.", 0, 0 },
        { "2024-01-01 00:00:00.Z", 0, 0 },
        { "2024-01-01 00:00:00 ", 0, 0 },
        { " 2024-01-01 00:00:00", 0, 0 },
        { "2024-01-01 00:00", 0, 0 },
        { "2024-01-01", 0, 0 },
        { "2024-01-01t00:00:00", 0, 0 },
        { "2024-01-01_00:00:00", 0, 0 },
        { "2024-01-01 00:00:00z", 0, 0 },
        { "2024-01-01 00:00:00ZZ", 0, 0 },
        { "2024-01-01 00:00:00Z.5", 0, 0 },
        { "2024-01-01 00:00:00+00:00", 0, 0 },
        { "2024-1-01 00:00:00", 0, 0 },
        { "2024-+1-01 00:00:00", 0, 0 },
        { "+024-01-01 00:00:00", 0, 0 },
        { "2024/01/01 00:00:00", 0, 0 },
        { "", 0, 0 }
    };

    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        usec = 0;
        rc = ngx_session_parse_timestamp((const unsigned char *) tests[i].text,
                                         strlen(tests[i].text), &usec);

        is_int(rc, tests[i].valid ? NGX_SESSION_OK : NGX_SESSION_ERROR,
               "timestamp \"%s\" %s", tests[i].text,
               tests[i].valid ? "valid" : "invalid");

        if (tests[i].valid && tests[i].usec) {
            is_int(usec, tests[i].usec, "timestamp \"%s\" value",
                   tests[i].text);
        }
    }

    /* the length bounds the parse, not a NUL */

    rc = ngx_session_parse_timestamp(
             (const unsigned char *) "2024-01-01 00:00:00.5", 19, &usec);
    is_int(rc, NGX_SESSION_OK, "timestamp: length honoured");
    is_int(usec, 1704067200000000LL, "timestamp: fraction beyond len unread");
}


static void
test_request_ids(void)
{
    char    id[130];
    size_t  i;

    static const struct {
        const char  *text;
        int          valid;
    } tests[] = {
        { "a", 1 },
        { "9", 1 },
        { "A.b_c-9", 1 },
        { "19fe3b9e-384e-41d1-bded-8de9ef3abacb", 1 },
        { "a..", 1 },
        { "", 0 },
        { ".a", 0 },
        { "-a", 0 },
        { "_a", 0 },
        { "a/b", 0 },
        { "a/", 0 },
        { "a b", 0 },
        { "a%2F", 0 },
        { "a?b", 0 },
        { "a+b", 0 },
        { "caf\xc3\xa9", 0 }
    };

    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        is_int(ngx_session_request_id_valid(
                   (const unsigned char *) tests[i].text,
                   strlen(tests[i].text)),
               tests[i].valid, "request_id \"%s\" %s", tests[i].text,
               tests[i].valid ? "valid" : "invalid");
    }

    memset(id, 'a', sizeof(id));

    is_int(ngx_session_request_id_valid((const unsigned char *) id, 128), 1,
           "request_id of 128 chars valid");
    is_int(ngx_session_request_id_valid((const unsigned char *) id, 129), 0,
           "request_id of 129 chars invalid");
    is_int(ngx_session_request_id_valid((const unsigned char *) "a\0b", 3), 0,
           "request_id with NUL invalid");
}


static void
test_etags(void)
{
    size_t  i;

    static const char  etag[] = "\"abc\"";

    static const test_etag_t  tests[] = {
        { "\"abc\"", 1 },
        { "W/\"abc\"", 1 },
        { "*", 1 },
        { " *\t", 1 },
        { "\"x\", \"abc\"", 1 },
        { "\"x\",W/\"abc\"", 1 },
        { "\"x\" , \"abc\" ,\"y\"", 1 },
        { ", ,\"abc\",", 1 },
        { "\t\"abc\"\t", 1 },
        { "\"\", \"abc\"", 1 },
        { "\"x\"", 0 },
        { "\"ABC\"", 0 },
        { "\"abc", 0 },
        { "abc", 0 },
        { "w/\"abc\"", 0 },
        { "W/ \"abc\"", 0 },
        { "W/abc", 0 },
        { "\"x\" \"abc\"", 0 },
        { "\"abc\"\"abc\"", 0 },
        { "*, \"abc\"", 0 },
        { "\"abc\", *", 0 },
        { "**", 0 },
        { "\"abc\", junk", 0 },
        { "\"a bc\", \"abc\"", 0 },
        { "\"a\"bc\", \"abc\"", 0 },
        { "\"a\x7f\", \"abc\"", 0 },
        { "", 0 },
        { " ", 0 },
        { ",", 0 }
    };

    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        is_int(ngx_session_etag_match((const unsigned char *) tests[i].text,
                                      strlen(tests[i].text),
                                      (const unsigned char *) etag,
                                      sizeof(etag) - 1),
               tests[i].match, "etag '%s' %s", tests[i].text,
               tests[i].match ? "matches" : "does not match");
    }

    is_int(ngx_session_etag_match((const unsigned char *) "\"\xc3\xa9\"", 4,
                                  (const unsigned char *) "\"\xc3\xa9\"", 4),
           1, "etag with obs-text matches");
}


static void
test_memory(void)
{
    char                        big[4001];
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    memset(&sd, 0, sizeof(sd));

    /* every byte a 6-byte escape: past the estimate, dumped again */

    memset(big, '\x01', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    test_set(&sd, NGX_SESSION_FN, big);

    is_int(test_build(&sd, 0, &res), NGX_SESSION_OK, "memory: large escape");
    test_member(&res, "fn");
    ok(test_len == 4000 * 6 + 2
       && memcmp(test_buf, "\"\\u0001\\u0001", 13) == 0,
       "memory: re-dumped in full");

    test_alloc_fail = 1;

    ok(test_build(&sd, 0, &res) == NGX_SESSION_ERROR && res.error == NULL,
       "memory: alloc failure is an error without a reason");

    test_alloc_fail = 0;
}


/*
 * The bytes of a JSON-text field in the compact body: copied when the text
 * is already in jansson's compact form, else parsed and written as
 * json_dumpb() would.  Either way the bytes are jansson's.
 */

typedef struct {
    const char  *text;
    const char  *want;
    const char  *name;
} test_form_t;

static const test_form_t  test_forms[] = {
    { "{\"a\":1,\"b\":[true,false,null],\"c\":{}}",
      "{\"a\":1,\"b\":[true,false,null],\"c\":{}}", "canonical: as it is" },
    { "{ \"a\" : 1 }", "{\"a\":1}", "spaces dropped" },
    { "[\"\\/x\",\"\\u00e9\",\"\\n\"]", "[\"/x\",\"\xc3\xa9\",\"\\n\"]",
      "escapes decoded, re-escaped as jansson does" },
    { "[\"\\u001f\\u007f\"]", "[\"\\u001F\x7f\"]",
      "control characters as \\u00XX, DEL as it is" },
    { "[-0,0,-1,123456789012345678]", "[0,0,-1,123456789012345678]",
      "-0 is the integer 0" },
    { "[1234567890123456789]", "[1234567890123456789]",
      "19 digits: jansson's integer" },
    { "[1.5,1e2,0.1,-2E-3]", "[1.5,100.0,0.10000000000000001,-0.002]",
      "reals in jansson's %.17g form" },
    { "\"\xf0\x9f\x98\x80\"", "\"\xf0\x9f\x98\x80\"", "a top-level string" },
    { "{\"\":{\"\":[]}}", "{\"\":{\"\":[]}}", "empty keys, nested" },
    { "{\"a\":{\"b\":1},\"b\":{\"a\":1}}", "{\"a\":{\"b\":1},\"b\":{\"a\":1}}",
      "the same key in other objects" },
};


static void
test_text_forms(void)
{
    int                         rc;
    char                        want[256];
    size_t                      i;
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    for (i = 0; i < sizeof(test_forms) / sizeof(test_forms[0]); i++) {
        memset(&sd, 0, sizeof(sd));
        test_set(&sd, NGX_SESSION_DCAMS_PLUS, test_forms[i].text);

        rc = test_build(&sd, 0, &res);
        is_int(rc, NGX_SESSION_OK, "form, %s: build", test_forms[i].name);

        snprintf(want, sizeof(want), "\"dcams_plus\":%s,\"storage\"",
                 test_forms[i].want);
        ok(rc == NGX_SESSION_OK && test_contains(&res, want),
           "form, %s: the bytes", test_forms[i].name);
    }
}


/* repeated keys are refused in any object, also past the tracked keys */

static void
test_text_duplicates(void)
{
    char                        text[2048];
    size_t                      i, n;
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;
    static const char          *dups[] = {
        "{\"a\":1,\"a\":1}",
        "{\"a\":{\"x\":1,\"y\":2,\"x\":3}}",
        "[{\"k\":1},{\"k\":1,\"k\":1}]",
    };

    for (i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
        memset(&sd, 0, sizeof(sd));
        test_set(&sd, NGX_SESSION_STORAGE, dups[i]);

        ok(test_build(&sd, 0, &res) == NGX_SESSION_ERROR
           && res.error && strcmp(res.error, "duplicate key in JSON text") == 0
           && res.field == NGX_SESSION_STORAGE,
           "repeated key refused: %s", dups[i]);
    }

    /* 100 keys, the last a repeat of the first */

    n = snprintf(text, sizeof(text), "{");
    for (i = 0; i < 100; i++) {
        n += snprintf(text + n, sizeof(text) - n, "\"k%zu\":%zu,", i, i);
    }
    snprintf(text + n, sizeof(text) - n, "\"k0\":0}");

    memset(&sd, 0, sizeof(sd));
    test_set(&sd, NGX_SESSION_STORAGE, text);
    ok(test_build(&sd, 0, &res) == NGX_SESSION_ERROR && res.error
       && strcmp(res.error, "duplicate key in JSON text") == 0,
       "a repeat after 100 keys refused");

    text[n - 1] = '}';
    text[n] = '\0';
    memset(&sd, 0, sizeof(sd));
    test_set(&sd, NGX_SESSION_STORAGE, text);
    is_int(test_build(&sd, 0, &res), NGX_SESSION_OK,
           "100 distinct keys accepted");
}


/*
 * Whatever the builder writes is what jansson's own dump of it gives, in
 * both forms: the structure, the escapes, the numbers and the indentation
 * are jansson's, so the body (and its ETag) does not depend on which path
 * wrote it.
 */

static void
test_jansson_form(void)
{
    int                         pretty;
    char                        dump[8192];
    size_t                      i, n;
    json_t                     *body;
    ngx_session_str_t           stops[3];
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;
    static const char          *texts[] = {
        "{\"a\":[1,2.5,{\"b\":\"\\u00e9\\t\"}],\"c\":{},\"d\":[]}",
        "{\"x\":\"y\",\"n\":-12}",
    };
    static const char          *stop_texts[] = {
        "{\"timestamp\":\"2024-01-01 00:00:00\",\"type\":\"a\\\"b\","
        "\"extra\":[1e999]}",
        "{}",
        "{\"detail\":\"\\ud83d\\ude00 \\u0000\",\"status\":null}",
    };

    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        for (pretty = 0; pretty <= 1; pretty++) {
            memset(&sd, 0, sizeof(sd));
            test_set(&sd, NGX_SESSION_FN, "J\xc3\xb6rg \"\x01\"");
            test_set(&sd, NGX_SESSION_ADDITIONAL_DATA, texts[i]);
            test_set(&sd, NGX_SESSION_DCAMS_PLUS, texts[1 - i]);
            test_set(&sd, NGX_SESSION_DOCUMENTS, "\"doc\"");
            test_stops(&sd, stops, stop_texts, i == 0 ? 3 : 0);

            if (test_build(&sd, pretty, &res) != NGX_SESSION_OK) {
                ok(0, "jansson's form %zu/%d: build", i, pretty);
                continue;
            }

            body = json_loadb((const char *) res.data, res.len,
                              JSON_ALLOW_NUL, NULL);
            n = json_dumpb(body, dump, sizeof(dump),
                           pretty ? JSON_INDENT(4) : JSON_COMPACT);
            json_decref(body);

            ok(n == res.len && n <= sizeof(dump)
               && memcmp(dump, res.data, n) == 0,
               "jansson's form, %s, %s: the same bytes",
               i ? "no stops" : "3 stops", pretty ? "pretty" : "compact");
        }
    }
}


int
main(int argc, char **argv)
{
    test_published_example(argc > 1 ? argv[1] : TEST_FIXTURE);
    test_defaults();
    test_fields();
    test_request_id_fallback();
    test_stored_shapes();
    test_text_forms();
    test_text_duplicates();
    test_jansson_form();
    test_depth();
    test_stop_shapes();
    test_stop_members();
    test_durations();
    test_format_duration();
    test_timestamps();
    test_request_ids();
    test_etags();
    test_memory();

    test_free_all();

    return tap_done();
}
