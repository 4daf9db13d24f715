
/*
 * RESP2 framing and the decoder of the MULTI / HGETALL / LRANGE / EXEC
 * reply.  Pure C: the input is whatever the store sent, so every length is
 * checked before it is used and nothing is read past len.
 */


#include <string.h>

#include "ngx_session_resp.h"


/* '-' and 19 digits: every int64_t, and nothing longer */
#define NGX_SESSION_RESP_DIGITS  19

/* the shortest bulk string on the wire: "$0\r\n\r\n" */
#define NGX_SESSION_RESP_MIN_BULK  6


/* what ngx_session_reply_parse() expects next */
enum {
    sw_multi = 0,
    sw_queued,
    sw_exec,
    sw_owner,
    sw_hash_header,
    sw_hash,
    sw_list_header,
    sw_list,
    sw_ttl,
    sw_done,
    sw_failed,
    sw_not_owner
};


static int ngx_session_resp_line(const unsigned char *p, size_t len,
    size_t max_len, size_t *n, const char **error);
static int ngx_session_resp_integer(const unsigned char *p, size_t len,
    int64_t *value, size_t *used, const char **error);
static int ngx_session_resp_bulk(const unsigned char *p, size_t len,
    size_t max_len, ngx_session_resp_elt_t *elt, const char **error);
static int ngx_session_reply_element(ngx_session_reply_t *rp,
    ngx_session_resp_elt_t *elt);
static int ngx_session_reply_simple(ngx_session_resp_elt_t *elt,
    const char *text);
static int ngx_session_reply_hash_header(ngx_session_reply_t *rp,
    ngx_session_resp_elt_t *elt);
static int ngx_session_reply_hash(ngx_session_reply_t *rp,
    ngx_session_resp_elt_t *elt);
static int ngx_session_reply_list_header(ngx_session_reply_t *rp,
    ngx_session_resp_elt_t *elt);
static int ngx_session_reply_count_fits(ngx_session_reply_t *rp,
    ngx_session_resp_elt_t *elt, const char *error);
static int ngx_session_reply_list(ngx_session_reply_t *rp,
    ngx_session_resp_elt_t *elt);
static int ngx_session_reply_string(ngx_session_reply_t *rp,
    ngx_session_resp_elt_t *elt);
static int ngx_session_reply_fail(ngx_session_reply_t *rp,
    const char *error);
static int ngx_session_reply_owner_check(ngx_session_reply_t *rp,
    const unsigned char *buf, size_t len, size_t *consumed);
static void ngx_session_reply_skip(ngx_session_reply_t *rp,
    const unsigned char *buf, size_t len, size_t *consumed);
static void ngx_session_reply_rebase(const unsigned char **p,
    const unsigned char *from, const unsigned char *to);


int
ngx_session_resp_next(const unsigned char *p, size_t len, size_t max_len,
    ngx_session_resp_elt_t *elt, const char **error)
{
    int      rc;
    size_t   n, used;
    int64_t  value;

    if (len == 0) {
        return NGX_SESSION_AGAIN;
    }

    memset(elt, 0, sizeof(ngx_session_resp_elt_t));

    switch (p[0]) {

    case '+':
    case '-':
        rc = ngx_session_resp_line(p + 1, len - 1, max_len, &n, error);
        if (rc != NGX_SESSION_OK) {
            return rc;
        }

        elt->type = (p[0] == '+') ? NGX_SESSION_RESP_SIMPLE
                                  : NGX_SESSION_RESP_ERR;
        elt->str.data = p + 1;
        elt->str.len = n;
        elt->size = 1 + n + 2;
        return NGX_SESSION_OK;

    case ':':
        rc = ngx_session_resp_integer(p + 1, len - 1, &value, &used, error);
        if (rc != NGX_SESSION_OK) {
            return rc;
        }

        elt->type = NGX_SESSION_RESP_INTEGER;
        elt->integer = value;
        elt->size = 1 + used;
        return NGX_SESSION_OK;

    case '$':
        return ngx_session_resp_bulk(p, len, max_len, elt, error);

    case '*':
        rc = ngx_session_resp_integer(p + 1, len - 1, &value, &used, error);
        if (rc != NGX_SESSION_OK) {
            return rc;
        }

        /* checked here, so a huge count fails before its elements arrive */
        if (value < -1) {
            *error = "array count out of range";
            return NGX_SESSION_ERROR;
        }

        if (value > 0 && (uint64_t) value > max_len) {
            *error = "array count too large";
            return NGX_SESSION_TOO_LARGE;
        }

        elt->type = (value == -1) ? NGX_SESSION_RESP_NIL
                                  : NGX_SESSION_RESP_ARRAY;
        elt->integer = value;
        elt->size = 1 + used;
        return NGX_SESSION_OK;

    default:
        *error = "unknown RESP type";
        return NGX_SESSION_ERROR;
    }
}


/*
 * The text of a simple string or error line, up to CRLF.  A lone CR or LF
 * is an error rather than part of the text: RESP2 lines cannot hold them,
 * and accepting one would let two parsers disagree on where a reply ends.
 */

static int
ngx_session_resp_line(const unsigned char *p, size_t len, size_t max_len,
    size_t *n, const char **error)
{
    size_t  i;

    for (i = 0; i < len; i++) {

        if (p[i] == '\r') {
            if (i + 1 == len) {
                return NGX_SESSION_AGAIN;
            }

            if (p[i + 1] != '\n') {
                *error = "CR not followed by LF";
                return NGX_SESSION_ERROR;
            }

            *n = i;
            return NGX_SESSION_OK;
        }

        if (p[i] == '\n') {
            *error = "LF without CR";
            return NGX_SESSION_ERROR;
        }

        if (i == max_len) {
            *error = "line too long";
            return NGX_SESSION_TOO_LARGE;
        }
    }

    return NGX_SESSION_AGAIN;
}


/*
 * An optional '-', 1 to 19 digits, CRLF.  Each byte is judged as it
 * arrives, so garbage fails at once instead of waiting for a CRLF that may
 * never come.
 */

static int
ngx_session_resp_integer(const unsigned char *p, size_t len, int64_t *value,
    size_t *used, const char **error)
{
    int       negative;
    size_t    i, digits;
    uint64_t  n, limit, d;

    i = 0;
    negative = (len > 0 && p[0] == '-');

    if (negative) {
        i++;
    }

    /* the magnitude of INT64_MIN is one more than INT64_MAX */
    limit = (uint64_t) INT64_MAX + negative;
    n = 0;

    for (digits = 0; i < len && p[i] >= '0' && p[i] <= '9'; digits++, i++) {
        d = p[i] - '0';

        /* below 18 digits no value can overflow: the division is rare */
        if (digits >= 18
            && (digits == NGX_SESSION_RESP_DIGITS || n > (limit - d) / 10))
        {
            *error = "integer overflow";
            return NGX_SESSION_ERROR;
        }

        n = n * 10 + d;
    }

    if (i == len) {
        return NGX_SESSION_AGAIN;
    }

    if (digits == 0 || p[i] != '\r') {
        *error = "bad integer";
        return NGX_SESSION_ERROR;
    }

    if (i + 1 == len) {
        return NGX_SESSION_AGAIN;
    }

    if (p[i + 1] != '\n') {
        *error = "CR not followed by LF";
        return NGX_SESSION_ERROR;
    }

    /* negated in two steps: -(int64_t) n overflows for INT64_MIN */
    *value = negative ? (n ? -(int64_t) (n - 1) - 1 : 0) : (int64_t) n;
    *used = i + 2;

    return NGX_SESSION_OK;
}


static int
ngx_session_resp_bulk(const unsigned char *p, size_t len, size_t max_len,
    ngx_session_resp_elt_t *elt, const char **error)
{
    int      rc;
    size_t   hdr, n, avail;
    int64_t  value;

    rc = ngx_session_resp_integer(p + 1, len - 1, &value, &hdr, error);
    if (rc != NGX_SESSION_OK) {
        return rc;
    }

    hdr++;

    if (value == -1) {
        elt->type = NGX_SESSION_RESP_NIL;
        elt->integer = -1;
        elt->size = hdr;
        return NGX_SESSION_OK;
    }

    /* judged on the header alone: a huge length must not make us wait */
    if (value < 0) {
        *error = "bulk length out of range";
        return NGX_SESSION_ERROR;
    }

    if ((uint64_t) value > max_len) {
        *error = "bulk string too long";
        return NGX_SESSION_TOO_LARGE;
    }

    /* written as differences from len, which cannot overflow */
    n = (size_t) value;
    avail = len - hdr;

    if (avail <= n) {
        return NGX_SESSION_AGAIN;
    }

    if (p[hdr + n] != '\r') {
        *error = "bulk string not followed by CRLF";
        return NGX_SESSION_ERROR;
    }

    if (avail - n < 2) {
        return NGX_SESSION_AGAIN;
    }

    if (p[hdr + n + 1] != '\n') {
        *error = "bulk string not followed by CRLF";
        return NGX_SESSION_ERROR;
    }

    elt->type = NGX_SESSION_RESP_BULK;
    elt->str.data = p + hdr;
    elt->str.len = n;
    elt->size = hdr + n + 2;

    return NGX_SESSION_OK;
}


/* out is cleared here: an absent field is one whose data is still NULL */

void
ngx_session_reply_init(ngx_session_reply_t *rp, ngx_session_data_t *out,
    size_t max_len, ngx_session_alloc_pt alloc, void *pool)
{
    memset(rp, 0, sizeof(ngx_session_reply_t));
    memset(out, 0, sizeof(ngx_session_data_t));

    rp->state = sw_multi;
    rp->max_len = max_len;
    rp->alloc = alloc;
    rp->pool = pool;
    rp->out = out;
}


void
ngx_session_reply_owner(ngx_session_reply_t *rp, const unsigned char *owner,
    size_t len)
{
    rp->owner = owner;
    rp->owner_len = len;
}


void
ngx_session_reply_ttl(ngx_session_reply_t *rp)
{
    rp->want_ttl = 1;
}


/*
 * Takes whole elements from rp->pos on; an incomplete one is left for the
 * next call and framed again then, which keeps the state small: nothing
 * but positions and counts survive between calls.
 */

int
ngx_session_reply_parse(ngx_session_reply_t *rp, const unsigned char *buf,
    size_t len, size_t *consumed)
{
    int                     rc;
    const char             *error;
    ngx_session_resp_elt_t  elt;

    for ( ;; ) {

        if (rp->state == sw_done) {
            *consumed = rp->pos;
            return NGX_SESSION_OK;
        }

        if (rp->state == sw_failed) {
            return NGX_SESSION_ERROR;
        }

        if (rp->state == sw_not_owner) {
            return NGX_SESSION_NOT_OWNER;
        }

        if (len < rp->pos) {
            return ngx_session_reply_fail(rp, "reply buffer shrank");
        }

        if (rp->state == sw_owner) {
            rc = ngx_session_reply_owner_check(rp, buf, len, consumed);

            if (rc == NGX_SESSION_OK) {
                continue;
            }

            return rc;
        }

        rc = ngx_session_resp_next(buf + rp->pos, len - rp->pos, rp->max_len,
                                   &elt, &error);

        if (rc == NGX_SESSION_AGAIN) {
            return NGX_SESSION_AGAIN;
        }

        if (rc == NGX_SESSION_TOO_LARGE) {
            rp->too_large = 1;
            return ngx_session_reply_fail(rp, error);
        }

        if (rc == NGX_SESSION_ERROR) {
            rp->not_resp = 1;
            return ngx_session_reply_fail(rp, error);
        }

        /* wherever it comes, an error reply ends the exchange */
        if (elt.type == NGX_SESSION_RESP_ERR) {
            rp->error_reply = elt.str;
            return ngx_session_reply_fail(rp, "store replied with an error");
        }

        if (ngx_session_reply_element(rp, &elt) != NGX_SESSION_OK) {
            return ngx_session_reply_fail(rp, rp->error);
        }

        rp->pos += elt.size;
    }
}


static int
ngx_session_reply_element(ngx_session_reply_t *rp, ngx_session_resp_elt_t *elt)
{
    switch (rp->state) {

    case sw_multi:
        if (!ngx_session_reply_simple(elt, "OK")) {
            rp->error = "unexpected reply to MULTI";
            return NGX_SESSION_ERROR;
        }

        /* [HGET owner], HGETALL, LRANGE, [PTTL]; as many in EXEC's reply */
        rp->remaining = (rp->owner ? 3 : 2) + rp->want_ttl;
        rp->index = rp->remaining;
        rp->state = sw_queued;
        return NGX_SESSION_OK;

    case sw_queued:
        if (!ngx_session_reply_simple(elt, "QUEUED")) {
            rp->error = "command not queued";
            return NGX_SESSION_ERROR;
        }

        if (--rp->remaining == 0) {
            rp->state = sw_exec;
        }

        return NGX_SESSION_OK;

    case sw_exec:
        if (elt->type == NGX_SESSION_RESP_NIL) {
            rp->error = "transaction aborted (EXEC returned nil)";
            return NGX_SESSION_ERROR;
        }

        if (elt->type != NGX_SESSION_RESP_ARRAY
            || (uint64_t) elt->integer != rp->index)
        {
            rp->error = "EXEC reply does not hold one reply per command";
            return NGX_SESSION_ERROR;
        }

        rp->index = 0;
        rp->state = rp->owner ? sw_owner : sw_hash_header;
        return NGX_SESSION_OK;

    case sw_hash_header:
        return ngx_session_reply_hash_header(rp, elt);

    case sw_hash:
        return ngx_session_reply_hash(rp, elt);

    case sw_list_header:
        return ngx_session_reply_list_header(rp, elt);

    case sw_ttl:
        if (elt->type != NGX_SESSION_RESP_INTEGER) {
            rp->error = "PTTL reply is not an integer";
            return NGX_SESSION_ERROR;
        }

        rp->ttl_ms = elt->integer;
        rp->ttl_pos = rp->pos;
        rp->state = sw_done;
        return NGX_SESSION_OK;

    default: /* sw_list */
        return ngx_session_reply_list(rp, elt);
    }
}


static int
ngx_session_reply_simple(ngx_session_resp_elt_t *elt, const char *text)
{
    return elt->type == NGX_SESSION_RESP_SIMPLE
           && elt->str.len == strlen(text)
           && memcmp(elt->str.data, text, elt->str.len) == 0;
}


static int
ngx_session_reply_hash_header(ngx_session_reply_t *rp,
    ngx_session_resp_elt_t *elt)
{
    if (elt->type != NGX_SESSION_RESP_ARRAY) {
        rp->error = "HGETALL reply is not an array";
        return NGX_SESSION_ERROR;
    }

    if (elt->integer % 2) {
        rp->error = "HGETALL reply has an odd number of elements";
        return NGX_SESSION_ERROR;
    }

    if (!ngx_session_reply_count_fits(rp, elt,
                                      "HGETALL count past the reply limit"))
    {
        return NGX_SESSION_ERROR;
    }

    rp->remaining = (size_t) elt->integer;
    rp->out->hash_len = rp->remaining / 2;

    rp->state = rp->remaining ? sw_hash : sw_list_header;

    return NGX_SESSION_OK;
}


/* names and values alternate; a name waits in rp until its value arrives */

static int
ngx_session_reply_hash(ngx_session_reply_t *rp, ngx_session_resp_elt_t *elt)
{
    ngx_session_field_e   field;
    ngx_session_str_t    *value;

    if (ngx_session_reply_string(rp, elt) != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    if (rp->field_name == NULL) {
        rp->field_name = elt->str.data;
        rp->field_name_len = elt->str.len;

    } else {
        field = ngx_session_field_lookup(rp->field_name, rp->field_name_len);

        if (field != NGX_SESSION_NFIELDS) {
            value = &rp->out->fields[field];

            /* HGETALL cannot repeat a name: a repeat is not Redis talking */
            if (value->data != NULL) {
                rp->error = "HGETALL reply repeats a field";
                return NGX_SESSION_ERROR;
            }

            *value = elt->str;
        }

        rp->field_name = NULL;
        rp->field_name_len = 0;
    }

    if (--rp->remaining == 0) {
        rp->state = sw_list_header;
    }

    return NGX_SESSION_OK;
}


static int
ngx_session_reply_list_header(ngx_session_reply_t *rp,
    ngx_session_resp_elt_t *elt)
{
    size_t  n;

    if (elt->type != NGX_SESSION_RESP_ARRAY) {
        rp->error = "LRANGE reply is not an array";
        return NGX_SESSION_ERROR;
    }

    n = (size_t) elt->integer;

    if (n == 0) {
        rp->state = rp->want_ttl ? sw_ttl : sw_done;
        return NGX_SESSION_OK;
    }

    /* and so n * sizeof(ngx_session_str_t) is below 3 * max_len */

    if (!ngx_session_reply_count_fits(rp, elt,
                                      "LRANGE count past the reply limit"))
    {
        return NGX_SESSION_ERROR;
    }

    if (n > SIZE_MAX / sizeof(ngx_session_str_t)) {
        rp->error = "LRANGE reply too long";
        return NGX_SESSION_ERROR;
    }

    rp->out->stops = rp->alloc(rp->pool, n * sizeof(ngx_session_str_t));
    if (rp->out->stops == NULL) {
        rp->error = "out of memory for the stops";
        return NGX_SESSION_ERROR;
    }

    rp->remaining = n;
    rp->index = 0;
    rp->state = sw_list;

    return NGX_SESSION_OK;
}


/*
 * The count of a hash or list reply, whose elements are all bulk strings:
 * a count that cannot fit in what is left of the largest reply is refused
 * on its header, before anything is allocated for it or waited for.
 */

static int
ngx_session_reply_count_fits(ngx_session_reply_t *rp,
    ngx_session_resp_elt_t *elt, const char *error)
{
    size_t  used;

    used = rp->pos + elt->size;

    if (used <= rp->max_len
        && (uint64_t) elt->integer
           <= (rp->max_len - used) / NGX_SESSION_RESP_MIN_BULK)
    {
        return 1;
    }

    rp->error = error;
    rp->too_large = 1;

    return 0;
}


/* nstops follows the elements stored, so stops[0 .. nstops) is always set */

static int
ngx_session_reply_list(ngx_session_reply_t *rp, ngx_session_resp_elt_t *elt)
{
    if (ngx_session_reply_string(rp, elt) != NGX_SESSION_OK) {
        return NGX_SESSION_ERROR;
    }

    rp->out->stops[rp->index++] = elt->str;
    rp->out->nstops = rp->index;

    if (--rp->remaining == 0) {
        rp->state = rp->want_ttl ? sw_ttl : sw_done;
    }

    return NGX_SESSION_OK;
}


static int
ngx_session_reply_string(ngx_session_reply_t *rp, ngx_session_resp_elt_t *elt)
{
    int  hash;

    if (elt->type == NGX_SESSION_RESP_BULK) {
        return NGX_SESSION_OK;
    }

    hash = (rp->state == sw_hash);

    switch (elt->type) {

    case NGX_SESSION_RESP_ARRAY:
        rp->error = hash ? "nested array in the HGETALL reply"
                         : "nested array in the LRANGE reply";
        break;

    case NGX_SESSION_RESP_NIL:
        rp->error = hash ? "nil in the HGETALL reply"
                         : "nil in the LRANGE reply";
        break;

    default:
        rp->error = hash ? "non-bulk element in the HGETALL reply"
                         : "non-bulk element in the LRANGE reply";
    }

    return NGX_SESSION_ERROR;
}


static int
ngx_session_reply_fail(ngx_session_reply_t *rp, const char *error)
{
    rp->error = error;
    rp->state = sw_failed;

    return NGX_SESSION_ERROR;
}


/*
 * The reply to HGET key owner, framed with the owner's length as the limit:
 * a longer value (or error line) is a mismatch on its header alone, and no
 * more than the owner's length is waited for.  Only bytes that are not RESP
 * at all are an error: they say nothing about the session.
 */

static int
ngx_session_reply_owner_check(ngx_session_reply_t *rp,
    const unsigned char *buf, size_t len, size_t *consumed)
{
    int                     rc;
    const char             *error;
    ngx_session_resp_elt_t  elt;

    rc = ngx_session_resp_next(buf + rp->pos, len - rp->pos, rp->owner_len,
                               &elt, &error);

    if (rc == NGX_SESSION_AGAIN) {
        return NGX_SESSION_AGAIN;
    }

    if (rc == NGX_SESSION_ERROR) {
        rp->not_resp = 1;
        return ngx_session_reply_fail(rp, error);
    }

    if (rc == NGX_SESSION_OK
        && elt.type == NGX_SESSION_RESP_BULK
        && rp->owner_len > 0
        && elt.str.len == rp->owner_len
        && memcmp(elt.str.data, rp->owner, rp->owner_len) == 0)
    {
        rp->pos += elt.size;
        rp->state = sw_hash_header;
        return NGX_SESSION_OK;
    }

    rp->state = sw_not_owner;

    /* framed again with the usual limit, to skip what follows it */
    if (rc == NGX_SESSION_TOO_LARGE) {
        rc = ngx_session_resp_next(buf + rp->pos, len - rp->pos, rp->max_len,
                                   &elt, &error);
    }

    /*
     * HGET answers with one scalar.  An array there is no reply of Redis:
     * its elements would be counted as the hash and the list, and the real
     * ones would reach the next request on the connection.  Not skipped,
     * so the connection is closed.
     */

    if (rc == NGX_SESSION_OK && elt.type != NGX_SESSION_RESP_ARRAY) {
        rp->pos += elt.size;
        ngx_session_reply_skip(rp, buf, len, consumed);
    }

    return NGX_SESSION_NOT_OWNER;
}


/*
 * Frames the rest of another owner's reply, the hash and the list, in the
 * bytes already received, storing nothing: rp->skipped when it ends there,
 * so that the connection can serve another request.  Anything else (more
 * bytes needed, an element over max_len, not RESP) leaves it unset, and the
 * caller gives the connection up rather than read on.
 */

static void
ngx_session_reply_skip(ngx_session_reply_t *rp, const unsigned char *buf,
    size_t len, size_t *consumed)
{
    int                     rc;
    size_t                  pending;
    const char             *error;
    ngx_session_resp_elt_t  elt;

    pending = 2 + rp->want_ttl;

    while (pending) {
        rc = ngx_session_resp_next(buf + rp->pos, len - rp->pos, rp->max_len,
                                   &elt, &error);
        if (rc != NGX_SESSION_OK) {
            return;
        }

        rp->pos += elt.size;
        pending--;

        /* a count is at most max_len (framed), and each element takes bytes */
        if (elt.type == NGX_SESSION_RESP_ARRAY) {
            if ((uint64_t) elt.integer > (len - rp->pos) / 3) {
                return;
            }

            pending += (size_t) elt.integer;
        }
    }

    rp->skipped = 1;
    *consumed = rp->pos;
}


void
ngx_session_reply_moved(ngx_session_reply_t *rp, const unsigned char *from,
    const unsigned char *to)
{
    size_t               i;
    ngx_session_data_t  *out;

    out = rp->out;

    for (i = 0; i < NGX_SESSION_NFIELDS; i++) {
        ngx_session_reply_rebase(&out->fields[i].data, from, to);
    }

    for (i = 0; i < out->nstops; i++) {
        ngx_session_reply_rebase(&out->stops[i].data, from, to);
    }

    ngx_session_reply_rebase(&rp->field_name, from, to);
    ngx_session_reply_rebase(&rp->error_reply.data, from, to);
}


/* every string decoded points into the reply: at the same offset now */

static void
ngx_session_reply_rebase(const unsigned char **p, const unsigned char *from,
    const unsigned char *to)
{
    if (*p != NULL) {
        *p = to + (*p - from);
    }
}
