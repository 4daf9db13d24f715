
/*
 * The push connection of each worker process (SPEC 9).
 *
 * RESP3 with CLIENT TRACKING in broadcasting mode: "HELLO 3" then
 * "CLIENT TRACKING on BCAST PREFIX <prefix>" on one connection, which then
 * receives an "invalidate" push for every key under the prefix that any
 * client changes, the writer's MULTI/EXEC included, with Redis (6 or
 * later) in its default configuration.  One connection does it all, PINGs
 * included: RESP2 would need a second connection subscribed to
 * __redis__:invalidate and a REDIRECT to it.
 *
 * The server: the first one that connects and answers the handshake, in
 * the order of the upstream block's "server" lines, the backup servers
 * after the others, "down" ones skipped, whatever balancer the block uses.
 * A failure moves on to the next; a connection lost after it was up starts
 * from the first again, after a backoff of 100 ms doubling to 5 s, with
 * jitter (a half to the whole of it), so the workers do not reconnect
 * together.  Health: a PING every 500 ms, whose reply must come before the
 * next: a connection silent for 500 to 1000 ms is closed as lost.  The same
 * timer sees the worker exiting (graceful reload or stop) and tells the
 * listener; it is cancelable, so it never holds the worker up.
 */


#include "ngx_http_session_push.h"
#include "ngx_session_push.h"


/*
 * The largest value held whole: a larger one (a transaction that changed
 * thousands of keys) is skipped and taken as a change of every session
 */
#define NGX_HTTP_SESSION_PUSH_BUFFER    (64 * 1024)

#define NGX_HTTP_SESSION_PUSH_LISTENERS  2

#define NGX_HTTP_SESSION_PUSH_TICK      500
#define NGX_HTTP_SESSION_PUSH_HANDSHAKE 1000
#define NGX_HTTP_SESSION_PUSH_BACKOFF   100
#define NGX_HTTP_SESSION_PUSH_BACKOFF_MAX  5000
/* PONGs (ticks) a connection answers before it counts as stable */
#define NGX_HTTP_SESSION_PUSH_STABLE    3

#define NGX_HTTP_SESSION_PUSH_HELLO     "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"
#define NGX_HTTP_SESSION_PUSH_TRACKING  "*6\r\n$6\r\nCLIENT\r\n" \
                                        "$8\r\nTRACKING\r\n$2\r\non\r\n" \
                                        "$5\r\nBCAST\r\n$6\r\nPREFIX\r\n"
#define NGX_HTTP_SESSION_PUSH_PING      "*1\r\n$4\r\nPING\r\n"


typedef enum {
    NGX_HTTP_SESSION_PUSH_DOWN = 0,   /* waiting to connect */
    NGX_HTTP_SESSION_PUSH_HANDSHAKING,
    NGX_HTTP_SESSION_PUSH_UP,
    NGX_HTTP_SESSION_PUSH_CLOSED      /* the worker exits */
} ngx_http_session_push_state_e;


struct ngx_http_session_push_s {
    ngx_http_upstream_srv_conf_t     *uscf;
    ngx_str_t                         prefix;

    /* the waiting requests and the fresh index of this store */
    ngx_http_session_push_changed_pt  changed[NGX_HTTP_SESSION_PUSH_LISTENERS];
    void                             *data[NGX_HTTP_SESSION_PUSH_LISTENERS];
    ngx_uint_t                        listeners;

    /* the worker's state, from init_process on */
    ngx_http_session_push_state_e     state;
    ngx_peer_connection_t             pc;
    ngx_event_t                       timer;
    ngx_buf_t                        *in;
    ngx_buf_t                        *out;
    ngx_array_t                       addrs;    /* ngx_addr_t, in order */
    ngx_uint_t                        peer;     /* the next one tried */
    ngx_msec_t                        backoff;
    ngx_uint_t                        epoch;    /* changes once per up */
    ngx_uint_t                        replies;  /* handshake ones due */
    ngx_uint_t                        stable;   /* PONGs since up */
    size_t                            skip;     /* elements of a value
                                                   too large, to skip */
    unsigned                          ping_due:1;
    unsigned                          connecting:1;
    unsigned                          quiet:1;  /* a failure was logged */
};


typedef struct {
    ngx_array_t                       channels; /* ngx_http_session_push_t * */
} ngx_http_session_push_main_conf_t;


static void *ngx_http_session_push_create_main_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_session_push_init_process(ngx_cycle_t *cycle);
static void ngx_http_session_push_exit_process(ngx_cycle_t *cycle);
static void ngx_http_session_push_connect(ngx_http_session_push_t *ch);
static ngx_int_t ngx_http_session_push_addrs(ngx_http_session_push_t *ch,
    ngx_pool_t *pool);
static ngx_addr_t *ngx_http_session_push_peer(ngx_http_session_push_t *ch);
static ngx_int_t ngx_http_session_push_connected(ngx_connection_t *c);
static void ngx_http_session_push_handshake(ngx_http_session_push_t *ch);
static ngx_int_t ngx_http_session_push_send(ngx_http_session_push_t *ch,
    u_char *data, size_t len);
static void ngx_http_session_push_write_handler(ngx_event_t *wev);
static void ngx_http_session_push_read_handler(ngx_event_t *rev);
static void ngx_http_session_push_read(ngx_http_session_push_t *ch);
static ngx_int_t ngx_http_session_push_values(ngx_http_session_push_t *ch);
static ngx_int_t ngx_http_session_push_message(ngx_http_session_push_t *ch,
    ngx_session_push_msg_t *msg);
static void ngx_http_session_push_keys(ngx_http_session_push_t *ch,
    ngx_session_push_msg_t *msg);
static void ngx_http_session_push_timer_handler(ngx_event_t *ev);
static void ngx_http_session_push_lost(ngx_http_session_push_t *ch,
    ngx_uint_t failed);
static void ngx_http_session_push_close(ngx_http_session_push_t *ch);
static void ngx_http_session_push_tell(ngx_http_session_push_t *ch,
    ngx_str_t *id);
static ngx_uint_t ngx_http_session_push_level(ngx_http_session_push_t *ch,
    ngx_uint_t level);


static ngx_http_module_t  ngx_http_session_push_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_session_push_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_session_push_module = {
    NGX_MODULE_V1,
    &ngx_http_session_push_module_ctx,     /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_session_push_init_process,    /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_session_push_exit_process,    /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_session_push_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_session_push_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_push_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&pmcf->channels, cf->pool, 1,
                       sizeof(ngx_http_session_push_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return pmcf;
}


ngx_http_session_push_t *
ngx_http_session_push_channel(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf, ngx_str_t *prefix)
{
    ngx_uint_t                          i;
    ngx_http_session_push_t            *ch, **chp;
    ngx_http_session_push_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_session_push_module);

    chp = pmcf->channels.elts;

    for (i = 0; i < pmcf->channels.nelts; i++) {
        if (chp[i]->uscf == uscf
            && chp[i]->prefix.len == prefix->len
            && ngx_strncmp(chp[i]->prefix.data, prefix->data, prefix->len)
               == 0)
        {
            return chp[i];
        }
    }

    ch = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_push_t));
    if (ch == NULL) {
        return NULL;
    }

    ch->uscf = uscf;
    ch->prefix = *prefix;

    chp = ngx_array_push(&pmcf->channels);
    if (chp == NULL) {
        return NULL;
    }

    *chp = ch;

    return ch;
}


ngx_int_t
ngx_http_session_push_listen(ngx_http_session_push_t *ch,
    ngx_http_session_push_changed_pt changed, void *data)
{
    if (ch->listeners == NGX_HTTP_SESSION_PUSH_LISTENERS) {
        return NGX_ERROR;
    }

    ch->changed[ch->listeners] = changed;
    ch->data[ch->listeners] = data;
    ch->listeners++;

    return NGX_OK;
}


void *
ngx_http_session_push_listener(ngx_http_session_push_t *ch,
    ngx_http_session_push_changed_pt changed)
{
    ngx_uint_t  i;

    for (i = 0; i < ch->listeners; i++) {
        if (ch->changed[i] == changed) {
            return ch->data[i];
        }
    }

    return NULL;
}


ngx_uint_t
ngx_http_session_push_up(ngx_http_session_push_t *ch, ngx_uint_t *epoch)
{
    *epoch = ch->epoch;

    return ch->state == NGX_HTTP_SESSION_PUSH_UP;
}


ngx_uint_t
ngx_http_session_push_watches(ngx_http_session_push_t *ch, ngx_addr_t *peer)
{
    if (ch->state != NGX_HTTP_SESSION_PUSH_UP || peer->sockaddr == NULL) {
        return 0;
    }

    return ngx_cmp_sockaddr(ch->pc.sockaddr, ch->pc.socklen, peer->sockaddr,
                            peer->socklen, 1)
           == NGX_OK;
}


static ngx_int_t
ngx_http_session_push_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i;
    ngx_http_session_push_t            *ch, **chp;
    ngx_http_session_push_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_session_push_module);

    if (pmcf == NULL) {
        return NGX_OK;
    }

    chp = pmcf->channels.elts;

    for (i = 0; i < pmcf->channels.nelts; i++) {
        ch = chp[i];

        ch->in = ngx_create_temp_buf(cycle->pool,
                                     NGX_HTTP_SESSION_PUSH_BUFFER);
        ch->out = ngx_create_temp_buf(cycle->pool,
                                      sizeof(NGX_HTTP_SESSION_PUSH_HELLO) - 1
                                      + sizeof(NGX_HTTP_SESSION_PUSH_TRACKING)
                                      - 1 + NGX_SIZE_T_LEN + 5
                                      + ch->prefix.len
                                      + 8 * (sizeof(NGX_HTTP_SESSION_PUSH_PING)
                                             - 1));
        if (ch->in == NULL || ch->out == NULL
            || ngx_http_session_push_addrs(ch, cycle->pool) != NGX_OK)
        {
            return NGX_ERROR;
        }

        ch->timer.handler = ngx_http_session_push_timer_handler;
        ch->timer.data = ch;
        ch->timer.log = cycle->log;
        ch->timer.cancelable = 1;

        ch->pc.log = cycle->log;
        ch->pc.log_error = NGX_ERROR_INFO;

        /*
         * connected at once, so a new worker can hold requests as soon as
         * it takes them; the jitter of the backoff spreads the workers'
         * retries after a failure
         */
        ch->backoff = NGX_HTTP_SESSION_PUSH_BACKOFF;
        ngx_http_session_push_connect(ch);
    }

    return NGX_OK;
}


static void
ngx_http_session_push_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i;
    ngx_http_session_push_t           **chp;
    ngx_http_session_push_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_session_push_module);

    if (pmcf == NULL) {
        return;
    }

    chp = pmcf->channels.elts;

    for (i = 0; i < pmcf->channels.nelts; i++) {
        ngx_http_session_push_close(chp[i]);

        if (chp[i]->timer.timer_set) {
            ngx_del_timer(&chp[i]->timer);
        }

        chp[i]->state = NGX_HTTP_SESSION_PUSH_CLOSED;
    }
}


static void
ngx_http_session_push_connect(ngx_http_session_push_t *ch)
{
    ngx_int_t          rc;
    ngx_uint_t         level;
    ngx_addr_t        *peer;
    ngx_connection_t  *c;

    peer = ngx_http_session_push_peer(ch);
    if (peer == NULL) {
        ngx_log_error(NGX_LOG_ERR, ch->timer.log, 0,
                      "session push: no server to connect to");
        ngx_http_session_push_lost(ch, 1);
        return;
    }

    ch->pc.sockaddr = peer->sockaddr;
    ch->pc.socklen = peer->socklen;
    ch->pc.name = &peer->name;
    ch->pc.get = ngx_event_get_peer;
    ch->pc.tries = 1;
    ch->pc.connection = NULL;

    rc = ngx_event_connect_peer(&ch->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        level = ngx_http_session_push_level(ch, NGX_LOG_WARN);
        ngx_log_error(level, ch->timer.log, 0,
                      "session push: cannot connect to %V", &peer->name);
        ngx_http_session_push_lost(ch, 1);
        return;
    }

    c = ch->pc.connection;
    c->data = ch;
    c->read->handler = ngx_http_session_push_read_handler;
    c->write->handler = ngx_http_session_push_write_handler;

    ch->state = NGX_HTTP_SESSION_PUSH_HANDSHAKING;
    ch->in->pos = ch->in->start;
    ch->in->last = ch->in->start;
    ch->out->pos = ch->out->start;
    ch->out->last = ch->out->start;
    ch->replies = 2;
    ch->skip = 0;

    /* connect, HELLO and TRACKING together within the deadline */
    ngx_add_timer(&ch->timer, NGX_HTTP_SESSION_PUSH_HANDSHAKE);

    if (rc == NGX_OK) {
        ch->connecting = 0;
        ngx_http_session_push_handshake(ch);
        return;
    }

    /* NGX_AGAIN: the write event says when the connection is made */
    ch->connecting = 1;
}


/*
 * The servers in the order tried: an upstream block's "server" lines as
 * written (each address of a name in turn), the backup ones after the
 * others, "down" ones left out, whatever balancer the block uses; an
 * address in session_result_pass itself is an implicit upstream, whose
 * round-robin peers nginx built from it.
 */

static ngx_int_t
ngx_http_session_push_addrs(ngx_http_session_push_t *ch, ngx_pool_t *pool)
{
    ngx_uint_t                     i, j, backup;
    ngx_addr_t                    *a;
    ngx_http_upstream_server_t    *server;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers;

    if (ngx_array_init(&ch->addrs, pool, 2, sizeof(ngx_addr_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ch->uscf->servers && ch->uscf->servers->nelts) {
        server = ch->uscf->servers->elts;

        for (backup = 0; backup < 2; backup++) {
            for (i = 0; i < ch->uscf->servers->nelts; i++) {
                if (server[i].down || server[i].backup != backup) {
                    continue;
                }

                for (j = 0; j < server[i].naddrs; j++) {
                    a = ngx_array_push(&ch->addrs);
                    if (a == NULL) {
                        return NGX_ERROR;
                    }

                    *a = server[i].addrs[j];
                }
            }
        }

        return NGX_OK;
    }

    for (peers = ch->uscf->peer.data; peers; peers = peers->next) {
        for (peer = peers->peer; peer; peer = peer->next) {
            if (peer->down) {
                continue;
            }

            a = ngx_array_push(&ch->addrs);
            if (a == NULL) {
                return NGX_ERROR;
            }

            a->sockaddr = peer->sockaddr;
            a->socklen = peer->socklen;
            a->name = peer->name;
        }
    }

    return NGX_OK;
}


static ngx_addr_t *
ngx_http_session_push_peer(ngx_http_session_push_t *ch)
{
    ngx_addr_t  *addrs;

    if (ch->addrs.nelts == 0) {
        return NULL;
    }

    addrs = ch->addrs.elts;
    ch->peer %= ch->addrs.nelts;

    return &addrs[ch->peer];
}


/* a non-blocking connect ended: how (as ngx_http_upstream asks) */

static ngx_int_t
ngx_http_session_push_connected(ngx_connection_t *c)
{
    int                       err;
    socklen_t                 len;
    ngx_uint_t                level;
    ngx_http_session_push_t  *ch;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ch = c->data;
        level = ngx_http_session_push_level(ch, NGX_LOG_WARN);
        ngx_log_error(level, c->log, err, "session push: cannot connect to %V",
                      ch->pc.name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_session_push_handshake(ngx_http_session_push_t *ch)
{
    u_char  *p;

    p = ngx_cpymem(ch->out->last, NGX_HTTP_SESSION_PUSH_HELLO,
                   sizeof(NGX_HTTP_SESSION_PUSH_HELLO) - 1);
    p = ngx_cpymem(p, NGX_HTTP_SESSION_PUSH_TRACKING,
                   sizeof(NGX_HTTP_SESSION_PUSH_TRACKING) - 1);
    p = ngx_sprintf(p, "$%uz\r\n%V\r\n", ch->prefix.len, &ch->prefix);

    if (ngx_http_session_push_send(ch, ch->out->last, p - ch->out->last)
        != NGX_OK)
    {
        ngx_http_session_push_lost(ch, 1);
    }
}


/* queues data and writes what the socket takes; NGX_ERROR: lost */

static ngx_int_t
ngx_http_session_push_send(ngx_http_session_push_t *ch, u_char *data,
    size_t len)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = ch->pc.connection;

    if (data != ch->out->last) {
        if ((size_t) (ch->out->end - ch->out->last) < len) {
            /* PINGs pile up only on a connection that stopped reading */
            return NGX_ERROR;
        }

        ch->out->last = ngx_cpymem(ch->out->last, data, len);

    } else {
        ch->out->last += len;
    }

    while (ch->out->pos < ch->out->last) {
        n = c->send(c, ch->out->pos, ch->out->last - ch->out->pos);

        if (n == NGX_AGAIN) {
            return (ngx_handle_write_event(c->write, 0) == NGX_OK)
                   ? NGX_OK : NGX_ERROR;
        }

        if (n <= 0) {
            return NGX_ERROR;
        }

        ch->out->pos += n;
    }

    ch->out->pos = ch->out->start;
    ch->out->last = ch->out->start;

    return NGX_OK;
}


static void
ngx_http_session_push_write_handler(ngx_event_t *wev)
{
    ngx_connection_t         *c;
    ngx_http_session_push_t  *ch;

    c = wev->data;
    ch = c->data;

    if (ch->connecting) {
        ch->connecting = 0;

        if (ngx_http_session_push_connected(c) != NGX_OK) {
            ngx_http_session_push_lost(ch, 1);
            return;
        }

        ngx_http_session_push_handshake(ch);
        return;
    }

    if (ngx_http_session_push_send(ch, ch->out->last, 0) != NGX_OK) {
        ngx_http_session_push_lost(ch, 1);
    }
}


static void
ngx_http_session_push_read_handler(ngx_event_t *rev)
{
    ngx_connection_t  *c;

    c = rev->data;

    ngx_http_session_push_read(c->data);
}


/*
 * With epoll, nginx's recv() returns NGX_AGAIN without a syscall once the
 * event's bytes were read (rev->available 0): what arrived since, but
 * whose event the loop has not run yet, is asked of the kernel here.
 */

void
ngx_http_session_push_sync(ngx_http_session_push_t *ch)
{
#if (NGX_HAVE_FIONREAD)
    int                n;
    ngx_event_t       *rev;
    ngx_connection_t  *c;

    if (ch->state != NGX_HTTP_SESSION_PUSH_UP) {
        return;
    }

    c = ch->pc.connection;
    rev = c->read;

    if (!rev->ready) {
        if (ngx_socket_nread(c->fd, &n) == -1) {
            ngx_log_error(NGX_LOG_ALERT, c->log, ngx_socket_errno,
                          ngx_socket_nread_n " failed");
            return;
        }

        if (n == 0) {
            /* nothing pending; a close is seen by the event loop */
            return;
        }

        rev->ready = 1;
        rev->available = n;
    }

    ngx_http_session_push_read(ch);

#else

    if (ch->state == NGX_HTTP_SESSION_PUSH_UP) {
        ngx_http_session_push_read(ch);
    }

#endif
}


/* reads and handles everything received, until the socket has no more */

static void
ngx_http_session_push_read(ngx_http_session_push_t *ch)
{
    ssize_t            n;
    ngx_uint_t         level;
    ngx_buf_t         *b;
    ngx_event_t       *rev;
    ngx_connection_t  *c;

    c = ch->pc.connection;
    rev = c->read;
    b = ch->in;

    for ( ;; ) {
        if (b->pos == b->last) {
            b->pos = b->start;
            b->last = b->start;

        } else if (b->last == b->end && b->pos > b->start) {
            b->last = ngx_movemem(b->start, b->pos, b->last - b->pos);
            b->pos = b->start;
        }

        if (b->last == b->end) {
            if (ch->skip) {
                ngx_log_error(NGX_LOG_ERR, c->log, 0,
                              "session push: an element larger than %uz "
                              "bytes from %V",
                              (size_t) NGX_HTTP_SESSION_PUSH_BUFFER,
                              ch->pc.name);
                ngx_http_session_push_lost(ch, 1);
                return;
            }

            /* a legitimate batch of keys: skipped, the connection kept */

            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "session push: a value larger than %uz bytes from "
                          "%V, taken as a change of every session",
                          (size_t) NGX_HTTP_SESSION_PUSH_BUFFER, ch->pc.name);

            ch->skip = 1;

            if (ngx_http_session_push_values(ch) != NGX_OK) {
                ngx_http_session_push_lost(ch, 1);
                return;
            }

            continue;
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            level = ngx_http_session_push_level(ch, NGX_LOG_WARN);

            /* a refused connect may be reported readable before writable */

            ngx_log_error(level, c->log, 0,
                          ch->connecting ? "session push: cannot connect to %V"
                                         : "session push: connection to %V "
                                           "closed",
                          ch->pc.name);
            ngx_http_session_push_lost(ch, 1);
            return;
        }

        b->last += n;

        if (ngx_http_session_push_values(ch) != NGX_OK) {
            ngx_http_session_push_lost(ch, 1);
            return;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_session_push_lost(ch, 1);
    }
}


/* handles the whole values in the buffer; NGX_ERROR: the connection is lost */

static ngx_int_t
ngx_http_session_push_values(ngx_http_session_push_t *ch)
{
    int                      rc;
    size_t                   consumed;
    ngx_buf_t               *b;
    const char              *error;
    ngx_connection_t        *c;
    ngx_session_push_msg_t   msg;

    c = ch->pc.connection;
    b = ch->in;

    for ( ;; ) {
        if (ch->skip) {
            rc = ngx_session_push_skip(b->pos, b->last - b->pos,
                                       NGX_HTTP_SESSION_PUSH_BUFFER,
                                       &ch->skip, &consumed, &error);

            if (rc == NGX_SESSION_ERROR) {
                goto invalid;
            }

            b->pos += consumed;

            if (rc == NGX_SESSION_AGAIN) {
                return NGX_OK;
            }

            /* whatever keys it named: any session may have changed */
            ngx_http_session_push_tell(ch, NULL);
            continue;
        }

        rc = ngx_session_push_parse(b->pos, b->last - b->pos,
                                    NGX_HTTP_SESSION_PUSH_BUFFER, &msg,
                                    &consumed, &error);

        if (rc == NGX_SESSION_AGAIN) {
            return NGX_OK;
        }

        if (rc != NGX_SESSION_OK) {
            goto invalid;
        }

        b->pos += consumed;

        if (ngx_http_session_push_message(ch, &msg) != NGX_OK) {
            return NGX_ERROR;
        }
    }

invalid:

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "session push: invalid data from %V: %s",
                  ch->pc.name, error);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_session_push_message(ngx_http_session_push_t *ch,
    ngx_session_push_msg_t *msg)
{
    ngx_log_t   *log;
    ngx_uint_t   level;

    log = ch->pc.connection->log;

    switch (msg->kind) {

    case NGX_SESSION_PUSH_ERROR:
        /* Redis before 6 has no HELLO 3: no waiting, no fresh cache */
        level = ngx_http_session_push_level(ch, NGX_LOG_NOTICE);
        ngx_log_error(level, log, 0,
                      "session push: %V refused: \"%*s\"; changes are not "
                      "reported", ch->pc.name,
                      ngx_min(msg->text.len, 128), msg->text.data);
        return NGX_ERROR;

    case NGX_SESSION_PUSH_REPLY:
        if (ch->state == NGX_HTTP_SESSION_PUSH_HANDSHAKING) {
            if (--ch->replies) {
                return NGX_OK;
            }

            /* tracking is on: from now on no change goes unreported */

            ch->state = NGX_HTTP_SESSION_PUSH_UP;
            ch->epoch++;
            ch->ping_due = 0;
            ch->stable = 0;

            ngx_log_error(NGX_LOG_INFO, log, 0,
                          "session push: tracking changes on %V",
                          ch->pc.name);

            if (ch->timer.timer_set) {
                ngx_del_timer(&ch->timer);
            }

            ngx_add_timer(&ch->timer, NGX_HTTP_SESSION_PUSH_TICK);
            return NGX_OK;
        }

        /* PONG */
        ch->ping_due = 0;

        /*
         * only a connection that stayed up resets the backoff and the
         * logging: a server that accepts and then drops is retried ever
         * later, and said once
         */
        if (ch->stable < NGX_HTTP_SESSION_PUSH_STABLE
            && ++ch->stable == NGX_HTTP_SESSION_PUSH_STABLE)
        {
            ch->quiet = 0;
            ch->backoff = NGX_HTTP_SESSION_PUSH_BACKOFF;
        }

        return NGX_OK;

    case NGX_SESSION_PUSH_INVALIDATE:
        ngx_http_session_push_keys(ch, msg);
        return NGX_OK;

    case NGX_SESSION_PUSH_FLUSH:
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "session push: every key invalidated");
        ngx_http_session_push_tell(ch, NULL);
        return NGX_OK;

    default: /* NGX_SESSION_PUSH_OTHER */
        return NGX_OK;
    }
}


static void
ngx_http_session_push_keys(ngx_http_session_push_t *ch,
    ngx_session_push_msg_t *msg)
{
    ngx_str_t          id;
    ngx_session_str_t  key, sid;

    while (ngx_session_push_next_key(msg, &key) == NGX_SESSION_OK) {
        if (ngx_session_push_key_id(key.data, key.len, ch->prefix.data,
                                    ch->prefix.len, &sid)
            != NGX_SESSION_OK)
        {
            continue;
        }

        id.data = (u_char *) sid.data;
        id.len = sid.len;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ch->pc.connection->log, 0,
                       "session push: \"%V\" changed", &id);

        ngx_http_session_push_tell(ch, &id);
    }
}


/* the handshake's deadline, the backoff, the health check, the exit */

static void
ngx_http_session_push_timer_handler(ngx_event_t *ev)
{
    ngx_uint_t                level;
    ngx_http_session_push_t  *ch;

    ch = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_http_session_push_close(ch);
        ch->state = NGX_HTTP_SESSION_PUSH_CLOSED;
        ngx_http_session_push_tell(ch, NULL);
        return;
    }

    switch (ch->state) {

    case NGX_HTTP_SESSION_PUSH_DOWN:
        ngx_http_session_push_connect(ch);
        return;

    case NGX_HTTP_SESSION_PUSH_HANDSHAKING:
        level = ngx_http_session_push_level(ch, NGX_LOG_WARN);
        ngx_log_error(level, ev->log, 0,
                      "session push: %V did not answer in time",
                      ch->pc.name);
        ngx_http_session_push_lost(ch, 1);
        return;

    case NGX_HTTP_SESSION_PUSH_UP:
        if (ch->ping_due) {
            ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                          "session push: %V did not answer PING in %M ms",
                          ch->pc.name,
                          (ngx_msec_t) NGX_HTTP_SESSION_PUSH_TICK);
            ngx_http_session_push_lost(ch, 0);
            return;
        }

        if (ngx_http_session_push_send(ch,
                                       (u_char *) NGX_HTTP_SESSION_PUSH_PING,
                                       sizeof(NGX_HTTP_SESSION_PUSH_PING) - 1)
            != NGX_OK)
        {
            ngx_http_session_push_lost(ch, 0);
            return;
        }

        ch->ping_due = 1;
        ngx_add_timer(&ch->timer, NGX_HTTP_SESSION_PUSH_TICK);
        return;

    default: /* NGX_HTTP_SESSION_PUSH_CLOSED */
        return;
    }
}


/*
 * The connection failed or was lost: every change since may be unknown, so
 * the listener hears "anything may have changed"; a connection that had
 * been up starts from the first server again, one that failed moves on.
 */

static void
ngx_http_session_push_lost(ngx_http_session_push_t *ch, ngx_uint_t failed)
{
    ngx_msec_t  delay;

    if (ch->state == NGX_HTTP_SESSION_PUSH_UP) {
        ch->peer = 0;

    } else if (failed) {
        ch->peer++;
    }

    ngx_http_session_push_close(ch);
    ch->state = NGX_HTTP_SESSION_PUSH_DOWN;

    if (ch->timer.timer_set) {
        ngx_del_timer(&ch->timer);
    }

    delay = ch->backoff / 2 + ngx_random() % (ch->backoff / 2 + 1);

    ch->backoff = ngx_min(ch->backoff * 2, NGX_HTTP_SESSION_PUSH_BACKOFF_MAX);

    ngx_add_timer(&ch->timer, delay);

    ngx_http_session_push_tell(ch, NULL);
}


static void
ngx_http_session_push_close(ngx_http_session_push_t *ch)
{
    if (ch->pc.connection) {
        ngx_close_connection(ch->pc.connection);
        ch->pc.connection = NULL;
    }
}


/*
 * The first failure since the connection was last up (or since the start)
 * is logged at level, the retries after it at info: a store without push
 * support is said once, not every backoff.
 */

static ngx_uint_t
ngx_http_session_push_level(ngx_http_session_push_t *ch, ngx_uint_t level)
{
    if (ch->quiet) {
        return NGX_LOG_INFO;
    }

    ch->quiet = 1;

    return level;
}


static void
ngx_http_session_push_tell(ngx_http_session_push_t *ch, ngx_str_t *id)
{
    ngx_uint_t  i;

    for (i = 0; i < ch->listeners; i++) {
        ch->changed[i](ch->data[i], id);
    }
}
