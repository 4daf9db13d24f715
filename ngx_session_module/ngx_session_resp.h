
/*
 * RESP (Redis protocol, version 2) parsing.  Pure C.
 *
 * Two layers: ngx_session_resp_next() frames one element of a reply, and
 * ngx_session_reply_parse() decodes the reply to the pipelined
 * MULTI / [HGET key owner] / HGETALL key / LRANGE key:stops 0 -1 /
 * [PTTL key] / EXEC into an
 * ngx_session_data_t, incrementally: it is called again with the same buffer
 * start and a greater length each time more bytes arrive, and resumes where
 * it stopped.  Strings in the result point into that buffer.
 */

#ifndef _NGX_SESSION_RESP_H_INCLUDED_
#define _NGX_SESSION_RESP_H_INCLUDED_


#include "ngx_session_data.h"


/* a well-formed element over max_len: the store's data, not its protocol */
#define NGX_SESSION_TOO_LARGE  -3

/* ngx_session_reply_parse(): the session is not the expected owner's */
#define NGX_SESSION_NOT_OWNER  -4


typedef enum {
    NGX_SESSION_RESP_SIMPLE = 1,      /* +text */
    NGX_SESSION_RESP_ERR,             /* -text */
    NGX_SESSION_RESP_INTEGER,         /* :n */
    NGX_SESSION_RESP_BULK,            /* $n text */
    NGX_SESSION_RESP_NIL,             /* $-1 or *-1 */
    NGX_SESSION_RESP_ARRAY            /* *n, followed by n elements */
} ngx_session_resp_type_e;


typedef struct {
    ngx_session_resp_type_e  type;
    ngx_session_str_t        str;     /* SIMPLE, ERR, BULK */
    int64_t                  integer; /* INTEGER; element count for ARRAY */
    size_t                   size;    /* bytes this element header+data used */
} ngx_session_resp_elt_t;


/*
 * Frames the element at p (an array yields only its header).  Returns
 * NGX_SESSION_OK, NGX_SESSION_AGAIN (incomplete), NGX_SESSION_TOO_LARGE for
 * bulk strings longer than max_len, arrays of more than max_len elements and
 * lines longer than max_len, or NGX_SESSION_ERROR for anything that is not
 * RESP2; *error is then set to a static reason.
 */
int ngx_session_resp_next(const unsigned char *p, size_t len, size_t max_len,
    ngx_session_resp_elt_t *elt, const char **error);


typedef struct {
    /* private */
    size_t                 pos;
    unsigned               state;
    size_t                 remaining;
    size_t                 index;
    const unsigned char   *field_name;
    size_t                 field_name_len;

    size_t                 max_len;
    const unsigned char   *owner;      /* NULL: no HGET owner was sent */
    size_t                 owner_len;
    ngx_session_alloc_pt   alloc;
    void                  *pool;
    ngx_session_data_t    *out;
    unsigned               want_ttl:1;  /* PTTL key follows LRANGE */

    /*
     * set with NGX_SESSION_OK when want_ttl: PTTL's reply (-1: no TTL, -2:
     * no key) and where it starts, the end of the data it does not change
     */
    int64_t                ttl_ms;
    size_t                 ttl_pos;

    /* set on NGX_SESSION_ERROR */
    const char            *error;      /* static text, never reply data */
    ngx_session_str_t      error_reply; /* the store's "-ERR ..." text */
    unsigned               not_resp:1;  /* the bytes are not RESP2 at all */
    unsigned               too_large:1; /* an element over max_len */

    /* set with NGX_SESSION_NOT_OWNER */
    unsigned               skipped:1;   /* the reply ended within the bytes
                                           given, at *consumed */
} ngx_session_reply_t;


/*
 * max_len is the largest reply accepted (the module's
 * session_result_buffer_size, which the whole reply must fit): no element
 * is longer, and a hash or list count that its bulk strings could not fit
 * in the bytes left is refused on its header (too_large), so what is
 * allocated for the stops stays below 3 * max_len.
 */
void ngx_session_reply_init(ngx_session_reply_t *rp, ngx_session_data_t *out,
    size_t max_len, ngx_session_alloc_pt alloc, void *pool);

/*
 * The request began with HGET key owner (inside the transaction, before
 * HGETALL): the reply to it decides, before anything else of the reply is
 * looked at, whether the session is this owner's.  A nil, an error reply, a
 * value of another length or other bytes, and an empty owner never match.
 * Called after ngx_session_reply_init(); the owner must outlive the parse.
 */
void ngx_session_reply_owner(ngx_session_reply_t *rp,
    const unsigned char *owner, size_t len);

/*
 * The request ended its transaction with PTTL key (after LRANGE): its
 * integer reply is rp->ttl_ms.  Called after ngx_session_reply_init().
 */
void ngx_session_reply_ttl(ngx_session_reply_t *rp);

/*
 * buf/len: everything received so far.  Returns NGX_SESSION_AGAIN,
 * NGX_SESSION_ERROR, or NGX_SESSION_OK with *consumed set to the length of
 * the reply (less than len means the store sent more than was asked).
 * NGX_SESSION_NOT_OWNER: the owner did not match; nothing after it was
 * stored or decoded, only framed as far as len goes, and rp->skipped tells
 * whether the reply ended there (at *consumed).  Not to be called again.
 */
int ngx_session_reply_parse(ngx_session_reply_t *rp, const unsigned char *buf,
    size_t len, size_t *consumed);

/*
 * The bytes of the reply were moved from "from" to "to" (a larger read
 * buffer): the strings decoded so far follow them.
 */
void ngx_session_reply_moved(ngx_session_reply_t *rp,
    const unsigned char *from, const unsigned char *to);


#endif /* _NGX_SESSION_RESP_H_INCLUDED_ */
