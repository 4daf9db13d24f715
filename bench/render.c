
/*
 * The cold render path alone, for callgrind: ngx_session_json_build() of
 * the published example and of a session of 300 stops, compact, as the
 * module renders with the body cache off.  No nginx, no store, no token.
 *
 *   make bench-render      (prints instructions per build of each case)
 *
 * Usage: render example|stops300 [iterations]
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_session_json.h"
#include "seed.h"


#define BENCH_NSTOPS  300


static void *
bench_alloc(void *pool, size_t size)
{
    void  **blocks = pool;

    /* one block per build, freed by the caller; a second replaces it */

    free(*blocks);
    *blocks = malloc(size);

    return *blocks;
}


static void
bench_set(ngx_session_data_t *sd, ngx_session_field_e field, const char *v)
{
    sd->fields[field].data = (const unsigned char *) v;
    sd->fields[field].len = strlen(v);
    sd->hash_len++;
}


int
main(int argc, char **argv)
{
    int                         stops300;
    long                        i, n;
    void                       *block;
    size_t                      k;
    ngx_session_str_t           stops[BENCH_NSTOPS];
    ngx_session_data_t          sd;
    ngx_session_json_result_t   res;

    if (argc < 2) {
        fprintf(stderr, "usage: render example|stops300 [iterations]\n");
        return 2;
    }

    stops300 = (strcmp(argv[1], "stops300") == 0);
    n = argc > 2 ? atol(argv[2]) : 100;

    memset(&sd, 0, sizeof(sd));

    for (k = 0; k < SEED_NFIELDS; k++) {
        if (seed_fields[k].field != NGX_SESSION_OWNER) {
            bench_set(&sd, seed_fields[k].field, seed_fields[k].value);
        }
    }

    sd.nstops = stops300 ? BENCH_NSTOPS : 3;

    for (k = 0; k < sd.nstops; k++) {
        stops[k].data = (const unsigned char *) seed_stops[k % 3];
        stops[k].len = strlen(seed_stops[k % 3]);
    }

    sd.stops = stops;

    block = NULL;

    for (i = 0; i < n; i++) {
        if (ngx_session_json_build(&sd, (const unsigned char *) "id", 2, 0,
                                   bench_alloc, &block, &res)
            != 0)
        {
            fprintf(stderr, "build failed: %s\n",
                    res.error ? res.error : "memory");
            return 1;
        }
    }

    printf("%zu bytes\n", res.len);

    free(block);

    return 0;
}
