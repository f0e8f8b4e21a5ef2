/*
 * Echo text and binary messages of the sizes around the frame header
 * boundaries (0, 1, 125, 126, 65535, 65536) and 1 MiB through the echo
 * server, read back with ws_read() (lent buffer) and ws_read_into() (own
 * buffer). Built twice: against libwsclient.so (c_echo) and libwsclient.a
 * (c_echo_static).
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])

int main(int argc, char **argv)
{
    struct wst_server srv;
    unsigned char *msg = NULL, *back = NULL;
    int s = -1;

    wst_init(argc, argv, 60);
    msg = malloc(1 << 20);
    back = malloc(1 << 20);
    if (!CHECK(msg && back))
        goto out;
    if (wst_echo_start(&srv) != 0)
        goto out_free;
    s = wst_open(srv.url, "{\"timeout\": 10000}");
    if (s < 0)
        goto out_server;
    if (!CHECK(ws_last_error_code() == WS_E_OK && strcmp(ws_last_error(), "") == 0))
        goto out_close;

    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        /* Text via ws_read (lent buffer). */
        wst_fill_text(msg, n, (unsigned)i);
        if (!wst_echo_roundtrip(s, msg, n, WS_TEXT, 10000)) {
            wst_log("text echo of %zu bytes failed", n);
            goto out_close;
        }
        /* Binary via ws_read (any byte values). */
        wst_fill(msg, n, (unsigned)i + 100);
        if (!wst_echo_roundtrip(s, msg, n, WS_BINARY, 10000)) {
            wst_log("binary echo of %zu bytes failed", n);
            goto out_close;
        }
        /* Binary via ws_read_into with an exactly fitting buffer. */
        if (!CHECK_EQ(ws_write(s, msg, n, WS_BINARY), WS_OK))
            goto out_close;
        size_t len = (size_t)-1;
        int type = -1;
        /* cap 0 needs no buffer; other sizes read into `back`. */
        if (!CHECK_EQ(ws_read_into(s, n ? back : NULL, n, &len, &type, 10000), WS_OK))
            goto out_close;
        if (!CHECK_EQ(len, n) || !CHECK_EQ(type, WS_BINARY) ||
            !CHECK(n == 0 || memcmp(back, msg, n) == 0))
            goto out_close;
        wst_log("echoed %zu bytes (text, binary, read_into)", n);
    }

    /* A text message with multi-byte UTF-8 (2, 3 and 4 byte sequences). */
    {
        static const char utf8[] = "gr\xc3\xbc\xc3\x9f dich \xe2\x82\xac \xf0\x9f\x98\x80";
        if (!wst_echo_roundtrip(s, utf8, sizeof utf8 - 1, WS_TEXT, 10000))
            goto out_close;
    }
    /* NULL data with length 0 is allowed. */
    if (!CHECK_EQ(ws_write(s, NULL, 0, WS_TEXT), WS_OK))
        goto out_close;
    {
        const void *p = NULL;
        size_t len = 99;
        int type = 0;
        if (CHECK_EQ(ws_read(s, &p, &len, &type, 10000), WS_OK)) {
            CHECK_EQ(len, 0);
            CHECK_EQ(type, WS_TEXT);
        }
    }

    /* Pipelined: 16 x 1 MiB queued and flushed before reading anything.
     * The echoes fill the client's receive buffer while it is still
     * sending; an echo server that blocked in send() would deadlock here. */
    {
        enum { PIPELINED = 16 };
        for (int i = 0; i < PIPELINED; i++) {
            wst_fill(msg, 1 << 20, 1000u + (unsigned)i);
            if (!CHECK_EQ(ws_write(s, msg, 1 << 20, WS_BINARY | WS_MORE), WS_OK))
                goto out_close;
        }
        if (!CHECK_EQ(ws_flush(s, 20000), WS_OK))
            goto out_close;
        for (int i = 0; i < PIPELINED; i++) {
            size_t len = 0;
            int type = 0;
            wst_fill(msg, 1 << 20, 1000u + (unsigned)i);
            if (!CHECK_EQ(ws_read_into(s, back, 1 << 20, &len, &type, 20000), WS_OK) ||
                !CHECK(len == 1 << 20 && type == WS_BINARY && memcmp(back, msg, len) == 0))
                goto out_close;
        }
        wst_log("%d pipelined 1 MiB messages echoed", PIPELINED);
    }

out_close:
    {
        /* The echo server answers the close at once: no closeTimeout wait. */
        int64_t t0 = wst_now_ms();
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        CHECK(wst_now_ms() - t0 < 500);
    }
out_server:
    wst_echo_stop(&srv);
out_free:
    free(msg);
    free(back);
out:
    return wst_result();
}
