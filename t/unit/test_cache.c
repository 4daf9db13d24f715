
/*
 * The rendered-body cache: hits only on the same options and the same
 * reply byte for byte, bounded memory, replaced entries freed.
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
    char                  key[32], big[40000];
    size_t                i, hits;
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

    ok(hits > 8 && hits <= 32, "1000 sessions, 32 ways: %zu kept", hits);
    is_int(i, 1000, "every hit returns its own body");

    /* the last four sessions of a set survive: the oldest are evicted */
    for (hits = 0, i = 996; i < 1000; i++) {
        snprintf(key, sizeof(key), "0id-%zu", i);
        opt = str(key);
        reply = str(key);
        hits += ngx_session_cache_get(c, &opt, &reply, &got_body, &got_etag)
                == NGX_SESSION_OK;
    }

    is_int(hits, 4, "the most recent sessions are kept");

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
    test_hit_and_miss();
    test_replace_and_budget();

    return tap_done();
}
