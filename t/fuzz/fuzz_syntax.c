
/*
 * The small parsers of outside text: timestamps (and the duration they
 * make), If-None-Match lists, request_id syntax.
 */


#include <string.h>

#include "ngx_session_json.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char     buf[NGX_SESSION_DURATION_LEN];
    int64_t  usec;

    if (ngx_session_parse_timestamp(data, size, &usec) == NGX_SESSION_OK) {
        /* a valid timestamp is within years 0000-9999 */
        if (usec < -62167219200LL * 1000000 || usec > 253402300800LL * 1000000)
        {
            __builtin_trap();
        }

        (void) ngx_session_format_duration(usec / 1000000, buf);
    }

    (void) ngx_session_etag_match(data, size,
                                  (const unsigned char *) "\"abc\"", 5);
    (void) ngx_session_request_id_valid(data, size);

    return 0;
}
