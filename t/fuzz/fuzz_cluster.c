
/*
 * The Redis Cluster replies: CLUSTER SLOTS parsed whole and cut at every
 * length the first byte chooses (a cut is AGAIN or the same error, never a
 * range handed on), and the input as an error reply's text.
 */


#include <string.h>

#include "ngx_session_cluster.h"
#include "fuzz.h"


static int
check_range(void *data, const ngx_session_cluster_range_t *r)
{
    size_t   i;
    size_t  *n = data;

    if (r->start > r->end || r->end >= NGX_SESSION_CLUSTER_SLOTS
        || r->nreplicas > NGX_SESSION_CLUSTER_REPLICAS_MAX
        || r->master.port == 0 || r->master.port > 65535
        || r->master.host.len > NGX_SESSION_CLUSTER_HOST_MAX)
    {
        abort();
    }

    for (i = 0; i < r->nreplicas; i++) {
        if (r->replicas[i].port == 0 || r->replicas[i].port > 65535) {
            abort();
        }
    }

    (*n)++;

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                             rc, rc2;
    size_t                          consumed, cut, n, n2;
    const char                     *error;
    ngx_session_cluster_redirect_t  rd;

    if (size == 0) {
        return 0;
    }

    cut = data[0] % size;
    data++;
    size--;

    n = 0;
    rc = ngx_session_cluster_slots_parse(data, size, &consumed, check_range,
                                         &n, &error);
    if (rc == NGX_SESSION_OK && consumed > size) {
        abort();
    }

    if (cut < size) {
        n2 = 0;
        rc2 = ngx_session_cluster_slots_parse(data, cut, &consumed,
                                              check_range, &n2, &error);
        if (rc2 == NGX_SESSION_AGAIN && n2 != 0) {
            abort();
        }

        if (rc2 == NGX_SESSION_OK && rc != NGX_SESSION_OK) {
            abort();
        }
    }

    if (ngx_session_cluster_redirect_parse(data, size, &rd) == NGX_SESSION_OK
        && (rd.type == NGX_SESSION_CLUSTER_MOVED
            || rd.type == NGX_SESSION_CLUSTER_ASK)
        && (rd.slot >= NGX_SESSION_CLUSTER_SLOTS || rd.target.port == 0
            || rd.target.host.len > size))
    {
        abort();
    }

    return 0;
}
