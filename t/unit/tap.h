
/*
 * A few lines of TAP for the unit tests of the pure C parts, so that prove
 * runs them beside the integration tests.
 */

#ifndef _TAP_H_INCLUDED_
#define _TAP_H_INCLUDED_


#include <stdarg.h>
#include <stdio.h>
#include <string.h>


static int  tap_run;
static int  tap_failed;


static int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list  args;

    tap_run++;

    printf("%sok %d - ", pass ? "" : "not ", tap_run);
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    printf("\n");

    if (!pass) {
        tap_failed++;
        printf("#   failed at %s line %d\n", file, line);
    }

    fflush(stdout);

    return pass;
}


#define ok(cond, ...)  tap_ok((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                \
    (ok((long long) (got) == (long long) (want), __VA_ARGS__)                 \
     || (printf("#   got %lld, want %lld\n",                                  \
                (long long) (got), (long long) (want)), 0))

#define is_mem(got, got_len, want, ...)                                       \
    (ok((got_len) == strlen(want) && memcmp(got, want, got_len) == 0,         \
        __VA_ARGS__)                                                          \
     || (printf("#   got \"%.*s\"\n#   want \"%s\"\n",                        \
                (int) (got_len), (const char *) (got), want), 0))


static int
tap_done(void)
{
    printf("1..%d\n", tap_run);
    return tap_failed ? 1 : 0;
}


#endif /* _TAP_H_INCLUDED_ */
