
/*
 * The Redis Cluster balancer (SPEC 10, docs/cluster.md).
 *
 * "session_result_cluster [replicas];" in an upstream block makes its
 * servers the seeds of a cluster.  Each worker learns the slot map
 * (CLUSTER SLOTS) from the seeds, and later from any node it knows, over a
 * non-blocking connection of its own on the event loop: at start, every
 * NGX_HTTP_SESSION_CLUSTER_REFRESH ms, and when a node answers MOVED or
 * cannot be reached.  The map is per worker: it is small (one entry per
 * slot), learnt in a round trip, and a worker that is behind is corrected
 * by the first MOVED it gets; a shared zone would add a lock to every
 * request for nothing the cluster does not already tell each client.
 *
 * A store attempt goes to the node owning the slot of {ID} (a replica of
 * it with "replicas"), or to any node while the slot is not known.  Nodes
 * learnt from the map are peers of their own, made at run time: a peer is
 * its sockaddr, so nginx's keepalive module, which matches cached
 * connections by sockaddr, keeps connections per node.
 *
 * Redirections are attempts of the same upstream request: the store's
 * process_header hands the error reply here, which records where the next
 * attempt goes and returns, through the store, INVALID_HEADER; nginx frees
 * the peer (closing the connection, whose reply is not read to its end)
 * and asks this balancer for the next one.  No reply data was taken from a
 * redirected attempt: a node redirects before it runs the transaction.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_session_cluster.h"
#include "ngx_session_cluster.h"


/* attempts of one store read: the first, and redirections or retries */
#define NGX_HTTP_SESSION_CLUSTER_TRIES    6

/* the periodic map refresh, and the least time between two */
#define NGX_HTTP_SESSION_CLUSTER_REFRESH  10000
#define NGX_HTTP_SESSION_CLUSTER_AGAIN    100

/* a node that could not be reached is avoided this long */
#define NGX_HTTP_SESSION_CLUSTER_FAILED   2000

/* connect, send and read of a CLUSTER SLOTS exchange */
#define NGX_HTTP_SESSION_CLUSTER_TIMEOUT  1000

/* the largest CLUSTER SLOTS reply read; the first read buffer */
#define NGX_HTTP_SESSION_CLUSTER_MAP_MAX  (4 * 1024 * 1024)
#define NGX_HTTP_SESSION_CLUSTER_MAP_BUF  4096

/* nodes one worker knows of one cluster */
#define NGX_HTTP_SESSION_CLUSTER_NODES    256

#define NGX_HTTP_SESSION_CLUSTER_NONE     0xffff


#define NGX_HTTP_SESSION_ASKING    "*1\r\n$6\r\nASKING\r\n"
#define NGX_HTTP_SESSION_READONLY  "*1\r\n$8\r\nREADONLY\r\n"
#define NGX_HTTP_SESSION_SLOTS     "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n"


typedef struct {
    ngx_sockaddr_t                   sockaddr;
    socklen_t                        socklen;
    ngx_str_t                        name;
    u_char                           text[NGX_SOCKADDR_STRLEN];
    ngx_msec_t                       failed;   /* when; 0: not */
} ngx_http_session_cluster_node_t;


typedef struct {
    uint16_t                         master;
    uint8_t                          nreplicas;
    uint16_t                         replicas[NGX_SESSION_CLUSTER_REPLICAS_MAX];
} ngx_http_session_cluster_slot_t;


typedef struct ngx_http_session_cluster_conf_s
    ngx_http_session_cluster_conf_t;


/* one worker's view of one cluster */
typedef struct {
    ngx_http_session_cluster_conf_t *conf;
    ngx_log_t                       *log;

    ngx_http_session_cluster_node_t *nodes;
    ngx_uint_t                       nnodes;
    ngx_uint_t                       next;      /* any node: round robin */
    ngx_uint_t                       replica;   /* replicas: round robin */

    ngx_http_session_cluster_slot_t *slots;     /* 16384 */

    /* the CLUSTER SLOTS exchange */
    ngx_peer_connection_t            pc;
    ngx_pool_t                      *pool;
    ngx_buf_t                       *buf;
    size_t                           sent;
    ngx_uint_t                       asked;     /* node index */
    ngx_uint_t                       round;     /* nodes asked in a row */
    ngx_msec_t                       last;      /* start of the last one */
    ngx_event_t                      timer;
    unsigned                         busy:1;
} ngx_http_session_cluster_t;


struct ngx_http_session_cluster_conf_s {
    ngx_uint_t                       replicas;
    ngx_http_upstream_srv_conf_t    *upstream;
    ngx_http_session_cluster_t      *cluster;   /* the worker's */
};


typedef struct {
    ngx_array_t                      clusters;  /* of conf pointers */
} ngx_http_session_cluster_main_conf_t;


/* one store read: the ctx of its subrequest, and the peer data */
typedef struct {
    ngx_http_session_cluster_t      *cluster;
    ngx_http_request_t              *request;
    ngx_chain_t                     *body;      /* the store's request */
    ngx_chain_t                      cmd[2];
    ngx_buf_t                        cmd_buf[2];

    ngx_uint_t                       slot;
    ngx_uint_t                       node;      /* this attempt's */
    ngx_uint_t                       target;    /* the next, or NONE */
    ngx_uint_t                       avoid;     /* unreachable, or NONE */
    ngx_uint_t                       prefix;

    unsigned                         asking:1;  /* next attempt */
    unsigned                         asked:1;   /* this attempt */
    unsigned                         target_replica:1;
    unsigned                         replica:1; /* this attempt */
    unsigned                         replica_failed:1;
    unsigned                         redirected:1;
} ngx_http_session_cluster_peer_t;


static ngx_int_t ngx_http_session_cluster_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_session_cluster_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_session_cluster_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_session_cluster_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static ngx_uint_t ngx_http_session_cluster_choose(
    ngx_http_session_cluster_peer_t *pd);
static ngx_uint_t ngx_http_session_cluster_any(ngx_http_session_cluster_t *cl,
    ngx_uint_t avoid);
static ngx_uint_t ngx_http_session_cluster_up(ngx_http_session_cluster_t *cl,
    ngx_uint_t n);
static void ngx_http_session_cluster_prepend(
    ngx_http_session_cluster_peer_t *pd);
static void ngx_http_session_cluster_command(
    ngx_http_session_cluster_peer_t *pd, ngx_uint_t n, char *text,
    size_t len);

static ngx_uint_t ngx_http_session_cluster_node(
    ngx_http_session_cluster_t *cl, ngx_session_cluster_endpoint_t *ep,
    ngx_uint_t from);
static ngx_uint_t ngx_http_session_cluster_add(ngx_http_session_cluster_t *cl,
    struct sockaddr *sa, socklen_t socklen);

static void ngx_http_session_cluster_refresh(ngx_http_session_cluster_t *cl);
static void ngx_http_session_cluster_refresh_timer(ngx_event_t *ev);
static ngx_uint_t ngx_http_session_cluster_timedout(
    ngx_http_session_cluster_t *cl, ngx_event_t *ev);
static void ngx_http_session_cluster_send(ngx_event_t *wev);
static void ngx_http_session_cluster_recv(ngx_event_t *rev);
static ngx_int_t ngx_http_session_cluster_apply(
    ngx_http_session_cluster_t *cl, size_t *consumed);
static int ngx_http_session_cluster_range(void *data,
    const ngx_session_cluster_range_t *range);
static void ngx_http_session_cluster_refresh_end(
    ngx_http_session_cluster_t *cl, ngx_uint_t ok);

static void *ngx_http_session_cluster_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_session_cluster_create_conf(ngx_conf_t *cf);
static char *ngx_http_session_cluster(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_session_cluster_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_session_cluster_start(ngx_cycle_t *cycle,
    ngx_http_session_cluster_conf_t *ccf);


static ngx_command_t  ngx_http_session_cluster_commands[] = {

    { ngx_string("session_result_cluster"),
      NGX_HTTP_UPS_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_session_cluster,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_session_cluster_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_session_cluster_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_session_cluster_create_conf,  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_session_cluster_module = {
    NGX_MODULE_V1,
    &ngx_http_session_cluster_module_ctx,  /* module context */
    ngx_http_session_cluster_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_session_cluster_init_process, /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the interface to the store */

ngx_uint_t
ngx_http_session_cluster_upstream(ngx_http_upstream_srv_conf_t *uscf)
{
    ngx_http_session_cluster_conf_t  *ccf;

    /* not peer.init_upstream: keepalive puts its own there */

    if (uscf == NULL || uscf->srv_conf == NULL) {
        return 0;
    }

    ccf = ngx_http_conf_upstream_srv_conf(uscf,
                                          ngx_http_session_cluster_module);

    return ccf->upstream != NULL;
}


ngx_int_t
ngx_http_session_cluster_key(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *uscf, ngx_str_t *prefix, ngx_str_t *id)
{
    u_char                           *key, *p;
    ngx_http_session_cluster_peer_t  *pd;

    if (!ngx_http_session_cluster_upstream(uscf)) {
        return NGX_OK;
    }

    pd = ngx_pcalloc(r->pool, sizeof(ngx_http_session_cluster_peer_t));
    key = ngx_pnalloc(r->pool, prefix->len + id->len + 2);
    if (pd == NULL || key == NULL) {
        return NGX_ERROR;
    }

    /* P{ID}, whose slot P{ID}:stops shares */
    p = ngx_cpymem(key, prefix->data, prefix->len);
    *p++ = '{';
    p = ngx_cpymem(p, id->data, id->len);
    *p++ = '}';

    pd->slot = ngx_session_cluster_slot(key, p - key);
    pd->request = r;
    pd->node = NGX_HTTP_SESSION_CLUSTER_NONE;
    pd->target = NGX_HTTP_SESSION_CLUSTER_NONE;
    pd->avoid = NGX_HTTP_SESSION_CLUSTER_NONE;

    ngx_http_set_ctx(r, pd, ngx_http_session_cluster_module);

    return NGX_OK;
}


ngx_uint_t
ngx_http_session_cluster_prefix(ngx_http_request_t *r)
{
    ngx_http_session_cluster_peer_t  *pd;

    pd = ngx_http_get_module_ctx(r, ngx_http_session_cluster_module);

    return pd ? pd->prefix : 0;
}


ngx_int_t
ngx_http_session_cluster_redirect(ngx_http_request_t *r, u_char *text,
    size_t len)
{
    ngx_uint_t                        n;
    ngx_http_upstream_t              *u;
    ngx_http_session_cluster_t       *cl;
    ngx_session_cluster_redirect_t    rd;
    ngx_http_session_cluster_peer_t  *pd;

    pd = ngx_http_get_module_ctx(r, ngx_http_session_cluster_module);

    if (pd == NULL || pd->cluster == NULL
        || pd->node == NGX_HTTP_SESSION_CLUSTER_NONE)
    {
        return NGX_DECLINED;
    }

    if (ngx_session_cluster_redirect_parse(text, len, &rd) != NGX_SESSION_OK
        || rd.type == NGX_SESSION_CLUSTER_NONE)
    {
        return NGX_DECLINED;
    }

    cl = pd->cluster;
    u = r->upstream;

    switch (rd.type) {

    case NGX_SESSION_CLUSTER_MOVED:
    case NGX_SESSION_CLUSTER_ASK:
        n = ngx_http_session_cluster_node(cl, &rd.target, pd->node);

        if (n == NGX_HTTP_SESSION_CLUSTER_NONE) {
            return NGX_DECLINED;
        }

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "session cluster: %s slot %ui from %V to %V",
                       rd.type == NGX_SESSION_CLUSTER_MOVED ? "MOVED" : "ASK",
                       (ngx_uint_t) rd.slot, &cl->nodes[pd->node].name,
                       &cl->nodes[n].name);

        pd->target = n;

        if (rd.type == NGX_SESSION_CLUSTER_ASK) {
            pd->asking = 1;
            break;
        }

        /* this slot now, the rest of the map soon */
        if (rd.slot < NGX_SESSION_CLUSTER_SLOTS) {
            cl->slots[rd.slot].master = (uint16_t) n;
            cl->slots[rd.slot].nreplicas = 0;
        }

        ngx_http_session_cluster_refresh(cl);
        break;

    default: /* TRYAGAIN: the same node again, as asked; CLUSTERDOWN */
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "session cluster: \"%*s\", trying again",
                       ngx_min(len, 64), text);

        if (rd.type == NGX_SESSION_CLUSTER_DOWN) {
            /* not within milliseconds: the store reads again later */
            ngx_http_session_cluster_refresh(cl);
            return NGX_AGAIN;
        }

        pd->target = pd->node;
        pd->target_replica = pd->replica;
        pd->asking = pd->asked;   /* an ASK's target stays one */

        break;
    }

    if (u->peer.tries <= 1
        || ngx_current_msec - u->peer.start_time >= u->conf->read_timeout)
    {
        pd->target = NGX_HTTP_SESSION_CLUSTER_NONE;
        pd->asking = 0;
        return NGX_BUSY;
    }

    pd->redirected = 1;

    return NGX_OK;
}


/* the balancer */

static ngx_int_t
ngx_http_session_cluster_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                    i;
    ngx_http_upstream_server_t   *server;

    if (us->servers == NULL || us->servers->nelts == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "no seed servers in upstream \"%V\" in %s:%ui",
                      &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    server = us->servers->elts;

    for (i = 0; i < us->servers->nelts; i++) {
        if (server[i].backup) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"backup\" servers of upstream \"%V\" in %s:%ui "
                          "are not cluster seeds: a cluster is one group",
                          &us->host, us->file_name, us->line);
            return NGX_ERROR;
        }
    }

    us->peer.init = ngx_http_session_cluster_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_cluster_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_session_cluster_conf_t  *ccf;
    ngx_http_session_cluster_peer_t  *pd;

    ccf = ngx_http_conf_upstream_srv_conf(us, ngx_http_session_cluster_module);
    pd = ngx_http_get_module_ctx(r, ngx_http_session_cluster_module);

    if (pd == NULL || ccf->cluster == NULL) {
        /* not a store read, or a process that never started the cluster */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream \"%V\" is a Redis Cluster, usable by "
                      "session_result_pass only", &us->host);
        return NGX_ERROR;
    }

    pd->cluster = ccf->cluster;

    r->upstream->peer.data = pd;
    r->upstream->peer.get = ngx_http_session_cluster_get_peer;
    r->upstream->peer.free = ngx_http_session_cluster_free_peer;
    r->upstream->peer.tries = NGX_HTTP_SESSION_CLUSTER_TRIES;

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_cluster_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_session_cluster_peer_t *pd = data;

    ngx_uint_t                        n;
    ngx_http_session_cluster_node_t  *node;

    n = ngx_http_session_cluster_choose(pd);

    if (n == NGX_HTTP_SESSION_CLUSTER_NONE) {
        return NGX_BUSY;
    }

    node = &pd->cluster->nodes[n];
    pd->node = n;

    pc->sockaddr = &node->sockaddr.sockaddr;
    pc->socklen = node->socklen;
    pc->name = &node->name;
    pc->cached = 0;
    pc->connection = NULL;

    ngx_http_session_cluster_prepend(pd);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "session cluster: slot %ui to %V%s%s", pd->slot,
                   &node->name, pd->replica ? ", READONLY" : "",
                   pd->prefix > (ngx_uint_t) pd->replica ? ", ASKING" : "");

    return NGX_OK;
}


/*
 * A redirection's target first; else the slot's owner, or with "replicas"
 * one of its replicas that is up; else any node that is up.
 */

static ngx_uint_t
ngx_http_session_cluster_choose(ngx_http_session_cluster_peer_t *pd)
{
    ngx_uint_t                        n, i, k;
    ngx_http_session_cluster_t       *cl;
    ngx_http_session_cluster_slot_t  *slot;

    cl = pd->cluster;
    pd->replica = 0;
    pd->prefix = 0;

    if (pd->target != NGX_HTTP_SESSION_CLUSTER_NONE) {
        n = pd->target;
        pd->target = NGX_HTTP_SESSION_CLUSTER_NONE;
        pd->replica = pd->target_replica;
        pd->target_replica = 0;
        return n;
    }

    slot = &cl->slots[pd->slot];
    n = slot->master;

    if (cl->conf->replicas && !pd->replica_failed && n != pd->avoid) {
        for (i = 0; i < slot->nreplicas; i++) {
            k = slot->replicas[(cl->replica + i) % slot->nreplicas];

            if (ngx_http_session_cluster_up(cl, k)) {
                cl->replica++;
                pd->replica = 1;
                return k;
            }
        }
    }

    if (n != NGX_HTTP_SESSION_CLUSTER_NONE && n != pd->avoid) {
        return n;
    }

    return ngx_http_session_cluster_any(cl, pd->avoid);
}


/* a node that is up, another than "avoid" if there is one */

static ngx_uint_t
ngx_http_session_cluster_any(ngx_http_session_cluster_t *cl, ngx_uint_t avoid)
{
    ngx_uint_t  i, n;

    for (i = 0; i < cl->nnodes; i++) {
        n = cl->next++ % cl->nnodes;

        if (n != avoid && ngx_http_session_cluster_up(cl, n)) {
            return n;
        }
    }

    /* every one failed lately: one more try of the next, rather than none */

    n = cl->next++ % cl->nnodes;

    if (n == avoid && cl->nnodes > 1) {
        n = cl->next++ % cl->nnodes;
    }

    return n;
}


static ngx_uint_t
ngx_http_session_cluster_up(ngx_http_session_cluster_t *cl, ngx_uint_t n)
{
    ngx_http_session_cluster_node_t  *node;

    node = &cl->nodes[n];

    if (node->failed
        && ngx_current_msec - node->failed < NGX_HTTP_SESSION_CLUSTER_FAILED)
    {
        return 0;
    }

    node->failed = 0;

    return 1;
}


/*
 * READONLY (to a replica) and ASKING (after an ASK; it holds for the next
 * command only, so it comes last) go before the store's transaction in
 * the same write, in every request that needs them: a
 * connection's state is never assumed, so keepalive connections to a node
 * are one pool whatever they were used for (READONLY does nothing on a
 * master).
 */

static void
ngx_http_session_cluster_prepend(ngx_http_session_cluster_peer_t *pd)
{
    ngx_uint_t            n;
    ngx_http_upstream_t  *u;

    u = pd->request->upstream;

    if (pd->body == NULL) {
        pd->body = u->request_bufs;
    }

    n = 0;

    if (pd->replica) {
        ngx_http_session_cluster_command(pd, n++, NGX_HTTP_SESSION_READONLY,
                                         sizeof(NGX_HTTP_SESSION_READONLY)
                                         - 1);
    }

    pd->asked = pd->asking;

    if (pd->asking) {
        pd->asking = 0;
        ngx_http_session_cluster_command(pd, n++, NGX_HTTP_SESSION_ASKING,
                                         sizeof(NGX_HTTP_SESSION_ASKING) - 1);
    }

    pd->prefix = n;

    if (n == 0) {
        u->request_bufs = pd->body;
        return;
    }

    pd->cmd[n - 1].next = pd->body;

    if (n == 2) {
        pd->cmd[0].next = &pd->cmd[1];
    }

    u->request_bufs = &pd->cmd[0];
}


static void
ngx_http_session_cluster_command(ngx_http_session_cluster_peer_t *pd,
    ngx_uint_t n, char *text, size_t len)
{
    ngx_buf_t  *b;

    b = &pd->cmd_buf[n];
    ngx_memzero(b, sizeof(ngx_buf_t));

    b->start = (u_char *) text;
    b->pos = b->start;
    b->last = b->start + len;
    b->end = b->last;
    b->memory = 1;

    pd->cmd[n].buf = b;
    pd->cmd[n].next = NULL;
}


/*
 * A failed attempt: a redirection was recorded for the next; a node that
 * took no byte of the request's reply was not reached (avoided for a
 * while, the map asked again); one that sent some answered badly or was
 * cut off, and is not tried again: the reply is never read twice.
 */

static void
ngx_http_session_cluster_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_session_cluster_peer_t *pd = data;

    ngx_http_upstream_t         *u;
    ngx_http_session_cluster_t  *cl;

    cl = pd->cluster;
    u = pd->request->upstream;

    if (state & NGX_PEER_FAILED) {

        if (pd->redirected) {
            pd->redirected = 0;

        } else if (u->state && u->state->bytes_received) {
            pc->tries = 0;

        } else if (pd->node != NGX_HTTP_SESSION_CLUSTER_NONE) {
            cl->nodes[pd->node].failed = ngx_current_msec
                                         ? ngx_current_msec : 1;

            if (pd->replica) {
                pd->replica_failed = 1;

            } else {
                pd->avoid = pd->node;
                ngx_http_session_cluster_refresh(cl);
            }
        }
    }

    if (pc->tries) {
        pc->tries--;
    }

    if (ngx_current_msec - pc->start_time >= u->conf->read_timeout) {
        pc->tries = 0;
    }
}


/* the nodes */

/* the node of an endpoint, added if new; an empty host is from's */

static ngx_uint_t
ngx_http_session_cluster_node(ngx_http_session_cluster_t *cl,
    ngx_session_cluster_endpoint_t *ep, ngx_uint_t from)
{
    u_char           *host;
    in_addr_t         inaddr;
    ngx_uint_t        i;
    ngx_sockaddr_t    sa;
    socklen_t         socklen;

    ngx_memzero(&sa, sizeof(ngx_sockaddr_t));
    host = (u_char *) ep->host.data;

    if (ep->host.len == 0) {
        if (from == NGX_HTTP_SESSION_CLUSTER_NONE) {
            return NGX_HTTP_SESSION_CLUSTER_NONE;
        }

        socklen = cl->nodes[from].socklen;
        ngx_memcpy(&sa, &cl->nodes[from].sockaddr, socklen);

    } else if ((inaddr = ngx_inet_addr(host, ep->host.len)) != INADDR_NONE) {
        sa.sockaddr_in.sin_family = AF_INET;
        sa.sockaddr_in.sin_addr.s_addr = inaddr;
        socklen = sizeof(struct sockaddr_in);

#if (NGX_HAVE_INET6)
    } else if (ngx_inet6_addr(host, ep->host.len,
                              sa.sockaddr_in6.sin6_addr.s6_addr)
               == NGX_OK)
    {
        sa.sockaddr_in6.sin6_family = AF_INET6;
        socklen = sizeof(struct sockaddr_in6);
#endif

    } else {
        /* names are not resolved here: nodes must announce addresses */
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "cluster node \"%*s\" is not an IP address, ignored",
                      ep->host.len, host);
        return NGX_HTTP_SESSION_CLUSTER_NONE;
    }

    ngx_inet_set_port(&sa.sockaddr, (in_port_t) ep->port);

    for (i = 0; i < cl->nnodes; i++) {
        if (ngx_cmp_sockaddr(&cl->nodes[i].sockaddr.sockaddr,
                             cl->nodes[i].socklen, &sa.sockaddr, socklen, 1)
            == NGX_OK)
        {
            return i;
        }
    }

    return ngx_http_session_cluster_add(cl, &sa.sockaddr, socklen);
}


static ngx_uint_t
ngx_http_session_cluster_add(ngx_http_session_cluster_t *cl,
    struct sockaddr *sa, socklen_t socklen)
{
    ngx_http_session_cluster_node_t  *node;

    if (cl->nnodes == NGX_HTTP_SESSION_CLUSTER_NODES) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "more than %d cluster nodes, the others ignored",
                      NGX_HTTP_SESSION_CLUSTER_NODES);
        return NGX_HTTP_SESSION_CLUSTER_NONE;
    }

    node = &cl->nodes[cl->nnodes];

    ngx_memcpy(&node->sockaddr, sa, socklen);
    node->socklen = socklen;
    node->name.data = node->text;
    node->name.len = ngx_sock_ntop(&node->sockaddr.sockaddr, socklen,
                                   node->text, NGX_SOCKADDR_STRLEN, 1);
    node->failed = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cl->log, 0,
                   "session cluster: node %V", &node->name);

    return cl->nnodes++;
}


/* the slot map: CLUSTER SLOTS over a connection of the worker's own */

static void
ngx_http_session_cluster_refresh(ngx_http_session_cluster_t *cl)
{
    ngx_int_t                         rc;
    ngx_uint_t                        i, n;
    ngx_connection_t                 *c;
    ngx_http_session_cluster_node_t  *node;

    if (cl->busy || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (cl->round == 0
        && cl->last
        && ngx_current_msec - cl->last < NGX_HTTP_SESSION_CLUSTER_AGAIN)
    {
        /* just asked: the timer asks again soon */
        if (!cl->timer.timer_set
            || cl->timer.timer.key
               > ngx_current_msec + NGX_HTTP_SESSION_CLUSTER_AGAIN)
        {
            if (cl->timer.timer_set) {
                ngx_del_timer(&cl->timer);
            }

            ngx_add_timer(&cl->timer, NGX_HTTP_SESSION_CLUSTER_AGAIN);
        }

        return;
    }

    cl->last = ngx_current_msec ? ngx_current_msec : 1;

    /* the next node that is up, in turn */
    n = cl->asked;

    for (i = 0; i < cl->nnodes; i++) {
        n = (n + 1) % cl->nnodes;

        if (ngx_http_session_cluster_up(cl, n)) {
            break;
        }
    }

    cl->asked = n;
    node = &cl->nodes[n];

    cl->pool = ngx_create_pool(1024, cl->log);
    if (cl->pool == NULL) {
        return;
    }

    cl->buf = ngx_create_temp_buf(cl->pool, NGX_HTTP_SESSION_CLUSTER_MAP_BUF);
    if (cl->buf == NULL) {
        ngx_destroy_pool(cl->pool);
        cl->pool = NULL;
        return;
    }

    ngx_memzero(&cl->pc, sizeof(ngx_peer_connection_t));

    cl->pc.sockaddr = &node->sockaddr.sockaddr;
    cl->pc.socklen = node->socklen;
    cl->pc.name = &node->name;
    cl->pc.get = ngx_event_get_peer;
    cl->pc.log = cl->log;
    cl->pc.log_error = NGX_ERROR_ERR;
    cl->sent = 0;
    cl->busy = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cl->log, 0,
                   "session cluster: CLUSTER SLOTS to %V", &node->name);

    rc = ngx_event_connect_peer(&cl->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_http_session_cluster_refresh_end(cl, 0);
        return;
    }

    c = cl->pc.connection;
    c->data = cl;
    c->pool = cl->pool;
    c->read->handler = ngx_http_session_cluster_recv;
    c->write->handler = ngx_http_session_cluster_send;

    ngx_add_timer(c->read, NGX_HTTP_SESSION_CLUSTER_TIMEOUT);

    if (rc == NGX_OK) {
        ngx_http_session_cluster_send(c->write);
    }
}


static void
ngx_http_session_cluster_refresh_timer(ngx_event_t *ev)
{
    ngx_http_session_cluster_t *cl = ev->data;

    if (!cl->busy) {
        cl->round = 0;
        cl->last = 0;
        ngx_http_session_cluster_refresh(cl);
    }

    if (!cl->timer.timer_set) {
        ngx_add_timer(&cl->timer, NGX_HTTP_SESSION_CLUSTER_REFRESH);
    }
}


/* the exchange has one timer, on the read event, for all of it */

static ngx_uint_t
ngx_http_session_cluster_timedout(ngx_http_session_cluster_t *cl,
    ngx_event_t *ev)
{
    if (!ev->timedout) {
        return 0;
    }

    ngx_log_error(NGX_LOG_ERR, cl->log, NGX_ETIMEDOUT,
                  "cluster node %V timed out", cl->pc.name);
    ngx_http_session_cluster_refresh_end(cl, 0);

    return 1;
}


static void
ngx_http_session_cluster_send(ngx_event_t *wev)
{
    ssize_t                      n;
    ngx_connection_t            *c;
    ngx_http_session_cluster_t  *cl;

    c = wev->data;
    cl = c->data;

    if (ngx_http_session_cluster_timedout(cl, wev)) {
        return;
    }

    while (cl->sent < sizeof(NGX_HTTP_SESSION_SLOTS) - 1) {
        n = c->send(c, (u_char *) NGX_HTTP_SESSION_SLOTS + cl->sent,
                    sizeof(NGX_HTTP_SESSION_SLOTS) - 1 - cl->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_http_session_cluster_refresh_end(cl, 0);
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_session_cluster_refresh_end(cl, 0);
            return;
        }

        cl->sent += n;
    }

    /* sent: the read handler takes the reply */
}


static void
ngx_http_session_cluster_recv(ngx_event_t *rev)
{
    size_t                       size, consumed;
    ssize_t                      n;
    ngx_int_t                    rc;
    ngx_buf_t                   *b, *nb;
    ngx_connection_t            *c;
    ngx_http_session_cluster_t  *cl;

    c = rev->data;
    cl = c->data;
    b = cl->buf;

    if (ngx_http_session_cluster_timedout(cl, rev)) {
        return;
    }

    for ( ;; ) {
        if (b->last == b->end) {
            size = b->end - b->start;

            if (size >= NGX_HTTP_SESSION_CLUSTER_MAP_MAX) {
                ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                              "CLUSTER SLOTS reply from %V is larger than "
                              "%d bytes", cl->pc.name,
                              NGX_HTTP_SESSION_CLUSTER_MAP_MAX);
                ngx_http_session_cluster_refresh_end(cl, 0);
                return;
            }

            nb = ngx_create_temp_buf(cl->pool, 2 * size);
            if (nb == NULL) {
                ngx_http_session_cluster_refresh_end(cl, 0);
                return;
            }

            nb->last = ngx_cpymem(nb->start, b->start, size);
            ngx_pfree(cl->pool, b->start);
            cl->buf = nb;
            b = nb;
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_session_cluster_refresh_end(cl, 0);
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                          "cluster node %V closed the connection",
                          cl->pc.name);
            ngx_http_session_cluster_refresh_end(cl, 0);
            return;
        }

        b->last += n;

        rc = ngx_http_session_cluster_apply(cl, &consumed);

        if (rc == NGX_AGAIN) {
            continue;
        }

        ngx_http_session_cluster_refresh_end(cl, rc == NGX_OK);
        return;
    }
}


static ngx_int_t
ngx_http_session_cluster_apply(ngx_http_session_cluster_t *cl,
    size_t *consumed)
{
    int                               rc;
    ngx_uint_t                        i;
    const char                       *error;
    ngx_http_session_cluster_slot_t  *slot;

    rc = ngx_session_cluster_slots_parse(cl->buf->pos,
                                         cl->buf->last - cl->buf->pos,
                                         consumed, NULL, NULL, &error);

    if (rc == NGX_SESSION_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc != NGX_SESSION_OK) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "cluster node %V sent an invalid CLUSTER SLOTS reply: "
                      "%s", cl->pc.name, error);
        return NGX_ERROR;
    }

    /* complete: the map is replaced at once, slots not named are unknown */

    for (i = 0; i < NGX_SESSION_CLUSTER_SLOTS; i++) {
        slot = &cl->slots[i];
        slot->master = NGX_HTTP_SESSION_CLUSTER_NONE;
        slot->nreplicas = 0;
    }

    (void) ngx_session_cluster_slots_parse(cl->buf->pos,
                                           cl->buf->last - cl->buf->pos,
                                           consumed,
                                           ngx_http_session_cluster_range,
                                           cl, &error);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cl->log, 0,
                   "session cluster: slot map from %V, %ui nodes known",
                   cl->pc.name, cl->nnodes);

    return NGX_OK;
}


static int
ngx_http_session_cluster_range(void *data,
    const ngx_session_cluster_range_t *range)
{
    ngx_http_session_cluster_t *cl = data;

    ngx_uint_t                        i, master, k;
    ngx_http_session_cluster_slot_t   entry;
    ngx_session_cluster_endpoint_t    ep;

    ep = range->master;
    master = ngx_http_session_cluster_node(cl, &ep, cl->asked);

    if (master == NGX_HTTP_SESSION_CLUSTER_NONE) {
        return 0;
    }

    entry.master = (uint16_t) master;
    entry.nreplicas = 0;

    for (i = 0; i < range->nreplicas; i++) {
        ep = range->replicas[i];
        k = ngx_http_session_cluster_node(cl, &ep, cl->asked);

        if (k != NGX_HTTP_SESSION_CLUSTER_NONE) {
            entry.replicas[entry.nreplicas++] = (uint16_t) k;
        }
    }

    for (i = range->start; i <= range->end; i++) {
        cl->slots[i] = entry;
    }

    return 0;
}


/* a failed exchange asks the next node, once round all of them */

static void
ngx_http_session_cluster_refresh_end(ngx_http_session_cluster_t *cl,
    ngx_uint_t ok)
{
    if (cl->pc.connection) {
        ngx_close_connection(cl->pc.connection);
        cl->pc.connection = NULL;
    }

    if (cl->pool) {
        ngx_destroy_pool(cl->pool);
        cl->pool = NULL;
    }

    cl->busy = 0;

    if (ok) {
        cl->round = 0;
        return;
    }

    cl->nodes[cl->asked].failed = ngx_current_msec ? ngx_current_msec : 1;

    if (++cl->round < cl->nnodes) {
        ngx_http_session_cluster_refresh(cl);
        return;
    }

    /* none answered: the timer tries again */
    cl->round = 0;

    if (cl->timer.timer_set) {
        ngx_del_timer(&cl->timer);
    }

    ngx_add_timer(&cl->timer, NGX_HTTP_SESSION_CLUSTER_FAILED);
}


/* configuration */

static void *
ngx_http_session_cluster_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_session_cluster_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_session_cluster_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&cmcf->clusters, cf->pool, 1,
                       sizeof(ngx_http_session_cluster_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return cmcf;
}


static void *
ngx_http_session_cluster_create_conf(ngx_conf_t *cf)
{
    ngx_http_session_cluster_conf_t  *ccf;

    ccf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_cluster_conf_t));
    if (ccf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ccf->replicas = 0;
     *     ccf->upstream = NULL;
     *     ccf->cluster = NULL;
     */

    return ccf;
}


static char *
ngx_http_session_cluster(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_cluster_conf_t *ccf = conf;

    ngx_str_t                              *value;
    ngx_http_upstream_srv_conf_t           *uscf;
    ngx_http_session_cluster_conf_t       **p;
    ngx_http_session_cluster_main_conf_t   *cmcf;

    if (ccf->upstream) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strcmp(value[1].data, "replicas") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        ccf->replicas = 1;
    }

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    /*
     * keepalive keeps the balancer set before it and wraps it; set after,
     * this one would silently drop it.
     */
    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_result_cluster\" must come before "
                           "\"keepalive\" and any other balancing directive");
        return NGX_CONF_ERROR;
    }

    uscf->peer.init_upstream = ngx_http_session_cluster_init_upstream;
    uscf->flags = NGX_HTTP_UPSTREAM_CREATE;

    ccf->upstream = uscf;

    cmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_session_cluster_module);

    p = ngx_array_push(&cmcf->clusters);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    *p = ccf;

    return NGX_CONF_OK;
}


/* each worker learns the map of each cluster on its own */

static ngx_int_t
ngx_http_session_cluster_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                              i;
    ngx_http_session_cluster_conf_t       **ccf;
    ngx_http_session_cluster_main_conf_t   *cmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_session_cluster_module);
    if (cmcf == NULL) {
        return NGX_OK;
    }

    ccf = cmcf->clusters.elts;

    for (i = 0; i < cmcf->clusters.nelts; i++) {
        if (ngx_http_session_cluster_start(cycle, ccf[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_cluster_start(ngx_cycle_t *cycle,
    ngx_http_session_cluster_conf_t *ccf)
{
    ngx_uint_t                   i, j;
    ngx_addr_t                  *addr;
    ngx_http_upstream_server_t  *server;
    ngx_http_session_cluster_t  *cl;

    cl = ngx_pcalloc(cycle->pool, sizeof(ngx_http_session_cluster_t));
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->conf = ccf;
    cl->log = cycle->log;

    cl->nodes = ngx_pcalloc(cycle->pool,
                            NGX_HTTP_SESSION_CLUSTER_NODES
                            * sizeof(ngx_http_session_cluster_node_t));
    cl->slots = ngx_palloc(cycle->pool,
                           NGX_SESSION_CLUSTER_SLOTS
                           * sizeof(ngx_http_session_cluster_slot_t));
    if (cl->nodes == NULL || cl->slots == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_SESSION_CLUSTER_SLOTS; i++) {
        cl->slots[i].master = NGX_HTTP_SESSION_CLUSTER_NONE;
        cl->slots[i].nreplicas = 0;
    }

    /* the seeds, every address of each */
    server = ccf->upstream->servers->elts;

    for (i = 0; i < ccf->upstream->servers->nelts; i++) {
        addr = server[i].addrs;

        for (j = 0; j < server[i].naddrs; j++) {
            (void) ngx_http_session_cluster_add(cl, addr[j].sockaddr,
                                                addr[j].socklen);
        }
    }

    if (cl->nnodes == 0) {
        return NGX_ERROR;
    }

    cl->asked = cl->nnodes - 1;   /* the first seed is asked first */

    cl->timer.handler = ngx_http_session_cluster_refresh_timer;
    cl->timer.data = cl;
    cl->timer.log = cycle->log;
    cl->timer.cancelable = 1;

    ccf->cluster = cl;

    /* the first map as soon as the event loop runs */
    ngx_add_timer(&cl->timer, 1);

    return NGX_OK;
}
