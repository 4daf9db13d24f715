
/*
 * The push connection's RESP3 framing, as the read handler drives it: the
 * first byte chooses how many bytes each read adds, the rest is the stream
 * from the store.  Every value framed is walked (keys, ids); a prefix of a
 * value is never taken for a whole one; the same bytes are skipped as a
 * value too large to hold is; the Prefer parser gets them too.
 */


#include <string.h>

#include "ngx_session_push.h"
#include "fuzz.h"


#define FUZZ_MAX_LEN  4096


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     rc;
    size_t                  pos, avail, step, consumed, pending;
    uint64_t                secs;
    const char             *error;
    ngx_session_str_t       key, id;
    ngx_session_push_msg_t  msg;
    unsigned char          *buf;

    if (size < 1) {
        return 0;
    }

    step = data[0] % 16 + 1;
    data++;
    size--;

    /* a copy of exactly the input: reads past it show */
    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        abort();
    }

    memcpy(buf, data, size);

    (void) ngx_session_prefer_wait(buf, size, &secs);

    pos = 0;
    avail = 0;

    while (pos < size) {
        avail = (avail + step < size) ? avail + step : size;

        for ( ;; ) {
            rc = ngx_session_push_parse(buf + pos, avail - pos, FUZZ_MAX_LEN,
                                        &msg, &consumed, &error);

            if (rc == NGX_SESSION_AGAIN) {
                break;
            }

            if (rc != NGX_SESSION_OK) {
                goto skip;
            }

            if (consumed == 0 || consumed > avail - pos) {
                abort();
            }

            while (ngx_session_push_next_key(&msg, &key) == NGX_SESSION_OK) {
                if (key.data < buf || key.data + key.len > buf + avail) {
                    abort();
                }

                (void) ngx_session_push_key_id(key.data, key.len,
                                               (const unsigned char *)
                                               "session:", 8, &id);
            }

            pos += consumed;
        }

        if (avail == size) {
            break;
        }
    }

skip:

    /* the same stream skipped value by value, as one too large to hold */

    pos = 0;
    avail = 0;
    pending = 1;

    while (pos < size) {
        avail = (avail + step < size) ? avail + step : size;

        rc = ngx_session_push_skip(buf + pos, avail - pos, FUZZ_MAX_LEN,
                                   &pending, &consumed, &error);

        if (rc == NGX_SESSION_ERROR) {
            break;
        }

        if (consumed > avail - pos || (rc == NGX_SESSION_OK && consumed == 0))
        {
            abort();
        }

        pos += consumed;

        if (rc == NGX_SESSION_OK) {
            pending = 1;

        } else if (avail == size) {
            break;
        }
    }

    free(buf);

    return 0;
}
