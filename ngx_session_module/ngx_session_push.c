
/*
 * RESP3 framing for the push connection: one value at a time, whole, with
 * every length and count bounded before it is trusted.  Pure C.
 */


#include <string.h>

#include "ngx_session_push.h"


typedef struct {
    unsigned char         type;
    int64_t               n;      /* blob length, aggregate count; -1 null */
    const unsigned char  *data;   /* line text or blob */
    size_t                data_len;
    size_t                size;   /* bytes of the header and any blob */
} ngx_session_push_elt_t;


static int ngx_session_push_elt(const unsigned char *p, size_t len,
    size_t max_len, ngx_session_push_elt_t *elt, const char **error);
static int ngx_session_push_number(const unsigned char *p, size_t len,
    size_t max_len, int64_t *n);
static int ngx_session_push_pending(ngx_session_push_elt_t *elt,
    size_t *pending, size_t limit, const char **error);
static int ngx_session_push_is_string(ngx_session_push_elt_t *elt);
static void ngx_session_push_classify(const unsigned char *p, size_t len,
    size_t max_len, ngx_session_push_msg_t *msg);


int
ngx_session_push_parse(const unsigned char *p, size_t len, size_t max_len,
    ngx_session_push_msg_t *msg, size_t *consumed, const char **error)
{
    int                     rc;
    size_t                  pos, pending;
    ngx_session_push_elt_t  elt;

    pos = 0;
    pending = 1;

    /* an aggregate adds its elements to those still to frame */

    while (pending) {
        if (pos > max_len) {
            *error = "value too large";
            return NGX_SESSION_ERROR;
        }

        rc = ngx_session_push_elt(p + pos, len - pos, max_len, &elt, error);
        if (rc != NGX_SESSION_OK) {
            return rc;
        }

        pos += elt.size;

        if (ngx_session_push_pending(&elt, &pending, max_len, error)
            != NGX_SESSION_OK)
        {
            return NGX_SESSION_ERROR;
        }
    }

    if (pos > max_len) {
        *error = "value too large";
        return NGX_SESSION_ERROR;
    }

    *consumed = pos;

    ngx_session_push_classify(p, pos, max_len, msg);

    return NGX_SESSION_OK;
}


/* the value at p, already framed whole (len bytes): what it is */

static void
ngx_session_push_classify(const unsigned char *p, size_t len, size_t max_len,
    ngx_session_push_msg_t *msg)
{
    size_t                  pos, i;
    const char             *error;
    ngx_session_push_elt_t  top, name, keys, key;

    memset(msg, 0, sizeof(ngx_session_push_msg_t));

    /* framed before: these calls succeed */
    (void) ngx_session_push_elt(p, len, max_len, &top, &error);

    if (top.type == '-' || top.type == '!') {
        msg->kind = NGX_SESSION_PUSH_ERROR;
        msg->text.data = top.data;
        msg->text.len = top.data_len;
        return;
    }

    if (top.type != '>') {
        msg->kind = NGX_SESSION_PUSH_REPLY;

        if (top.type == '+') {
            msg->text.data = top.data;
            msg->text.len = top.data_len;
        }

        return;
    }

    msg->kind = NGX_SESSION_PUSH_OTHER;

    if (top.n != 2) {
        return;
    }

    pos = top.size;
    (void) ngx_session_push_elt(p + pos, len - pos, max_len, &name, &error);

    if (!ngx_session_push_is_string(&name)
        || name.data_len != sizeof("invalidate") - 1
        || memcmp(name.data, "invalidate", sizeof("invalidate") - 1) != 0)
    {
        return;
    }

    pos += name.size;
    (void) ngx_session_push_elt(p + pos, len - pos, max_len, &keys, &error);

    msg->kind = NGX_SESSION_PUSH_FLUSH;

    /* null (FLUSHALL, FLUSHDB): every key */

    if (keys.type != '*' || keys.n < 0) {
        return;
    }

    pos += keys.size;
    msg->keys = p + pos;
    msg->end = p + len;

    for (i = 0; i < (size_t) keys.n; i++) {
        (void) ngx_session_push_elt(p + pos, len - pos, max_len, &key,
                                    &error);

        if (!ngx_session_push_is_string(&key)) {
            msg->keys = NULL;
            msg->end = NULL;
            return;
        }

        pos += key.size;
    }

    msg->kind = NGX_SESSION_PUSH_INVALIDATE;
    msg->nkeys = (size_t) keys.n;
}


int
ngx_session_push_skip(const unsigned char *p, size_t len, size_t max_len,
    size_t *pending, size_t *consumed, const char **error)
{
    int                     rc;
    size_t                  pos;
    ngx_session_push_elt_t  elt;

    pos = 0;

    while (*pending) {
        rc = ngx_session_push_elt(p + pos, len - pos, max_len, &elt, error);

        if (rc == NGX_SESSION_AGAIN) {
            *consumed = pos;
            return NGX_SESSION_AGAIN;
        }

        if (rc != NGX_SESSION_OK) {
            return rc;
        }

        pos += elt.size;

        if (ngx_session_push_pending(&elt, pending, ((size_t) -1) / 4, error)
            != NGX_SESSION_OK)
        {
            return NGX_SESSION_ERROR;
        }
    }

    *consumed = pos;

    return NGX_SESSION_OK;
}


int
ngx_session_push_next_key(ngx_session_push_msg_t *msg, ngx_session_str_t *key)
{
    const char             *error;
    ngx_session_push_elt_t  elt;

    if (msg->kind != NGX_SESSION_PUSH_INVALIDATE || msg->nkeys == 0) {
        return NGX_SESSION_AGAIN;
    }

    if (ngx_session_push_elt(msg->keys, msg->end - msg->keys,
                             (size_t) (msg->end - msg->keys), &elt, &error)
        != NGX_SESSION_OK)
    {
        msg->nkeys = 0;
        return NGX_SESSION_AGAIN;
    }

    key->data = elt.data;
    key->len = elt.data_len;

    msg->keys += elt.size;
    msg->nkeys--;

    return NGX_SESSION_OK;
}


int
ngx_session_push_key_id(const unsigned char *key, size_t len,
    const unsigned char *prefix, size_t prefix_len, ngx_session_str_t *id)
{
    size_t  i, rest;

    if (len < prefix_len + 2
        || memcmp(key, prefix, prefix_len) != 0
        || key[prefix_len] != '{')
    {
        return NGX_SESSION_ERROR;
    }

    for (i = prefix_len + 1; i < len && key[i] != '}'; i++) { /* void */ }

    if (i == len || i == prefix_len + 1) {
        return NGX_SESSION_ERROR;
    }

    rest = len - i - 1;

    if (rest != 0
        && !(rest == sizeof(":stops") - 1
             && memcmp(key + i + 1, ":stops", rest) == 0))
    {
        return NGX_SESSION_ERROR;
    }

    id->data = key + prefix_len + 1;
    id->len = i - prefix_len - 1;

    return NGX_SESSION_OK;
}


/*
 * An element was framed: one fewer to go, and an aggregate adds its own
 * (a map two per entry); more than limit still to go is refused.
 */

static int
ngx_session_push_pending(ngx_session_push_elt_t *elt, size_t *pending,
    size_t limit, const char **error)
{
    (*pending)--;

    if (elt->n > 0
        && (elt->type == '*' || elt->type == '~' || elt->type == '>'
            || elt->type == '%'))
    {
        *pending += (size_t) elt->n * (elt->type == '%' ? 2 : 1);

        if (*pending > limit) {
            *error = "too many elements";
            return NGX_SESSION_ERROR;
        }
    }

    return NGX_SESSION_OK;
}


static int
ngx_session_push_is_string(ngx_session_push_elt_t *elt)
{
    return (elt->type == '$' || elt->type == '+' || elt->type == '=')
           && elt->n >= 0;
}


/*
 * One element's header (and its blob): a line ended by CRLF no longer
 * than max_len, a length or count from 0 to max_len (-1: null where RESP
 * allows it).
 */

static int
ngx_session_push_elt(const unsigned char *p, size_t len, size_t max_len,
    ngx_session_push_elt_t *elt, const char **error)
{
    size_t                i, line, limit;
    const unsigned char  *nl;

    if (len == 0) {
        return NGX_SESSION_AGAIN;
    }

    limit = (len < max_len + 3) ? len : max_len + 3;

    nl = NULL;

    for (i = 1; i + 1 < limit; i++) {
        if (p[i] == '\r') {
            if (p[i + 1] != '\n') {
                *error = "CR without LF";
                return NGX_SESSION_ERROR;
            }

            nl = p + i;
            break;
        }

        if (p[i] == '\n') {
            *error = "LF without CR";
            return NGX_SESSION_ERROR;
        }
    }

    if (nl == NULL) {
        if (limit == len) {
            return NGX_SESSION_AGAIN;
        }

        *error = "line too long";
        return NGX_SESSION_ERROR;
    }

    line = nl - p - 1;

    elt->type = p[0];
    elt->n = 0;
    elt->data = p + 1;
    elt->data_len = line;
    elt->size = line + 3;

    switch (p[0]) {

    case '+':
    case '-':
    case ':':
    case '#':
    case ',':
    case '(':
        return NGX_SESSION_OK;

    case '_':
        if (line != 0) {
            *error = "null with data";
            return NGX_SESSION_ERROR;
        }

        elt->n = -1;
        return NGX_SESSION_OK;

    case '$':
    case '!':
    case '=':
    case '*':
    case '~':
    case '>':
    case '%':
        break;

    default:
        *error = "not a RESP3 type";
        return NGX_SESSION_ERROR;
    }

    if (ngx_session_push_number(p + 1, line, max_len, &elt->n)
        != NGX_SESSION_OK
        || (elt->n < 0 && p[0] != '$' && p[0] != '*'))
    {
        *error = "invalid length or count";
        return NGX_SESSION_ERROR;
    }

    elt->data = NULL;
    elt->data_len = 0;

    if (p[0] != '$' && p[0] != '!' && p[0] != '=') {
        return NGX_SESSION_OK;
    }

    if (elt->n < 0) {
        return NGX_SESSION_OK;
    }

    if (len - elt->size < (size_t) elt->n + 2) {
        return NGX_SESSION_AGAIN;
    }

    elt->data = p + elt->size;
    elt->data_len = (size_t) elt->n;

    if (elt->data[elt->n] != '\r' || elt->data[elt->n + 1] != '\n') {
        *error = "blob without CRLF";
        return NGX_SESSION_ERROR;
    }

    elt->size += (size_t) elt->n + 2;

    return NGX_SESSION_OK;
}


/* "-1" or 0..max_len, decimal, no sign or leading zero otherwise */

static int
ngx_session_push_number(const unsigned char *p, size_t len, size_t max_len,
    int64_t *n)
{
    size_t    i;
    uint64_t  v;

    if (len == 2 && p[0] == '-' && p[1] == '1') {
        *n = -1;
        return NGX_SESSION_OK;
    }

    if (len == 0 || len > 19 || (len > 1 && p[0] == '0')) {
        return NGX_SESSION_ERROR;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_SESSION_ERROR;
        }

        v = v * 10 + (p[i] - '0');
    }

    if (v > max_len) {
        return NGX_SESSION_ERROR;
    }

    *n = (int64_t) v;

    return NGX_SESSION_OK;
}


int
ngx_session_prefer_wait(const unsigned char *p, size_t len, uint64_t *secs)
{
    size_t    i, start, digits;
    uint64_t  v;
    int       quoted;

    i = 0;

    while (i < len) {

        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == ',')) {
            i++;
        }

        start = i;

        while (i < len && p[i] != '=' && p[i] != ',' && p[i] != ';'
               && p[i] != ' ' && p[i] != '\t')
        {
            i++;
        }

        if (i - start == 4
            && (p[start] | 0x20) == 'w' && (p[start + 1] | 0x20) == 'a'
            && (p[start + 2] | 0x20) == 'i' && (p[start + 3] | 0x20) == 't')
        {
            while (i < len && (p[i] == ' ' || p[i] == '\t')) {
                i++;
            }

            if (i == len || p[i] != '=') {
                return NGX_SESSION_ERROR;
            }

            i++;

            while (i < len && (p[i] == ' ' || p[i] == '\t')) {
                i++;
            }

            quoted = (i < len && p[i] == '"');
            i += quoted;

            v = 0;

            for (digits = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
                if (++digits > 9) {
                    return NGX_SESSION_ERROR;
                }

                v = v * 10 + (p[i] - '0');
            }

            if (digits == 0) {
                return NGX_SESSION_ERROR;
            }

            if (quoted) {
                if (i == len || p[i] != '"') {
                    return NGX_SESSION_ERROR;
                }

                i++;
            }

            if (i < len && p[i] != ' ' && p[i] != '\t' && p[i] != ','
                && p[i] != ';')
            {
                return NGX_SESSION_ERROR;
            }

            *secs = v;

            return NGX_SESSION_OK;
        }

        /* another preference: to the next comma outside a quoted string */

        quoted = 0;

        while (i < len && (quoted || p[i] != ',')) {
            if (p[i] == '"') {
                quoted = !quoted;

            } else if (p[i] == '\\' && quoted && i + 1 < len) {
                i++;
            }

            i++;
        }
    }

    return NGX_SESSION_ERROR;
}
