/*
 * Issue 4, event queues, through the C API (ws_queue_create, the "queue"
 * option, ws_next_event, ws_open_async):
 *
 * 1. Order per socket: WS_EV_OPEN, every message in arrival order (text and
 *    binary, 0 bytes to several KiB), then WS_EV_CLOSE with the server's
 *    close code and reason, and nothing after it (nor after ws_close).
 * 2. A slow host: 10,000 messages (about 73 MB, beyond the library's 64 MiB
 *    of waiting payload) arrive while the host sleeps before draining; all
 *    are delivered, in order and intact, then the server's CLOSE.
 * 3. ws_open_async to a refused port: WS_EV_ERROR (WS_E_CONNECT), then
 *    WS_EV_CLOSE (closed_by WS_BY_ERROR, code 0: no connection was made),
 *    nothing after.
 * 4. ws_write / ws_ping while CONNECTING: WS_E_NOT_OPEN, nothing is sent;
 *    messages flow once WS_EV_OPEN came.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "miniserver.h"
#include "testutil.h"

static int queue_opts(char *buf, size_t cap, int q)
{
    return snprintf(buf, cap, "{\"queue\": %d}", q);
}

/* ---- 1. order ------------------------------------------------------------- */

#define ORDER_N 200
#define CLOSE_REASON "done: \xc3\xa9t\xc3\xa9" /* "done: été" */

/* Message i of the order test: type and payload (caller frees). */
static unsigned char *order_msg(int i, size_t *len, int *type)
{
    *type = i % 3 == 0 ? WS_BINARY : WS_TEXT;
    *len = *type == WS_BINARY ? (size_t)i * 37 : (size_t)i * 11;
    unsigned char *m = malloc(*len + 1);
    if (!m)
        return NULL;
    if (*type == WS_BINARY)
        wst_fill(m, *len, (unsigned)i);
    else
        wst_fill_text(m, *len, (unsigned)i);
    return m;
}

struct closing_report {
    int reply; /* the client's close code in its answer */
    int done;
};

/* Sends ORDER_N messages, then closes with 4000 CLOSE_REASON. */
static void closing_server(struct ms_conn *c, void *arg)
{
    struct closing_report *rep = arg;
    rep->reply = -1;
    if (ms_handshake(c, NULL) == 0) {
        wst_sleep_ms(50); /* not with the 101 */
        for (int i = 0; i < ORDER_N; i++) {
            size_t len;
            int type;
            unsigned char *m = order_msg(i, &len, &type);
            int r = m ? ms_send_frame(c, 0x80 | (unsigned)type, m, len) : -1;
            free(m);
            if (r != 0)
                goto out;
        }
        ms_send_frame(c, 0x88, "\x0f\xa0" CLOSE_REASON, 2 + strlen(CLOSE_REASON));
        rep->reply = ms_wait_close(c, 10000);
    }
out:
    __atomic_store_n(&rep->done, 1, __ATOMIC_SEQ_CST);
}

static void event_order(void)
{
    struct closing_report rep = {-1, 0};
    struct miniserver ms;
    int q = ws_queue_create();
    if (!CHECK(q > 0))
        return;
    if (ms_start(&ms, closing_server, &rep) != 0) {
        ws_queue_destroy(q);
        return;
    }
    char opts[64];
    queue_opts(opts, sizeof opts, q);
    int s = ws_open_async(ms.url, opts);
    if (CHECK(s > 0)) {
        ws_event ev;
        int64_t last_time = 0;
        if (WST_EXPECT_EVENT(q, WS_EV_OPEN, 5000, &ev)) {
            CHECK_EQ(ev.socket, s);
            CHECK_EQ(ev.code, 101);
            CHECK_EQ(ev.msg_type, 0);
            last_time = ev.time_us;
        }
        int ok = 1;
        for (int i = 0; i < ORDER_N && ok; i++) {
            ok = WST_EXPECT_EVENT(q, WS_EV_MESSAGE, 5000, &ev);
            if (!ok)
                break;
            size_t len;
            int type;
            unsigned char *m = order_msg(i, &len, &type);
            if (!CHECK(m != NULL))
                break;
            if (ev.socket != s || ev.msg_type != type || ev.len != len ||
                (len && memcmp(ev.data, m, len) != 0) || ev.time_us < last_time) {
                char desc[512];
                wst_ev_format(&ev, desc, sizeof desc);
                wst_fail(__FILE__, __LINE__,
                         "message %d: expected socket %d, type %d, %zu bytes; got %s", i, s, type,
                         len, desc);
                ok = 0;
            }
            last_time = ev.time_us;
            free(m);
        }
        if (ok && WST_EXPECT_EVENT(q, WS_EV_CLOSE, 5000, &ev)) {
            char desc[512];
            wst_ev_format(&ev, desc, sizeof desc);
            wst_log("final event: %s", desc);
            CHECK_EQ(ev.socket, s);
            CHECK_EQ(ev.code, 4000);
            CHECK(wst_ev_data_is(&ev, CLOSE_REASON));
            CHECK_EQ(ev.closed_by, WS_BY_SERVER);
            CHECK_EQ(ev.clean, 1);
            CHECK_EQ(ev.error, 0);
            CHECK(ev.time_us >= last_time);
        }
        WST_EXPECT_NO_EVENT(q, 700, "after the final CLOSE");
        CHECK_EQ(ws_state(s), WS_STATE_CLOSED);
        CHECK_EQ(ws_close_code(s), 4000);
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        WST_EXPECT_NO_EVENT(q, 300, "after ws_close of a socket reported closed");
    }
    CHECK_EQ(ws_queue_destroy(q), WS_OK);
    /* the script ends once the client answered the close */
    for (int i = 0; i < 500 && !__atomic_load_n(&rep.done, __ATOMIC_SEQ_CST); i++)
        wst_sleep_ms(10);
    ms_stop(&ms);
    CHECK_EQ(rep.reply, 4000); /* the client echoed the server's code */
}

/* ---- 2. a slow host --------------------------------------------------------- */

#define FLOOD_N 10000
#define FLOOD_BIG (72 * 1024)

/* Message i of the flood into `buf` (FLOOD_BIG bytes): every tenth is a
 * 72 KiB binary message (1,000 of them: 73.7 MB), the rest short text. */
static size_t flood_msg(int i, unsigned char *buf, int *type)
{
    if (i % 10 == 9) {
        *type = WS_BINARY;
        wst_fill(buf, FLOOD_BIG, (unsigned)i);
        memcpy(buf, &i, sizeof i);
        return FLOOD_BIG;
    }
    *type = WS_TEXT;
    int n = snprintf((char *)buf, FLOOD_BIG, "flood %d ", i);
    for (int k = 0; k < i % 20; k++)
        n += snprintf((char *)buf + n, (size_t)(FLOOD_BIG - n), "abcdefghij");
    return (size_t)n;
}

struct flood_report {
    int sent;
    int64_t finished_ms;
    int reply;
    int done;
};

static void flood_server(struct ms_conn *c, void *arg)
{
    struct flood_report *rep = arg;
    rep->reply = -1;
    unsigned char *buf = malloc(FLOOD_BIG);
    if (buf && ms_handshake(c, NULL) == 0) {
        wst_sleep_ms(50);
        for (int i = 0; i < FLOOD_N; i++) {
            int type;
            size_t len = flood_msg(i, buf, &type);
            /* ms_send_raw waits up to 10 s at a time for the client */
            if (ms_send_frame(c, 0x80 | (unsigned)type, buf, len) != 0)
                goto out;
            rep->sent++;
        }
        rep->finished_ms = wst_now_ms();
        ms_send_frame(c, 0x88, "\x03\xe8" "flood done", 12);
        rep->reply = ms_wait_close(c, 30000);
    }
out:
    free(buf);
    __atomic_store_n(&rep->done, 1, __ATOMIC_SEQ_CST);
}

static void slow_host(void)
{
    struct flood_report rep;
    struct miniserver ms;
    int64_t drain_start = 0;
    memset(&rep, 0, sizeof rep);
    unsigned char *want = malloc(FLOOD_BIG);
    int q = ws_queue_create();
    if (!CHECK(q > 0) || !CHECK(want != NULL))
        goto out_free;
    if (ms_start(&ms, flood_server, &rep) != 0)
        goto out_free;
    char opts[64];
    queue_opts(opts, sizeof opts, q);
    int s = wst_open(ms.url, opts);
    if (s > 0) {
        wst_sleep_ms(2000); /* a busy host */
        drain_start = wst_now_ms();
        wst_log("draining after 2 s; the server has sent %d of %d messages so far",
                __atomic_load_n(&rep.sent, __ATOMIC_SEQ_CST), FLOOD_N);
        ws_event ev;
        int ok = WST_EXPECT_EVENT(q, WS_EV_OPEN, 1000, &ev);
        int64_t last_time = ev.time_us;
        int got = 0;
        for (int i = 0; i < FLOOD_N && ok; i++) {
            if (!(ok = WST_EXPECT_EVENT(q, WS_EV_MESSAGE, 10000, &ev))) {
                wst_log("message %d did not come", i);
                break;
            }
            int type;
            size_t len = flood_msg(i, want, &type);
            if (ev.socket != s || ev.msg_type != type || ev.len != len ||
                memcmp(ev.data, want, len) != 0 || ev.time_us < last_time) {
                char desc[512];
                wst_ev_format(&ev, desc, sizeof desc);
                wst_fail(__FILE__, __LINE__, "message %d: expected type %d, %zu bytes; got %s", i,
                         type, len, desc);
                ok = 0;
                break;
            }
            last_time = ev.time_us;
            got++;
        }
        wst_log("%d of %d messages delivered in order in %lld ms of draining", got, FLOOD_N,
                (long long)(wst_now_ms() - drain_start));
        if (ok && WST_EXPECT_EVENT(q, WS_EV_CLOSE, 10000, &ev)) {
            CHECK_EQ(ev.socket, s);
            CHECK_EQ(ev.code, 1000);
            CHECK(wst_ev_data_is(&ev, "flood done"));
            CHECK_EQ(ev.closed_by, WS_BY_SERVER);
            CHECK_EQ(ev.clean, 1);
        }
        if (ok)
            WST_EXPECT_NO_EVENT(q, 300, "after the final CLOSE");
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    for (int i = 0; i < 1000 && !__atomic_load_n(&rep.done, __ATOMIC_SEQ_CST); i++)
        wst_sleep_ms(10);
    ms_stop(&ms);
    wst_log("server: sent %d, finished %+lld ms after the start of draining, close reply %d",
            rep.sent, (long long)(rep.finished_ms && drain_start ? rep.finished_ms - drain_start : 0),
            rep.reply);
    CHECK_EQ(rep.sent, FLOOD_N);
    CHECK_EQ(rep.reply, 1000);
out_free:
    if (q > 0)
        CHECK_EQ(ws_queue_destroy(q), WS_OK);
    free(want);
}

/* ---- 3. async open to a refused port ---------------------------------------- */

static void async_refused(void)
{
    int port;
    int fd = wst_refusing_port(&port);
    if (fd < 0)
        return;
    int q = ws_queue_create();
    if (!CHECK(q > 0)) {
        close(fd);
        return;
    }
    char url[64], opts[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    queue_opts(opts, sizeof opts, q);
    int64_t t0 = wst_now_ms();
    int s = ws_open_async(url, opts);
    int64_t took = wst_now_ms() - t0;
    if (CHECK(s > 0)) {
        CHECK(took < 500); /* it returns at once */
        ws_event ev;
        if (WST_EXPECT_EVENT(q, WS_EV_ERROR, 10000, &ev)) {
            wst_log("ERROR event: \"%s\"", (const char *)ev.data);
            CHECK_EQ(ev.socket, s);
            CHECK_EQ(ev.code, WS_E_CONNECT);
            CHECK(strstr((const char *)ev.data, "refused") != NULL);
            if (WST_EXPECT_EVENT(q, WS_EV_CLOSE, 3000, &ev)) {
                char desc[512];
                wst_ev_format(&ev, desc, sizeof desc);
                wst_log("CLOSE event: %s", desc);
                CHECK_EQ(ev.socket, s);
                CHECK_EQ(ev.closed_by, WS_BY_ERROR);
                CHECK_EQ(ev.clean, 0);
                CHECK_EQ(ev.error, WS_E_CONNECT);
                /* "0 when no connection was ever made" */
                if (ev.code != 0)
                    wst_fail(__FILE__, __LINE__,
                             "CLOSE.code is %d after a failed ws_open_async; the header says 0 "
                             "when no connection was ever made", ev.code);
            }
        }
        WST_EXPECT_NO_EVENT(q, 300, "after the final CLOSE of a failed attempt");
        CHECK_EQ(ws_state(s), WS_STATE_CLOSED);
        /* WS_E_NOT_OPEN: "... or its connection attempt failed" */
        CHECK_ERR(ws_write(s, "x", 1, WS_TEXT), WS_ERROR, WS_E_NOT_OPEN);
        CHECK_ERR(ws_ping(s, "x", 1), WS_ERROR, WS_E_NOT_OPEN);
        const void *p;
        size_t len;
        CHECK_ERR(ws_read(s, &p, &len, NULL, 0), WS_ERROR, WS_E_INVALID_ARGUMENT); /* event socket */
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        CHECK_ERR(ws_state(s), WS_ERROR, WS_E_BAD_SOCKET);
        WST_EXPECT_NO_EVENT(q, 200, "after ws_close");
    }
    CHECK_EQ(ws_queue_destroy(q), WS_OK);
    close(fd);
}

/* ---- 4. writes while CONNECTING ------------------------------------------- */

struct slow_report {
    int delay_ms;
    int first_len; /* length of the first message the client sent */
    char first[64];
    int reply;
    int done;
};

/* Reads the upgrade request, waits `delay_ms`, answers 101; then records the
 * first message and echoes it, and answers the close. */
static void slow_upgrade(struct ms_conn *c, void *arg)
{
    struct slow_report *rep = arg;
    rep->reply = -1;
    rep->first_len = -1;
    if (ms_read_request(c, 10000) != 0)
        goto out;
    wst_sleep_ms(rep->delay_ms);
    if (ms_send_101(c, NULL) != 0)
        goto out;
    for (;;) {
        unsigned b0;
        unsigned char buf[256];
        size_t len;
        if (ms_read_frame(c, &b0, buf, sizeof buf, &len, 10000) <= 0)
            goto out;
        size_t n = len < sizeof buf ? len : sizeof buf;
        unsigned op = b0 & 0x0f;
        if ((op == 1 || op == 2) && rep->first_len < 0) {
            rep->first_len = (int)len;
            memcpy(rep->first, buf, n < sizeof rep->first - 1 ? n : sizeof rep->first - 1);
        }
        if (op == 1 || op == 2 || op == 9) {
            ms_send_frame(c, op == 9 ? 0x8a : 0x80 | op, buf, n);
        } else if (op == 8) {
            rep->reply = len >= 2 ? buf[0] << 8 | buf[1] : 1005;
            ms_send_frame(c, 0x88, buf, len >= 2 ? 2 : 0);
            goto out;
        }
    }
out:
    __atomic_store_n(&rep->done, 1, __ATOMIC_SEQ_CST);
}

static void write_while_connecting(void)
{
    struct slow_report rep;
    struct miniserver ms;
    memset(&rep, 0, sizeof rep);
    rep.delay_ms = 700;
    int q = ws_queue_create();
    if (!CHECK(q > 0))
        return;
    if (ms_start(&ms, slow_upgrade, &rep) != 0) {
        ws_queue_destroy(q);
        return;
    }
    char opts[64];
    queue_opts(opts, sizeof opts, q);
    int s = ws_open_async(ms.url, opts);
    if (CHECK(s > 0)) {
        CHECK_EQ(ws_state(s), WS_STATE_CONNECTING);
        CHECK_ERR(ws_write(s, "too early", 9, WS_TEXT), WS_ERROR, WS_E_NOT_OPEN);
        CHECK_ERR(ws_write(s, "too early", 9, WS_BINARY | WS_MORE), WS_ERROR, WS_E_NOT_OPEN);
        CHECK_ERR(ws_ping(s, "too early", 9), WS_ERROR, WS_E_NOT_OPEN);
        ws_info info;
        memset(&info, 0, sizeof info);
        if (CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK)) {
            CHECK_EQ(info.state, WS_STATE_CONNECTING);
            CHECK_EQ(info.http_status, 0);
        }
        WST_EXPECT_NO_EVENT(q, 250, "while the server delays its 101");
        ws_event ev;
        if (WST_EXPECT_EVENT(q, WS_EV_OPEN, 5000, &ev)) {
            CHECK_EQ(ev.socket, s);
            CHECK_EQ(ev.code, 101);
            CHECK_EQ(ws_state(s), WS_STATE_OPEN);
            CHECK_EQ(ws_write(s, "now", 3, WS_TEXT), WS_OK);
            if (WST_EXPECT_EVENT(q, WS_EV_MESSAGE, 3000, &ev)) {
                CHECK_EQ(ev.socket, s);
                CHECK(wst_ev_data_is(&ev, "now"));
            }
        }
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        if (WST_EXPECT_EVENT(q, WS_EV_CLOSE, 3000, &ev)) {
            CHECK_EQ(ev.socket, s);
            CHECK_EQ(ev.closed_by, WS_BY_CLIENT);
        }
        WST_EXPECT_NO_EVENT(q, 200, "after the final CLOSE");
    }
    CHECK_EQ(ws_queue_destroy(q), WS_OK);
    for (int i = 0; i < 500 && !__atomic_load_n(&rep.done, __ATOMIC_SEQ_CST); i++)
        wst_sleep_ms(10);
    ms_stop(&ms);
    /* nothing written while connecting reached the server */
    CHECK_EQ(rep.first_len, 3);
    CHECK(memcmp(rep.first, "now", 3) == 0);
    CHECK_EQ(rep.reply, 1000);
}

int main(int argc, char **argv)
{
    wst_init(argc, argv, 55);

    wst_log("--- order: OPEN, messages, CLOSE with code and reason, nothing after");
    event_order();
    wst_log("--- 10,000 messages while the host is slow to drain");
    slow_host();
    wst_log("--- ws_open_async to a refused port");
    async_refused();
    wst_log("--- ws_write while CONNECTING");
    write_while_connecting();
    return wst_result();
}
