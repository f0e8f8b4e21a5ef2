/*
 * Timeouts against a silent server (the C mini server): ws_read returns -2
 * with WS_E_TIMEOUT after about timeout_ms, polls with 0, and loses nothing:
 * a message whose first bytes arrived before the timeout is returned whole
 * by the next read. Also ws_open's "timeout" option against a server that
 * never answers the upgrade, and ws_close's "closeTimeout" against one that
 * never answers the close frame.
 */
#include <string.h>

#include "miniserver.h"
#include "testutil.h"

/* Generous upper bound for a deadline overshoot: sanitizers and a busy
 * 2-core machine. */
#define SLACK_MS 1500

struct sync {
    int go;     /* test -> script: send the rest */
    int sent;   /* script -> test: first part sent */
};

static int wait_flag(int *flag, int timeout_ms)
{
    int64_t deadline = wst_now_ms() + timeout_ms;
    while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST)) {
        if (wst_now_ms() > deadline)
            return -1;
        wst_sleep_ms(5);
    }
    return 0;
}

/* Upgrade, then say nothing; answer the client's close. */
static void silent(struct ms_conn *c, void *arg)
{
    (void)arg;
    if (ms_handshake(c, NULL) == 0)
        ms_wait_close(c, 30000);
}

/* Upgrade, send half a frame, wait for the test, send the rest; then the
 * same with a message split into two fragments. */
static void in_two_parts(struct ms_conn *c, void *arg)
{
    struct sync *sy = arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    /* "0123456789" as one text frame, split after 2 + 5 bytes. */
    static const unsigned char frame[] = {0x81, 10, '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'};
    ms_send_raw(c, frame, 7);
    __atomic_store_n(&sy->sent, 1, __ATOMIC_SEQ_CST);
    if (wait_flag(&sy->go, 20000) != 0)
        return;
    ms_send_raw(c, frame + 7, sizeof frame - 7);
    /* Fragments: "abc" (FIN=0) ... "def" (continuation, FIN=1). */
    __atomic_store_n(&sy->go, 0, __ATOMIC_SEQ_CST);
    ms_send_frame(c, 0x01, "abc", 3);
    __atomic_store_n(&sy->sent, 2, __ATOMIC_SEQ_CST);
    if (wait_flag(&sy->go, 20000) != 0)
        return;
    ms_send_frame(c, 0x80, "def", 3);
    ms_wait_close(c, 20000);
}

/* Read the request and never answer it. */
static void no_answer(struct ms_conn *c, void *arg)
{
    (void)arg;
    if (ms_read_request(c, 10000) == 0)
        ms_wait_eof(c, 20000);
}

/* Upgrade; never answer the close frame, never close TCP first. */
static void ignores_close(struct ms_conn *c, void *arg)
{
    (void)arg;
    if (ms_handshake(c, NULL) == 0)
        ms_wait_eof(c, 20000);
}

static void read_times_out(int s, int timeout_ms)
{
    const void *p = (const void *)&p;
    size_t len = 4242;
    int type = 4242;
    int64_t t0 = wst_now_ms();
    CHECK_ERR(ws_read(s, &p, &len, &type, timeout_ms), WS_TIMEOUT, WS_E_TIMEOUT);
    int64_t took = wst_now_ms() - t0;
    wst_log("ws_read(timeout %d ms) took %lld ms", timeout_ms, (long long)took);
    CHECK(took >= timeout_ms - 5); /* clock granularity */
    CHECK(took <= timeout_ms + SLACK_MS);
    /* Out-parameters are written only on success. */
    CHECK(p == (const void *)&p && len == 4242 && type == 4242);
}

int main(int argc, char **argv)
{
    struct miniserver ms;
    struct sync sy = {0, 0};
    int s;

    wst_init(argc, argv, 90);

    /* --- ws_read / ws_read_into time out on a silent server --- */
    if (ms_start(&ms, silent, NULL) != 0)
        return wst_result();
    s = wst_open(ms.url, NULL);
    if (s > 0) {
        read_times_out(s, 300);
        read_times_out(s, 1000);
        /* 0 polls: returns at once. */
        int64_t t0 = wst_now_ms();
        read_times_out(s, 0);
        CHECK(wst_now_ms() - t0 < 200);
        unsigned char buf[16];
        size_t len = 99;
        CHECK_ERR(ws_read_into(s, buf, sizeof buf, &len, NULL, 200), WS_TIMEOUT, WS_E_TIMEOUT);
        CHECK_EQ(len, 99);
        /* The connection is still fine after timeouts. */
        CHECK_EQ(ws_write(s, "x", 1, WS_TEXT), WS_OK);
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    ms_stop(&ms);

    /* --- a timeout loses no data: partial frame, partial message --- */
    if (ms_start(&ms, in_two_parts, &sy) != 0)
        return wst_result();
    s = wst_open(ms.url, NULL);
    if (s > 0) {
        const void *p;
        size_t len;
        int type;
        CHECK_EQ(wait_flag(&sy.sent, 10000), 0);
        wst_sleep_ms(50); /* let the half frame arrive */
        CHECK_ERR(ws_read(s, &p, &len, &type, 200), WS_TIMEOUT, WS_E_TIMEOUT);
        CHECK_ERR(ws_read(s, &p, &len, &type, 0), WS_TIMEOUT, WS_E_TIMEOUT);
        __atomic_store_n(&sy.go, 1, __ATOMIC_SEQ_CST);
        if (CHECK_EQ(ws_read(s, &p, &len, &type, 10000), WS_OK)) {
            CHECK_EQ(len, 10);
            CHECK_EQ(type, WS_TEXT);
            CHECK(memcmp(p, "0123456789", 10) == 0);
        }
        while (__atomic_load_n(&sy.sent, __ATOMIC_SEQ_CST) != 2 && wst_failures() == 0) {
            /* wait for the first fragment (bounded by the watchdog) */
            wst_sleep_ms(5);
        }
        wst_sleep_ms(50);
        unsigned char buf[16];
        size_t blen = 0;
        CHECK_ERR(ws_read_into(s, buf, sizeof buf, &blen, &type, 200), WS_TIMEOUT, WS_E_TIMEOUT);
        __atomic_store_n(&sy.go, 1, __ATOMIC_SEQ_CST);
        if (CHECK_EQ(ws_read_into(s, buf, sizeof buf, &blen, &type, 10000), WS_OK)) {
            CHECK_EQ(blen, 6);
            CHECK_EQ(type, WS_TEXT);
            CHECK(memcmp(buf, "abcdef", 6) == 0);
        }
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    ms_stop(&ms);

    /* --- ws_open "timeout": the server never answers the upgrade --- */
    if (ms_start(&ms, no_answer, NULL) != 0)
        return wst_result();
    {
        int64_t t0 = wst_now_ms();
        CHECK_ERR(ws_open(ms.url, "{\"timeout\": 400}"), WS_TIMEOUT, WS_E_TIMEOUT);
        int64_t took = wst_now_ms() - t0;
        wst_log("ws_open(timeout 400 ms) took %lld ms: %s", (long long)took, ws_last_error());
        CHECK(took >= 395 && took <= 400 + SLACK_MS);
    }
    ms_stop(&ms);

    /* --- ws_close "closeTimeout": the server ignores the close frame --- */
    if (ms_start(&ms, ignores_close, NULL) != 0)
        return wst_result();
    s = wst_open(ms.url, "{\"closeTimeout\": 300}");
    if (s > 0) {
        int64_t t0 = wst_now_ms();
        CHECK_EQ(ws_close(s, 1000, "bye"), WS_OK);
        int64_t took = wst_now_ms() - t0;
        wst_log("ws_close(closeTimeout 300 ms) took %lld ms", (long long)took);
        CHECK(took <= 300 + SLACK_MS);
        CHECK_ERR(ws_close(s, 0, NULL), WS_ERROR, WS_E_BAD_SOCKET);
    }
    ms_stop(&ms);

    return wst_result();
}
