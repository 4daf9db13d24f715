
/*
 * Unit tests of the RESP framing and of the MULTI / HGETALL / LRANGE / EXEC
 * reply decoder.  The t/data/reply-*.resp files are raw replies captured
 * from redis-server 7 holding fixtures/seed-session.redis.
 *
 * Usage: test_resp [data-dir]   (default "t/data", run from the repo root)
 *
 * Every input is copied into a buffer of exactly its length, so that a
 * read past len shows under valgrind or ASan.
 */


#include <stdlib.h>

#include "tap.h"
#include "ngx_session_resp.h"
#include "seed.h"


#define MAX_LEN  65536

#define PRELUDE3  "+OK\r\n+QUEUED\r\n+QUEUED\r\n"
#define PRELUDE   PRELUDE3 "*2\r\n"

#define SEED_ID   "19fe3b9e-384e-41d1-bded-8de9ef3abacb"


/* a pool whose blocks are chained so they can all be freed */

typedef union test_block_u  test_block_t;

union test_block_u {
    test_block_t  *next;
    long double    align;
    long long      align2;
};


typedef struct {
    test_block_t  *blocks;
    unsigned       nalloc;
    size_t         bytes;       /* asked for, in all */
    int            fail;
} test_pool_t;


static const char     *data_dir = "t/data";
static unsigned char  *frame_buf;
static unsigned char  *decode_buf;


static void *
test_alloc(void *pool, size_t size)
{
    test_pool_t   *tp = pool;
    test_block_t  *b;

    if (tp->fail) {
        return NULL;
    }

    b = malloc(sizeof(test_block_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = tp->blocks;
    tp->blocks = b;
    tp->nalloc++;
    tp->bytes += size;

    return b + 1;
}


static void
test_pool_free(test_pool_t *tp)
{
    test_block_t  *b, *next;

    for (b = tp->blocks; b; b = next) {
        next = b->next;
        free(b);
    }

    memset(tp, 0, sizeof(test_pool_t));
}


static unsigned char *
copy(const void *s, size_t len)
{
    unsigned char  *p;

    p = malloc(len ? len : 1);
    if (p == NULL) {
        abort();
    }

    memcpy(p, s, len);

    return p;
}


static unsigned char *
load(const char *name, size_t *len)
{
    char            path[1024];
    FILE           *f;
    long            n;
    unsigned char  *p;

    snprintf(path, sizeof(path), "%s/%s", data_dir, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        printf("Bail out! cannot open %s\n", path);
        exit(1);
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    p = malloc(n ? n : 1);
    if (p == NULL || fread(p, 1, n, f) != (size_t) n) {
        printf("Bail out! cannot read %s\n", path);
        exit(1);
    }

    fclose(f);
    *len = n;

    return p;
}


/* frames s[0 .. len) from an exact copy; elt->str is valid until next call */

static int
frame(const char *s, size_t len, size_t max_len, ngx_session_resp_elt_t *elt,
    const char **error)
{
    free(frame_buf);
    frame_buf = copy(s, len);
    *error = NULL;

    return ngx_session_resp_next(frame_buf, len, max_len, elt, error);
}


/* how many proper prefixes of s do not give NGX_SESSION_AGAIN */

static int
prefixes_not_again(const char *s, size_t len)
{
    int                      bad;
    size_t                   k;
    const char              *error;
    ngx_session_resp_elt_t   elt;

    bad = 0;

    for (k = 0; k < len; k++) {
        if (frame(s, k, MAX_LEN, &elt, &error) != NGX_SESSION_AGAIN) {
            printf("#   prefix of %zu bytes not AGAIN\n", k);
            bad++;
        }
    }

    return bad;
}


static void
elt_str(const char *s, ngx_session_resp_type_e type, const char *want)
{
    int                      rc;
    size_t                   len;
    const char              *error;
    ngx_session_resp_elt_t   elt;

    len = strlen(s);
    rc = frame(s, len, MAX_LEN, &elt, &error);

    ok(rc == NGX_SESSION_OK && elt.type == type && elt.size == len,
       "frame %.*s", (int) strcspn(s, "\r"), s);
    is_mem(elt.str.data, elt.str.len, want, "  its text");
    is_int(prefixes_not_again(s, len), 0, "  every prefix is incomplete");
}


static void
elt_int(const char *s, ngx_session_resp_type_e type, int64_t want)
{
    int                      rc;
    size_t                   len;
    const char              *error;
    ngx_session_resp_elt_t   elt;

    len = strlen(s);
    rc = frame(s, len, MAX_LEN, &elt, &error);

    ok(rc == NGX_SESSION_OK && elt.type == type && elt.size == len
       && elt.integer == want,
       "frame %.*s", (int) strcspn(s, "\r"), s);
    is_int(prefixes_not_again(s, len), 0, "  every prefix is incomplete");
}


static void
elt_rc(const char *s, size_t len, size_t max_len, int want, const char *name)
{
    int                      rc;
    const char              *error;
    ngx_session_resp_elt_t   elt;

    rc = frame(s, len, max_len, &elt, &error);

    if (want == NGX_SESSION_ERROR) {
        ok(rc == want && error != NULL, "%s: error (%s)", name,
           error ? error : "none");

    } else {
        is_int(rc, want, "%s", name);
    }
}


#define elt_error(s, name)                                                    \
    elt_rc(s, sizeof(s) - 1, MAX_LEN, NGX_SESSION_ERROR, name)


static void
test_types(void)
{
    elt_str("+OK\r\n", NGX_SESSION_RESP_SIMPLE, "OK");
    elt_str("+\r\n", NGX_SESSION_RESP_SIMPLE, "");
    elt_str("-ERR wrong\r\n", NGX_SESSION_RESP_ERR, "ERR wrong");
    elt_str("$3\r\nfoo\r\n", NGX_SESSION_RESP_BULK, "foo");
    elt_str("$0\r\n\r\n", NGX_SESSION_RESP_BULK, "");
    elt_str("$4\r\na\r\nb\r\n", NGX_SESSION_RESP_BULK, "a\r\nb");

    elt_int(":0\r\n", NGX_SESSION_RESP_INTEGER, 0);
    elt_int(":42\r\n", NGX_SESSION_RESP_INTEGER, 42);
    elt_int(":-7\r\n", NGX_SESSION_RESP_INTEGER, -7);
    elt_int(":9223372036854775807\r\n", NGX_SESSION_RESP_INTEGER, INT64_MAX);
    elt_int(":-9223372036854775808\r\n", NGX_SESSION_RESP_INTEGER,
            INT64_MIN);
    elt_int("$-1\r\n", NGX_SESSION_RESP_NIL, -1);
    elt_int("*3\r\n", NGX_SESSION_RESP_ARRAY, 3);
    elt_int("*0\r\n", NGX_SESSION_RESP_ARRAY, 0);
    elt_int("*-1\r\n", NGX_SESSION_RESP_NIL, -1);
}


static void
test_nested(void)
{
    static const char  s[] = "*2\r\n*2\r\n:1\r\n$1\r\nx\r\n*-1\r\n";

    static const ngx_session_resp_type_e  want[] = {
        NGX_SESSION_RESP_ARRAY, NGX_SESSION_RESP_ARRAY,
        NGX_SESSION_RESP_INTEGER, NGX_SESSION_RESP_BULK, NGX_SESSION_RESP_NIL
    };

    int                      bad;
    size_t                   pos, i;
    const char              *error;
    unsigned char           *p;
    ngx_session_resp_elt_t   elt;

    p = copy(s, sizeof(s) - 1);
    pos = 0;
    bad = 0;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (ngx_session_resp_next(p + pos, sizeof(s) - 1 - pos, MAX_LEN,
                                  &elt, &error)
            != NGX_SESSION_OK
            || elt.type != want[i])
        {
            bad++;
            break;
        }

        pos += elt.size;
    }

    ok(bad == 0 && pos == sizeof(s) - 1,
       "nested arrays frame element by element");

    free(p);
}


static void
test_errors(void)
{
    elt_error(":9223372036854775808\r\n", "INT64_MAX + 1");
    elt_error(":-9223372036854775809\r\n", "INT64_MIN - 1");
    elt_error(":18446744073709551616\r\n", "2^64");
    elt_error(":00000000000000000001\r\n", "20 digits");
    elt_error(":99999999999999999999", "overflow seen before the CRLF");
    elt_error("$99999999999999999999\r\n", "bulk length overflow");
    elt_error("*99999999999999999999\r\n", "array count overflow");

    elt_error(":\r\n", "empty integer");
    elt_error(":-\r\n", "bare minus");
    elt_error(":+1\r\n", "plus sign");
    elt_error(": 1\r\n", "leading space");
    elt_error(":1 \r\n", "trailing space");
    elt_error(":1x", "garbage after digits, before the CRLF");
    elt_error(":--1\r\n", "two minus signs");
    elt_error("$\r\n", "empty bulk length");
    elt_error("$+3\r\nfoo\r\n", "bulk length with a plus");
    elt_error("*\r\n", "empty array count");
    elt_error("$-2\r\n", "bulk length -2");
    elt_error("*-2\r\n", "array count -2");

    elt_error("+OK\n", "simple string without CR");
    elt_error("-ERR\n", "error without CR");
    elt_error(":1\n", "integer without CR");
    elt_error("$3\nfoo\r\n", "bulk length without CR");
    elt_error("*1\n", "array count without CR");
    elt_error(":1\rx", "integer, CR without LF");
    elt_error("+O\rK\r\n", "bare CR in a simple string");
    elt_error("+O\nK\r\n", "bare LF in a simple string");
    elt_error("-E\rR\r\n", "bare CR in an error");

    elt_error("$3\r\nfooX", "bulk followed by a byte other than CR");
    elt_error("$3\r\nfoo\rX", "bulk followed by CR and not LF");
    elt_error("$3\r\nfoo\n\r", "bulk followed by LF CR");
    elt_error("$3\r\nfoobar\r\n", "bulk longer than declared");
    elt_error("$0\r\nX", "empty bulk followed by garbage");

    elt_error("hello\r\n", "garbage");
    elt_error("\r\n", "bare CRLF");
    elt_error(" +OK\r\n", "leading space");
    elt_error("#t\r\n", "RESP3 boolean");
    elt_error("_\r\n", "RESP3 null");
    elt_error("%1\r\n", "RESP3 map");
    elt_rc("\0", 1, MAX_LEN, NGX_SESSION_ERROR, "NUL byte");
    elt_rc("\377", 1, MAX_LEN, NGX_SESSION_ERROR, "byte 0xff");
}


static void
test_incomplete(void)
{
    elt_rc("", 0, MAX_LEN, NGX_SESSION_AGAIN, "nothing yet");
    elt_rc("$3\r\nfoo", 7, MAX_LEN, NGX_SESSION_AGAIN, "bulk without CRLF");
    elt_rc("$3\r\nfoo\r", 8, MAX_LEN, NGX_SESSION_AGAIN, "bulk without LF");
    elt_rc(":-", 2, MAX_LEN, NGX_SESSION_AGAIN, "bare minus so far");
}


/* max_len 10: everything declared larger fails on the header alone */

static void
test_max_len(void)
{
    elt_rc("$11\r\n", 5, 10, NGX_SESSION_TOO_LARGE,
           "bulk 11 > 10, header only");
    elt_rc("$10\r\n", 5, 10, NGX_SESSION_AGAIN, "bulk 10 <= 10 waits");
    elt_rc("$10\r\n0123456789\r\n", 17, 10, NGX_SESSION_OK, "bulk 10 ok");
    elt_rc("$9223372036854775807\r\n", 22, 10, NGX_SESSION_TOO_LARGE,
           "bulk INT64_MAX");
    elt_rc("$9223372036854775807\r\n", 22, (size_t) -1, NGX_SESSION_AGAIN,
           "bulk INT64_MAX, unbounded: waits, no overflow");
    elt_rc("*11\r\n", 5, 10, NGX_SESSION_TOO_LARGE, "array 11 > 10");
    elt_rc("*10\r\n", 5, 10, NGX_SESSION_OK, "array 10 ok");
    elt_rc("+01234567890", 12, 10, NGX_SESSION_TOO_LARGE,
           "simple line 11 > 10, before its CRLF");
    elt_rc("-01234567890\r\n", 14, 10, NGX_SESSION_TOO_LARGE,
           "error line 11");
    elt_rc("+0123456789", 11, 10, NGX_SESSION_AGAIN, "simple line 10 waits");
    elt_rc("+0123456789\r\n", 13, 10, NGX_SESSION_OK, "simple line 10 ok");
}


/* decoding */

typedef struct {
    ngx_session_reply_t   rp;
    ngx_session_data_t    out;
    test_pool_t           pool;
    size_t                consumed;
    int                   rc;
} test_decode_t;


/* one call on an exact copy of s; the copy lives until the next decode() */

static int
decode(test_decode_t *d, const void *s, size_t len, size_t max_len)
{
    test_pool_free(&d->pool);
    free(decode_buf);
    decode_buf = copy(s, len);

    ngx_session_reply_init(&d->rp, &d->out, max_len, test_alloc, &d->pool);
    d->consumed = 0;
    d->rc = ngx_session_reply_parse(&d->rp, decode_buf, len, &d->consumed);

    return d->rc;
}


#define decode_s(d, s)  decode(d, s, sizeof(s) - 1, MAX_LEN)


static int
str_eq(const ngx_session_str_t *a, const ngx_session_str_t *b)
{
    if (a->data == NULL || b->data == NULL) {
        return a->data == b->data;
    }

    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}


static int
data_eq(const ngx_session_data_t *a, const ngx_session_data_t *b)
{
    size_t  i;

    if (a->hash_len != b->hash_len || a->nstops != b->nstops
        || (a->stops == NULL) != (b->stops == NULL))
    {
        return 0;
    }

    for (i = 0; i < NGX_SESSION_NFIELDS; i++) {
        if (!str_eq(&a->fields[i], &b->fields[i])) {
            return 0;
        }
    }

    for (i = 0; i < a->nstops; i++) {
        if (!str_eq(&a->stops[i], &b->stops[i])) {
            return 0;
        }
    }

    return 1;
}


static size_t
fields_present(const ngx_session_data_t *sd)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < NGX_SESSION_NFIELDS; i++) {
        n += (sd->fields[i].data != NULL);
    }

    return n;
}


#define field_is(d, f, want)                                                  \
    is_mem((d)->out.fields[f].data, (d)->out.fields[f].len, want,             \
           "  %s = \"%s\"", ngx_session_field_name(f), want)


static void
check_seed(test_decode_t *d, size_t len)
{
    size_t  i;

    is_int(d->rc, NGX_SESSION_OK, "seed reply decodes");
    is_int(d->consumed, len, "  consumed all of it");
    is_int(d->out.hash_len, 17, "  17 hash pairs");
    is_int(fields_present(&d->out), 17, "  17 known fields");

    field_is(d, NGX_SESSION_FN, "John");
    field_is(d, NGX_SESSION_LN, "Doe");
    field_is(d, NGX_SESSION_OWNER, "client-a");
    field_is(d, NGX_SESSION_EMAIL, "johndoe@example.com");
    field_is(d, NGX_SESSION_PHONE, "123-456-7890");
    field_is(d, NGX_SESSION_REQUEST_ID, SEED_ID);
    field_is(d, NGX_SESSION_STORAGE, "{\"success\":null}");
    field_is(d, NGX_SESSION_DOCUMENTS, "null");
    field_is(d, NGX_SESSION_ZIP, "");
    is_int(d->out.fields[NGX_SESSION_DCAMS_PLUS].len, 215,
           "  dcams_plus is 215 bytes");

    is_int(d->out.nstops, 3, "  3 stops");

    for (i = 0; i < 3 && i < d->out.nstops; i++) {
        is_mem(d->out.stops[i].data, d->out.stops[i].len, seed_stops[i],
               "  stop %zu", i);
    }

    is_int(d->pool.nalloc, 1, "  one allocation");
}


/*
 * For every k: a call with k bytes, then one with all of them, must end
 * exactly as a single call does.  The bytes past k are not yet written, so
 * valgrind flags a parser that looks at them.
 */

static void
split_all(const char *name, const unsigned char *s, size_t len,
    const test_decode_t *ref)
{
    int             rc1, bad;
    size_t          k;
    unsigned char  *buf;
    test_decode_t   d;

    memset(&d, 0, sizeof(test_decode_t));
    bad = 0;

    for (k = 0; k <= len; k++) {
        buf = malloc(len ? len : 1);
        memcpy(buf, s, k);

        ngx_session_reply_init(&d.rp, &d.out, MAX_LEN, test_alloc, &d.pool);
        rc1 = ngx_session_reply_parse(&d.rp, buf, k, &d.consumed);

        memcpy(buf + k, s + k, len - k);
        d.consumed = 0;
        d.rc = ngx_session_reply_parse(&d.rp, buf, len, &d.consumed);

        if ((k < len && rc1 == NGX_SESSION_OK)
            || d.rc != ref->rc
            || (d.rc == NGX_SESSION_OK
                && (d.consumed != ref->consumed
                    || !data_eq(&d.out, &ref->out)))
            || (d.rc == NGX_SESSION_ERROR && d.rp.error != ref->rp.error))
        {
            if (bad++ == 0) {
                printf("#   first difference at k = %zu\n", k);
            }
        }

        free(buf);
        test_pool_free(&d.pool);
    }

    is_int(bad, 0, "%s: same result split at each of %zu points",
           name, len + 1);
}


/* grows one byte at a time: AGAIN until the last byte, nothing redone */

static void
byte_by_byte(const unsigned char *s, size_t len, const test_decode_t *ref)
{
    int             bad, rc;
    size_t          k;
    unsigned char  *buf;
    test_decode_t   d;

    memset(&d, 0, sizeof(test_decode_t));
    buf = malloc(len);
    bad = 0;

    ngx_session_reply_init(&d.rp, &d.out, MAX_LEN, test_alloc, &d.pool);

    if (ngx_session_reply_parse(&d.rp, buf, 0, &d.consumed)
        != NGX_SESSION_AGAIN)
    {
        bad++;
    }

    for (k = 0; k < len; k++) {
        buf[k] = s[k];
        rc = ngx_session_reply_parse(&d.rp, buf, k + 1, &d.consumed);

        if (rc != (k + 1 < len ? NGX_SESSION_AGAIN : NGX_SESSION_OK)) {
            if (bad++ == 0) {
                printf("#   rc %d after %zu bytes\n", rc, k + 1);
            }
        }
    }

    ok(bad == 0 && d.consumed == len && data_eq(&d.out, &ref->out)
       && d.pool.nalloc == 1,
       "seed reply fed byte by byte");

    free(buf);
    test_pool_free(&d.pool);
}


static void
test_seed(void)
{
    size_t          len, more_len;
    unsigned char  *s, *more;
    test_decode_t   ref, d;

    memset(&ref, 0, sizeof(test_decode_t));
    memset(&d, 0, sizeof(test_decode_t));

    s = load("reply-seed.resp", &len);

    /* ref keeps its own copy: decode() would free a shared one */
    ngx_session_reply_init(&ref.rp, &ref.out, MAX_LEN, test_alloc, &ref.pool);
    ref.rc = ngx_session_reply_parse(&ref.rp, s, len, &ref.consumed);
    check_seed(&ref, len);

    ref.consumed = 0;
    ok(ngx_session_reply_parse(&ref.rp, s, len, &ref.consumed)
       == NGX_SESSION_OK && ref.consumed == len && ref.pool.nalloc == 1,
       "a call after OK returns OK again, nothing redone");

    split_all("seed", s, len, &ref);
    byte_by_byte(s, len, &ref);

    /* the store sent more than was asked: consumed tells */
    more = malloc(len + 5);
    memcpy(more, s, len);
    memcpy(more + len, "+OK\r\n", 5);
    more_len = len + 5;

    decode(&d, more, more_len, MAX_LEN);
    ok(d.rc == NGX_SESSION_OK && d.consumed == len && d.consumed < more_len,
       "trailing bytes: OK, consumed %zu of %zu", d.consumed, more_len);
    free(more);

    /* what the module tells apart: not RESP at all, or RESP it refuses */
    decode(&d, (const unsigned char *) "garbage\r\n", 9, MAX_LEN);
    ok(d.rc == NGX_SESSION_ERROR && d.rp.not_resp && !d.rp.too_large,
       "garbage: not RESP");
    decode(&d, (const unsigned char *) "-LOADING loading\r\n", 19, MAX_LEN);
    ok(d.rc == NGX_SESSION_ERROR && !d.rp.not_resp && !d.rp.too_large
       && d.rp.error_reply.len == 15,
       "error reply: RESP, with its text");

    /*
     * max_len bounds the whole reply; dcams_plus, the longest bulk string,
     * is 215 bytes; the hash has 34 elements, its header ends at byte 32
     */
    is_int(decode(&d, s, len, len), NGX_SESSION_OK, "max_len the reply: OK");
    decode(&d, s, len, 32 + 34 * 6 + 215);
    ok(d.rc == NGX_SESSION_ERROR && d.rp.too_large && !d.rp.not_resp
       && d.rp.error && strcmp(d.rp.error, "LRANGE count past the reply "
                                           "limit") == 0,
       "max_len below the reply: too large (%s)",
       d.rp.error ? d.rp.error : "none");
    decode(&d, s, len, 214);
    ok(d.rc == NGX_SESSION_ERROR && d.rp.too_large && !d.rp.not_resp
       && d.rp.error && strcmp(d.rp.error, "HGETALL count past the reply "
                                           "limit") == 0,
       "max_len 214: too large (%s)", d.rp.error ? d.rp.error : "none");
    decode(&d, s, len, 33);
    ok(d.rc == NGX_SESSION_ERROR && d.rp.too_large && !d.rp.not_resp
       && d.rp.error && strcmp(d.rp.error, "array count too large") == 0,
       "max_len 33: too large (%s)", d.rp.error ? d.rp.error : "none");

    d.pool.fail = 1;
    ngx_session_reply_init(&d.rp, &d.out, MAX_LEN, test_alloc, &d.pool);
    d.rc = ngx_session_reply_parse(&d.rp, s, len, &d.consumed);
    ok(d.rc == NGX_SESSION_ERROR && d.rp.error != NULL
       && d.rp.error_reply.data == NULL,
       "alloc returning NULL: error (%s)",
       d.rp.error ? d.rp.error : "none");

    test_pool_free(&d.pool);
    test_pool_free(&ref.pool);
    free(s);
}


/*
 * Issue 9 item 9: a list count is bounded by the bytes that can still
 * come, 6 a bulk string, so "*16000000" with 16 MiB allowed fails on its
 * header with nothing allocated, where it used to take 256 MB at once.
 */

static void
test_count_bound(void)
{
    char            hdr[64];
    size_t          n, max_len, used, i;
    test_decode_t   d;
    unsigned char  *buf;

    static const char  list[] = PRELUDE "*0\r\n*16000000\r\n";
    static const char  hash[] = PRELUDE "*16000000\r\n";

    memset(&d, 0, sizeof(test_decode_t));

    decode(&d, list, sizeof(list) - 1, 16 * 1024 * 1024);
    ok(d.rc == NGX_SESSION_ERROR && d.rp.too_large && !d.rp.not_resp,
       "*16000000 stops, 16m limit: refused on the header (%s)",
       d.rp.error ? d.rp.error : "none");
    is_int(d.pool.bytes, 0, "  nothing allocated");

    decode(&d, hash, sizeof(hash) - 1, 16 * 1024 * 1024);
    ok(d.rc == NGX_SESSION_ERROR && d.rp.too_large && d.pool.bytes == 0,
       "*16000000 hash elements, 16m limit: refused on the header (%s)",
       d.rp.error ? d.rp.error : "none");

    decode(&d, list, sizeof(list) - 1, 1024 * 1024 * 1024);
    ok(d.rc == NGX_SESSION_AGAIN && d.pool.bytes == 16000000
                                                   * sizeof(ngx_session_str_t),
       "*16000000 stops, 1g limit: they could fit, so they are waited for");

    /* exactly n empty strings fit: accepted; one byte less: refused */

    n = 1000;
    used = sizeof(PRELUDE "*0\r\n*1000\r\n") - 1;
    max_len = used + n * 6;

    buf = malloc(max_len);
    memcpy(buf, PRELUDE "*0\r\n*1000\r\n", used);

    for (i = 0; i < n; i++) {
        memcpy(buf + used + i * 6, "$0\r\n\r\n", 6);
    }

    decode(&d, buf, used, max_len - 1);
    ok(d.rc == NGX_SESSION_ERROR && d.rp.too_large && d.pool.bytes == 0,
       "1000 stops, a limit 1 byte short of them: refused, nothing allocated");

    decode(&d, buf, used, max_len);
    ok(d.rc == NGX_SESSION_AGAIN
       && d.pool.bytes == n * sizeof(ngx_session_str_t),
       "1000 stops that can just fit: one array of 1000");

    decode(&d, buf, max_len, max_len);
    ok(d.rc == NGX_SESSION_OK && d.consumed == max_len && d.out.nstops == n,
       "  and they decode");

    /* whatever the count, the stops take less than 3 bytes a reply byte */

    for (max_len = 16; max_len <= 1 << 20; max_len *= 4) {
        for (n = max_len / 8; n <= max_len; n += max_len / 8) {
            snprintf(hdr, sizeof(hdr), PRELUDE "*0\r\n*%zu\r\n", n);
            decode(&d, hdr, strlen(hdr), max_len);

            if (d.pool.bytes > 3 * max_len) {
                break;
            }
        }

        ok(n > max_len, "limit %zu: at most %zu bytes for any count",
           max_len, 3 * max_len);
    }

    test_pool_free(&d.pool);
    free(buf);
}


static void
test_missing(void)
{
    size_t          len;
    unsigned char  *s;
    test_decode_t   d, ref;

    memset(&d, 0, sizeof(test_decode_t));

    s = load("reply-missing.resp", &len);
    decode(&d, s, len, MAX_LEN);

    is_int(d.rc, NGX_SESSION_OK, "missing key decodes");
    is_int(d.consumed, len, "  consumed all of it");
    is_int(d.out.hash_len, 0, "  empty hash");
    is_int(fields_present(&d.out), 0, "  no fields");
    ok(d.out.stops == NULL && d.out.nstops == 0, "  no stops, no alloc");
    is_int(d.pool.nalloc, 0, "  nothing allocated");

    ref = d;
    split_all("missing", s, len, &ref);

    test_pool_free(&d.pool);
    free(s);
}


static void
test_wrongtype(void)
{
    static const char  want[] =
        "WRONGTYPE Operation against a key holding the wrong kind of value";

    size_t          len;
    const char     *error;
    unsigned char  *s;
    test_decode_t   d, ref;

    memset(&d, 0, sizeof(test_decode_t));

    s = load("reply-wrongtype.resp", &len);
    decode(&d, s, len, MAX_LEN);

    ok(d.rc == NGX_SESSION_ERROR && d.rp.error != NULL
       && strcmp(d.rp.error, "store replied with an error") == 0,
       "WRONGTYPE: error (%s)", d.rp.error ? d.rp.error : "none");
    is_mem(d.rp.error_reply.data, d.rp.error_reply.len, want,
           "  error_reply is the store's text");

    error = d.rp.error;
    ok(ngx_session_reply_parse(&d.rp, decode_buf, len, &d.consumed)
       == NGX_SESSION_ERROR && d.rp.error == error,
       "  a call after ERROR returns ERROR again");

    ref = d;
    split_all("wrongtype", s, len, &ref);

    test_pool_free(&d.pool);
    free(s);
}


static void
reply_error(const char *s, const char *name)
{
    test_decode_t  d;

    memset(&d, 0, sizeof(test_decode_t));
    decode(&d, s, strlen(s), MAX_LEN);

    ok(d.rc == NGX_SESSION_ERROR && d.rp.error != NULL,
       "%s: error (%s)", name, d.rp.error ? d.rp.error : "none");

    test_pool_free(&d.pool);
}


static void
test_reply_errors(void)
{
    test_decode_t  d;

    reply_error("+QUEUED\r\n", "MULTI answered QUEUED");
    reply_error(":1\r\n", "MULTI answered an integer");
    reply_error("+OK\r\n+OK\r\n", "HGETALL answered OK");
    reply_error(PRELUDE3 "*-1\r\n", "EXEC nil (transaction aborted)");
    reply_error(PRELUDE3 "*3\r\n", "EXEC array of 3");
    reply_error(PRELUDE3 "*1\r\n", "EXEC array of 1");
    reply_error(PRELUDE3 "$2\r\nOK\r\n", "EXEC bulk string");
    reply_error(PRELUDE "*3\r\n", "odd HGETALL count, before its data");
    reply_error(PRELUDE "*-1\r\n", "HGETALL nil");
    reply_error(PRELUDE "$0\r\n\r\n", "HGETALL bulk string");
    reply_error(PRELUDE "*2\r\n*1\r\n", "nested array in HGETALL");
    reply_error(PRELUDE "*2\r\n$2\r\nfn\r\n*0\r\n", "nested array as value");
    reply_error(PRELUDE "*2\r\n$2\r\nfn\r\n$-1\r\n", "nil in HGETALL");
    reply_error(PRELUDE "*2\r\n$2\r\nfn\r\n:1\r\n", "integer in HGETALL");
    reply_error(PRELUDE "*2\r\n+fn\r\n", "simple string in HGETALL");
    reply_error(PRELUDE "*0\r\n*-1\r\n", "LRANGE nil");
    reply_error(PRELUDE "*0\r\n:0\r\n", "LRANGE integer");
    reply_error(PRELUDE "*0\r\n*1\r\n*0\r\n", "nested array in LRANGE");
    reply_error(PRELUDE "*0\r\n*1\r\n$-1\r\n", "nil in LRANGE");
    reply_error(PRELUDE "*0\r\n*1\r\n:5\r\n", "integer in LRANGE");
    reply_error(PRELUDE "*4\r\n$2\r\nfn\r\n$1\r\nA\r\n$2\r\nfn\r\n$1\r\nB\r\n",
                "duplicate fn");
    reply_error(PRELUDE "*4\r\n$5\r\nowner\r\n$0\r\n\r\n"
                "$5\r\nowner\r\n$1\r\nB\r\n",
                "duplicate owner, the first one empty");
    reply_error(PRELUDE3 "*2\r\n*2\r\n$2\r\nfn\r\n$1\r\nA\r\n*1\r\n$1\r\nx\rx",
                "bulk in LRANGE not followed by CRLF");

    memset(&d, 0, sizeof(test_decode_t));

    decode_s(&d, "-ERR MULTI calls can not be nested\r\n");
    ok(d.rc == NGX_SESSION_ERROR, "MULTI -ERR: error");
    is_mem(d.rp.error_reply.data, d.rp.error_reply.len,
           "ERR MULTI calls can not be nested", "  error_reply");

    decode_s(&d, "+OK\r\n-ERR unknown command\r\n");
    is_mem(d.rp.error_reply.data, d.rp.error_reply.len,
           "ERR unknown command", "HGETALL not queued: error_reply");

    decode_s(&d, PRELUDE "*2\r\n$2\r\nfn\r\n-ERR x\r\n");
    ok(d.rc == NGX_SESSION_ERROR, "error inside the HGETALL array");
    is_mem(d.rp.error_reply.data, d.rp.error_reply.len, "ERR x",
           "  error_reply");

    test_pool_free(&d.pool);
}


static void
test_reply_fields(void)
{
    static const char  s[] =
        PRELUDE "*10\r\n"
        "$3\r\nssn\r\n$9\r\n123456789\r\n"
        "$2\r\nfn\r\n$1\r\nA\r\n"
        "$3\r\nssn\r\n$2\r\nfn\r\n"
        "$7\r\njourney\r\n$2\r\n{}\r\n"
        "$2\r\nln\r\n$2\r\nfn\r\n"
        "*1\r\n$2\r\n{}\r\n";

    test_decode_t  d;

    memset(&d, 0, sizeof(test_decode_t));
    decode(&d, s, sizeof(s) - 1, MAX_LEN);

    is_int(d.rc, NGX_SESSION_OK, "unknown and repeated unknown fields");
    is_int(d.out.hash_len, 5, "  hash_len counts every pair");
    is_int(fields_present(&d.out), 2, "  two known fields");
    field_is(&d, NGX_SESSION_FN, "A");
    field_is(&d, NGX_SESSION_LN, "fn");
    ok(d.out.nstops == 1 && d.out.stops != NULL
       && d.out.stops[0].len == 2, "  one stop");

    test_pool_free(&d.pool);
}


int
main(int argc, char **argv)
{
    if (argc > 1) {
        data_dir = argv[1];
    }

    test_types();
    test_nested();
    test_errors();
    test_incomplete();
    test_max_len();

    test_seed();
    test_count_bound();
    test_missing();
    test_wrongtype();
    test_reply_errors();
    test_reply_fields();

    free(frame_buf);
    free(decode_buf);

    return tap_done();
}
