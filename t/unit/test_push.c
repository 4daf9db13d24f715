
/*
 * Unit tests of the push connection's RESP3 framing (ngx_session_push.c):
 * the handshake's replies, invalidate pushes (keys, null, odd shapes),
 * every split of a value, refused input; the key to request_id mapping;
 * and the Prefer: wait parser.
 *
 * Every input is copied into a buffer of exactly its length, so that a
 * read past len shows under valgrind or ASan.
 */


#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "ngx_session_push.h"


#define MAX_LEN  4096


static unsigned char  *buf;


static int
parse(const char *in, size_t len, ngx_session_push_msg_t *msg,
    size_t *consumed)
{
    const char  *error;

    free(buf);
    buf = malloc(len ? len : 1);
    memcpy(buf, in, len);

    return ngx_session_push_parse(buf, len, MAX_LEN, msg, consumed, &error);
}


#define S(lit)  lit, sizeof(lit) - 1


/* every proper prefix of a value is AGAIN, the whole is OK */

static int
splits_ok(const char *in, size_t len)
{
    size_t                  n, consumed;
    ngx_session_push_msg_t  msg;

    for (n = 0; n < len; n++) {
        if (parse(in, n, &msg, &consumed) != NGX_SESSION_AGAIN) {
            printf("#   prefix of %zu bytes\n", n);
            return 0;
        }
    }

    return parse(in, len, &msg, &consumed) == NGX_SESSION_OK
           && consumed == len;
}


static void
test_replies(void)
{
    size_t                  consumed;
    ngx_session_push_msg_t  msg;

    static const char hello[] =
        "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n"
        "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:5\r\n$4\r\nmode\r\n"
        "$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
        "$7\r\nmodules\r\n*0\r\n";

    is_int(parse(S(hello), &msg, &consumed), NGX_SESSION_OK, "HELLO 3 map");
    is_int(consumed, sizeof(hello) - 1, "the whole map");
    is_int(msg.kind, NGX_SESSION_PUSH_REPLY, "a reply");
    ok(splits_ok(S(hello)), "HELLO map: every split");

    is_int(parse(S("+OK\r\n+PONG\r\n"), &msg, &consumed), NGX_SESSION_OK,
           "two simple strings");
    is_int(consumed, 5, "one at a time");
    is_mem(msg.text.data, msg.text.len, "OK", "its text");

    is_int(parse(S("-ERR unknown command 'HELLO'\r\n"), &msg, &consumed),
           NGX_SESSION_OK, "an error reply");
    is_int(msg.kind, NGX_SESSION_PUSH_ERROR, "an error");
    is_mem(msg.text.data, msg.text.len, "ERR unknown command 'HELLO'",
           "its text");

    is_int(parse(S("!5\r\nERR x\r\n"), &msg, &consumed), NGX_SESSION_OK,
           "a blob error");
    is_int(msg.kind, NGX_SESSION_PUSH_ERROR, "an error too");

    is_int(parse(S("_\r\n"), &msg, &consumed), NGX_SESSION_OK, "null");
    is_int(parse(S("#t\r\n"), &msg, &consumed), NGX_SESSION_OK, "boolean");
    is_int(parse(S(",1.5\r\n"), &msg, &consumed), NGX_SESSION_OK, "double");
    is_int(parse(S("(12345678901234567890\r\n"), &msg, &consumed),
           NGX_SESSION_OK, "big number");
    is_int(parse(S("~2\r\n:1\r\n:2\r\n"), &msg, &consumed), NGX_SESSION_OK,
           "set");
    is_int(parse(S("=8\r\ntxt:abcd\r\n"), &msg, &consumed), NGX_SESSION_OK,
           "verbatim");
    is_int(parse(S("$-1\r\n"), &msg, &consumed), NGX_SESSION_OK, "RESP2 nil");
    is_int(parse(S("*-1\r\n"), &msg, &consumed), NGX_SESSION_OK,
           "RESP2 nil array");
}


static void
test_invalidate(void)
{
    size_t                  consumed;
    ngx_session_str_t       key;
    ngx_session_push_msg_t  msg;

    static const char two[] =
        ">2\r\n$10\r\ninvalidate\r\n*2\r\n$12\r\nsession:{a1}\r\n"
        "$18\r\nsession:{a1}:stops\r\n";

    is_int(parse(S(two), &msg, &consumed), NGX_SESSION_OK, "invalidate");
    is_int(msg.kind, NGX_SESSION_PUSH_INVALIDATE, "an invalidation");
    is_int(msg.nkeys, 2, "of two keys");
    is_int(ngx_session_push_next_key(&msg, &key), NGX_SESSION_OK, "key 1");
    is_mem(key.data, key.len, "session:{a1}", "the hash");
    is_int(ngx_session_push_next_key(&msg, &key), NGX_SESSION_OK, "key 2");
    is_mem(key.data, key.len, "session:{a1}:stops", "the list");
    is_int(ngx_session_push_next_key(&msg, &key), NGX_SESSION_AGAIN,
           "no more");
    ok(splits_ok(S(two)), "invalidate: every split");

    is_int(parse(S(">2\r\n$10\r\ninvalidate\r\n_\r\n"), &msg, &consumed),
           NGX_SESSION_OK, "invalidate null (FLUSHALL)");
    is_int(msg.kind, NGX_SESSION_PUSH_FLUSH, "every key");

    is_int(parse(S(">2\r\n$10\r\ninvalidate\r\n*1\r\n:5\r\n"), &msg,
                 &consumed),
           NGX_SESSION_OK, "a key that is no string");
    is_int(msg.kind, NGX_SESSION_PUSH_FLUSH, "in doubt: every key");

    is_int(parse(S(">2\r\n$10\r\ninvalidate\r\n*1\r\n$-1\r\n"), &msg,
                 &consumed),
           NGX_SESSION_OK, "a nil key");
    is_int(msg.kind, NGX_SESSION_PUSH_FLUSH, "in doubt: every key");

    is_int(parse(S(">2\r\n$10\r\ninvalidate\r\n*0\r\n"), &msg, &consumed),
           NGX_SESSION_OK, "no keys");
    is_int(msg.kind, NGX_SESSION_PUSH_INVALIDATE, "nothing invalidated");
    is_int(ngx_session_push_next_key(&msg, &key), NGX_SESSION_AGAIN,
           "no key");

    is_int(parse(S(">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"), &msg,
                 &consumed),
           NGX_SESSION_OK, "another push");
    is_int(msg.kind, NGX_SESSION_PUSH_OTHER, "ignored");

    is_int(parse(S(">2\r\n$10\r\nINVALIDATE\r\n*0\r\n"), &msg, &consumed),
           NGX_SESSION_OK, "another name");
    is_int(msg.kind, NGX_SESSION_PUSH_OTHER, "not an invalidation");
}


static void
test_refused(void)
{
    size_t                  i, consumed;
    ngx_session_push_msg_t  msg;

    static const char *bad[] = {
        "?\r\n", "|1\r\n+a\r\n+b\r\n+c\r\n", "$?\r\n", "$-2\r\n",
        "$01\r\na\r\n", "$1\r\nab\r\n", "*-2\r\n", "%-1\r\n", "_x\r\n",
        "+a\rb\r\n", "+a\nb\r\n", "$99999\r\n", "*99999\r\n",
        "$12345678901234567890\r\n", ">-1\r\n", NULL
    };

    for (i = 0; bad[i]; i++) {
        is_int(parse(bad[i], strlen(bad[i]), &msg, &consumed),
               NGX_SESSION_ERROR, "refused: %zu", i);
    }

    /* a line longer than the limit is refused before its end arrives */
    {
        char  *p = malloc(MAX_LEN + 10);

        memset(p, 'a', MAX_LEN + 10);
        p[0] = '+';
        is_int(parse(p, MAX_LEN + 10, &msg, &consumed), NGX_SESSION_ERROR,
               "a line over max_len");
        free(p);
    }

    /* counts add up past the limit */
    {
        char    in[64];
        size_t  n;

        n = (size_t) snprintf(in, sizeof(in), "*%d\r\n*%d\r\n", MAX_LEN,
                              MAX_LEN);
        is_int(parse(in, n, &msg, &consumed), NGX_SESSION_ERROR,
               "nested counts over max_len");
    }
}


static void
test_key_id(void)
{
    size_t             i;
    ngx_session_str_t  id;

    static const struct {
        const char  *key;
        const char  *id;      /* NULL: not a session key */
    } cases[] = {
        { "session:{abc}", "abc" },
        { "session:{abc}:stops", "abc" },
        { "session:{a-b_c}", "a-b_c" },
        { "session:{}", NULL },
        { "session:abc", NULL },
        { "session:{abc", NULL },
        { "session:{abc}:other", NULL },
        { "session:{abc}x", NULL },
        { "other:{abc}", NULL },
        { "session:", NULL },
        { NULL, NULL }
    };

    for (i = 0; cases[i].key; i++) {
        int rc = ngx_session_push_key_id((const unsigned char *) cases[i].key,
                                         strlen(cases[i].key),
                                         (const unsigned char *) "session:",
                                         8, &id);
        if (cases[i].id) {
            is_int(rc, NGX_SESSION_OK, "%s: a session key", cases[i].key);
            is_mem(id.data, id.len, cases[i].id, "%s: its id", cases[i].key);

        } else {
            is_int(rc, NGX_SESSION_ERROR, "%s: not one", cases[i].key);
        }
    }
}


static void
test_prefer(void)
{
    size_t    i;
    uint64_t  secs;

    static const struct {
        const char  *value;
        int          secs;    /* -1: none */
    } cases[] = {
        { "wait=10", 10 },
        { "WAIT=10", 10 },
        { "wait = 7", 7 },
        { "wait=\"5\"", 5 },
        { "respond-async, wait=100", 100 },
        { "wait=3; foo=bar", 3 },
        { "handling=lenient,wait=2", 2 },
        { "foo=\"a,wait=9\", wait=4", 4 },
        { "wait=0", 0 },
        { "wait=999999999", 999999999 },
        { "wait=1000000000", -1 },
        { "wait=", -1 },
        { "wait", -1 },
        { "wait=abc", -1 },
        { "wait=5s", -1 },
        { "wait=-1", -1 },
        { "wait=\"5", -1 },
        { "waiting=5", -1 },
        { "return=minimal", -1 },
        { "", -1 },
        { NULL, 0 }
    };

    for (i = 0; cases[i].value; i++) {
        size_t          len = strlen(cases[i].value);
        unsigned char  *p = malloc(len ? len : 1);
        int             rc;

        memcpy(p, cases[i].value, len);
        rc = ngx_session_prefer_wait(p, len, &secs);

        if (cases[i].secs >= 0) {
            ok(rc == NGX_SESSION_OK && secs == (uint64_t) cases[i].secs,
               "Prefer: %s -> %d", cases[i].value, cases[i].secs);

        } else {
            is_int(rc, NGX_SESSION_ERROR, "Prefer: %s -> none",
                   cases[i].value);
        }

        free(p);
    }
}


/*
 * A value too large to hold (an invalidate of 2000 keys): skipped in
 * pieces of any size, the bytes after it left alone; an element longer
 * than max_len, or bytes that are not RESP3, refused.
 */

static void
test_skip(void)
{
    int          rc, whole;
    char        *in, *p;
    size_t       i, len, pos, step, pending, consumed, got;
    const char  *error;

    in = malloc(2000 * 64 + 128);
    p = in;
    p += sprintf(p, ">2\r\n$10\r\ninvalidate\r\n*2000\r\n");

    for (i = 0; i < 2000; i++) {
        p += sprintf(p, "$46\r\nsession:{%036zu}\r\n", i);
    }

    len = p - in;
    p += sprintf(p, "+PONG\r\n");

    ok(len > 64 * 1024, "2000 keys: %zu bytes, more than 64 KiB", len);

    for (step = 1; step <= 8192; step *= 8) {
        pending = 1;
        pos = 0;
        whole = 1;
        rc = NGX_SESSION_AGAIN;

        /* the window: what is left of the last piece plus step more */
        for (got = 0; rc == NGX_SESSION_AGAIN && got < len + step; ) {
            got = (got + step < len) ? got + step : len;

            free(buf);
            buf = malloc(got - pos ? got - pos : 1);
            memcpy(buf, in + pos, got - pos);

            rc = ngx_session_push_skip(buf, got - pos, MAX_LEN, &pending,
                                       &consumed, &error);
            if (rc == NGX_SESSION_ERROR) {
                whole = 0;
                break;
            }

            pos += consumed;

            if (got == len && rc == NGX_SESSION_AGAIN) {
                whole = 0;
                break;
            }
        }

        ok(whole && rc == NGX_SESSION_OK && pos == len && pending == 0,
           "skipped in pieces of %zu bytes, up to the end of the value", step);
    }

    /* the value and what follows at once: only the value */
    pending = 1;
    free(buf);
    buf = malloc(p - in);
    memcpy(buf, in, p - in);
    rc = ngx_session_push_skip(buf, p - in, MAX_LEN, &pending, &consumed,
                               &error);
    ok(rc == NGX_SESSION_OK && consumed == len, "the next value is left");

    pending = 1;
    rc = ngx_session_push_skip((const unsigned char *) "$5000\r\n", 7,
                               MAX_LEN, &pending, &consumed, &error);
    is_int(rc, NGX_SESSION_ERROR, "an element longer than max_len: refused");

    pending = 1;
    rc = ngx_session_push_skip((const unsigned char *) "hello\r\n", 7,
                               MAX_LEN, &pending, &consumed, &error);
    is_int(rc, NGX_SESSION_ERROR, "not RESP3: refused");

    free(in);
}


int
main(void)
{
    test_replies();
    test_invalidate();
    test_refused();
    test_key_id();
    test_prefer();
    test_skip();

    free(buf);

    return tap_done();
}
