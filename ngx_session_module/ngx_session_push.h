
/*
 * The replies and push frames of the push connection (SPEC 9), RESP3 as
 * "HELLO 3" turns it on.  Pure C.
 *
 * ngx_session_push_parse() frames one whole value at the start of what was
 * received and says what it is: a reply to one of the connection's own
 * commands (HELLO, CLIENT TRACKING, PING), an error reply, or an
 * "invalidate" push, whose keys are then walked with
 * ngx_session_push_next_key().  Strings point into the buffer given.
 */

#ifndef _NGX_SESSION_PUSH_H_INCLUDED_
#define _NGX_SESSION_PUSH_H_INCLUDED_


#include "ngx_session_data.h"


typedef enum {
    NGX_SESSION_PUSH_REPLY = 1,       /* any reply but an error */
    NGX_SESSION_PUSH_ERROR,           /* -text or !blob error */
    NGX_SESSION_PUSH_INVALIDATE,      /* >2 invalidate [keys...] */
    NGX_SESSION_PUSH_FLUSH,           /* >2 invalidate null: every key */
    NGX_SESSION_PUSH_OTHER            /* another push: ignored */
} ngx_session_push_kind_e;


typedef struct {
    ngx_session_push_kind_e  kind;
    ngx_session_str_t        text;    /* REPLY of a simple string, ERROR */

    /* INVALIDATE: the key elements still to walk */
    const unsigned char     *keys;
    const unsigned char     *end;
    size_t                   nkeys;
} ngx_session_push_msg_t;


/*
 * p/len: the bytes received and not yet consumed.  NGX_SESSION_OK: one
 * value, *consumed bytes long, described in *msg; NGX_SESSION_AGAIN: it is
 * not complete yet (call again with more); NGX_SESSION_ERROR: not RESP3, a
 * kind the connection never asks for (attributes, streamed strings), more
 * than max_len bytes or elements (nesting is framed without recursion, so
 * its depth is bounded by the element count only); *error is a static
 * reason.
 *
 * An invalidate push whose key array holds anything but strings is a FLUSH:
 * when in doubt, everything changed.
 */
int ngx_session_push_parse(const unsigned char *p, size_t len,
    size_t max_len, ngx_session_push_msg_t *msg, size_t *consumed,
    const char **error);

/*
 * Skips a value too large to be held whole, one element at a time, so the
 * connection goes on after it: *pending is the number of elements still to
 * skip (1 at the value's start), kept between calls.  NGX_SESSION_OK: the
 * value ended after *consumed bytes of p; NGX_SESSION_AGAIN: *consumed
 * bytes skipped, the rest of p is an incomplete element (call again with
 * it and more); NGX_SESSION_ERROR: not RESP3, or one element longer than
 * max_len.
 */
int ngx_session_push_skip(const unsigned char *p, size_t len,
    size_t max_len, size_t *pending, size_t *consumed, const char **error);

/* the next key of an INVALIDATE message: NGX_SESSION_OK, or AGAIN at end */
int ngx_session_push_next_key(ngx_session_push_msg_t *msg,
    ngx_session_str_t *key);

/*
 * The request_id in a session key, "<prefix>{<id>}" or
 * "<prefix>{<id>}:stops" (the keys the store reads): NGX_SESSION_OK with
 * *id pointing into key, else NGX_SESSION_ERROR (another key).
 */
int ngx_session_push_key_id(const unsigned char *key, size_t len,
    const unsigned char *prefix, size_t prefix_len, ngx_session_str_t *id);


/*
 * The wait preference in the value of a Prefer header (RFC 7240):
 * "wait=N" among its comma-separated preferences, the name in any case, N
 * whole seconds (a token or a quoted string of digits), with parameters
 * after ";" ignored.  NGX_SESSION_OK with *secs (at most 10^9 - 1), else
 * NGX_SESSION_ERROR (none, or not a number).
 */
int ngx_session_prefer_wait(const unsigned char *p, size_t len,
    uint64_t *secs);


#endif /* _NGX_SESSION_PUSH_H_INCLUDED_ */
