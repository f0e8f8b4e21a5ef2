/* wsclient-bench: the shared benchmark's client contract (see
 * ../shared/bench/README.md, "Contract") implemented through wsclient's
 * public C API only.
 *
 *   wsclient-bench --url ws://127.0.0.1:PORT/ --workload rtt|pipeline|bulk|connect
 *                  --count N --size S [--window 64]
 *   wsclient-bench --options JSON ...  (first: ws_open options, no spaces,
 *                  e.g. --options {"busyPoll":50} for busy polling)
 *
 * rtt / bulk: ws_write one message, ws_read its echo (lent buffer, no copy).
 * pipeline:   queue messages with WS_MORE until 64 are in flight, put them on
 *             the wire with one ws_flush, then read until 32 are in flight.
 * connect:    ws_open, one text echo, ws_close (client-initiated closing
 *             handshake; ws_close waits for the server to close TCP).
 * Every echo is validated by bench_common.h (stamp always, whole payload
 * every 8th message); any failure exits non-zero without JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "wsclient.h"

static struct bench_args A;
static unsigned char *base, *txbuf;
static const char *options; /* --options JSON, NULL: the defaults */

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
    bench_make_payload(i, base, A.size, txbuf);
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
    bench_check_echo(i, (const unsigned char *)data, len, base, A.size);
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "--options")) { /* ours, before the contract's */
        options = argv[2];
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    bench_parse_args(argc, argv, &A);
    base = bench_base_payload(A.size);
    txbuf = (unsigned char *)malloc(A.size ? A.size : 1);
    if (!txbuf) bench_die("oom");
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
                    bench_make_payload(sent, base, A.size, txbuf);
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
                bench_make_payload(i, base, A.size, txbuf);
                uint64_t ts = bench_now_ns();
                if (ws_write(s, txbuf, A.size, type) != WS_OK) fail("ws_write");
                recv_check(s, i);
                if (lat) lat[i] = bench_now_ns() - ts;
            }
        }
        t1 = bench_now_ns();
        if (ws_close(s, 1000, NULL) != WS_OK) fail("ws_close");
    }
    bench_report("wsclient", &A, t1 - t0, lat, lat ? A.count : 0);
    free(lat);
    free(txbuf);
    free(base);
    return 0;
}
