
/*
 * bench/lib/waiters: the long-polling client of bench/push (wrk cannot
 * hold requests open).  Bounded: at most 50,000 connections, every read
 * and wait with a deadline.
 *
 *   waiters park PORT PATH ETAG N SECONDS
 *       opens N connections to 127.0.0.1:PORT, sends on each
 *       "GET PATH" with If-None-Match: ETAG and Prefer: wait=SECONDS, then
 *       waits (poll) until every one is answered or SECONDS + 10 pass;
 *       prints "answered A of N, 200: x, 304: y, other: z".
 *
 *   waiters latency PORT PREFIX REDIS_PORT COUNT
 *       COUNT times: reads PREFIX<i> for its ETag, parks one request on it,
 *       waits 50 ms, then changes the session in Redis (MULTI / HSET /
 *       EXEC, as the writer does) and measures the time from sending the
 *       EXEC to the 200 of the parked request; prints p50, p99 and max in
 *       ms.  The session key is "session:{<id>}", the id the path's tail.
 */


#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#define MAX_CONNS  50000
#define BUF_SIZE   8192


static double
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


static int
connect_to(int port)
{
    int                 fd, one;
    struct sockaddr_in  sa;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }

    one = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    return fd;
}


static int
send_all(int fd, const char *p, size_t len)
{
    ssize_t  n;

    while (len) {
        n = write(fd, p, len);
        if (n <= 0) {
            return -1;
        }

        p += n;
        len -= (size_t) n;
    }

    return 0;
}


/* reads until the buffer holds "needle" or timeout_ms passes; bytes or -1 */

static ssize_t
read_until(int fd, char *buf, size_t size, const char *needle,
    int timeout_ms)
{
    size_t         len;
    ssize_t        n;
    double         end;
    struct pollfd  pfd;

    len = 0;
    end = now_ms() + timeout_ms;

    while (len < size - 1) {
        pfd.fd = fd;
        pfd.events = POLLIN;

        if (poll(&pfd, 1, (int) (end - now_ms())) <= 0) {
            return -1;
        }

        n = read(fd, buf + len, size - 1 - len);
        if (n <= 0) {
            return -1;
        }

        len += (size_t) n;
        buf[len] = '\0';

        if (strstr(buf, needle)) {
            return (ssize_t) len;
        }
    }

    return -1;
}


static int
status_of(const char *buf)
{
    return (strncmp(buf, "HTTP/1.1 ", 9) == 0) ? atoi(buf + 9) : 0;
}


static int
park(int port, const char *path, const char *etag, int n, int secs)
{
    int             i, answered, s200, s304, other, st;
    char            req[1024], buf[BUF_SIZE];
    double          end;
    ssize_t         r;
    struct pollfd  *pfd;

    if (n < 1 || n > MAX_CONNS || secs < 1 || secs > 3600) {
        fprintf(stderr, "waiters: N 1..%d, SECONDS 1..3600\n", MAX_CONNS);
        return 2;
    }

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n"
             "If-None-Match: %s\r\nPrefer: wait=%d\r\n"
             "Connection: close\r\n\r\n", path, etag, secs);

    pfd = calloc((size_t) n, sizeof(struct pollfd));
    if (pfd == NULL) {
        return 1;
    }

    for (i = 0; i < n; i++) {
        pfd[i].fd = connect_to(port);

        if (pfd[i].fd < 0 || send_all(pfd[i].fd, req, strlen(req)) < 0) {
            fprintf(stderr, "waiters: connection %d: %s\n", i,
                    strerror(errno));
            return 1;
        }

        pfd[i].events = POLLIN;
    }

    printf("sent %d\n", n);
    fflush(stdout);

    answered = s200 = s304 = other = 0;
    end = now_ms() + (secs + 10) * 1e3;

    while (answered < n && now_ms() < end) {
        if (poll(pfd, (nfds_t) n, 1000) < 0) {
            break;
        }

        for (i = 0; i < n; i++) {
            if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN|POLLHUP))) {
                continue;
            }

            r = read(pfd[i].fd, buf, sizeof(buf) - 1);
            buf[r > 0 ? r : 0] = '\0';
            st = status_of(buf);

            if (st == 200) {
                s200++;
            } else if (st == 304) {
                s304++;
            } else {
                other++;
            }

            answered++;
            close(pfd[i].fd);
            pfd[i].fd = -1;
        }
    }

    printf("answered %d of %d, 200: %d, 304: %d, other: %d\n", answered, n,
           s200, s304, other);

    return answered == n ? 0 : 1;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static int
latency(int port, const char *prefix, int redis_port, int count)
{
    int      i, fd, rfd;
    char     req[1024], buf[BUF_SIZE], cmd[1024], id[256], etag[128], *p, *q;
    double   t0, t1, *lat;
    size_t   idlen;

    if (count < 1 || count > 10000) {
        fprintf(stderr, "waiters: COUNT 1..10000\n");
        return 2;
    }

    lat = calloc((size_t) count, sizeof(double));
    rfd = connect_to(redis_port);

    if (lat == NULL || rfd < 0) {
        fprintf(stderr, "waiters: redis: %s\n", strerror(errno));
        return 1;
    }

    for (i = 0; i < count; i++) {
        snprintf(id, sizeof(id), "lat-%d", i);
        idlen = strlen(id);

        /* the session as the writer leaves it, then its ETag */
        snprintf(cmd, sizeof(cmd),
                 "*3\r\n$3\r\nDEL\r\n$%zu\r\nsession:{%s}\r\n"
                 "$%zu\r\nsession:{%s}:stops\r\n"
                 "*4\r\n$4\r\nHSET\r\n$%zu\r\nsession:{%s}\r\n"
                 "$6\r\nstatus\r\n$7\r\nPENDING\r\n",
                 idlen + 10, id, idlen + 16, id, idlen + 10, id);

        if (send_all(rfd, cmd, strlen(cmd)) < 0
            || read_until(rfd, buf, sizeof(buf), "\r\n:1\r\n", 2000) < 0)
        {
            fprintf(stderr, "waiters: redis setup failed\n");
            return 1;
        }

        snprintf(req, sizeof(req), "GET %s%s HTTP/1.1\r\nHost: localhost\r\n"
                 "Connection: close\r\n\r\n", prefix, id);

        fd = connect_to(port);
        if (fd < 0 || send_all(fd, req, strlen(req)) < 0
            || read_until(fd, buf, sizeof(buf), "\r\n\r\n", 2000) < 0
            || (p = strstr(buf, "ETag: ")) == NULL
            || (q = strstr(p, "\r\n")) == NULL
            || (size_t) (q - p - 6) >= sizeof(etag))
        {
            fprintf(stderr, "waiters: no ETag for %s\n", id);
            return 1;
        }

        memcpy(etag, p + 6, (size_t) (q - p - 6));
        etag[q - p - 6] = '\0';
        close(fd);

        snprintf(req, sizeof(req), "GET %s%s HTTP/1.1\r\nHost: localhost\r\n"
                 "If-None-Match: %s\r\nPrefer: wait=10\r\n"
                 "Connection: close\r\n\r\n", prefix, id, etag);

        fd = connect_to(port);
        if (fd < 0 || send_all(fd, req, strlen(req)) < 0) {
            return 1;
        }

        usleep(50000);

        snprintf(cmd, sizeof(cmd),
                 "*1\r\n$5\r\nMULTI\r\n"
                 "*4\r\n$4\r\nHSET\r\n$%zu\r\nsession:{%s}\r\n"
                 "$6\r\nstatus\r\n$4\r\nPASS\r\n"
                 "*1\r\n$4\r\nEXEC\r\n", idlen + 10, id);

        t0 = now_ms();

        if (send_all(rfd, cmd, strlen(cmd)) < 0
            || read_until(fd, buf, sizeof(buf), "\r\n\r\n", 5000) < 0)
        {
            fprintf(stderr, "waiters: no answer for %s\n", id);
            return 1;
        }

        t1 = now_ms();

        if (status_of(buf) != 200) {
            fprintf(stderr, "waiters: %s answered %d\n", id, status_of(buf));
            return 1;
        }

        lat[i] = t1 - t0;
        close(fd);

        /* MULTI, QUEUED, EXEC's reply */
        if (read_until(rfd, buf, sizeof(buf), "*1\r\n:0\r\n", 2000) < 0) {
            fprintf(stderr, "waiters: no EXEC reply\n");
            return 1;
        }
    }

    qsort(lat, (size_t) count, sizeof(double), cmp_double);

    printf("changes %d, wake latency ms: p50 %.2f, p99 %.2f, max %.2f\n",
           count, lat[count / 2], lat[(count * 99) / 100 - (count >= 100)],
           lat[count - 1]);

    return 0;
}


int
main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "park") == 0) {
        return park(atoi(argv[2]), argv[3], argv[4], atoi(argv[5]),
                    atoi(argv[6]));
    }

    if (argc == 6 && strcmp(argv[1], "latency") == 0) {
        return latency(atoi(argv[2]), argv[3], atoi(argv[4]), atoi(argv[5]));
    }

    fprintf(stderr, "usage: waiters park PORT PATH ETAG N SECONDS\n"
                    "       waiters latency PORT PREFIX REDIS_PORT COUNT\n");

    return 2;
}
