
/*
 * Unit tests of the owner step of the RESP reply decoder (issue 9 item 2):
 * MULTI / HGET key owner / HGETALL / LRANGE / EXEC.  Another owner's reply
 * is decided on the HGET reply, nothing after it is stored or allocated,
 * and it is framed only within the bytes given; and the strings decoded
 * follow the reply when its buffer is moved (issue 9 item 3).
 *
 * Every input is copied into a buffer of exactly its length, so that a
 * read past len shows under valgrind or ASan.
 */


#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "alloc.h"
#include "ngx_session_resp.h"


#define MAX_LEN   65536

#define PRELUDE   "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n"
#define HASH      "*4\r\n$5\r\nowner\r\n$8\r\nclient-a\r\n" \
                  "$6\r\nstatus\r\n$2\r\nok\r\n"
#define STOPS     "*1\r\n$2\r\n{}\r\n"




typedef struct {
    int                  rc;
    size_t               consumed;
    ngx_session_reply_t  rp;
    ngx_session_data_t   out;
    unsigned char       *buf;
} test_run_t;


/* the whole reply at once, or byte by byte when step */

static void
run(test_run_t *t, const char *reply, size_t len, const char *owner,
    int step)
{
    size_t  n;

    test_free_all();
    free(t->buf);
    t->buf = malloc(len ? len : 1);
    memcpy(t->buf, reply, len);

    nalloc = 0;
    t->consumed = (size_t) -1;

    ngx_session_reply_init(&t->rp, &t->out, MAX_LEN, test_alloc, NULL);

    if (owner) {
        ngx_session_reply_owner(&t->rp, (const unsigned char *) owner,
                                strlen(owner));
    }

    if (!step) {
        t->rc = ngx_session_reply_parse(&t->rp, t->buf, len, &t->consumed);
        return;
    }

    for (n = 1; n <= len; n++) {
        t->rc = ngx_session_reply_parse(&t->rp, t->buf, n, &t->consumed);
        if (t->rc != NGX_SESSION_AGAIN) {
            return;
        }
    }
}


#define R(s)  s, sizeof(s) - 1


int
main(void)
{
    int          step;
    size_t       i;
    test_run_t   t;
    const char  *mode;

    memset(&t, 0, sizeof(t));

    for (step = 0; step < 2; step++) {
        mode = step ? "byte by byte" : "whole";

        run(&t, R(PRELUDE "$8\r\nclient-a\r\n" HASH STOPS), "client-a", step);
        is_int(t.rc, NGX_SESSION_OK, "%s: own session decoded", mode);
        is_int(t.out.hash_len, 2, "%s: its hash", mode);
        is_int(t.out.nstops, 1, "%s: its stops", mode);
        is_mem(t.out.fields[NGX_SESSION_STATUS].data,
               t.out.fields[NGX_SESSION_STATUS].len, "ok",
               "%s: its status", mode);

        run(&t, R(PRELUDE "$8\r\nclient-b\r\n" HASH STOPS), "client-a", step);
        is_int(t.rc, NGX_SESSION_NOT_OWNER, "%s: same length, other bytes",
               mode);
        is_int(t.out.hash_len, 0, "%s: nothing stored", mode);
        is_int(nalloc, 0, "%s: nothing allocated", mode);
        ok(t.out.fields[NGX_SESSION_STATUS].data == NULL,
           "%s: no field set", mode);
        if (step) {
            ok(!t.rp.skipped, "%s: decided with the owner, not read on",
               mode);

        } else {
            ok(t.rp.skipped
               && t.consumed == sizeof(PRELUDE "$8\r\nclient-b\r\n" HASH
                                       STOPS) - 1,
               "%s: framed to its end", mode);
        }
    }

    /* decided on the header: a longer owner is not waited for */
    run(&t, R(PRELUDE "$100000\r\n"), "client-a", 0);
    is_int(t.rc, NGX_SESSION_NOT_OWNER, "a longer owner, header only");
    ok(!t.rp.skipped, "not framed to an end: the connection goes");

    run(&t, R(PRELUDE "$7\r\nclient-\r\n" HASH STOPS), "client-a", 0);
    is_int(t.rc, NGX_SESSION_NOT_OWNER, "a shorter owner");

    run(&t, R(PRELUDE "$-1\r\n*0\r\n*0\r\n"), "client-a", 0);
    is_int(t.rc, NGX_SESSION_NOT_OWNER, "no owner (an unknown id)");
    ok(t.rp.skipped, "the unknown id's reply is framed to its end");

    run(&t, R(PRELUDE "$0\r\n\r\n" HASH STOPS), "", 0);
    is_int(t.rc, NGX_SESSION_NOT_OWNER, "an empty owner never matches");

    run(&t, R(PRELUDE "-WRONGTYPE Operation against a key holding the wrong "
              "kind of value\r\n-WRONGTYPE x\r\n-WRONGTYPE x\r\n"),
        "client-a", 0);
    is_int(t.rc, NGX_SESSION_NOT_OWNER, "a hash key of the wrong type");
    ok(t.rp.skipped, "its error replies framed");

    run(&t, R(PRELUDE "$8\r\nclient-b\r\n" HASH "-WRONGTYPE x\r\n"),
        "client-a", 0);
    is_int(t.rc, NGX_SESSION_NOT_OWNER, "another's stops of the wrong type");

    run(&t, R(PRELUDE "$8\r\nclient-a\r\n" HASH "-WRONGTYPE x\r\n"),
        "client-a", 0);
    is_int(t.rc, NGX_SESSION_ERROR, "own stops of the wrong type: error");

    run(&t, R(PRELUDE "$8\r\nclient-b\r\n*100000\r\n"), "client-a", 0);
    is_int(t.rc, NGX_SESSION_NOT_OWNER, "another's huge count");
    ok(!t.rp.skipped, "not framed past the bytes given");

    run(&t, R(PRELUDE "$8\r\nclient-b\r\n" HASH "*1\r\n$2\r\n{"),
        "client-a", 0);
    is_int(t.rc, NGX_SESSION_NOT_OWNER, "another's reply, cut short");
    ok(!t.rp.skipped, "more to come: not skipped");

    run(&t, R(PRELUDE "$8\r\nclient-b\r\n" HASH STOPS "+extra\r\n"),
        "client-a", 0);
    ok(t.rp.skipped && t.consumed < sizeof(PRELUDE "$8\r\nclient-b\r\n" HASH
                                           STOPS "+extra\r\n") - 1,
       "bytes after the reply: consumed tells");

    /* an array where HGET's scalar belongs must not pass for the hash and
       the list: the real ones would reach the next request */
    run(&t, R(PRELUDE "*2\r\n$1\r\na\r\n$1\r\nb\r\n"), "client-a", 0);
    is_int(t.rc, NGX_SESSION_NOT_OWNER, "an array as the owner: not the owner");
    ok(!t.rp.skipped, "an array as the owner: the connection is not kept");

    run(&t, R(PRELUDE "?garbage\r\n"), "client-a", 0);
    is_int(t.rc, NGX_SESSION_ERROR, "not RESP where the owner is");
    ok(t.rp.not_resp, "as not RESP");

    run(&t, R("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n*0\r\n*0\r\n"), "client-a",
        0);
    is_int(t.rc, NGX_SESSION_ERROR, "three commands sent, two replies");

    run(&t, R("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n*0\r\n*0\r\n"), NULL, 0);
    is_int(t.rc, NGX_SESSION_OK, "no owner asked: the reply of two");

    /* the buffer moves while the stops arrive */
    {
        static const char  reply[] = PRELUDE "$8\r\nclient-a\r\n" HASH
                                     "*2\r\n$2\r\n{}\r\n$3\r\n[1]\r\n";
        unsigned char     *a, *b;
        size_t             half;

        half = sizeof(reply) - 8;
        a = malloc(sizeof(reply));
        memcpy(a, reply, half);

        nalloc = 0;
        ngx_session_reply_init(&t.rp, &t.out, MAX_LEN, test_alloc, NULL);
        ngx_session_reply_owner(&t.rp, (const unsigned char *) "client-a", 8);

        t.rc = ngx_session_reply_parse(&t.rp, a, half, &t.consumed);
        is_int(t.rc, NGX_SESSION_AGAIN, "moved: first part");

        b = malloc(2 * sizeof(reply));
        memcpy(b, a, half);
        ngx_session_reply_moved(&t.rp, a, b);
        memset(a, 'Z', half);
        free(a);

        memcpy(b + half, reply + half, sizeof(reply) - 1 - half);
        t.rc = ngx_session_reply_parse(&t.rp, b, sizeof(reply) - 1,
                                       &t.consumed);
        is_int(t.rc, NGX_SESSION_OK, "moved: the rest");
        is_mem(t.out.fields[NGX_SESSION_OWNER].data,
               t.out.fields[NGX_SESSION_OWNER].len, "client-a",
               "moved: a field decoded before the move");
        is_int(t.out.nstops, 2, "moved: both stops");
        is_mem(t.out.stops[0].data, t.out.stops[0].len, "{}",
               "moved: a stop decoded before the move");
        is_mem(t.out.stops[1].data, t.out.stops[1].len, "[1]",
               "moved: one after");

        for (i = 0; i < NGX_SESSION_NFIELDS; i++) {
            if (t.out.fields[i].data) {
                ok(t.out.fields[i].data >= b
                   && t.out.fields[i].data < b + sizeof(reply),
                   "moved: field %u points into the new buffer",
                   (unsigned) i);
            }
        }

        free(b);
    }

    test_free_all();
    free(t.buf);

    return tap_done();
}
