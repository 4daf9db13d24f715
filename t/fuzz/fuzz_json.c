
/*
 * The response builder on arbitrary stored data: the input is split at
 * 0xff bytes into field values (in ngx_session_field_e order) and then
 * stops.  Invalid UTF-8, deep JSON and odd shapes must give a 502 reason,
 * never a crash or a leak.
 */


#include <string.h>

#include "ngx_session_json.h"
#include "fuzz.h"


#define FUZZ_MAX_STOPS  64


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                      i, n, start;
    fuzz_pool_t                 pool = { 0 };
    ngx_session_str_t           stops[FUZZ_MAX_STOPS], *s;
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    if (size < 1) {
        return 0;
    }

    memset(&sd, 0, sizeof(ngx_session_data_t));
    sd.stops = stops;

    n = 0;
    start = 1;

    for (i = 1; i <= size; i++) {
        if (i < size && data[i] != 0xff) {
            continue;
        }

        if (n < NGX_SESSION_NFIELDS) {
            s = &sd.fields[n];

        } else if (sd.nstops < FUZZ_MAX_STOPS) {
            s = &stops[sd.nstops++];

        } else {
            break;
        }

        /* bit n of the first byte leaves field n absent */
        if (n >= 8 || !(data[0] & (1u << n))) {
            s->data = data + start;
            s->len = i - start;
        }

        n++;
        start = i + 1;
    }

    sd.hash_len = n;

    (void) ngx_session_json_build(&sd, (const unsigned char *) "fuzz-id", 7,
                                  data[0] & 1, fuzz_alloc, &pool, &res);

    fuzz_pool_free(&pool);

    return 0;
}
