/* Helpers shared by the streaming benchmark's clients (C and C++): the
 * command line, the byte stream every client sends, its validation, the
 * one-line JSON report.
 *
 * The stream: byte k of what a client sends (counted over the whole run,
 * across messages) is pattern[k % PATTERN_PERIOD], a fixed pseudo-random
 * sequence. The reader compares every byte it gets with the byte at the
 * same offset (memcmp against the pattern), so a lost, duplicated,
 * reordered or altered byte anywhere fails the run; the byte count and the
 * message boundaries are checked too. PATTERN_PERIOD is not a multiple of
 * any piece size, so neighbouring pieces carry different bytes.
 *
 * --tamper K makes the writer send byte K wrong (the run must then fail):
 * the self-test proves with it that the validation is live. */
#ifndef STREAM_COMMON_H
#define STREAM_COMMON_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PATTERN_PERIOD ((size_t)1048573) /* a prime just under 1 MiB */
#define MAX_PIECE ((size_t)16 << 20)

struct sargs {
    const char *url;
    char host[256];
    int port;
    char path[512];
    const char *mode;    /* "pieces" or "whole" */
    uint64_t bytes;      /* total bytes each way */
    size_t piece;        /* bytes per piece (pieces) or per message (whole) */
    int64_t tamper;      /* -1: none */
    const char *options; /* wsclient only: ws_open options, NULL: the mode's */
    unsigned timeout_s;  /* the whole run, else the process dies (SIGALRM) */
    unsigned batch;      /* wsclient pieces: WS_MORE on all but every batch-th piece (0/1: none) */
    size_t read_cap;     /* wsclient pieces: ws_read_part buffer (default --piece) */
};

static void s_die(const char *msg) {
    fprintf(stderr, "error: %s\n", msg);
    exit(2);
}

static void s_usage(void) {
    s_die("usage: --url ws://127.0.0.1:PORT/ --mode pieces|whole --bytes N --piece S [--tamper K] [--options JSON] "
          "[--timeout-s T]");
}

static void s_parse(int argc, char **argv, struct sargs *a) {
    memset(a, 0, sizeof *a);
    a->tamper = -1;
    a->timeout_s = 300;
    a->mode = "pieces";
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc) s_usage();
        const char *v = argv[++i];
        if (!strcmp(k, "--url")) a->url = v;
        else if (!strcmp(k, "--mode")) a->mode = v;
        else if (!strcmp(k, "--bytes")) a->bytes = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--piece")) a->piece = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--tamper")) a->tamper = strtoll(v, NULL, 10);
        else if (!strcmp(k, "--options")) a->options = v;
        else if (!strcmp(k, "--timeout-s")) a->timeout_s = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--batch")) a->batch = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--read-cap")) a->read_cap = strtoull(v, NULL, 10);
        else s_usage();
    }
    if (!a->url || a->bytes == 0 || a->piece == 0 || a->piece > MAX_PIECE) s_usage();
    if (a->read_cap == 0) a->read_cap = a->piece;
    if (a->read_cap > MAX_PIECE) s_usage();
    if (strcmp(a->mode, "pieces") && strcmp(a->mode, "whole")) s_usage();
    if (!strcmp(a->mode, "whole") && a->bytes % a->piece) s_die("--bytes must be a multiple of --piece in whole mode");
    const char *p = strstr(a->url, "://");
    p = p ? p + 3 : a->url;
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    char hp[256];
    if (hl >= sizeof hp) s_die("url too long");
    memcpy(hp, p, hl);
    hp[hl] = 0;
    char *colon = strrchr(hp, ':');
    if (!colon) s_die("url needs a port");
    *colon = 0;
    snprintf(a->host, sizeof a->host, "%s", hp);
    a->port = atoi(colon + 1);
    snprintf(a->path, sizeof a->path, "%s", slash ? slash : "/");
    /* a hang is a failure, never a stuck benchmark */
    signal(SIGALRM, SIG_DFL);
    alarm(a->timeout_s);
}

/* PATTERN_PERIOD + MAX_PIECE bytes, so that the bytes at any offset k,
 * up to MAX_PIECE of them, are contiguous at pattern + k % PATTERN_PERIOD. */
static unsigned char *s_pattern(void) {
    size_t n = PATTERN_PERIOD + MAX_PIECE;
    unsigned char *p = (unsigned char *)malloc(n);
    if (!p) s_die("out of memory");
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < PATTERN_PERIOD; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 32);
    }
    for (size_t i = PATTERN_PERIOD; i < n; i++) p[i] = p[i - PATTERN_PERIOD];
    return p;
}

/* The bytes to send at stream offset `off` (`len` <= MAX_PIECE): a pointer
 * into the pattern, or, when the tampered byte falls inside, a copy in
 * `scratch` (MAX_PIECE bytes) with that byte flipped. */
static inline const unsigned char *s_send_bytes(const unsigned char *pat, const struct sargs *a, uint64_t off, size_t len,
                                         unsigned char *scratch) {
    const unsigned char *src = pat + off % PATTERN_PERIOD;
    if (a->tamper < 0 || (uint64_t)a->tamper < off || (uint64_t)a->tamper >= off + len) return src;
    memcpy(scratch, src, len);
    scratch[a->tamper - off] ^= 0x20;
    return scratch;
}

/* Checks `len` received bytes at stream offset `off`; exits on a mismatch. */
static inline void s_check(const unsigned char *pat, uint64_t off, const unsigned char *got, size_t len) {
    if (len > MAX_PIECE) s_die("piece larger than the check window");
    const unsigned char *want = pat + off % PATTERN_PERIOD;
    if (memcmp(got, want, len) != 0) {
        size_t i = 0;
        while (got[i] == want[i]) i++;
        fprintf(stderr, "error: validation: mismatch at byte %llu of the stream (got 0x%02x, sent 0x%02x)\n",
                (unsigned long long)(off + i), got[i], want[i]);
        exit(3);
    }
}

static inline uint64_t s_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double s_tv(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

/* One JSON line on stdout: MB/s is bytes (one direction) / seconds / 10^6;
 * CPU is the whole process's (every thread's) user and system time during
 * the measured part. */
static void s_report(const char *client, const struct sargs *a, uint64_t ns, const struct rusage *r0,
                     const struct rusage *r1) {
    double s = (double)ns / 1e9;
    printf("{\"client\":\"%s\",\"mode\":\"%s\",\"bytes\":%llu,\"piece\":%zu,\"seconds\":%.6f,\"mb_per_s\":%.1f,"
           "\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f}\n",
           client, a->mode, (unsigned long long)a->bytes, a->piece, s, (double)a->bytes / s / 1e6,
           s_tv(r1->ru_utime) - s_tv(r0->ru_utime), s_tv(r1->ru_stime) - s_tv(r0->ru_stime));
    fflush(stdout);
}

#endif
