
/*
 * Unit tests of the PTTL step of the store reply decoder (SPEC 9): MULTI /
 * [HGET owner] / HGETALL / LRANGE / PTTL / EXEC.  The TTL is read after the
 * list, where it starts is recorded (the body does not depend on what
 * follows), another owner's reply is still skipped whole, and a PTTL reply
 * that is no integer is refused.
 *
 * Every input is copied into a buffer of exactly its length, so that a
 * read past len shows under valgrind or ASan.
 */


#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "alloc.h"
#include "ngx_session_resp.h"


#define MAX_LEN  65536

/* MULTI's OK, then QUEUED for 3 commands, or 4 with the HGET owner */
#define Q3      "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
#define Q4      Q3 "+QUEUED\r\n"
#define HASH    "*4\r\n$5\r\nowner\r\n$8\r\nclient-a\r\n" \
                "$6\r\nstatus\r\n$2\r\nok\r\n"
#define STOPS   "*1\r\n$2\r\n{}\r\n"




static unsigned char  *buf;
static ngx_session_reply_t  rp;
static ngx_session_data_t   out;


/* a copy of exactly the reply, and a decoder asking for the PTTL */

static void
start(const char *reply, size_t len, const char *owner)
{
    test_free_all();
    free(buf);
    buf = malloc(len ? len : 1);
    memcpy(buf, reply, len);

    ngx_session_reply_init(&rp, &out, MAX_LEN, test_alloc, NULL);

    if (owner) {
        ngx_session_reply_owner(&rp, (const unsigned char *) owner,
                                strlen(owner));
    }

    ngx_session_reply_ttl(&rp);
}


static int
run(const char *reply, size_t len, const char *owner, size_t *consumed)
{
    start(reply, len, owner);

    return ngx_session_reply_parse(&rp, buf, len, consumed);
}


/* fed byte by byte: AGAIN until the whole, then the result of the whole */

static int
run_split(const char *reply, size_t len, const char *owner)
{
    int     rc;
    size_t  n, consumed;

    start(reply, len, owner);

    for (n = 0; n < len; n++) {
        rc = ngx_session_reply_parse(&rp, buf, n, &consumed);
        if (rc != NGX_SESSION_AGAIN) {
            return -100;
        }
    }

    rc = ngx_session_reply_parse(&rp, buf, len, &consumed);

    return (rc == NGX_SESSION_OK && consumed == len) ? rc : -101;
}


#define S(lit)  lit, sizeof(lit) - 1


int
main(void)
{
    size_t  consumed;

    static const char plain[] = Q3 "*3\r\n" HASH STOPS ":59000\r\n";
    static const char empty[] = Q3 "*3\r\n" HASH "*0\r\n" ":-1\r\n";
    static const char owned[] = Q4 "*4\r\n$8\r\nclient-a\r\n"
                                HASH STOPS ":1200\r\n";
    static const char other[] = Q4 "*4\r\n$8\r\nclient-b\r\n"
                                HASH STOPS ":1200\r\n";
    static const char notint[] = Q3 "*3\r\n" HASH STOPS "$2\r\n12\r\n";
    static const char noexec[] = Q3 "*2\r\n" HASH STOPS;

    is_int(run(S(plain), NULL, &consumed), NGX_SESSION_OK, "with PTTL");
    is_int(consumed, sizeof(plain) - 1, "the whole reply");
    is_int(rp.ttl_ms, 59000, "the TTL");
    is_int(rp.ttl_pos, sizeof(plain) - 1 - sizeof(":59000\r\n") + 1,
           "where the TTL starts");
    is_int(out.nstops, 1, "the stops before it");
    is_int(run_split(S(plain), NULL), NGX_SESSION_OK, "byte by byte");

    is_int(run(S(empty), NULL, &consumed), NGX_SESSION_OK,
           "an empty list, no TTL");
    is_int(rp.ttl_ms, -1, "-1: no TTL");
    is_int(consumed, sizeof(empty) - 1, "the whole reply");

    is_int(run(S(owned), "client-a", &consumed), NGX_SESSION_OK,
           "the owner's, with PTTL");
    is_int(rp.ttl_ms, 1200, "its TTL");
    is_int(run_split(S(owned), "client-a"), NGX_SESSION_OK, "byte by byte");

    is_int(run(S(other), "client-a", &consumed), NGX_SESSION_NOT_OWNER,
           "another owner's");
    ok(rp.skipped, "skipped whole, PTTL included");
    is_int(consumed, sizeof(other) - 1, "to its end");

    is_int(run(S(notint), NULL, &consumed), NGX_SESSION_ERROR,
           "a PTTL reply that is no integer");
    is_int(run(S(noexec), NULL, &consumed), NGX_SESSION_ERROR,
           "an EXEC reply without the PTTL");

    test_free_all();
    free(buf);

    return tap_done();
}
