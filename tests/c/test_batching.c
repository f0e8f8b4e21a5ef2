/*
 * WS_MORE batching: messages written with WS_MORE are queued, not sent,
 * until ws_flush() or a write without the flag; then all arrive whole and in
 * order. The C mini server counts what reaches the wire; the echo server
 * checks content and order end to end.
 */
#include <stdio.h>
#include <string.h>

#include "miniserver.h"
#include "testutil.h"

#define BATCH 100

/* What the counting server saw. */
struct seen {
    int frames;    /* data frames received */
    int in_order;  /* 1 while every frame was "message <frames>" */
};

static void counting(struct ms_conn *c, void *arg)
{
    struct seen *seen = arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    for (;;) {
        unsigned b0;
        unsigned char buf[64];
        size_t len;
        if (ms_read_frame(c, &b0, buf, sizeof buf - 1, &len, 30000) != 1)
            return;
        if ((b0 & 0x0f) == 0x8) {
            ms_send_frame(c, 0x88, buf, len >= 2 ? 2 : 0);
            return; /* the server closes TCP first */
        }
        int n = __atomic_load_n(&seen->frames, __ATOMIC_SEQ_CST);
        char want[32];
        int wl = snprintf(want, sizeof want, "message %d", n);
        if (b0 != 0x81 && b0 != 0x82)
            seen->in_order = 0;
        if ((size_t)wl != len || memcmp(buf, want, len) != 0)
            seen->in_order = 0;
        __atomic_store_n(&seen->frames, n + 1, __ATOMIC_SEQ_CST);
    }
}

static int frames_seen(struct seen *seen)
{
    return __atomic_load_n(&seen->frames, __ATOMIC_SEQ_CST);
}

/* Waits until the server has seen `n` frames (5 s at most). */
static int wait_frames(struct seen *seen, int n)
{
    int64_t deadline = wst_now_ms() + 5000;
    while (frames_seen(seen) < n && wst_now_ms() < deadline)
        wst_sleep_ms(5);
    return frames_seen(seen);
}

static int write_numbered(int s, int first, int count, int type)
{
    for (int i = first; i < first + count; i++) {
        char m[32];
        int n = snprintf(m, sizeof m, "message %d", i);
        if (!CHECK_EQ(ws_write(s, m, (size_t)n, type), WS_OK))
            return 0;
    }
    return 1;
}

static int read_numbered(int s, int first, int count, int type)
{
    for (int i = first; i < first + count; i++) {
        char want[32];
        int n = snprintf(want, sizeof want, "message %d", i);
        const void *p;
        size_t len;
        int t;
        if (!CHECK_EQ(ws_read(s, &p, &len, &t, 10000), WS_OK))
            return 0;
        if (!CHECK_EQ(len, (size_t)n) || !CHECK_EQ(t, type) || !CHECK(memcmp(p, want, len) == 0))
            return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    struct miniserver ms;
    struct seen seen = {0, 1};
    struct wst_server srv;
    int s;

    wst_init(argc, argv, 60);

    /* --- what reaches the wire --- */
    if (ms_start(&ms, counting, &seen) != 0)
        return wst_result();
    s = wst_open(ms.url, NULL);
    if (s > 0) {
        CHECK_EQ(ws_flush(s, 0), WS_OK); /* nothing queued: no-op */
        CHECK_EQ(ws_flush(s, -1), WS_OK);
        if (write_numbered(s, 0, BATCH, WS_TEXT | WS_MORE)) {
            wst_sleep_ms(300);
            CHECK_EQ(frames_seen(&seen), 0); /* queued, not sent */
            CHECK_EQ(ws_flush(s, 10000), WS_OK);
            CHECK_EQ(wait_frames(&seen, BATCH), BATCH);
        }
        /* WS_MORE, then a plain write: sends the queue and itself. */
        if (write_numbered(s, BATCH, 10, WS_BINARY | WS_MORE)) {
            wst_sleep_ms(200);
            CHECK_EQ(frames_seen(&seen), BATCH);
            if (write_numbered(s, BATCH + 10, 1, WS_BINARY))
                CHECK_EQ(wait_frames(&seen, BATCH + 11), BATCH + 11);
        }
        /* Queued at ws_close: sent before the close frame. */
        if (write_numbered(s, BATCH + 11, 3, WS_TEXT | WS_MORE))
            CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        else
            ws_close(s, 0, NULL);
        CHECK_EQ(wait_frames(&seen, BATCH + 14), BATCH + 14);
        CHECK(seen.in_order);
    }
    ms_stop(&ms);

    /* --- end to end through the echo server --- */
    if (wst_echo_start(&srv) != 0)
        return wst_result();
    s = wst_open(srv.url, NULL);
    if (s > 0) {
        if (write_numbered(s, 0, BATCH, WS_TEXT | WS_MORE) && CHECK_EQ(ws_flush(s, 10000), WS_OK))
            read_numbered(s, 0, BATCH, WS_TEXT);

        /* Mixed types and a large queued message. */
        static unsigned char big[300000];
        wst_fill(big, sizeof big, 5);
        CHECK_EQ(ws_write(s, "first", 5, WS_TEXT | WS_MORE), WS_OK);
        CHECK_EQ(ws_write(s, big, sizeof big, WS_BINARY | WS_MORE), WS_OK);
        CHECK_EQ(ws_write(s, "last", 4, WS_TEXT | WS_MORE), WS_OK);
        CHECK_EQ(ws_flush(s, 10000), WS_OK);
        const void *p;
        size_t len;
        int t;
        if (CHECK_EQ(ws_read(s, &p, &len, &t, 10000), WS_OK))
            CHECK(t == WS_TEXT && len == 5 && memcmp(p, "first", 5) == 0);
        if (CHECK_EQ(ws_read(s, &p, &len, &t, 10000), WS_OK))
            CHECK(t == WS_BINARY && len == sizeof big && memcmp(p, big, sizeof big) == 0);
        if (CHECK_EQ(ws_read(s, &p, &len, &t, 10000), WS_OK))
            CHECK(t == WS_TEXT && len == 4 && memcmp(p, "last", 4) == 0);

        /* Invalid flag combinations are rejected. */
        CHECK_ERR(ws_write(s, "x", 1, WS_MORE), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_ERR(ws_write(s, "x", 1, WS_TEXT | 0x1000), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_ERR(ws_write(s, "x", 1, 0), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_ERR(ws_write(s, "x", 1, 3), WS_ERROR, WS_E_INVALID_ARGUMENT);
        /* ...and nothing of them was sent: the next echo is "after". */
        if (CHECK_EQ(ws_write(s, "after", 5, WS_TEXT), WS_OK) &&
            CHECK_EQ(ws_read(s, &p, &len, &t, 10000), WS_OK))
            CHECK(len == 5 && memcmp(p, "after", 5) == 0);

        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    wst_echo_stop(&srv);
    return wst_result();
}
