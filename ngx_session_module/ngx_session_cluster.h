
/*
 * Redis Cluster, the pure part: the slot of a key (CRC16 of its hash tag),
 * the reply to CLUSTER SLOTS as slot ranges and their nodes, and the
 * redirections a node answers with (MOVED, ASK, TRYAGAIN, CLUSTERDOWN).
 * Plain C: unit tested and fuzzed without nginx.
 */

#ifndef _NGX_SESSION_CLUSTER_H_INCLUDED_
#define _NGX_SESSION_CLUSTER_H_INCLUDED_


#include "ngx_session_data.h"


#define NGX_SESSION_CLUSTER_SLOTS         16384

/* replicas kept per slot range; more are ignored */
#define NGX_SESSION_CLUSTER_REPLICAS_MAX  4

/* the longest host name or address taken from a reply */
#define NGX_SESSION_CLUSTER_HOST_MAX      255


/* CRC16-CCITT (XMODEM), the cluster's key hash */
uint16_t ngx_session_cluster_crc16(const unsigned char *p, size_t len);

/*
 * The slot of a key: of the part between the first "{" and the next "}"
 * when that part is not empty, else of the whole key.
 */
unsigned ngx_session_cluster_slot(const unsigned char *key, size_t len);


typedef struct {
    ngx_session_str_t   host;  /* len 0: the node the reply came from */
    unsigned            port;
} ngx_session_cluster_endpoint_t;


typedef struct {
    unsigned                        start;
    unsigned                        end;      /* inclusive */
    ngx_session_cluster_endpoint_t  master;
    ngx_session_cluster_endpoint_t  replicas[NGX_SESSION_CLUSTER_REPLICAS_MAX];
    unsigned                        nreplicas;
} ngx_session_cluster_range_t;


/* called once per range of a well-formed reply; non-zero stops the parse */
typedef int (*ngx_session_cluster_range_pt)(void *data,
    const ngx_session_cluster_range_t *range);


/*
 * buf/len: the reply to CLUSTER SLOTS received so far, from its first
 * byte.  Returns NGX_SESSION_AGAIN while it is incomplete (call again with
 * more), NGX_SESSION_ERROR with *error set (static text) when it is not a
 * slot map (an error reply, a bad shape, a slot out of range, a port out of
 * range, a node whose endpoint is unknown as master), or NGX_SESSION_OK with
 * *consumed set, having called "range" (if not NULL) for each range in
 * order.  Strings in the ranges point into buf.  A replica whose endpoint is
 * unknown ("?" or nil) is left out; so are replicas beyond the maximum.
 */
int ngx_session_cluster_slots_parse(const unsigned char *buf, size_t len,
    size_t *consumed, ngx_session_cluster_range_pt range, void *data,
    const char **error);


typedef enum {
    NGX_SESSION_CLUSTER_NONE = 0,    /* not a redirection */
    NGX_SESSION_CLUSTER_MOVED,       /* the slot lives at target now */
    NGX_SESSION_CLUSTER_ASK,         /* ASKING at target, once */
    NGX_SESSION_CLUSTER_TRYAGAIN,    /* keys of the slot being moved */
    NGX_SESSION_CLUSTER_DOWN         /* CLUSTERDOWN */
} ngx_session_cluster_redirect_e;


typedef struct {
    ngx_session_cluster_redirect_e  type;
    unsigned                        slot;    /* MOVED, ASK */
    ngx_session_cluster_endpoint_t  target;  /* MOVED, ASK */
} ngx_session_cluster_redirect_t;


/*
 * err/len: the text of an error reply, without "-" and CRLF.  Fills *rd
 * and returns NGX_SESSION_OK for a redirection; NGX_SESSION_ERROR for a
 * MOVED or ASK that is malformed; for any other error NGX_SESSION_OK with
 * rd->type NGX_SESSION_CLUSTER_NONE.
 */
int ngx_session_cluster_redirect_parse(const unsigned char *err, size_t len,
    ngx_session_cluster_redirect_t *rd);


#endif /* _NGX_SESSION_CLUSTER_H_INCLUDED_ */
