
/*
 * The pure Redis Cluster part: CRC16 and slots (the Redis cluster
 * specification's vectors), CLUSTER SLOTS replies, redirections.
 */


#include <string.h>

#include "ngx_session_cluster.h"
#include "tap.h"


#define S(s)  (const unsigned char *) (s), sizeof(s) - 1


static void
test_slot(void)
{
    is_int(ngx_session_cluster_crc16(S("123456789")), 0x31C3,
           "CRC16(\"123456789\") is 0x31C3");
    is_int(ngx_session_cluster_crc16(S("")), 0, "CRC16 of nothing is 0");

    /* the specification's examples of hash tags */
    is_int(ngx_session_cluster_slot(S("{user1000}.following")),
           ngx_session_cluster_slot(S("user1000")), "tag: {user1000}");
    is_int(ngx_session_cluster_slot(S("foo{}{bar}")),
           ngx_session_cluster_crc16(S("foo{}{bar}")) % 16384,
           "empty first tag: the whole key");
    is_int(ngx_session_cluster_slot(S("foo{{bar}}zap")),
           ngx_session_cluster_slot(S("{bar")), "tag is \"{bar\"");
    is_int(ngx_session_cluster_slot(S("foo{bar}{zap}")),
           ngx_session_cluster_slot(S("bar")), "first tag only");
    is_int(ngx_session_cluster_slot(S("foo{bar")),
           ngx_session_cluster_crc16(S("foo{bar")) % 16384,
           "unclosed: the whole key");
    is_int(ngx_session_cluster_slot(S("foo")), 12182, "foo is slot 12182");
    is_int(ngx_session_cluster_slot(S("session:{abc}")),
           ngx_session_cluster_slot(S("session:{abc}:stops")),
           "both session keys share a slot");
}


typedef struct {
    ngx_session_cluster_range_t  r[8];
    unsigned                     n;
} ranges_t;


static int
collect(void *data, const ngx_session_cluster_range_t *range)
{
    ranges_t  *rs = data;

    if (rs->n < 8) {
        rs->r[rs->n++] = *range;
    }

    return 0;
}


static void
test_slots(void)
{
    int          rc;
    size_t       consumed, i, len;
    ranges_t     rs;
    const char  *error;

    /* Redis 7: [start, end, [host, port, id, {metadata}], replica...] */
    static const char  map[] =
        "*2\r\n"
        "*4\r\n:0\r\n:8191\r\n"
          "*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n$3\r\nid1\r\n*0\r\n"
          "*4\r\n$9\r\n127.0.0.1\r\n:7003\r\n$3\r\nid4\r\n"
            "*2\r\n$8\r\nhostname\r\n$4\r\nnode\r\n"
        "*3\r\n:8192\r\n:16383\r\n"
          "*3\r\n$0\r\n\r\n:7001\r\n$3\r\nid2\r\n";

    memset(&rs, 0, sizeof(rs));
    rc = ngx_session_cluster_slots_parse(S(map), &consumed, collect, &rs,
                                         &error);
    is_int(rc, NGX_SESSION_OK, "slot map parsed");
    is_int(consumed, sizeof(map) - 1, "consumed whole");
    is_int(rs.n, 2, "two ranges");
    is_int(rs.r[0].start, 0, "first start");
    is_int(rs.r[0].end, 8191, "first end");
    is_mem(rs.r[0].master.host.data, rs.r[0].master.host.len, "127.0.0.1",
           "master host");
    is_int(rs.r[0].master.port, 7000, "master port");
    is_int(rs.r[0].nreplicas, 1, "one replica");
    is_int(rs.r[0].replicas[0].port, 7003, "replica port");
    is_int(rs.r[1].master.host.len, 0, "empty host: the node asked");
    is_int(rs.r[1].master.port, 7001, "second master");

    /* every cut is incomplete, and calls back nothing */
    for (len = 0; len < sizeof(map) - 1; len++) {
        memset(&rs, 0, sizeof(rs));
        rc = ngx_session_cluster_slots_parse((const unsigned char *) map,
                                             len, &consumed, collect, &rs,
                                             &error);
        if (rc != NGX_SESSION_AGAIN || rs.n != 0) {
            break;
        }
    }
    is_int(len, sizeof(map) - 1, "every prefix is AGAIN, no range given");

    static const struct {
        const char  *name;
        const char  *reply;
    } bad[] = {
        { "error reply", "-ERR cluster support disabled\r\n" },
        { "not an array", "+OK\r\n" },
        { "slot too high",
          "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\na\r\n:1\r\n" },
        { "end before start",
          "*1\r\n*3\r\n:5\r\n:4\r\n*2\r\n$1\r\na\r\n:1\r\n" },
        { "no master", "*1\r\n*2\r\n:0\r\n:4\r\n" },
        { "port too high",
          "*1\r\n*3\r\n:0\r\n:4\r\n*2\r\n$1\r\na\r\n:65536\r\n" },
        { "unknown master",
          "*1\r\n*3\r\n:0\r\n:4\r\n*2\r\n$1\r\n?\r\n:1\r\n" },
        { "host an integer", "*1\r\n*3\r\n:0\r\n:4\r\n*2\r\n:1\r\n:1\r\n" },
        { "too deep", "*1\r\n*3\r\n:0\r\n:4\r\n*3\r\n$1\r\na\r\n:1\r\n"
                      "*1\r\n*1\r\n*1\r\n*1\r\n*0\r\n" },
        { "not RESP", "*1\r\nhello\r\n" },
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        error = NULL;
        rc = ngx_session_cluster_slots_parse(
                 (const unsigned char *) bad[i].reply, strlen(bad[i].reply),
                 &consumed, NULL, NULL, &error);
        ok(rc == NGX_SESSION_ERROR && error != NULL, "refused: %s (%s)",
           bad[i].name, error ? error : "");
    }

    /* an unknown replica is left out, the range kept */
    static const char  unknown[] =
        "*1\r\n*4\r\n:0\r\n:4\r\n*2\r\n$1\r\na\r\n:1\r\n"
        "*2\r\n$-1\r\n:2\r\n";
    memset(&rs, 0, sizeof(rs));
    rc = ngx_session_cluster_slots_parse(S(unknown), &consumed, collect, &rs,
                                         &error);
    ok(rc == NGX_SESSION_OK && rs.n == 1 && rs.r[0].nreplicas == 0,
       "nil replica host: replica left out");

    memset(&rs, 0, sizeof(rs));
    rc = ngx_session_cluster_slots_parse(S("*0\r\n"), &consumed, collect, &rs,
                                         &error);
    ok(rc == NGX_SESSION_OK && rs.n == 0, "no slots assigned: empty map");
}


static void
test_redirect(void)
{
    size_t                          i;
    ngx_session_cluster_redirect_t  rd;

    ok(ngx_session_cluster_redirect_parse(S("MOVED 3999 127.0.0.1:6381"), &rd)
       == NGX_SESSION_OK && rd.type == NGX_SESSION_CLUSTER_MOVED
       && rd.slot == 3999 && rd.target.port == 6381
       && rd.target.host.len == 9
       && memcmp(rd.target.host.data, "127.0.0.1", 9) == 0, "MOVED");

    ok(ngx_session_cluster_redirect_parse(S("ASK 0 ::1:7000"), &rd)
       == NGX_SESSION_OK && rd.type == NGX_SESSION_CLUSTER_ASK
       && rd.slot == 0 && rd.target.port == 7000
       && rd.target.host.len == 3, "ASK to an IPv6 host");

    ok(ngx_session_cluster_redirect_parse(S("MOVED 16383 :7001"), &rd)
       == NGX_SESSION_OK && rd.target.host.len == 0
       && rd.target.port == 7001, "MOVED with no host: the node asked");

    ok(ngx_session_cluster_redirect_parse(
           S("TRYAGAIN Multiple keys request during rehashing of slot"), &rd)
       == NGX_SESSION_OK && rd.type == NGX_SESSION_CLUSTER_TRYAGAIN,
       "TRYAGAIN");

    ok(ngx_session_cluster_redirect_parse(
           S("CLUSTERDOWN The cluster is down"), &rd)
       == NGX_SESSION_OK && rd.type == NGX_SESSION_CLUSTER_DOWN,
       "CLUSTERDOWN");

    ok(ngx_session_cluster_redirect_parse(S("WRONGTYPE Operation"), &rd)
       == NGX_SESSION_OK && rd.type == NGX_SESSION_CLUSTER_NONE,
       "another error: no redirection");

    ok(ngx_session_cluster_redirect_parse(S("MOVEDX 1 a:1"), &rd)
       == NGX_SESSION_OK && rd.type == NGX_SESSION_CLUSTER_NONE,
       "a longer word is not MOVED");

    static const char  *bad[] = {
        "MOVED", "MOVED ", "MOVED x a:1", "MOVED 16384 a:1", "MOVED 1 a:",
        "MOVED 1 a", "MOVED 1 a:0", "MOVED 1 a:65536", "MOVED 1 a:1x",
        "MOVED 1  a:1", "ASK 1 a b:1", "MOVED 99999999999999999999 a:1",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(ngx_session_cluster_redirect_parse(
               (const unsigned char *) bad[i], strlen(bad[i]), &rd)
           == NGX_SESSION_ERROR, "malformed: \"%s\"", bad[i]);
    }
}


int
main(void)
{
    test_slot();
    test_slots();
    test_redirect();

    return tap_done();
}
