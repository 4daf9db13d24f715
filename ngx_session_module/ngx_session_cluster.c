
/*
 * Redis Cluster, the pure part (see ngx_session_cluster.h).  The replies
 * are framed by ngx_session_resp_next(); everything here is bounded: the
 * framing's limit, a nesting depth, the slot and port ranges.
 */


#include <string.h>

#include "ngx_session_cluster.h"
#include "ngx_session_resp.h"


/* the largest element or array count a slot map reply may hold */
#define NGX_SESSION_CLUSTER_ELT_MAX  NGX_SESSION_CLUSTER_SLOTS

/* node entries may carry metadata: nested arrays, this deep at most */
#define NGX_SESSION_CLUSTER_DEPTH    4


typedef struct {
    const unsigned char  *buf;
    size_t                len;
    size_t                pos;
    const char          **error;
} ngx_session_cluster_walk_t;


static int ngx_session_cluster_next(ngx_session_cluster_walk_t *w,
    ngx_session_resp_elt_t *elt);
static int ngx_session_cluster_skip(ngx_session_cluster_walk_t *w,
    unsigned depth);
static int ngx_session_cluster_array(ngx_session_cluster_walk_t *w,
    int64_t min, int64_t *n, const char *what);
static int ngx_session_cluster_integer(ngx_session_cluster_walk_t *w,
    int64_t max, unsigned *value, const char *what);
static int ngx_session_cluster_node(ngx_session_cluster_walk_t *w,
    ngx_session_cluster_endpoint_t *ep, int *known);
static int ngx_session_cluster_range(ngx_session_cluster_walk_t *w,
    ngx_session_cluster_range_t *range);
static int ngx_session_cluster_endpoint(const unsigned char *p, size_t len,
    ngx_session_cluster_endpoint_t *ep);


uint16_t
ngx_session_cluster_crc16(const unsigned char *p, size_t len)
{
    unsigned  bit;
    uint16_t  crc;

    crc = 0;

    while (len--) {
        crc ^= (uint16_t) (*p++ << 8);

        for (bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc;
}


unsigned
ngx_session_cluster_slot(const unsigned char *key, size_t len)
{
    size_t  open, close;

    for (open = 0; open < len && key[open] != '{'; open++) { /* void */ }

    for (close = open + 1; close < len && key[close] != '}'; close++) {
        /* void */
    }

    if (close < len && close > open + 1) {
        key += open + 1;
        len = close - open - 1;
    }

    return ngx_session_cluster_crc16(key, len) % NGX_SESSION_CLUSTER_SLOTS;
}


int
ngx_session_cluster_slots_parse(const unsigned char *buf, size_t len,
    size_t *consumed, ngx_session_cluster_range_pt range, void *data,
    const char **error)
{
    int                          rc;
    int64_t                      n;
    ngx_session_resp_elt_t       elt;
    ngx_session_cluster_walk_t   w;
    ngx_session_cluster_range_t  r;

    w.buf = buf;
    w.len = len;
    w.pos = 0;
    w.error = error;

    rc = ngx_session_cluster_next(&w, &elt);
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    if (elt.type == NGX_SESSION_RESP_ERR) {
        *error = "error reply";
        return NGX_SESSION_ERROR;
    }

    if (elt.type != NGX_SESSION_RESP_ARRAY) {
        *error = "not an array of slot ranges";
        return NGX_SESSION_ERROR;
    }

    for (n = elt.integer; n > 0; n--) {
        rc = ngx_session_cluster_range(&w, &r);
        if (rc != NGX_SESSION_OK) {
            return rc;
        }
    }

    /* framed whole: now the ranges are handed on, none from a partial one */

    if (range) {
        w.pos = 0;
        (void) ngx_session_cluster_next(&w, &elt);

        for (n = elt.integer; n > 0; n--) {
            (void) ngx_session_cluster_range(&w, &r);

            if (range(data, &r) != 0) {
                *error = "refused by the caller";
                return NGX_SESSION_ERROR;
            }
        }
    }

    *consumed = w.pos;

    return NGX_SESSION_OK;
}


static int
ngx_session_cluster_next(ngx_session_cluster_walk_t *w,
    ngx_session_resp_elt_t *elt)
{
    int  rc;

    rc = ngx_session_resp_next(w->buf + w->pos, w->len - w->pos,
                               NGX_SESSION_CLUSTER_ELT_MAX, elt, w->error);

    if (rc == NGX_SESSION_TOO_LARGE) {
        *w->error = "element too large";
        return NGX_SESSION_ERROR;
    }

    if (rc == NGX_SESSION_OK) {
        w->pos += elt->size;
    }

    return rc;
}


/* one element and, for an array, all it holds */

static int
ngx_session_cluster_skip(ngx_session_cluster_walk_t *w, unsigned depth)
{
    int                     rc;
    int64_t                 n;
    ngx_session_resp_elt_t  elt;

    rc = ngx_session_cluster_next(w, &elt);
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    if (elt.type != NGX_SESSION_RESP_ARRAY) {
        return NGX_SESSION_OK;
    }

    if (depth == NGX_SESSION_CLUSTER_DEPTH) {
        *w->error = "nested too deep";
        return NGX_SESSION_ERROR;
    }

    for (n = elt.integer; n > 0; n--) {
        rc = ngx_session_cluster_skip(w, depth + 1);
        if (rc != NGX_SESSION_OK) {
            return rc;
        }
    }

    return NGX_SESSION_OK;
}


static int
ngx_session_cluster_integer(ngx_session_cluster_walk_t *w, int64_t max,
    unsigned *value, const char *what)
{
    int                     rc;
    ngx_session_resp_elt_t  elt;

    rc = ngx_session_cluster_next(w, &elt);
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    if (elt.type != NGX_SESSION_RESP_INTEGER
        || elt.integer < 0 || elt.integer > max)
    {
        *w->error = what;
        return NGX_SESSION_ERROR;
    }

    *value = (unsigned) elt.integer;

    return NGX_SESSION_OK;
}


/* an array of at least min elements: *n of them follow */

static int
ngx_session_cluster_array(ngx_session_cluster_walk_t *w, int64_t min,
    int64_t *n, const char *what)
{
    int                     rc;
    ngx_session_resp_elt_t  elt;

    rc = ngx_session_cluster_next(w, &elt);
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    if (elt.type != NGX_SESSION_RESP_ARRAY || elt.integer < min) {
        *w->error = what;
        return NGX_SESSION_ERROR;
    }

    *n = elt.integer;

    return NGX_SESSION_OK;
}


/* [start, end, master, replica...] */

static int
ngx_session_cluster_range(ngx_session_cluster_walk_t *w,
    ngx_session_cluster_range_t *range)
{
    int                             rc, known;
    int64_t                         n;
    ngx_session_cluster_endpoint_t  ep;

    memset(range, 0, sizeof(ngx_session_cluster_range_t));

    rc = ngx_session_cluster_array(w, 3, &n,
                                   "slot range is not [start, end, master, "
                                   "...]");
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    rc = ngx_session_cluster_integer(w, NGX_SESSION_CLUSTER_SLOTS - 1,
                                     &range->start, "slot out of range");
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    rc = ngx_session_cluster_integer(w, NGX_SESSION_CLUSTER_SLOTS - 1,
                                     &range->end, "slot out of range");
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    if (range->end < range->start) {
        *w->error = "slot range ends before it starts";
        return NGX_SESSION_ERROR;
    }

    rc = ngx_session_cluster_node(w, &range->master, &known);
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    if (!known) {
        *w->error = "master endpoint unknown";
        return NGX_SESSION_ERROR;
    }

    for (n -= 3; n > 0; n--) {
        rc = ngx_session_cluster_node(w, &ep, &known);
        if (rc != NGX_SESSION_OK) {
            return rc;
        }

        if (known && range->nreplicas < NGX_SESSION_CLUSTER_REPLICAS_MAX) {
            range->replicas[range->nreplicas++] = ep;
        }
    }

    return NGX_SESSION_OK;
}


/* [host, port, id, metadata...]; a host of "?" or nil is not known */

static int
ngx_session_cluster_node(ngx_session_cluster_walk_t *w,
    ngx_session_cluster_endpoint_t *ep, int *known)
{
    int                     rc;
    int64_t                 n;
    ngx_session_resp_elt_t  elt;

    rc = ngx_session_cluster_array(w, 2, &n, "node is not [host, port, ...]");
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    rc = ngx_session_cluster_next(w, &elt);
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    *known = 1;
    memset(ep, 0, sizeof(ngx_session_cluster_endpoint_t));

    if (elt.type == NGX_SESSION_RESP_NIL
        || (elt.type == NGX_SESSION_RESP_BULK
            && elt.str.len == 1 && elt.str.data[0] == '?'))
    {
        *known = 0;

    } else if (elt.type != NGX_SESSION_RESP_BULK
               && elt.type != NGX_SESSION_RESP_SIMPLE)
    {
        *w->error = "node host is not a string";
        return NGX_SESSION_ERROR;

    } else if (elt.str.len > NGX_SESSION_CLUSTER_HOST_MAX) {
        *w->error = "node host too long";
        return NGX_SESSION_ERROR;

    } else {
        ep->host = elt.str;
    }

    rc = ngx_session_cluster_integer(w, 65535, &ep->port,
                                     "node port out of range");
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    if (ep->port == 0) {
        *known = 0;
    }

    for (n -= 2; n > 0; n--) {
        rc = ngx_session_cluster_skip(w, 1);
        if (rc != NGX_SESSION_OK) {
            return rc;
        }
    }

    return NGX_SESSION_OK;
}


int
ngx_session_cluster_redirect_parse(const unsigned char *err, size_t len,
    ngx_session_cluster_redirect_t *rd)
{
    size_t    n, word;
    unsigned  slot;

    memset(rd, 0, sizeof(ngx_session_cluster_redirect_t));

    for (word = 0; word < len && err[word] != ' '; word++) { /* void */ }

    if (word == 8 && memcmp(err, "TRYAGAIN", 8) == 0) {
        rd->type = NGX_SESSION_CLUSTER_TRYAGAIN;
        return NGX_SESSION_OK;
    }

    if (word == 11 && memcmp(err, "CLUSTERDOWN", 11) == 0) {
        rd->type = NGX_SESSION_CLUSTER_DOWN;
        return NGX_SESSION_OK;
    }

    if (word == 5 && memcmp(err, "MOVED", 5) == 0) {
        rd->type = NGX_SESSION_CLUSTER_MOVED;

    } else if (word == 3 && memcmp(err, "ASK", 3) == 0) {
        rd->type = NGX_SESSION_CLUSTER_ASK;

    } else {
        return NGX_SESSION_OK;
    }

    /* MOVED <slot> <host>:<port> */

    n = word + 1;

    if (n >= len || err[n] < '0' || err[n] > '9') {
        return NGX_SESSION_ERROR;
    }

    for (slot = 0; n < len && err[n] >= '0' && err[n] <= '9'; n++) {
        slot = slot * 10 + (err[n] - '0');

        if (slot >= NGX_SESSION_CLUSTER_SLOTS) {
            return NGX_SESSION_ERROR;
        }
    }

    if (n >= len || err[n] != ' ') {
        return NGX_SESSION_ERROR;
    }

    rd->slot = slot;
    n++;

    return ngx_session_cluster_endpoint(err + n, len - n, &rd->target);
}


/* host:port, the port after the last colon (IPv6 hosts hold colons) */

static int
ngx_session_cluster_endpoint(const unsigned char *p, size_t len,
    ngx_session_cluster_endpoint_t *ep)
{
    size_t    colon, n;
    unsigned  port;

    for (colon = len; colon > 0 && p[colon - 1] != ':'; colon--) {
        /* void */
    }

    if (colon == 0 || colon == len
        || colon - 1 > NGX_SESSION_CLUSTER_HOST_MAX)
    {
        return NGX_SESSION_ERROR;
    }

    for (port = 0, n = colon; n < len; n++) {
        if (p[n] < '0' || p[n] > '9') {
            return NGX_SESSION_ERROR;
        }

        port = port * 10 + (p[n] - '0');

        if (port > 65535) {
            return NGX_SESSION_ERROR;
        }
    }

    for (n = 0; n < colon - 1; n++) {
        if (p[n] <= ' ' || p[n] == 0x7f) {
            return NGX_SESSION_ERROR;
        }
    }

    if (port == 0) {
        return NGX_SESSION_ERROR;
    }

    ep->host.data = p;
    ep->host.len = colon - 1;
    ep->port = port;

    return NGX_SESSION_OK;
}
