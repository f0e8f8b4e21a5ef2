/* wsclient-bench: the shared benchmark's client contract (see
 * ../shared/bench/README.md, "Contract") implemented through wsclient's
 * public C API only.
 *
 *   wsclient-bench --url ws://127.0.0.1:PORT/ --workload rtt|pipeline|bulk|connect
 *                  --count N --size S [--window 64]
 *   wsclient-bench --options JSON ...  (first: ws_open options, no spaces,
 *                  e.g. --options {"busyPoll":50} for busy polling)
 *   wsclient-bench --compress[=JSON] ...  (after --options, before the
 *                  contract's flags: offer permessage-deflate, JSON the
 *                  "compression" option, default true)
 *   wsclient-bench [--payload FILE | --messages FILE] ...  (after
 *                  --compress, before the contract's flags; one of the two):
 *     --payload:  the message body is FILE's first S bytes, repeated as
 *                 needed, instead of the contract's a..z; the stamp and the
 *                 echo checks are the contract's.
 *     --messages: FILE holds K lines of exactly S bytes each (newline
 *                 after each, not sent), e.g. the JSON tag updates of
 *                 benches/deflate/gen_tags.py; message i is line i % K with
 *                 the 16 hex digits of %016x of i written at byte 8 (the
 *                 generator's placeholder there keeps every message valid
 *                 JSON). Echo i is checked for length and that stamp
 *                 always, and compared whole (with its stamp) when
 *                 i % 8 == 0. DEFLATEBENCH_TAMPER=stamp (expect the stamp
 *                 of 6 for message 5) or =body (expect the last byte of
 *                 message 8 changed) must make the run fail: the
 *                 benchmark's self-test proves with it that the checks are
 *                 live.
 *
 * rtt / bulk: ws_write one message, ws_read its echo (lent buffer, no copy).
 * pipeline:   queue messages with WS_MORE until 64 are in flight, put them on
 *             the wire with one ws_flush, then read until 32 are in flight.
 * connect:    ws_open, one text echo, ws_close (client-initiated closing
 *             handshake; ws_close waits for the server to close TCP).
 * Every echo is validated by bench_common.h (stamp always, whole payload
 * every 8th message; with --messages the same rules at the stamp's offset
 * 8, check_msg); any failure exits non-zero without JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "wsclient.h"

static struct bench_args A;
static unsigned char *base, *txbuf, *txcheck;
static const char *options; /* --options JSON, NULL: the defaults */
static char *options_z;     /* options with "compression" (--compress) */
static const char *payload_file; /* --payload FILE */
static const char *messages_file; /* --messages FILE */

/* --messages: K lines of A.size bytes, one after another (no newlines) */
#define MSG_STAMP_OFFSET 8
static unsigned char *lines;
static size_t nlines;
static int tamper; /* DEFLATEBENCH_TAMPER: 1 stamp, 2 body */

static void load_messages(const char *path, size_t size) {
    FILE *f = fopen(path, "rb");
    if (!f) bench_die("--messages: cannot open the file");
    if (size < MSG_STAMP_OFFSET + BENCH_STAMP_LEN) bench_die("--messages: --size below 24 bytes");
    size_t cap = 0, len = 0;
    unsigned char *data = NULL;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 1 << 20;
            data = (unsigned char *)realloc(data, cap);
            if (!data) bench_die("oom");
        }
        size_t n = fread(data + len, 1, cap - len, f);
        if (n == 0) break;
        len += n;
    }
    fclose(f);
    /* every line exactly size bytes, then '\n'; packed in place */
    size_t at = 0;
    nlines = 0;
    while (at < len) {
        const unsigned char *nl = (const unsigned char *)memchr(data + at, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - (data + at)) : len - at;
        if (ll != size) {
            fprintf(stderr, "error: --messages: line %zu has %zu bytes, --size is %zu\n", nlines + 1, ll, size);
            exit(2);
        }
        memmove(data + nlines * size, data + at, size);
        nlines++;
        at += ll + (nl != NULL);
    }
    if (nlines == 0) bench_die("--messages: empty file");
    lines = data;
    const char *t = getenv("DEFLATEBENCH_TAMPER");
    if (t && !strcmp(t, "stamp")) tamper = 1;
    else if (t && !strcmp(t, "body")) tamper = 2;
    else if (t && *t) bench_die("DEFLATEBENCH_TAMPER: stamp or body");
}

/* the 16 hex digits of %016x of i */
static inline void msg_stamp(uint64_t i, unsigned char *out) {
    static const char hex[] = "0123456789abcdef";
    for (int k = 0; k < BENCH_STAMP_LEN; k++) out[k] = (unsigned char)hex[(i >> (4 * (BENCH_STAMP_LEN - 1 - k))) & 0xf];
}

/* message i (A.size bytes) into out */
static inline void make_msg(uint64_t i, unsigned char *out) {
    if (!lines) {
        bench_make_payload(i, base, A.size, out);
        return;
    }
    memcpy(out, lines + (size_t)(i % nlines) * A.size, A.size);
    msg_stamp(i, out + MSG_STAMP_OFFSET);
}

/* echo i: length, stamp, and every 8th the whole message */
static void check_msg(uint64_t i, const unsigned char *got, size_t len) {
    if (!lines) {
        bench_check_echo(i, got, len, base, A.size);
        return;
    }
    char msg[128];
    if (len != A.size) {
        snprintf(msg, sizeof msg, "echo %llu: length %zu != %zu", (unsigned long long)i, len, A.size);
        bench_die(msg);
    }
    unsigned char want[BENCH_STAMP_LEN];
    msg_stamp(tamper == 1 && i == 5 ? 6 : i, want);
    if (memcmp(got + MSG_STAMP_OFFSET, want, BENCH_STAMP_LEN)) {
        snprintf(msg, sizeof msg, "echo %llu: stamp mismatch", (unsigned long long)i);
        bench_die(msg);
    }
    if (i % BENCH_FULL_CHECK_EVERY == 0) {
        make_msg(i, txcheck);
        if (tamper == 2 && i == 8) txcheck[A.size - 1] ^= 1;
        if (memcmp(got, txcheck, A.size)) {
            snprintf(msg, sizeof msg, "echo %llu: payload content mismatch", (unsigned long long)i);
            bench_die(msg);
        }
    }
}

/* --payload: FILE's bytes repeated to fill `size` (bench_base_payload's
 * a..z otherwise). */
static unsigned char *file_payload(const char *path, size_t size) {
    FILE *f = fopen(path, "rb");
    if (!f) bench_die("--payload: cannot open the file");
    unsigned char *b = (unsigned char *)malloc(size ? size : 1);
    if (!b) bench_die("oom");
    size_t n = fread(b, 1, size, f);
    fclose(f);
    if (size && n == 0) bench_die("--payload: empty file");
    for (size_t j = n; j < size; j++) b[j] = b[j % n];
    return b;
}

static void fail(const char *what) {
    fprintf(stderr, "error: %s: %s (%s)\n", what, ws_last_error(), ws_error_name(ws_last_error_code()));
    exit(2);
}

static int open_ws(void) {
    /* defaults: no compression is ever offered; TCP_NODELAY is on;
     * maxMessageSize 64 MiB covers the bulk workload */
    int s = ws_open(A.url, options);
    if (s < 0) fail("ws_open");
    return s;
}

static void send_msg(int s, uint64_t i, int type) {
    make_msg(i, txbuf);
    if (ws_write(s, txbuf, A.size, type) != WS_OK) fail("ws_write");
}

static void recv_check(int s, uint64_t i) {
    const void *data;
    size_t len;
    int type;
    int r = ws_read(s, &data, &len, &type, -1);
    if (r != WS_OK) {
        if (r == WS_CLOSED) {
            fprintf(stderr, "error: connection closed by the server (%d)\n", ws_close_code(s));
            exit(2);
        }
        fail("ws_read");
    }
    check_msg(i, (const unsigned char *)data, len);
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "--options")) { /* ours, before the contract's */
        options = argv[2];
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    if (argc > 1 && !strncmp(argv[1], "--compress", 10) && (argv[1][10] == 0 || argv[1][10] == '=')) {
        const char *z = argv[1][10] == '=' ? argv[1] + 11 : "true";
        /* options without their closing brace, then the compression key */
        const char *o = options ? options : "{}";
        size_t ol = strlen(o);
        while (ol > 0 && o[ol - 1] != '}') ol--;
        if (ol == 0) bench_die("--options is not a JSON object");
        size_t cap = ol + strlen(z) + 32;
        options_z = (char *)malloc(cap);
        if (!options_z) bench_die("oom");
        int empty = strspn(o + 1, " \t") + 2 == ol;
        snprintf(options_z, cap, "%.*s%s\"compression\":%s}", (int)(ol - 1), o, empty ? "" : ",", z);
        options = options_z;
        argv[1] = argv[0];
        argv += 1;
        argc -= 1;
    }
    while (argc > 2 && (!strcmp(argv[1], "--payload") || !strcmp(argv[1], "--messages"))) {
        if (payload_file || messages_file) bench_die("--payload and --messages: one of them, once");
        *(argv[1][2] == 'p' ? &payload_file : &messages_file) = argv[2];
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    bench_parse_args(argc, argv, &A);
    if (messages_file) {
        load_messages(messages_file, A.size);
        base = NULL;
    } else {
        base = payload_file ? file_payload(payload_file, A.size) : bench_base_payload(A.size);
    }
    txbuf = (unsigned char *)malloc(A.size ? A.size : 1);
    txcheck = (unsigned char *)malloc(A.size ? A.size : 1);
    if (!txbuf || !txcheck) bench_die("oom");
    uint64_t *lat = NULL;
    uint64_t t0, t1;
    if (A.workload == W_CONNECT) {
        t0 = bench_now_ns();
        for (uint64_t i = 0; i < A.count; i++) {
            int s = open_ws();
            send_msg(s, i, WS_TEXT);
            recv_check(s, i);
            if (ws_close(s, 1000, NULL) != WS_OK) fail("ws_close");
        }
        t1 = bench_now_ns();
    } else {
        int s = open_ws();
        if (A.workload == W_RTT) {
            lat = (uint64_t *)malloc(A.count * sizeof *lat);
            if (!lat) bench_die("oom");
        }
        t0 = bench_now_ns();
        if (A.workload == W_PIPELINE) {
            uint64_t sent = 0, recvd = 0, w = A.window;
            while (recvd < A.count) {
                while (sent < A.count && sent - recvd < w) {
                    make_msg(sent, txbuf);
                    if (ws_write(s, txbuf, A.size, WS_TEXT | WS_MORE) != WS_OK) fail("ws_write");
                    sent++;
                }
                if (ws_flush(s, -1) != WS_OK) fail("ws_flush");
                uint64_t low = sent == A.count ? A.count : sent - w / 2;
                while (recvd < low) recv_check(s, recvd++);
            }
        } else {
            int type = A.workload == W_BULK ? WS_BINARY : WS_TEXT;
            for (uint64_t i = 0; i < A.count; i++) {
                make_msg(i, txbuf);
                uint64_t ts = bench_now_ns();
                if (ws_write(s, txbuf, A.size, type) != WS_OK) fail("ws_write");
                recv_check(s, i);
                if (lat) lat[i] = bench_now_ns() - ts;
            }
        }
        t1 = bench_now_ns();
        ws_info zi;
        if (options_z && ws_get_info(s, &zi, sizeof zi) == WS_OK) /* --compress: the ratio on stderr */
            fprintf(stderr, "compression: %s, %lld bytes sent as %lld (ratio %.2f), %lld received as %lld\n",
                    zi.compression ? "permessage-deflate" : "declined", (long long)zi.bytes_sent,
                    (long long)zi.wire_bytes_sent,
                    zi.wire_bytes_sent ? (double)zi.bytes_sent / (double)zi.wire_bytes_sent : 0.0,
                    (long long)zi.bytes_received, (long long)zi.wire_bytes_received);
        if (ws_close(s, 1000, NULL) != WS_OK) fail("ws_close");
    }
    bench_report("wsclient", &A, t1 - t0, lat, lat ? A.count : 0);
    free(lat);
    free(txbuf);
    free(txcheck);
    free(base);
    free(lines);
    free(options_z);
    return 0;
}
