
/*
 * The store reply parser, fed the input in pieces: the first two bytes
 * choose the read boundaries, the rest is the reply.  Every split must give
 * the result of the whole, as process_header sees the buffer grow.  What it
 * allocates stays below 3 bytes a byte of the reply limit, whatever the
 * counts say.
 */


#include <string.h>

#include "ngx_session_resp.h"
#include "fuzz.h"


#define FUZZ_MAX_LEN  4096


typedef struct {
    fuzz_pool_t  pool;
    size_t       bytes;
} fuzz_counted_t;


static void *
fuzz_counted_alloc(void *pool, size_t size)
{
    fuzz_counted_t  *fc = pool;

    fc->bytes += size;

    if (fc->bytes > 3 * FUZZ_MAX_LEN) {
        abort();
    }

    return fuzz_alloc(&fc->pool, size);
}


static int
fuzz_parse(const uint8_t *data, size_t size, unsigned step, unsigned ttl,
    ngx_session_data_t *out, size_t *consumed, fuzz_counted_t *pool)
{
    int                  rc;
    size_t               len;
    ngx_session_reply_t  rp;

    ngx_session_reply_init(&rp, out, FUZZ_MAX_LEN, fuzz_counted_alloc, pool);

    /* the first byte's top bit: the transaction ends with PTTL (SPEC 9) */
    if (ttl) {
        ngx_session_reply_ttl(&rp);
    }

    rc = NGX_SESSION_AGAIN;

    for (len = step ? 0 : size; ; len += step) {
        if (len > size) {
            len = size;
        }

        rc = ngx_session_reply_parse(&rp, data, len, consumed);

        if (rc != NGX_SESSION_AGAIN || len == size) {
            break;
        }
    }

    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     rc1, rc2;
    size_t                  c1, c2, pos, i;
    const char             *error;
    fuzz_counted_t          pool1 = { { 0 }, 0 }, pool2 = { { 0 }, 0 };
    ngx_session_data_t      whole, split;
    ngx_session_resp_elt_t  elt;

    if (size < 2) {
        return 0;
    }

    rc1 = fuzz_parse(data + 2, size - 2, 0, data[0] & 0x80, &whole, &c1,
                     &pool1);
    rc2 = fuzz_parse(data + 2, size - 2, 1 + data[0] % 64, data[0] & 0x80,
                     &split, &c2, &pool2);

    if (rc1 != rc2) {
        abort();
    }

    if (rc1 == NGX_SESSION_OK) {
        if (c1 != c2 || whole.hash_len != split.hash_len
            || whole.nstops != split.nstops)
        {
            abort();
        }

        for (i = 0; i < NGX_SESSION_NFIELDS; i++) {
            if (whole.fields[i].len != split.fields[i].len
                || (whole.fields[i].data == NULL)
                   != (split.fields[i].data == NULL))
            {
                abort();
            }
        }
    }

    /* the framing alone, element after element */

    for (pos = 2; pos < size; pos += elt.size) {
        if (ngx_session_resp_next(data + pos, size - pos, data[1] * 16u,
                                  &elt, &error)
            != NGX_SESSION_OK)
        {
            break;
        }

        if (elt.size == 0 || elt.size > size - pos) {
            abort();
        }
    }

    fuzz_pool_free(&pool1.pool);
    fuzz_pool_free(&pool2.pool);

    return 0;
}
