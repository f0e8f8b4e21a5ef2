/*
 * Issue 4, liveness, through the C API:
 *
 * 1. A dead peer: a server (the C mini server) that upgrades and then sends
 *    nothing at all (no data, no pongs, no close) is declared dead
 *    pingInterval + pongTimeout after its last byte:
 *    - a blocking ws_read(-1) returns WS_ERROR with WS_E_HEALTH_CHECK;
 *    - in event mode: WS_EV_ERROR (WS_E_HEALTH_CHECK), then WS_EV_CLOSE with
 *      closed_by WS_BY_ERROR, and nothing after;
 *    - a socket nobody reads turns WS_STATE_CLOSED on its own.
 * 2. A read-only client survives a server that pings every 200 ms and drops
 *    clients that do not answer within 1 s, for 5 s: (a) blocked in
 *    ws_read(-1), (b) not reading at all, (c) event mode. Then the server
 *    closes with 1000 and each client sees that close.
 * 3. ws_ping: WS_EV_PONG with the payload and a round-trip time; ws_get_info
 *    counts pings_sent / pongs_received and keeps last_rtt_us (event mode
 *    and a blocking socket), against the echo server.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "miniserver.h"
#include "testutil.h"

/* Keepalive for the dead-peer tests: dead 800 ms after the last byte. */
#define PING_INTERVAL_MS 400
#define PONG_TIMEOUT_MS 400
#define DETECT_MS (PING_INTERVAL_MS + PONG_TIMEOUT_MS)
/* Detection is timed from ws_open's return, a moment after the 101 (the
 * server's last byte): allow a little early, and a loaded 2-core machine
 * with sanitizers late. */
#define DETECT_EARLY_MS 60
#define DETECT_LATE_MS 700

#define KEEPALIVE_JSON "\"pingInterval\": 400, \"pongTimeout\": 400"

/* ---- servers ------------------------------------------------------------ */

/* What the silent server saw. Written by the server thread, read after
 * ms_stop() (which joins it). */
struct silent_report {
    int frames;
    int pings;
    int unmasked;
    int answered; /* always 0: it never answers */
};

/* Upgrades, then never sends another byte: no pongs, no close frame. Reads
 * (and counts) what the client sends until it closes TCP. */
static void silent(struct ms_conn *c, void *arg)
{
    struct silent_report *rep = arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    for (;;) {
        unsigned b0;
        unsigned char buf[256];
        size_t len;
        int r = ms_read_frame(c, &b0, buf, sizeof buf, &len, 15000);
        if (r <= 0)
            break;
        rep->frames++;
        if ((b0 & 0x0f) == 0x9)
            rep->pings++;
    }
    rep->unmasked = c->unmasked_frame;
}

/* Upgrades, then sends nothing but the pong to each ping, for `hold_ms` or
 * until the client closes (answered). Counts the pings it answered. */
struct pong_only {
    int hold_ms;
    int answered;
};

static void pong_only(struct ms_conn *c, void *arg)
{
    struct pong_only *po = arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    int64_t deadline = wst_now_ms() + po->hold_ms;
    for (;;) {
        int64_t left = deadline - wst_now_ms();
        unsigned b0;
        unsigned char buf[256];
        size_t len;
        if (left <= 0 || ms_read_frame(c, &b0, buf, sizeof buf, &len, (int)left) <= 0)
            return;
        size_t n = len < sizeof buf ? len : sizeof buf;
        if ((b0 & 0x0f) == 0x9) {
            ms_send_frame(c, 0x8a, buf, n);
            po->answered++;
        } else if ((b0 & 0x0f) == 0x8) {
            ms_send_frame(c, 0x88, buf, n >= 2 ? 2 : 0);
            return;
        }
    }
}

#define PING_RUN_MS 5000
#define PING_PERIOD_MS 200
#define PING_PATIENCE_MS 1000

/* What the pinging server saw. */
struct ping_report {
    int pings;
    int answered;
    int64_t max_latency_ms;
    int dropped; /* the client was dropped (no pong in time, or it left) */
    char why[160];
    int close_reply; /* the client's answer to the final close: its code */
    int done;        /* atomic: the script finished */
};

/* Pings every 200 ms with a numbered payload; drops the client (TCP close,
 * no close frame) when the matching pong does not come within 1 s. After
 * 5 s closes with 1000 "survived" and waits for the client's answer. */
static void pinging(struct ms_conn *c, void *arg)
{
    struct ping_report *rep = arg;
    rep->close_reply = -1;
    if (ms_handshake(c, NULL) != 0) {
        rep->dropped = 1;
        snprintf(rep->why, sizeof rep->why, "handshake failed");
        goto out;
    }
    wst_sleep_ms(50); /* not in the same segment as the 101 */
    int64_t t0 = wst_now_ms();
    while (wst_now_ms() - t0 < PING_RUN_MS) {
        char payload[32];
        int plen = snprintf(payload, sizeof payload, "server ping %d", rep->pings);
        int64_t sent = wst_now_ms();
        if (ms_send_frame(c, 0x89, payload, (size_t)plen) != 0) {
            rep->dropped = 1;
            snprintf(rep->why, sizeof rep->why, "send of ping %d failed", rep->pings);
            goto out;
        }
        rep->pings++;
        for (;;) {
            int64_t left = sent + PING_PATIENCE_MS - wst_now_ms();
            unsigned b0;
            unsigned char buf[256];
            size_t len = 0;
            int r = left > 0 ? ms_read_frame(c, &b0, buf, sizeof buf, &len, (int)left) : -1;
            if (r == 0) {
                rep->dropped = 1;
                snprintf(rep->why, sizeof rep->why, "the client closed TCP after %d pings",
                         rep->pings);
                goto out;
            }
            if (r < 0) {
                rep->dropped = 1;
                snprintf(rep->why, sizeof rep->why, "no pong to ping %d within %d ms",
                         rep->pings - 1, PING_PATIENCE_MS);
                goto out; /* drop: TCP close without a close frame */
            }
            unsigned op = b0 & 0x0f;
            if (op == 0xA && len == (size_t)plen && memcmp(buf, payload, len) == 0) {
                int64_t lat = wst_now_ms() - sent;
                if (lat > rep->max_latency_ms)
                    rep->max_latency_ms = lat;
                rep->answered++;
                break;
            }
            if (op == 0x9) { /* a client keepalive ping: answer it */
                ms_send_frame(c, 0x8a, buf, len < sizeof buf ? len : sizeof buf);
                continue;
            }
            rep->dropped = 1;
            snprintf(rep->why, sizeof rep->why, "unexpected frame 0x%02x (%zu bytes) after ping %d",
                     b0, len, rep->pings - 1);
            goto out;
        }
        int64_t next = sent + PING_PERIOD_MS - wst_now_ms();
        if (next > 0)
            wst_sleep_ms((int)next);
    }
    ms_send_frame(c, 0x88, "\x03\xe8" "survived", 10);
    rep->close_reply = ms_wait_close(c, 5000);
out:
    __atomic_store_n(&rep->done, 1, __ATOMIC_SEQ_CST);
}

/* ---- 1. dead peer --------------------------------------------------------- */

static void check_detection_time(int64_t took, const char *how)
{
    wst_log("dead peer detected after %lld ms (%s; nominal %d ms)", (long long)took, how,
            DETECT_MS);
    if (took < DETECT_MS - DETECT_EARLY_MS || took > DETECT_MS + DETECT_LATE_MS)
        wst_fail(__FILE__, __LINE__, "%s: dead peer detected after %lld ms, expected %d..%d ms",
                 how, (long long)took, DETECT_MS - DETECT_EARLY_MS, DETECT_MS + DETECT_LATE_MS);
}

static void check_failed_info(int s)
{
    ws_info info;
    memset(&info, 0, sizeof info);
    if (!CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK))
        return;
    CHECK_EQ(info.state, WS_STATE_CLOSED);
    CHECK_EQ(info.closed_by, WS_BY_ERROR);
    CHECK_EQ(info.clean, 0);
    CHECK_EQ(info.close_code_received, 1006); /* no close frame arrived */
    /* (that the keepalive ping is counted in pings_sent: keepalive_counted) */
    CHECK_EQ(info.pongs_received, 0);
    CHECK_EQ(info.last_rtt_us, -1);
}

static void dead_peer_blocking_read(void)
{
    struct silent_report rep;
    struct miniserver ms;
    memset(&rep, 0, sizeof rep);
    if (ms_start(&ms, silent, &rep) != 0)
        return;
    int s = wst_open(ms.url, "{" KEEPALIVE_JSON "}");
    if (s > 0) {
        const void *p = NULL;
        size_t len = 0;
        int type = 0;
        int64_t t0 = wst_now_ms();
        CHECK_ERR(ws_read(s, &p, &len, &type, -1), WS_ERROR, WS_E_HEALTH_CHECK);
        int64_t took = wst_now_ms() - t0;
        wst_log("ws_read(-1): \"%s\"", ws_last_error());
        check_detection_time(took, "blocking ws_read(-1)");
        /* the error sticks */
        CHECK_ERR(ws_read(s, &p, &len, &type, 0), WS_ERROR, WS_E_HEALTH_CHECK);
        CHECK_EQ(ws_state(s), WS_STATE_CLOSED);
        check_failed_info(s);
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        CHECK_ERR(ws_state(s), WS_ERROR, WS_E_BAD_SOCKET);
    }
    ms_stop(&ms);
    wst_log("silent server: %d frames from the client, %d pings", rep.frames, rep.pings);
    CHECK(rep.pings >= 1); /* the client pinged before giving up */
    CHECK_EQ(rep.unmasked, 0);
}

static void dead_peer_events(void)
{
    struct silent_report rep;
    struct miniserver ms;
    memset(&rep, 0, sizeof rep);
    int q = ws_queue_create();
    if (!CHECK(q > 0))
        return;
    if (ms_start(&ms, silent, &rep) != 0) {
        ws_queue_destroy(q);
        return;
    }
    char opts[128];
    snprintf(opts, sizeof opts, "{\"queue\": %d, " KEEPALIVE_JSON "}", q);
    int s = wst_open(ms.url, opts);
    if (s > 0) {
        int64_t t0 = wst_now_ms();
        ws_event ev;
        if (WST_EXPECT_EVENT(q, WS_EV_OPEN, 2000, &ev)) {
            CHECK_EQ(ev.socket, s);
            CHECK_EQ(ev.code, 101);
        }
        if (WST_EXPECT_EVENT(q, WS_EV_ERROR, DETECT_MS + 3000, &ev)) {
            int64_t took = wst_now_ms() - t0;
            int64_t err_time = ev.time_us;
            CHECK_EQ(ev.socket, s);
            CHECK_EQ(ev.code, WS_E_HEALTH_CHECK);
            CHECK(ev.len > 0); /* the message */
            wst_log("ERROR event: \"%s\"", (const char *)ev.data);
            check_detection_time(took, "WS_EV_ERROR");
            if (WST_EXPECT_EVENT(q, WS_EV_CLOSE, 2000, &ev)) {
                CHECK_EQ(ev.socket, s);
                CHECK_EQ(ev.closed_by, WS_BY_ERROR);
                CHECK_EQ(ev.error, WS_E_HEALTH_CHECK);
                CHECK_EQ(ev.clean, 0);
                CHECK_EQ(ev.code, 1006); /* no close frame came */
                CHECK(ev.time_us >= err_time);
            }
        }
        WST_EXPECT_NO_EVENT(q, 300, "after the final CLOSE");
        CHECK_EQ(ws_state(s), WS_STATE_CLOSED);
        check_failed_info(s);
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        WST_EXPECT_NO_EVENT(q, 200, "after ws_close of a failed socket");
    }
    CHECK_EQ(ws_queue_destroy(q), WS_OK);
    ms_stop(&ms);
    CHECK(rep.pings >= 1);
}

/* Nobody reads the socket: it still fails on its own, and the next call
 * learns why. */
static void dead_peer_not_reading(void)
{
    struct silent_report rep;
    struct miniserver ms;
    memset(&rep, 0, sizeof rep);
    if (ms_start(&ms, silent, &rep) != 0)
        return;
    int s = wst_open(ms.url, "{" KEEPALIVE_JSON "}");
    if (s > 0) {
        int64_t t0 = wst_now_ms();
        int st = WS_STATE_OPEN, changes = 0;
        /* ws_state only (it does not block); bounded */
        while (wst_now_ms() - t0 < DETECT_MS + 3000) {
            int now = ws_state(s);
            if (now != st) {
                changes++;
                wst_log("ws_state: %d -> %d after %lld ms", st, now,
                        (long long)(wst_now_ms() - t0));
                st = now;
            }
            if (st == WS_STATE_CLOSED)
                break;
            wst_sleep_ms(5);
        }
        if (CHECK_EQ(st, WS_STATE_CLOSED)) {
            check_detection_time(wst_now_ms() - t0, "ws_state while not reading");
            CHECK_EQ(changes, 1); /* OPEN -> CLOSED, nothing in between */
            check_failed_info(s);
            int rc = ws_write(s, "too late", 8, WS_TEXT);
            int code = ws_last_error_code();
            CHECK_EQ(rc, WS_ERROR);
            if (code != WS_E_HEALTH_CHECK && code != WS_E_CLOSED)
                wst_fail(__FILE__, __LINE__, "ws_write on a dead socket: %s, expected "
                         "WS_E_HEALTH_CHECK (or WS_E_CLOSED)", ws_error_name(code));
            const void *p;
            size_t len;
            CHECK_ERR(ws_read(s, &p, &len, NULL, 0), WS_ERROR, WS_E_HEALTH_CHECK);
        }
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    ms_stop(&ms);
    CHECK(rep.pings >= 1);
}

/* A server that says nothing but answers the keepalive pings is alive; the
 * keepalive pings and their pongs are counted in ws_get_info. */
static void keepalive_counted(void)
{
    struct pong_only po = {6000, 0};
    struct miniserver ms;
    if (ms_start(&ms, pong_only, &po) != 0)
        return;
    int s = wst_open(ms.url, "{" KEEPALIVE_JSON "}");
    if (s > 0) {
        /* about 4 keepalive rounds, blocked in a read that must time out */
        const void *p;
        size_t len;
        CHECK_ERR(ws_read(s, &p, &len, NULL, 2000), WS_TIMEOUT, WS_E_TIMEOUT);
        CHECK_EQ(ws_state(s), WS_STATE_OPEN);
        ws_info info;
        memset(&info, 0, sizeof info);
        if (CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK)) {
            wst_log("keepalive info: pings_sent %lld, pongs_received %lld, last_rtt_us %lld",
                    (long long)info.pings_sent, (long long)info.pongs_received,
                    (long long)info.last_rtt_us);
            CHECK(info.pongs_received >= 2);
            CHECK(info.last_rtt_us >= 0);
            /* "Pings sent (ws_ping and keepalive)" */
            if (info.pings_sent < info.pongs_received)
                wst_fail(__FILE__, __LINE__,
                         "ws_info.pings_sent is %lld but %lld keepalive pings were answered: "
                         "keepalive pings must be counted",
                         (long long)info.pings_sent, (long long)info.pongs_received);
        }
        CHECK_EQ(ws_write(s, "still here", 10, WS_TEXT), WS_OK);
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    ms_stop(&ms);
    wst_log("pong-only server answered %d keepalive pings", po.answered);
    CHECK(po.answered >= 2);
}

/* ---- 2. a read-only client survives a pinging server ---------------------- */

struct blocked_reader {
    int s;
    int rc;
    int code;
    int64_t took_ms;
    int done;
};

static void *read_forever(void *arg)
{
    struct blocked_reader *r = arg;
    const void *p;
    size_t len;
    int type;
    int64_t t0 = wst_now_ms();
    r->rc = ws_read(r->s, &p, &len, &type, -1);
    r->code = ws_last_error_code();
    r->took_ms = wst_now_ms() - t0;
    __atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int wait_flag(int *flag, int timeout_ms)
{
    int64_t deadline = wst_now_ms() + timeout_ms;
    while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST)) {
        if (wst_now_ms() > deadline)
            return 0;
        wst_sleep_ms(10);
    }
    return 1;
}

static void check_ping_report(const char *name, const struct ping_report *rep)
{
    wst_log("%s: %d pings, %d answered, slowest pong %lld ms, close reply %d%s%s", name,
            rep->pings, rep->answered, (long long)rep->max_latency_ms, rep->close_reply,
            rep->dropped ? ", DROPPED: " : "", rep->dropped ? rep->why : "");
    if (rep->dropped)
        wst_fail(__FILE__, __LINE__, "%s: the server dropped the client: %s", name, rep->why);
    /* 5 s at one ping per 200 ms: about 25 */
    if (rep->pings < PING_RUN_MS / PING_PERIOD_MS - 5 || rep->answered != rep->pings)
        wst_fail(__FILE__, __LINE__, "%s: %d pings, %d answered", name, rep->pings,
                 rep->answered);
    if (rep->close_reply != 1000)
        wst_fail(__FILE__, __LINE__, "%s: the client answered the close with %d, expected 1000",
                 name, rep->close_reply);
}

static void read_only_clients_survive(void)
{
    struct miniserver ma, mb, mc;
    struct ping_report ra, rb, rc;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    memset(&rc, 0, sizeof rc);
    int started = 0;
    if (ms_start(&ma, pinging, &ra) != 0)
        return;
    started++;
    if (ms_start(&mb, pinging, &rb) != 0)
        goto stop;
    started++;
    if (ms_start(&mc, pinging, &rc) != 0)
        goto stop;
    started++;

    int q = ws_queue_create();
    if (!CHECK(q > 0))
        goto stop;
    char opts[64];
    snprintf(opts, sizeof opts, "{\"queue\": %d}", q);
    /* Default keepalive (30 s): the client itself never pings here. */
    int a = wst_open(ma.url, NULL);
    int b = wst_open(mb.url, NULL);
    int c = wst_open(mc.url, opts);
    if (a > 0 && b > 0 && c > 0) {
        int64_t t0 = wst_now_ms();
        /* (a) blocked in ws_read(-1) for the whole run */
        /* static: if ws_read never returned, the thread outlives this frame */
        static struct blocked_reader reader;
        memset(&reader, 0, sizeof reader);
        reader.s = a;
        pthread_t t;
        int have_thread = CHECK_EQ(pthread_create(&t, NULL, read_forever, &reader), 0);
        /* (b) not touched at all; (c) event mode: only OPEN, then CLOSE */
        ws_event ev;
        if (WST_EXPECT_EVENT(q, WS_EV_OPEN, 3000, &ev))
            CHECK_EQ(ev.socket, c);
        if (WST_EXPECT_EVENT(q, WS_EV_CLOSE, PING_RUN_MS + 8000, &ev)) {
            char desc[512];
            wst_ev_format(&ev, desc, sizeof desc);
            wst_log("(c) %s after %lld ms", desc, (long long)(wst_now_ms() - t0));
            CHECK_EQ(ev.socket, c);
            CHECK_EQ(ev.code, 1000);
            CHECK(wst_ev_data_is(&ev, "survived"));
            CHECK_EQ(ev.closed_by, WS_BY_SERVER);
            CHECK_EQ(ev.clean, 1);
            CHECK_EQ(ev.error, 0);
        }
        /* all three servers finish their run */
        CHECK(wait_flag(&ra.done, PING_RUN_MS + 10000));
        CHECK(wait_flag(&rb.done, 5000));
        CHECK(wait_flag(&rc.done, 5000));
        if (have_thread) {
            if (CHECK(wait_flag(&reader.done, 5000))) {
                pthread_join(t, NULL);
                wst_log("(a) ws_read(-1) returned %d (%s) after %lld ms", reader.rc,
                        ws_error_name(reader.code), (long long)reader.took_ms);
                CHECK_EQ(reader.rc, WS_CLOSED);
                CHECK(reader.took_ms >= PING_RUN_MS - 500);
                CHECK_EQ(ws_close_code(a), 1000);
            } else {
                /* a reader that never returns cannot be joined: the test
                 * fails; close the socket to wake it, then leave */
                ws_close(a, 0, NULL);
                a = -1;
                if (wait_flag(&reader.done, 3000))
                    pthread_join(t, NULL);
            }
        }
        /* (b): the library answered the pings and the close in the background */
        CHECK_EQ(ws_state(b), WS_STATE_CLOSED);
        const void *p;
        size_t len;
        CHECK_EQ(ws_read(b, &p, &len, NULL, 1000), WS_CLOSED);
        CHECK_EQ(ws_close_code(b), 1000);
        WST_EXPECT_NO_EVENT(q, 200, "(c) after the CLOSE");
    }
    if (a > 0)
        CHECK_EQ(ws_close(a, 0, NULL), WS_OK);
    if (b > 0)
        CHECK_EQ(ws_close(b, 0, NULL), WS_OK);
    if (c > 0)
        CHECK_EQ(ws_close(c, 0, NULL), WS_OK);
    CHECK_EQ(ws_queue_destroy(q), WS_OK);
stop:
    if (started >= 1)
        ms_stop(&ma);
    if (started >= 2)
        ms_stop(&mb);
    if (started >= 3) {
        ms_stop(&mc);
        check_ping_report("(a) blocked in ws_read", &ra);
        check_ping_report("(b) not reading", &rb);
        check_ping_report("(c) event mode", &rc);
    }
}

/* ---- 3. ws_ping ------------------------------------------------------------ */

static void ws_ping_event_mode(const char *url)
{
    int q = ws_queue_create();
    if (!CHECK(q > 0))
        return;
    char opts[64];
    snprintf(opts, sizeof opts, "{\"queue\": %d}", q);
    int s = wst_open(url, opts);
    if (s <= 0)
        goto out;
    ws_event ev;
    WST_EXPECT_EVENT(q, WS_EV_OPEN, 3000, &ev);
    ws_info info;
    memset(&info, 0, sizeof info);
    if (CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK)) {
        CHECK_EQ(info.pings_sent, 0);
        CHECK_EQ(info.pongs_received, 0);
        CHECK_EQ(info.last_rtt_us, -1);
    }

    unsigned char big[125];
    memset(big, 0xa5, sizeof big);
    static const unsigned char bin[] = {0x00, 0x01, 0xff, 'b', 'i', 'n'};
    const struct {
        const void *p;
        size_t len;
    } payloads[] = {{"hello ping", 10}, {big, sizeof big}, {bin, sizeof bin}, {NULL, 0}};
    int64_t last_rtt = -1;
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        int64_t t0 = wst_now_ms();
        if (!CHECK_EQ(ws_ping(s, payloads[i].p, payloads[i].len), WS_OK))
            continue;
        if (!WST_EXPECT_EVENT(q, WS_EV_PONG, 3000, &ev))
            continue;
        int64_t wall_us = (wst_now_ms() - t0 + 1) * 1000;
        wst_log("pong %zu: %zu bytes, rtt %lld us", i, ev.len, (long long)ev.rtt_us);
        CHECK_EQ(ev.socket, s);
        CHECK_EQ(ev.len, payloads[i].len);
        if (payloads[i].len)
            CHECK(ev.len == payloads[i].len && memcmp(ev.data, payloads[i].p, ev.len) == 0);
        CHECK(ev.rtt_us >= 0);
        CHECK(ev.rtt_us <= wall_us + 1000);
        last_rtt = ev.rtt_us;
    }
    memset(&info, 0, sizeof info);
    if (CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK)) {
        wst_log("info: pings_sent %lld, pongs_received %lld, last_rtt_us %lld (last PONG %lld)",
                (long long)info.pings_sent, (long long)info.pongs_received,
                (long long)info.last_rtt_us, (long long)last_rtt);
        CHECK_EQ(info.pings_sent, 4);
        CHECK_EQ(info.pongs_received, 4);
        CHECK(info.last_rtt_us >= 0 && info.last_rtt_us < 3000000);
    }
    /* too long: rejected, nothing sent, not counted */
    unsigned char too_long[126];
    memset(too_long, 'x', sizeof too_long);
    CHECK_ERR(ws_ping(s, too_long, sizeof too_long), WS_ERROR, WS_E_INVALID_ARGUMENT);
    CHECK_ERR(ws_ping(s, NULL, 5), WS_ERROR, WS_E_INVALID_ARGUMENT);
    WST_EXPECT_NO_EVENT(q, 200, "no pong for rejected pings");
    memset(&info, 0, sizeof info);
    if (CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK))
        CHECK_EQ(info.pings_sent, 4);
    /* still fine */
    CHECK_EQ(ws_write(s, "after pings", 11, WS_TEXT), WS_OK);
    if (WST_EXPECT_EVENT(q, WS_EV_MESSAGE, 3000, &ev))
        CHECK(wst_ev_data_is(&ev, "after pings"));
    CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    if (WST_EXPECT_EVENT(q, WS_EV_CLOSE, 3000, &ev)) {
        CHECK_EQ(ev.socket, s);
        CHECK_EQ(ev.closed_by, WS_BY_CLIENT);
    }
out:
    CHECK_EQ(ws_queue_destroy(q), WS_OK);
}

static void ws_ping_blocking_socket(const char *url)
{
    int s = wst_open(url, NULL);
    if (s <= 0)
        return;
    CHECK_EQ(ws_ping(s, "blocking", 8), WS_OK);
    /* nothing but the pong arrives: the read times out */
    const void *p;
    size_t len;
    CHECK_ERR(ws_read(s, &p, &len, NULL, 500), WS_TIMEOUT, WS_E_TIMEOUT);
    ws_info info;
    memset(&info, 0, sizeof info);
    if (CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK)) {
        wst_log("blocking socket info: pings_sent %lld, pongs_received %lld, last_rtt_us %lld",
                (long long)info.pings_sent, (long long)info.pongs_received,
                (long long)info.last_rtt_us);
        CHECK_EQ(info.state, WS_STATE_OPEN);
        CHECK_EQ(info.pings_sent, 1);
        CHECK_EQ(info.pongs_received, 1);
        CHECK(info.last_rtt_us >= 0 && info.last_rtt_us < 500000);
    }
    wst_echo_roundtrip(s, "still works", 11, WS_TEXT, 3000);
    CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
}

int main(int argc, char **argv)
{
    struct wst_server srv;
    wst_init(argc, argv, 50);

    wst_log("--- dead peer: blocking ws_read(-1)");
    dead_peer_blocking_read();
    wst_log("--- dead peer: events");
    dead_peer_events();
    wst_log("--- dead peer: nobody reads");
    dead_peer_not_reading();
    wst_log("--- a silent server that answers pings is alive; keepalive is counted");
    keepalive_counted();
    wst_log("--- read-only clients answer a pinging server for %d ms", PING_RUN_MS);
    read_only_clients_survive();
    if (wst_echo_start(&srv) == 0) {
        wst_log("--- ws_ping in event mode");
        ws_ping_event_mode(srv.url);
        wst_log("--- ws_ping on a blocking socket");
        ws_ping_blocking_socket(srv.url);
        wst_echo_stop(&srv);
    }
    return wst_result();
}
