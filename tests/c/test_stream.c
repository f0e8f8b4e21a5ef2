/*
 * Messages in pieces through the C API, under ASan/UBSan: ws_write_part
 * sends a 1 MiB message in 64 KiB pieces (the echo server gets it as
 * fragments and echoes it whole); ws_read_part reads it back in 1000-byte
 * pieces with offsets and the last flag; UTF-8 split across pieces both
 * ways; the unfinished-message rules; a "streamReceive" socket through a
 * queue (WS_EV_MESSAGE_PART).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define BIG (1u << 20)

static void big_message_in_pieces(const struct wst_server *echo)
{
    int s = wst_open(echo->url, NULL);
    unsigned char *msg = malloc(BIG), *back = malloc(BIG);
    if (s < 0 || !CHECK(msg && back)) {
        free(msg);
        free(back);
        return;
    }
    wst_fill(msg, BIG, 11);
    for (size_t off = 0; off < BIG; off += 65536) {
        int flags = (off == 0 ? WS_BINARY : 0) | (off + 65536 < BIG ? WS_CONT : 0);
        CHECK_EQ(ws_write_part(s, msg + off, 65536, flags), WS_OK);
        if (off == 0)
            CHECK_ERR(ws_write(s, "x", 1, WS_TEXT), WS_ERROR, WS_E_MESSAGE_UNFINISHED);
    }
    size_t got = 0;
    for (;;) {
        ws_part p;
        if (!CHECK_EQ(ws_read_part(s, back + got, got + 1000 <= BIG ? 1000 : BIG - got, &p, 5000), WS_OK))
            break;
        CHECK_EQ(p.offset, got);
        CHECK_EQ(p.type, WS_BINARY);
        got += p.len;
        if (got == 1000) {
            const void *d;
            size_t n;
            CHECK_ERR(ws_read(s, &d, &n, NULL, 0), WS_ERROR, WS_E_MESSAGE_UNFINISHED);
        }
        if (p.last)
            break;
    }
    CHECK_EQ(got, BIG);
    CHECK(memcmp(msg, back, BIG) == 0);
    CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    free(msg);
    free(back);
}

static void utf8_split_both_ways(const struct wst_server *echo)
{
    int s = wst_open(echo->url, NULL);
    if (s < 0)
        return;
    const char *text = "gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x8c\x8d!"; /* "grüße 🌍!" */
    size_t len = strlen(text);
    /* split inside ü and inside the emoji */
    CHECK_EQ(ws_write_part(s, text, 3, WS_TEXT | WS_CONT), WS_OK);
    CHECK_ERR(ws_write_part(s, "\xff", 1, WS_CONT), WS_ERROR, WS_E_INVALID_ARGUMENT);
    CHECK_EQ(ws_write_part(s, text + 3, 7, WS_CONT), WS_OK);
    CHECK_EQ(ws_write_part(s, text + 10, len - 10, 0), WS_OK);
    char out[64];
    size_t got = 0;
    for (;;) {
        ws_part p;
        /* 5-byte buffer: pieces end on code point boundaries */
        if (!CHECK_EQ(ws_read_part(s, out + got, 5, &p, 5000), WS_OK))
            break;
        CHECK_EQ(p.type, WS_TEXT);
        got += p.len;
        if (p.last)
            break;
    }
    CHECK(got == len && memcmp(out, text, len) == 0);
    CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
}

static void pieces_as_events(const struct wst_server *echo)
{
    int q = ws_queue_create();
    char opts[96];
    snprintf(opts, sizeof opts, "{\"queue\":%d,\"streamReceive\":true}", q);
    int s = wst_open(echo->url, opts);
    if (s < 0)
        return;
    ws_event ev;
    WST_EXPECT_EVENT(q, WS_EV_OPEN, 3000, &ev);
    static unsigned char msg[300000];
    wst_fill(msg, sizeof msg, 5);
    CHECK_EQ(ws_write(s, msg, sizeof msg, WS_BINARY), WS_OK);
    size_t got = 0;
    while (WST_EXPECT_EVENT(q, WS_EV_MESSAGE_PART, 5000, &ev)) {
        CHECK_EQ(ev.rtt_us, (long long)got);
        CHECK(got + ev.len <= sizeof msg && memcmp(msg + got, ev.data, ev.len) == 0);
        got += ev.len;
        if (ev.code == 1)
            break;
    }
    CHECK_EQ(got, sizeof msg);
    CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    CHECK_EQ(ws_queue_destroy(q), WS_OK);
}

int main(int argc, char **argv)
{
    wst_init(argc, argv, 60);
    struct wst_server echo;
    if (wst_echo_start(&echo) != 0)
        return wst_result();
    big_message_in_pieces(&echo);
    utf8_split_both_ways(&echo);
    pieces_as_events(&echo);
    wst_echo_stop(&echo);
    return wst_result();
}
