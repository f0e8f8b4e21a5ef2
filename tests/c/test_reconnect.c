/*
 * Issue 4, reconnecting, through the C API:
 *
 * 1. "autoReconnect": {"initialDelay": 100, "maxDelay": 2000} against an
 *    in-C server that closes with 1001 "restarting" and stops listening, and
 *    comes back on the same port during the 4th backoff: events CLOSE (1001,
 *    by the server), then RECONNECTING 1..4 (each followed by ERROR
 *    WS_E_CONNECT while the port refuses), then OPEN with the same socket
 *    number; delay_ms = 100 * 2^(n-1) within the jitter [0.75, 1.25], each
 *    attempt made its delay after its RECONNECTING (time_us), the gaps grow;
 *    messages flow again.
 * 2. The same with the echo server process: it is killed (the connection is
 *    lost without a close frame: CLOSE 1006 by error) and started again on
 *    the same port (--port N) during the 6th backoff, so that the delay also
 *    reaches the 2000 ms cap.
 * 3. ws_reconnect(s, 0) on an open socket: the server sees close code 1001,
 *    the socket number stays, CLOSE (by the client) then OPEN events, and
 *    messages flow; ws_reconnect(s, 1) does the same in the background; and
 *    ws_reconnect(s, 0) on a blocking socket.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "miniserver.h"
#include "testutil.h"

#define RECONNECT_JSON "\"autoReconnect\": {\"initialDelay\": 100, \"maxDelay\": 2000}"
#define INITIAL_DELAY 100
#define MAX_DELAY 2000
#define MAX_EVENTS 64

/* ---- servers ---------------------------------------------------------------- */

/* The first life: greets, closes with 1001 "restarting", records the
 * client's answer. Runs under ms_serve_one, which stopped listening when
 * the client came. */
struct first_life {
    int listen_fd;
    int served;
    int reply;
    int done;
};

static void first_life_script(struct ms_conn *c, void *arg)
{
    struct first_life *fl = arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    wst_sleep_ms(50);
    ms_send_frame(c, 0x81, "first life", 10);
    ms_send_frame(c, 0x88, "\x03\xe9" "restarting", 12);
    fl->reply = ms_wait_close(c, 5000);
}

static void *first_life_thread(void *arg)
{
    struct first_life *fl = arg;
    fl->reply = -1;
    fl->served = ms_serve_one(fl->listen_fd, first_life_script, fl, 10000) == 0;
    __atomic_store_n(&fl->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Echo server script: records each connection's close code from the client. */
struct echo_record {
    int conns;
    int codes[8];
};

static void echo_script(struct ms_conn *c, void *arg)
{
    struct echo_record *er = arg;
    int i = __atomic_fetch_add(&er->conns, 1, __ATOMIC_SEQ_CST);
    int code = -1;
    if (ms_handshake(c, NULL) == 0)
        code = ms_echo_until_close(c, 20000);
    if (i < 8)
        __atomic_store_n(&er->codes[i], code, __ATOMIC_SEQ_CST);
}

/* ---- helpers ------------------------------------------------------------------ */

static int nominal_delay(int attempt)
{
    long d = INITIAL_DELAY;
    for (int i = 1; i < attempt && d < MAX_DELAY; i++)
        d *= 2;
    return d < MAX_DELAY ? (int)d : MAX_DELAY;
}

static void log_events(const ws_event *evs, int n)
{
    for (int i = 0; i < n; i++) {
        char desc[512];
        wst_ev_format(&evs[i], desc, sizeof desc);
        wst_log("  +%5lld ms %s", (long long)((evs[i].time_us - evs[0].time_us) / 1000), desc);
    }
}

typedef int (*restart_fn)(void *ctx);

/*
 * Collects the events of socket `s` on `q` until its OPEN (or 20 s), calling
 * `restart(ctx)` when RECONNECTING with attempt `restart_at` arrives. Event
 * data is not kept (only the fields). Returns the number collected.
 */
static int collect_until_open(int q, int s, int restart_at, restart_fn restart, void *ctx,
                              ws_event *evs, int *restarted)
{
    int n = 0;
    int64_t deadline = wst_now_ms() + 20000;
    *restarted = 0;
    while (n < MAX_EVENTS) {
        int64_t left = deadline - wst_now_ms();
        if (left <= 0) {
            wst_fail(__FILE__, __LINE__, "no OPEN within 20 s of backoff (%d events)", n);
            break;
        }
        ws_event ev;
        int rc = ws_next_event(q, &ev, (int)left);
        if (rc != WS_OK)
            continue; /* timeout: the loop ends at the deadline */
        if (!wst_ev_data_ok(&ev))
            wst_fail(__FILE__, __LINE__, "event %d: data NULL or not NUL-terminated", n);
        if (ev.socket != s)
            wst_fail(__FILE__, __LINE__, "event %d: %s of socket %d, expected socket %d", n,
                     wst_ev_name(ev.type), ev.socket, s);
        ev.data = ""; /* not valid after the next ws_next_event */
        ev.len = 0;
        evs[n++] = ev;
        if (ev.type == WS_EV_RECONNECTING && ev.code == restart_at && !*restarted) {
            *restarted = 1;
            if (restart(ctx) != 0) {
                wst_fail(__FILE__, __LINE__, "could not restart the server");
                break;
            }
            wst_log("server restarted during the backoff of attempt %d", ev.code);
        }
        if (ev.type == WS_EV_OPEN || ev.type == WS_EV_CLOSE)
            break;
    }
    return n;
}

/*
 * Checks a backoff sequence: RECONNECTING(1), ERROR(WS_E_CONNECT),
 * RECONNECTING(2), ..., RECONNECTING(k), OPEN, all of socket `s`, with
 * k >= min_attempts; the delays within the jitter of 100 * 2^(n-1) capped at
 * 2000; each outcome its delay after its RECONNECTING; gaps between attempts
 * growing while the nominal delay doubles.
 */
static void check_backoff(const ws_event *evs, int n, int s, int min_attempts)
{
    int attempts = 0, shape_ok = 1;
    int64_t prev_rec_time = -1, prev_gap = -1;
    int prev_nominal = 0;
    for (int i = 0; i < n; i++) {
        const ws_event *e = &evs[i];
        int want = i % 2 == 0 ? WS_EV_RECONNECTING : i == n - 1 ? WS_EV_OPEN : WS_EV_ERROR;
        if (e->type != want || e->socket != s) {
            wst_fail(__FILE__, __LINE__, "backoff event %d: %s of socket %d, expected %s of %d",
                     i, wst_ev_name(e->type), e->socket, wst_ev_name(want), s);
            shape_ok = 0;
            break;
        }
        if (i > 0 && e->time_us < evs[i - 1].time_us)
            wst_fail(__FILE__, __LINE__, "backoff event %d: time_us goes back", i);
        if (e->type == WS_EV_ERROR && e->code != WS_E_CONNECT)
            wst_fail(__FILE__, __LINE__, "failed attempt %d: %s, expected WS_E_CONNECT",
                     attempts, ws_error_name(e->code));
        if (e->type != WS_EV_RECONNECTING)
            continue;
        attempts++;
        if (e->code != attempts)
            wst_fail(__FILE__, __LINE__, "RECONNECTING %d has attempt number %d", attempts,
                     e->code);
        int nom = nominal_delay(attempts);
        /* jitter [0.75, 1.25); delay_ms is whole milliseconds */
        int64_t lo = nom * 3 / 4 - 1, hi = nom * 5 / 4 + 1;
        if (e->delay_ms < lo || e->delay_ms > hi)
            wst_fail(__FILE__, __LINE__, "attempt %d: delay_ms %lld, expected %lld..%lld (%d +-25%%)",
                     attempts, (long long)e->delay_ms, (long long)lo, (long long)hi, nom);
        /* the attempt's outcome came its delay after the announcement */
        if (i + 1 < n) {
            int64_t after_us = evs[i + 1].time_us - e->time_us;
            if (after_us < e->delay_ms * 1000 - 2000 || after_us > e->delay_ms * 1000 + 500000)
                wst_fail(__FILE__, __LINE__,
                         "attempt %d: its outcome came %lld us after RECONNECTING, delay_ms %lld",
                         attempts, (long long)after_us, (long long)e->delay_ms);
        }
        if (prev_rec_time >= 0) {
            int64_t gap = e->time_us - prev_rec_time;
            /* the nominal delay doubles: jitter cannot hide the growth */
            if (prev_gap >= 0 && nom >= 2 * prev_nominal && gap <= prev_gap)
                wst_fail(__FILE__, __LINE__, "gap before attempt %d (%lld us) is not longer than "
                         "the one before (%lld us)", attempts, (long long)gap, (long long)prev_gap);
            prev_gap = gap;
        }
        prev_rec_time = e->time_us;
        prev_nominal = nom;
    }
    if (shape_ok && attempts < min_attempts)
        wst_fail(__FILE__, __LINE__, "%d attempts, expected at least %d", attempts, min_attempts);
    if (shape_ok && n > 0 && evs[n - 1].type != WS_EV_OPEN)
        wst_fail(__FILE__, __LINE__, "the backoff did not end with OPEN");
}

static int echo_via_events(int q, int s, const char *text)
{
    if (!CHECK_EQ(ws_write(s, text, strlen(text), WS_TEXT), WS_OK))
        return 0;
    ws_event ev;
    if (!WST_EXPECT_EVENT(q, WS_EV_MESSAGE, 3000, &ev))
        return 0;
    return CHECK_EQ(ev.socket, s) && CHECK(wst_ev_data_is(&ev, text));
}

/* ---- 1. an in-C server goes away and comes back ---------------------------------- */

struct restart_ms {
    struct miniserver ms;
    struct echo_record rec;
    int port;
    int started;
};

static int restart_miniserver(void *ctx)
{
    struct restart_ms *r = ctx;
    if (ms_start_port(&r->ms, r->port, echo_script, &r->rec) != 0)
        return -1;
    r->started = 1;
    return 0;
}

static void auto_reconnect_miniserver(void)
{
    static ws_event evs[MAX_EVENTS];
    struct first_life fl;
    struct restart_ms second;
    memset(&fl, 0, sizeof fl);
    memset(&second, 0, sizeof second);
    fl.listen_fd = ms_listen(0, &second.port);
    if (fl.listen_fd < 0)
        return;
    pthread_t t;
    if (!CHECK_EQ(pthread_create(&t, NULL, first_life_thread, &fl), 0))
        return;
    int q = ws_queue_create();
    CHECK(q > 0);
    char url[64], opts[160];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", second.port);
    snprintf(opts, sizeof opts, "{\"queue\": %d, " RECONNECT_JSON "}", q);
    int s = ws_open_async(url, opts);
    if (CHECK(s > 0)) {
        ws_event ev;
        if (WST_EXPECT_EVENT(q, WS_EV_OPEN, 5000, &ev))
            CHECK_EQ(ev.socket, s);
        if (WST_EXPECT_EVENT(q, WS_EV_MESSAGE, 5000, &ev))
            CHECK(wst_ev_data_is(&ev, "first life"));
        if (WST_EXPECT_EVENT(q, WS_EV_CLOSE, 5000, &ev)) {
            CHECK_EQ(ev.socket, s);
            CHECK_EQ(ev.code, 1001);
            CHECK(wst_ev_data_is(&ev, "restarting"));
            CHECK_EQ(ev.closed_by, WS_BY_SERVER);
            CHECK_EQ(ev.clean, 1);
        }
        /* down: attempts 1..3 are refused; back during the 4th delay */
        int restarted;
        int n = collect_until_open(q, s, 4, restart_miniserver, &second, evs, &restarted);
        log_events(evs, n);
        CHECK(restarted);
        check_backoff(evs, n, s, 4);
        if (n > 0 && evs[n - 1].type == WS_EV_OPEN) {
            CHECK_EQ(evs[n - 1].code, 101);
            CHECK_EQ(ws_state(s), WS_STATE_OPEN);
            ws_info info;
            memset(&info, 0, sizeof info);
            if (CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK))
                CHECK_EQ(info.reconnects, 1);
            echo_via_events(q, s, "second life");
        }
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        if (WST_EXPECT_EVENT(q, WS_EV_CLOSE, 3000, &ev)) {
            CHECK_EQ(ev.socket, s);
            CHECK_EQ(ev.closed_by, WS_BY_CLIENT);
        }
        WST_EXPECT_NO_EVENT(q, 500, "after the final CLOSE");
    }
    if (q > 0)
        CHECK_EQ(ws_queue_destroy(q), WS_OK);
    pthread_join(t, NULL); /* bounded: ms_serve_one and the script time out */
    CHECK(fl.served);
    CHECK_EQ(fl.reply, 1001); /* the client echoed the server's code */
    if (second.started) {
        ms_stop(&second.ms);
        CHECK_EQ(second.rec.conns, 1);
        CHECK_EQ(second.rec.codes[0], 1000);
    }
}

/* ---- 2. the echo server process is killed and restarted ------------------------- */

struct restart_echo {
    struct wst_server srv;
    int port;
};

static int restart_echo_server(void *ctx)
{
    struct restart_echo *r = ctx;
    return wst_echo_start_port(&r->srv, r->port);
}

static void auto_reconnect_echo_process(void)
{
    static ws_event evs[MAX_EVENTS];
    struct restart_echo r;
    memset(&r, 0, sizeof r);
    if (wst_echo_start(&r.srv) != 0)
        return;
    r.port = r.srv.port;
    int q = ws_queue_create();
    CHECK(q > 0);
    char opts[160];
    snprintf(opts, sizeof opts, "{\"queue\": %d, " RECONNECT_JSON "}", q);
    int s = wst_open(r.srv.url, opts);
    if (s > 0) {
        ws_event ev;
        if (WST_EXPECT_EVENT(q, WS_EV_OPEN, 3000, &ev))
            CHECK_EQ(ev.socket, s);
        echo_via_events(q, s, "before the crash");
        wst_echo_stop(&r.srv); /* SIGTERM: the connection drops without a close frame */
        /* an ERROR (the cause) may precede the CLOSE */
        int ok = WST_EXPECT_EVENT(q, 0, 5000, &ev);
        if (ok && ev.type == WS_EV_ERROR) {
            wst_log("ERROR event: code %s", ws_error_name(ev.code));
            CHECK_EQ(ev.socket, s);
            CHECK(ev.code != WS_E_OK);
            ok = WST_EXPECT_EVENT(q, 0, 3000, &ev);
        }
        if (ok) {
            char desc[512];
            wst_ev_format(&ev, desc, sizeof desc);
            wst_log("after the crash: %s", desc);
            CHECK_EQ(ev.type, WS_EV_CLOSE);
            CHECK_EQ(ev.socket, s);
            CHECK_EQ(ev.code, 1006);
            CHECK_EQ(ev.closed_by, WS_BY_ERROR);
            CHECK_EQ(ev.clean, 0);
            CHECK(ev.error != WS_E_OK);
        }
        /* down for attempts 1..5; started again during the 6th (capped) delay */
        int restarted;
        int n = collect_until_open(q, s, 6, restart_echo_server, &r, evs, &restarted);
        log_events(evs, n);
        CHECK(restarted);
        check_backoff(evs, n, s, 6);
        if (n > 0 && evs[n - 1].type == WS_EV_OPEN) {
            CHECK_EQ(ws_state(s), WS_STATE_OPEN);
            ws_info info;
            memset(&info, 0, sizeof info);
            if (CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK))
                CHECK_EQ(info.reconnects, 1);
            echo_via_events(q, s, "after the restart");
        }
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        if (WST_EXPECT_EVENT(q, WS_EV_CLOSE, 3000, &ev))
            CHECK_EQ(ev.closed_by, WS_BY_CLIENT);
        WST_EXPECT_NO_EVENT(q, 300, "after the final CLOSE");
    }
    if (q > 0)
        CHECK_EQ(ws_queue_destroy(q), WS_OK);
    wst_echo_stop(&r.srv);
}

/* ---- 3. ws_reconnect --------------------------------------------------------------- */

static void check_reconnect_events(int q, int s, int reconnects)
{
    ws_event ev;
    if (WST_EXPECT_EVENT(q, WS_EV_CLOSE, 3000, &ev)) {
        CHECK_EQ(ev.socket, s);
        CHECK_EQ(ev.closed_by, WS_BY_CLIENT);
        CHECK_EQ(ev.code, 1001); /* the server echoed Going Away */
        CHECK_EQ(ev.clean, 1);
    }
    if (WST_EXPECT_EVENT(q, WS_EV_OPEN, 5000, &ev)) {
        CHECK_EQ(ev.socket, s); /* the same number */
        CHECK_EQ(ev.code, 101);
    }
    CHECK_EQ(ws_state(s), WS_STATE_OPEN);
    ws_info info;
    memset(&info, 0, sizeof info);
    if (CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK)) {
        CHECK_EQ(info.reconnects, reconnects);
        CHECK_EQ(info.state, WS_STATE_OPEN);
        CHECK_EQ(info.close_code_sent, 0); /* details of the new connection */
        CHECK_EQ(info.closed_by, WS_BY_NONE);
    }
}

static void ws_reconnect_events(void)
{
    struct echo_record rec;
    struct miniserver ms;
    memset(&rec, 0, sizeof rec);
    for (int i = 0; i < 8; i++)
        rec.codes[i] = -2;
    if (ms_start(&ms, echo_script, &rec) != 0)
        return;
    int q = ws_queue_create();
    CHECK(q > 0);
    char opts[64];
    snprintf(opts, sizeof opts, "{\"queue\": %d}", q);
    int s = wst_open(ms.url, opts);
    if (s > 0) {
        ws_event ev;
        WST_EXPECT_EVENT(q, WS_EV_OPEN, 3000, &ev);
        echo_via_events(q, s, "first connection");
        int64_t t0 = wst_now_ms();
        CHECK_EQ(ws_reconnect(s, 0), WS_OK);
        int64_t took = wst_now_ms() - t0;
        wst_log("ws_reconnect(s, 0) took %lld ms", (long long)took);
        CHECK(took < 3000);
        CHECK_EQ(ws_state(s), WS_STATE_OPEN);
        check_reconnect_events(q, s, 1);
        echo_via_events(q, s, "second connection");

        /* in the background: returns at once, the outcome comes as events */
        CHECK_EQ(ws_reconnect(s, 1), WS_OK);
        check_reconnect_events(q, s, 2);
        echo_via_events(q, s, "third connection");

        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        if (WST_EXPECT_EVENT(q, WS_EV_CLOSE, 3000, &ev))
            CHECK_EQ(ev.closed_by, WS_BY_CLIENT);
        WST_EXPECT_NO_EVENT(q, 300, "after the final CLOSE");
        CHECK_ERR(ws_reconnect(s, 0), WS_ERROR, WS_E_BAD_SOCKET); /* released */
    }
    if (q > 0)
        CHECK_EQ(ws_queue_destroy(q), WS_OK);
    /* the server finishes each connection when the client's close came */
    for (int i = 0; i < 300 && __atomic_load_n(&rec.codes[2], __ATOMIC_SEQ_CST) == -2; i++)
        wst_sleep_ms(10);
    ms_stop(&ms);
    wst_log("server saw %d connections, close codes %d, %d, %d", rec.conns, rec.codes[0],
            rec.codes[1], rec.codes[2]);
    CHECK_EQ(rec.conns, 3);
    CHECK_EQ(rec.codes[0], 1001); /* Going Away from ws_reconnect */
    CHECK_EQ(rec.codes[1], 1001);
    CHECK_EQ(rec.codes[2], 1000);
}

static void ws_reconnect_blocking(void)
{
    struct wst_server srv;
    if (wst_echo_start(&srv) != 0)
        return;
    int s = wst_open(srv.url, NULL);
    if (s > 0) {
        wst_echo_roundtrip(s, "before", 6, WS_TEXT, 3000);
        CHECK_EQ(ws_reconnect(s, 0), WS_OK);
        CHECK_EQ(ws_state(s), WS_STATE_OPEN);
        CHECK_EQ(ws_http_status(s), 101);
        wst_echo_roundtrip(s, "after", 5, WS_BINARY, 3000);
        ws_info info;
        memset(&info, 0, sizeof info);
        if (CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK))
            CHECK_EQ(info.reconnects, 1);
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    wst_echo_stop(&srv);
}

int main(int argc, char **argv)
{
    wst_init(argc, argv, 55);

    wst_log("--- autoReconnect: an in-C server goes away and comes back on its port");
    auto_reconnect_miniserver();
    wst_log("--- autoReconnect: the echo server process is killed and restarted (--port N)");
    auto_reconnect_echo_process();
    wst_log("--- ws_reconnect on an open event socket");
    ws_reconnect_events();
    wst_log("--- ws_reconnect on an open blocking socket");
    ws_reconnect_blocking();
    return wst_result();
}
