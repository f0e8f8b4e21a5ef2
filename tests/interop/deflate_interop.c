/*
 * deflate_interop.c - permessage-deflate against a third-party server: opens
 * URL with the "compression" option OPTIONS (a JSON value), checks the
 * parameters the server agreed to, then echoes COUNT pseudo-random messages
 * (text and binary, compressible and incompressible, 0 B to 1 MiB: the
 * edge sizes 0, 1, 125, 126, 65535, 65536 and 1 MiB first, then 95 % spread
 * over the powers of two up to 64 KiB and 5 % from 64 KiB to 1 MiB) and
 * compares every echo bit for bit.
 *
 *   deflate_interop URL OPTIONS EXPECT [COUNT [SEED]]
 *
 *   OPTIONS  e.g. true or {"clientMaxWindowBits":10}
 *   EXPECT   the agreed "cbits,sbits,cnct,snct" (e.g. 15,15,0,0), "off"
 *            when the server must decline, "rejected" when it must refuse
 *            the upgrade (a server that accepts no offer of this client)
 *
 * Prints one line, "deflate-interop: URL OPTIONS: N messages, B bytes each
 * way, sent compressed to W bytes (ratio R)", or the reason it failed (exit
 * status 1). Uses the public API only.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsclient.h"

static uint64_t rng;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Message k: type and bytes (valid UTF-8 for text). */
static size_t make(long k, unsigned char *buf, size_t cap, int *type)
{
    static const size_t edges[] = {0, 1, 125, 126, 65535, 65536, (size_t)1 << 20};
    static const char *const words[] = {"temp", "plant", "line", "motor", "current", "pressure", "valve",
                                        "open", "closed", "good", "bad", "\xc3\xa9t\xc3\xa9", "gr\xc3\xbc\xc3\x9f" "e",
                                        "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    size_t n;
    if (k < (long)(sizeof edges / sizeof edges[0])) {
        n = edges[k];
    } else if (next() % 20 == 0) { /* 64 KiB .. 1 MiB */
        n = ((size_t)1 << 16) + (size_t)(next() % (((size_t)1 << 20) - ((size_t)1 << 16) + 1));
    } else { /* 0 .. 64 KiB, evenly over the powers of two */
        int e = (int)(next() % 17);
        n = e == 0 ? 0 : (size_t)1 << (e - 1);
        if (n > 1) n += (size_t)(next() % n);
    }
    if (n > cap) n = cap;
    int kind = (int)(next() % 4);
    *type = kind < 2 ? WS_TEXT : WS_BINARY;
    size_t i = 0;
    if (kind < 2) { /* text: words and numbers, some non-ASCII */
        while (i < n) {
            const char *w = words[next() % (sizeof words / sizeof words[0])];
            char tmp[64];
            int len = snprintf(tmp, sizeof tmp, "%s:%u ", w, (unsigned)(next() % 1000));
            if (i + (size_t)len > n) { /* pad with ASCII */
                while (i < n) buf[i++] = 'x';
                break;
            }
            memcpy(buf + i, tmp, (size_t)len);
            i += (size_t)len;
        }
    } else if (kind == 2) { /* incompressible */
        for (; i < n; i++) buf[i] = (unsigned char)(next() >> 24);
    } else { /* repetitive binary */
        unsigned char period = (unsigned char)(1 + next() % 200);
        for (; i < n; i++) buf[i] = (unsigned char)(i % period);
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: deflate_interop URL OPTIONS EXPECT [COUNT [SEED]]\n");
        return 2;
    }
    const char *url = argv[1], *zopt = argv[2], *expect = argv[3];
    long count = argc > 4 ? atol(argv[4]) : 1000;
    rng = argc > 5 ? strtoull(argv[5], NULL, 10) : 0x9E3779B97F4A7C15ull;
    if (rng == 0) rng = 1;
    char opts[1024];
    snprintf(opts, sizeof opts, "{\"timeout\": 10000, \"sendTimeout\": 30000, \"compression\": %s}", zopt);
    int s = ws_open(url, opts);
    if (!strcmp(expect, "rejected")) {
        if (s >= 0 || ws_last_error_code() != WS_E_UPGRADE_REJECTED) {
            fprintf(stderr, "deflate-interop: %s %s: expected the upgrade to be refused, got %d (%s)\n", url, zopt, s,
                    ws_error_name(ws_last_error_code()));
            if (s >= 0) ws_close(s, 1000, NULL);
            return 1;
        }
        printf("deflate-interop: %s %s: refused as expected (%s)\n", url, zopt, ws_last_error());
        return 0;
    }
    if (s < 0) {
        fprintf(stderr, "deflate-interop: %s %s: open: %s (%s)\n", url, zopt, ws_last_error(),
                ws_error_name(ws_last_error_code()));
        return 1;
    }
    ws_info info;
    if (ws_get_info(s, &info, sizeof info) != WS_OK) return 1;
    char got[64];
    if (info.compression)
        snprintf(got, sizeof got, "%d,%d,%d,%d", info.client_max_window_bits, info.server_max_window_bits,
                 info.client_no_context_takeover, info.server_no_context_takeover);
    else
        snprintf(got, sizeof got, "off");
    if (strcmp(got, expect) != 0) {
        const char *h = ws_response_header(s, "Sec-WebSocket-Extensions");
        fprintf(stderr, "deflate-interop: %s %s: agreed %s, expected %s (response: %s)\n", url, zopt, got, expect,
                h ? h : "none");
        ws_close(s, 1000, NULL);
        return 1;
    }
    size_t cap = (size_t)1 << 20;
    unsigned char *buf = malloc(cap);
    if (!buf) return 1;
    unsigned long long total = 0;
    for (long k = 0; k < count; k++) {
        int type;
        size_t n = make(k, buf, cap, &type);
        if (ws_write(s, buf, n, type) != WS_OK) {
            fprintf(stderr, "deflate-interop: %s %s: message %ld (%zu bytes): write: %s\n", url, zopt, k, n,
                    ws_last_error());
            return 1;
        }
        const void *data;
        size_t len;
        int ty;
        int r = ws_read(s, &data, &len, &ty, 30000);
        if (r != WS_OK) {
            fprintf(stderr, "deflate-interop: %s %s: message %ld (%zu bytes): read: %d %s\n", url, zopt, k, n, r,
                    ws_last_error());
            return 1;
        }
        if (ty != type || len != n || (n && memcmp(data, buf, n) != 0)) {
            size_t at = 0;
            while (at < n && at < len && ((const unsigned char *)data)[at] == buf[at]) at++;
            fprintf(stderr, "deflate-interop: %s %s: message %ld: echo differs (type %d/%d, %zu/%zu bytes, at %zu)\n",
                    url, zopt, k, ty, type, len, n, at);
            return 1;
        }
        total += n;
    }
    if (ws_get_info(s, &info, sizeof info) != WS_OK) return 1;
    double ratio = info.wire_bytes_sent ? (double)info.bytes_sent / (double)info.wire_bytes_sent : 0;
    if (ws_close(s, 1000, NULL) != WS_OK) {
        fprintf(stderr, "deflate-interop: %s %s: close: %s\n", url, zopt, ws_last_error());
        return 1;
    }
    printf("deflate-interop: %s %s: agreed %s, %ld messages, %llu bytes each way, sent as %lld (ratio %.2f), "
           "received as %lld\n",
           url, zopt, got, count, total, (long long)info.wire_bytes_sent, ratio, (long long)info.wire_bytes_received);
    free(buf);
    return 0;
}
