
/*
 * The set-associative structure shared by both caches (exact placement,
 * LRU within a set, drops reported), and the rendered-body cache on it:
 * hits only on the same options and the same reply byte for byte, bounded
 * memory, replaced entries freed.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_session_cache.h"
#include "tap.h"


static ngx_session_str_t
str(const char *s)
{
    ngx_session_str_t  v;

    v.data = (const unsigned char *) s;
    v.len = strlen(s);

    return v;
}


/* the body cache's set choice, FNV-1a of the options, to aim at one set */

static size_t
set_of(const char *options, size_t nsets)
{
    uint32_t  h;

    for (h = 2166136261u; *options; options++) {
        h = (h ^ (unsigned char) *options) * 16777619u;
    }

    return h % nsets;
}


static size_t  dropped;

static void
count_drop(void *data, void *value)
{
    (void) data;
    (void) value;

    dropped++;
}


static int
same_int(const void *value, const void *key)
{
    return *(const int *) value == *(const int *) key;
}


static void
test_assoc(void)
{
    int                       v[16], key;
    size_t                    i;
    ngx_session_assoc_t       a;
    ngx_session_assoc_way_t  *w;

    for (i = 0; i < 16; i++) {
        v[i] = (int) i;
    }

    ok(ngx_session_assoc_init(&a, 0, 4, count_drop, NULL)
       == NGX_SESSION_ERROR, "no sets: refused");
    ok(ngx_session_assoc_init(&a, 8, 4, count_drop, NULL) == NGX_SESSION_OK,
       "8 sets of 4");

    /* hashes 3, 11, 19, ... all land in set 3 */

    dropped = 0;

    for (i = 0; i < 4; i++) {
        w = ngx_session_assoc_claim(&a, 3 + 8 * i, same_int, &v[i]);
        w->value = &v[i];
    }

    is_int(ngx_session_assoc_count(&a), 4, "one set full: 4 values");
    is_int(dropped, 0, "nothing dropped yet");

    /* a hit on the first makes the second the least recently used */

    key = 0;
    ok(ngx_session_assoc_find(&a, 3, same_int, &key) != NULL, "find 0");
    key = 1;
    ok(ngx_session_assoc_find(&a, 3, same_int, &key) == NULL,
       "same key, other hash: no match");

    w = ngx_session_assoc_claim(&a, 3 + 8 * 4, same_int, &v[4]);
    w->value = &v[4];

    is_int(dropped, 1, "a fifth in the set drops one");
    is_int(ngx_session_assoc_count(&a), 4, "still 4 values");

    for (i = 0; i < 5; i++) {
        key = (int) i;
        ok((ngx_session_assoc_find(&a, 3 + 8 * i, same_int, &key) != NULL)
           == (i != 1), "value %zu %s", i, i == 1 ? "evicted (LRU)" : "kept");
    }

    /* another set is untouched by this one */

    w = ngx_session_assoc_claim(&a, 4, same_int, &v[9]);
    w->value = &v[9];
    is_int(ngx_session_assoc_count(&a), 5, "other set: 5 values");
    is_int(dropped, 1, "other set: nothing dropped");

    /* claiming a held key gives its own way back, emptied */

    key = 4;
    w = ngx_session_assoc_claim(&a, 3 + 8 * 4, same_int, &key);
    ok(w->value == NULL, "own way comes back empty");
    is_int(dropped, 2, "its old value dropped");
    w->value = &v[4];

    is_int(ngx_session_assoc_count(&a), 5, "no duplicate way");

    ngx_session_assoc_destroy(&a);
    is_int(dropped, 7, "destroy drops every value");

    /* one set of one way: every new key replaces the last */

    ok(ngx_session_assoc_init(&a, 1, 1, count_drop, NULL) == NGX_SESSION_OK,
       "1 set of 1");
    dropped = 0;

    for (i = 0; i < 3; i++) {
        w = ngx_session_assoc_claim(&a, i * 977, same_int, &v[i]);
        w->value = &v[i];
    }

    is_int(ngx_session_assoc_count(&a), 1, "1 way: 1 value");
    is_int(dropped, 2, "1 way: 2 dropped");

    ngx_session_assoc_destroy(&a);
}


static void
test_hit_and_miss(void)
{
    ngx_session_str_t     opt, reply, body, etag, got_body, got_etag;
    ngx_session_cache_t  *c;

    c = ngx_session_cache_create(1024 * 1024);
    ok(c != NULL, "created");

    opt = str("0abc");
    reply = str("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n*2\r\n$2\r\nfn\r\n$4\r\nJohn\r\n*0\r\n");
    body = str("{\"fn\":\"John\"}");
    etag = str("\"e1\"");

    is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
           NGX_SESSION_AGAIN, "empty: miss");

    ngx_session_cache_put(c, &opt, &reply, &body, &etag);

    is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
           NGX_SESSION_OK, "same key: hit");
    is_mem(got_body.data, got_body.len, "{\"fn\":\"John\"}", "the body");
    is_mem(got_etag.data, got_etag.len, "\"e1\"", "the etag");

    opt = str("1abc");
    is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
           NGX_SESSION_AGAIN, "other options (pretty): miss");

    opt = str("0abc");
    reply = str("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n*2\r\n$2\r\nfn\r\n$4\r\nJohm\r\n*0\r\n");
    is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
           NGX_SESSION_AGAIN, "one byte of the reply differs: miss");

    reply = str("+OK\r\n");
    is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
           NGX_SESSION_AGAIN, "a prefix of the reply: miss");

    ngx_session_cache_free(c);
}


static void
test_replace_and_budget(void)
{
    char                  key[32], big[40000], same[6][32];
    size_t                i, n, hits;
    ngx_session_str_t     opt, reply, body, etag, got_body, got_etag;
    ngx_session_cache_t  *c;

    /* 64k: 8 sets of 4 ways, entries up to 8k */
    c = ngx_session_cache_create(64 * 1024);

    etag = str("\"e\"");

    /* a session's new reply replaces its old entry */
    opt = str("0s1");
    reply = str("reply one");
    body = str("body one");
    ngx_session_cache_put(c, &opt, &reply, &body, &etag);
    reply = str("reply two");
    body = str("body two");
    ngx_session_cache_put(c, &opt, &reply, &body, &etag);
    is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
           NGX_SESSION_OK, "new reply: hit");
    is_mem(got_body.data, got_body.len, "body two", "its body");
    reply = str("reply one");
    is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
           NGX_SESSION_AGAIN, "old reply: gone");

    /* many sessions: at most 32 kept, each hit its own body */
    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "0id-%zu", i);
        opt = str(key);
        reply = str(key);
        body = str(key);
        ngx_session_cache_put(c, &opt, &reply, &body, &etag);
    }

    for (hits = 0, i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "0id-%zu", i);
        opt = str(key);
        reply = str(key);

        if (ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag)
            == NGX_SESSION_OK)
        {
            hits++;

            if (got_body.len != reply.len
                || memcmp(got_body.data, reply.data, reply.len) != 0)
            {
                break;
            }
        }
    }

    /* 1000 ids fill every one of the 8 sets */
    is_int(hits, 32, "1000 sessions, 8 sets of 4 ways: 32 kept");
    is_int(i, 1000, "every hit returns its own body");

    /* six sessions of one set: the two oldest are evicted, exactly */
    for (n = 0, i = 0; n < 6; i++) {
        snprintf(same[n], sizeof(same[n]), "0same-%zu", i);

        if (set_of(same[n], 8) == 5) {
            opt = str(same[n]);
            reply = opt;
            body = opt;
            ngx_session_cache_put(c, &opt, &reply, &body, &etag);
            n++;
        }
    }

    for (i = 0; i < 6; i++) {
        opt = str(same[i]);
        reply = opt;
        is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
               i < 2 ? NGX_SESSION_AGAIN : NGX_SESSION_OK,
               "same set, session %zu of 6: %s", i,
               i < 2 ? "evicted" : "kept");
    }

    /* a hit protects: touch the oldest kept, add one, the next goes */
    opt = str(same[2]);
    reply = opt;
    ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag);

    for (i = 100; ; i++) {
        snprintf(same[0], sizeof(same[0]), "0same-%zu", i);
        if (set_of(same[0], 8) == 5) {
            break;
        }
    }

    opt = str(same[0]);
    reply = opt;
    body = opt;
    ngx_session_cache_put(c, &opt, &reply, &body, &etag);

    opt = str(same[2]);
    reply = opt;
    is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
           NGX_SESSION_OK, "the touched session stays");
    opt = str(same[3]);
    reply = opt;
    is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
           NGX_SESSION_AGAIN, "the least recently used one goes");

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    opt = str("0large");
    reply = str("large");
    body = str(big);
    ngx_session_cache_put(c, &opt, &reply, &body, &etag);
    is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
           NGX_SESSION_AGAIN, "an entry over an eighth of the budget: not kept");

    big[7000] = '\0';
    body = str(big);
    ngx_session_cache_put(c, &opt, &reply, &body, &etag);
    is_int(ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag),
           NGX_SESSION_OK, "7000 bytes: kept");

    /* the same key again replaces, and frees, the entry (valgrind) */
    body = str("small");
    ngx_session_cache_put(c, &opt, &reply, &body, &etag);
    ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag);
    is_mem(got_body.data, got_body.len, "small", "replaced");

    /* fill with 7000-byte entries: the budget holds */
    big[7000] = 'x';
    big[7000 - 1] = '\0';
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "0k%zu", i);
        opt = str(key);
        reply = str(key);
        body = str(big);
        ngx_session_cache_put(c, &opt, &reply, &body, &etag);
    }

    for (hits = 0, i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "0k%zu", i);
        opt = str(key);
        reply = str(key);
        hits += ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag)
                == NGX_SESSION_OK;
    }

    ok(hits > 0 && hits * 7000 <= 64 * 1024,
       "budget kept: %zu entries of 7000 bytes", hits);

    ngx_session_cache_free(c);
}


int
main(void)
{
    test_assoc();
    test_hit_and_miss();
    test_replace_and_budget();

    return tap_done();
}
