/*
 * The "busyPoll" option from C: echoes of every frame-header size and a
 * pipelined burst with WS_MORE come back whole; a silent server still times
 * out ws_read, ws_open and ws_close on time although the spin (1 s) is longer
 * than each timeout; bad values are option errors naming the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "miniserver.h"
#include "testutil.h"

#define SLACK_MS 1500 /* sanitizers on a busy 2-core machine */

static const size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 1 << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* Upgrade, then say nothing; never answer the close frame. */
static void silent(struct ms_conn *c, void *arg)
{
    (void)arg;
    if (ms_handshake(c, NULL) == 0)
        ms_wait_eof(c, 20000);
}

/* Read the request and never answer it. */
static void no_answer(struct ms_conn *c, void *arg)
{
    (void)arg;
    if (ms_read_request(c, 10000) == 0)
        ms_wait_eof(c, 20000);
}

static void echoes(const char *url, const char *options, unsigned char *msg)
{
    int s = wst_open(url, options);
    if (s < 0)
        return;
    for (size_t i = 0; i < NSIZES; i++) {
        wst_fill(msg, sizes[i], (unsigned)i);
        if (!wst_echo_roundtrip(s, msg, sizes[i], WS_BINARY, 10000))
            break;
        wst_fill_text(msg, sizes[i], (unsigned)i);
        if (!wst_echo_roundtrip(s, msg, sizes[i], WS_TEXT, 10000))
            break;
    }
    /* 64 messages queued with WS_MORE, one flush, 64 echoes in order */
    for (int i = 0; i < 64; i++) {
        char m[16];
        int n = snprintf(m, sizeof m, "m%d", i);
        CHECK_EQ(ws_write(s, m, (size_t)n, WS_TEXT | WS_MORE), WS_OK);
    }
    CHECK_EQ(ws_flush(s, 10000), WS_OK);
    for (int i = 0; i < 64; i++) {
        char m[16];
        int n = snprintf(m, sizeof m, "m%d", i);
        const void *p;
        size_t len;
        int type;
        if (!CHECK_EQ(ws_read(s, &p, &len, &type, 10000), WS_OK))
            break;
        CHECK(len == (size_t)n && memcmp(p, m, len) == 0);
    }
    int64_t t0 = wst_now_ms();
    CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    wst_log("echoes with %s; ws_close took %lld ms", options, (long long)(wst_now_ms() - t0));
}

int main(int argc, char **argv)
{
    struct wst_server srv;
    struct miniserver ms;
    unsigned char *msg = malloc(1 << 20);

    wst_init(argc, argv, 90);
    if (!CHECK(msg != NULL))
        return wst_result();

    /* --- bad values --- */
    static const char *bad[] = {"{\"busyPoll\": -1}", "{\"busyPoll\": 1000001}", "{\"busyPoll\": \"50\"}",
                                "{\"busyPoll\": 0.5}", "{\"busyPoll\": null}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_ERR(ws_open("ws://127.0.0.1:9/", bad[i]), WS_ERROR, WS_E_INVALID_OPTIONS);
        CHECK(strstr(ws_last_error(), "\"busyPoll\"") != NULL);
    }

    /* --- echoes: a short spin, a spin longer than any reply, and 0 (off) --- */
    if (wst_echo_start(&srv) == 0) {
        echoes(srv.url, "{\"busyPoll\": 100}", msg);
        echoes(srv.url, "{\"busyPoll\": 1000000}", msg);
        echoes(srv.url, "{\"busyPoll\": 0}", msg);
        wst_echo_stop(&srv);
    }

    /* --- timeouts still hold while spinning --- */
    if (ms_start(&ms, silent, NULL) == 0) {
        int s = wst_open(ms.url, "{\"busyPoll\": 1000000, \"closeTimeout\": 300}");
        if (s > 0) {
            const void *p;
            size_t len;
            int type;
            int64_t t0 = wst_now_ms();
            CHECK_ERR(ws_read(s, &p, &len, &type, 0), WS_TIMEOUT, WS_E_TIMEOUT);
            CHECK(wst_now_ms() - t0 < 200);
            t0 = wst_now_ms();
            CHECK_ERR(ws_read(s, &p, &len, &type, 200), WS_TIMEOUT, WS_E_TIMEOUT);
            int64_t took = wst_now_ms() - t0;
            wst_log("ws_read(timeout 200 ms) with busyPoll 1 s took %lld ms", (long long)took);
            CHECK(took >= 195 && took <= 200 + SLACK_MS);
            t0 = wst_now_ms();
            CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
            took = wst_now_ms() - t0;
            wst_log("ws_close(closeTimeout 300 ms) with busyPoll 1 s took %lld ms", (long long)took);
            CHECK(took >= 295 && took <= 300 + SLACK_MS);
        }
        ms_stop(&ms);
    }
    if (ms_start(&ms, no_answer, NULL) == 0) {
        int64_t t0 = wst_now_ms();
        CHECK_ERR(ws_open(ms.url, "{\"busyPoll\": 1000000, \"timeout\": 300}"), WS_TIMEOUT, WS_E_TIMEOUT);
        int64_t took = wst_now_ms() - t0;
        wst_log("ws_open(timeout 300 ms) with busyPoll 1 s took %lld ms", (long long)took);
        CHECK(took >= 295 && took <= 300 + SLACK_MS);
        ms_stop(&ms);
    }
    free(msg);
    return wst_result();
}
