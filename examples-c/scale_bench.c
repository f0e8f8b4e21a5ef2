/* wsclient-scale-bench: one process holding many concurrent connections
 * (default 10,000) through wsclient's public C API, the way a SCADA host
 * would: every socket is opened with ws_open_async into one event queue, a
 * single thread drains the queue and writes, the library's background thread
 * does all reading. Measures open time, resident memory per idle
 * connection, threads, and message round-trip latency at that scale.
 *
 *   wsclient-scale-bench --server PATH/wsclient-scale-server  (starts it)
 *   wsclient-scale-bench --url ws://127.0.0.1:PORT/            (a running one)
 *       [--conns 10000] [--interval-ms 3000] [--duration-s 15]
 *       [--compress JSON] [--size BYTES] [--idle-s 3] [--server-flag F]...
 *
 * --compress: the "compression" ws_open option (e.g. true, or
 * {"clientNoContextTakeover":true}); --size: every message is padded to
 * this many bytes with JSON-like tag updates (repetitive, as a SCADA tag
 * stream: what compression is for), default: just the timestamp and index;
 * --idle-s: after the exchange, how long the connections stay idle before
 * the last memory figure ("RSS per conn, idle after traffic": the codecs of
 * compressed connections are released after 1-2 s without use);
 * --server-flag: passed to the server started with --server (repeatable,
 * e.g. --server-flag --pooled for wsclient-deflate-echo-server).
 *
 * Prints a human-readable report and, last, one JSON line. Exits non-zero
 * when a connection fails or a message is lost. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wsclient.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long status_field(const char *name) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(name);
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, name, n) && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* The C heap in KiB: bytes in use (live allocations, mmapped ones
 * included) and bytes free but still held by the allocator (fragmentation
 * the RSS includes while those pages stay touched). glibc only; -1 else. */
static void heap_kib(long *in_use, long *held_free) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 m = mallinfo2();
    *in_use = (long)((m.uordblks + m.hblkhd) / 1024);
    *held_free = (long)(m.fordblks / 1024);
#else
    *in_use = *held_free = -1;
#endif
}

static void die(const char *what) {
    fprintf(stderr, "scale: %s: %s (%s)\n", what, ws_last_error(), ws_error_name(ws_last_error_code()));
    exit(1);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static pid_t server_pid;
static const char *server_flags[12];
static int n_server_flags;

/* Message `k` of socket `i`: "<timestamp ns> <i> " then, up to `size`
 * bytes, tag updates whose values drift with k (valid JSON-ish text). */
static int make_message(char *out, size_t size, uint64_t ts, long i, long k) {
    int len = snprintf(out, size > 64 ? size : 64, "%llu %ld ", (unsigned long long)ts, i);
    long t = 0;
    while ((size_t)len < size) {
        char tag[96];
        int n = snprintf(tag, sizeof tag, "{\"n\":\"Plant1/Line%ld/Motor%ld/Speed\",\"v\":%ld.%02ld,\"q\":\"GOOD\"},",
                         (i + t) % 4, t % 16, 1400 + (k * 7 + t * 13) % 200, (k + t) % 100);
        if ((size_t)(len + n) > size) n = (int)(size - (size_t)len);
        memcpy(out + len, tag, (size_t)n);
        len += n;
        t++;
    }
    return len;
}

static void stop_server(void) {
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
}

/* Starts the scale server and returns its port. */
static int start_server(const char *path) {
    int p[2];
    if (pipe(p)) return -1;
    server_pid = fork();
    if (server_pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        char *args[16] = {(char *)path, "--port", "0"};
        int n = 3;
        for (int i = 0; i < n_server_flags && n < 15; i++) args[n++] = (char *)server_flags[i];
        args[n] = NULL;
        execv(path, args);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[64];
    int port = -1;
    if (f && fgets(line, sizeof line, f)) sscanf(line, "LISTENING %d", &port);
    return port;
}

int main(int argc, char **argv) {
    const char *url = NULL, *server = NULL;
    long conns = 10000, interval_ms = 3000, duration_s = 15, idle_s = 3;
    const char *compress = NULL;
    size_t size = 0;
    char urlbuf[128];
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url")) url = argv[i + 1];
        else if (!strcmp(argv[i], "--server")) server = argv[i + 1];
        else if (!strcmp(argv[i], "--conns")) conns = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--interval-ms")) interval_ms = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration-s")) duration_s = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--idle-s")) idle_s = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--compress")) compress = argv[i + 1];
        else if (!strcmp(argv[i], "--size")) size = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--server-flag") && n_server_flags < 12) server_flags[n_server_flags++] = argv[i + 1];
        else {
            fprintf(stderr,
                    "usage: %s (--url U | --server PATH) [--conns N] [--interval-ms MS] [--duration-s S]\n"
                    "          [--compress JSON] [--size BYTES] [--idle-s S] [--server-flag F]...\n",
                    argv[0]);
            return 2;
        }
    }
    if (conns < 1 || interval_ms < 1 || duration_s < 1 || idle_s < 0 || size > (1u << 20) || (!url && !server)) {
        fprintf(stderr, "scale: need --url or --server, and positive numbers\n");
        return 2;
    }
    /* one descriptor per connection (plus the server's, if we start it) */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if ((long)rl.rlim_cur < conns + 64) {
            fprintf(stderr, "scale: RLIMIT_NOFILE %ld is too low for %ld connections\n", (long)rl.rlim_cur, conns);
            return 2;
        }
    }
    if (server) {
        int port = start_server(server);
        if (port <= 0) {
            fprintf(stderr, "scale: could not start %s\n", server);
            stop_server();
            return 1;
        }
        atexit(stop_server);
        snprintf(urlbuf, sizeof urlbuf, "ws://127.0.0.1:%d/", port);
        url = urlbuf;
    }
    if (ws_set_max_sockets((int)conns + 16) < 0) die("ws_set_max_sockets");
    int q = ws_queue_create();
    if (q < 0) die("ws_queue_create");
    char opts[1024];
    if (compress)
        snprintf(opts, sizeof opts, "{\"queue\": %d, \"compression\": %s}", q, compress);
    else
        snprintf(opts, sizeof opts, "{\"queue\": %d}", q);

    int *ids = calloc((size_t)conns, sizeof *ids);
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)(conns * (duration_s * 1000 / interval_ms + 2)));
    if (!ids || !lat) return 1;
    long rss0 = status_field("VmRSS");
    long heap0, free0, heap_idle, free_idle, heap_after, free_after, heap_idle2, free_idle2;
    heap_kib(&heap0, &free0);

    /* ---- open ---- */
    uint64_t t0 = now_ns();
    for (long i = 0; i < conns; i++) {
        ids[i] = ws_open_async(url, opts);
        if (ids[i] < 0) die("ws_open_async");
    }
    int first = ids[0];
    long opened = 0, max_threads = 0;
    ws_event ev;
    while (opened < conns) {
        int r = ws_next_event(q, &ev, 30000);
        if (r != WS_OK) die("waiting for open events");
        if (ev.type == WS_EV_OPEN) opened++;
        else if (ev.type == WS_EV_ERROR) {
            fprintf(stderr, "scale: socket %d: %s\n", ev.socket, (const char *)ev.data);
            return 1;
        }
    }
    double open_s = (double)(now_ns() - t0) / 1e9;
    long th = status_field("Threads");
    if (th > max_threads) max_threads = th;
    usleep(1000 * 1000);
    long rss_idle = status_field("VmRSS");
    heap_kib(&heap_idle, &free_idle);

    /* ---- exchange: socket i sends at i*interval/conns + k*interval ---- */
    uint64_t interval = (uint64_t)interval_ms * 1000000ull;
    uint64_t start = now_ns(), end = start + (uint64_t)duration_s * 1000000000ull;
    long next_i = 0, round = 0, sent = 0, got = 0, nlat = 0;
    char *msg = malloc(size > 64 ? size : 64);
    if (!msg) return 1;
    for (;;) {
        uint64_t now = now_ns();
        /* send everything that is due */
        while (now < end) {
            uint64_t due = start + (uint64_t)round * interval + (uint64_t)next_i * interval / (uint64_t)conns;
            if (due > now) break;
            int len = make_message(msg, size, now_ns(), next_i, round);
            if (ws_write(ids[next_i], msg, (size_t)len, WS_TEXT) != WS_OK) die("ws_write");
            sent++;
            if (++next_i == conns) {
                next_i = 0;
                round++;
            }
        }
        if (now >= end && got == sent) break;
        if (now >= end + 10000000000ull) {
            fprintf(stderr, "scale: %ld of %ld echoes missing after 10 s\n", sent - got, sent);
            return 1;
        }
        int r = ws_next_event(q, &ev, 1);
        if (r == WS_TIMEOUT) continue;
        if (r != WS_OK) die("ws_next_event");
        if (ev.type == WS_EV_MESSAGE) {
            unsigned long long ts = strtoull((const char *)ev.data, NULL, 10);
            lat[nlat++] = now_ns() - ts;
            got++;
        } else if (ev.type == WS_EV_ERROR || ev.type == WS_EV_CLOSE) {
            fprintf(stderr, "scale: socket %d: unexpected event %d (%s)\n", ev.socket, ev.type, (const char *)ev.data);
            return 1;
        }
        th = status_field("Threads");
        if (th > max_threads) max_threads = th;
    }
    double run_s = (double)(now_ns() - start) / 1e9;
    usleep(500 * 1000);
    long rss_after = status_field("VmRSS");
    heap_kib(&heap_after, &free_after);
    sleep((unsigned)idle_s);
    long rss_idle2 = status_field("VmRSS");
    heap_kib(&heap_idle2, &free_idle2);

    /* ---- close ---- */
    uint64_t tc = now_ns();
    for (long i = 0; i < conns; i++)
        if (ws_close(ids[i], 1000, NULL) != WS_OK) die("ws_close");
    double close_s = (double)(now_ns() - tc) / 1e9;
    long closes = 0;
    while (ws_next_event(q, &ev, 0) == WS_OK)
        if (ev.type == WS_EV_CLOSE) closes++;
    ws_queue_destroy(q);

    qsort(lat, (size_t)nlat, sizeof *lat, cmp_u64);
    double p50 = nlat ? (double)lat[nlat / 2] / 1000.0 : 0, p99 = nlat ? (double)lat[(size_t)(nlat * 99 / 100)] / 1000.0 : 0;
    double mx = nlat ? (double)lat[nlat - 1] / 1000.0 : 0;
    double per_conn = (double)(rss_idle - rss0) / (double)conns;
    double per_conn_after = (double)(rss_after - rss0) / (double)conns;
    double per_conn_idle2 = (double)(rss_idle2 - rss0) / (double)conns;
    printf("connections           %ld (first socket %d)\n", conns, first);
    printf("open                  %.2f s (%.0f connections/s, async, one queue)\n", open_s, (double)conns / open_s);
    printf("RSS per idle conn     %.1f KiB (after open), %.1f KiB (after the exchange), %.1f KiB (idle %ld s after it)\n",
           per_conn, per_conn_after, per_conn_idle2, idle_s);
    if (heap0 >= 0)
        printf("heap per conn         %.1f / %.1f / %.1f KiB in use, %.1f / %.1f / %.1f KiB free but held (same three points)\n",
               (double)(heap_idle - heap0) / (double)conns, (double)(heap_after - heap0) / (double)conns,
               (double)(heap_idle2 - heap0) / (double)conns, (double)(free_idle - free0) / (double)conns,
               (double)(free_after - free0) / (double)conns, (double)(free_idle2 - free0) / (double)conns);
    printf("messages of           %zu bytes%s%s\n", size ? size : (size_t)20, compress ? ", compression " : "", compress ? compress : "");
    printf("threads (max)         %ld\n", max_threads);
    printf("messages              %ld sent, %ld echoed in %.1f s (%.0f msg/s)\n", sent, got, run_s, (double)got / run_s);
    printf("round trip            p50 %.0f us, p99 %.0f us, max %.0f us\n", p50, p99, mx);
    printf("close                 %.2f s for all, %ld close events\n", close_s, closes);
    printf("{\"connections\":%ld,\"open_s\":%.3f,\"rss_per_idle_conn_kib\":%.1f,\"rss_per_conn_after_kib\":%.1f,\"rss_per_conn_idle_kib\":%.1f,"
           "\"heap_per_conn_idle_kib\":%.1f,\"threads_max\":%ld,\"messages\":%ld,\"rtt_p50_us\":%.0f,\"rtt_p99_us\":%.0f,\"rtt_max_us\":%.0f,\"close_s\":%.3f}\n",
           conns, open_s, per_conn, per_conn_after, per_conn_idle2,
           heap0 >= 0 ? (double)(heap_idle2 - heap0) / (double)conns : -1.0, max_threads, got, p50, p99, mx, close_s);
    free(ids);
    free(lat);
    free(msg);
    return got == sent ? 0 : 1;
}
