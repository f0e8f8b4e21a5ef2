/*
 * ws_close() on another thread wakes a ws_read() blocked forever
 * (timeout_ms < 0) on the same socket: the read returns WS_CLOSED (or
 * WS_ERROR) within the close timeout, and the socket number is released.
 * Against the echo server (answers the close) and the C mini server
 * (never answers: the close timeout must bound the wait).
 */
#include <pthread.h>
#include <string.h>

#include "miniserver.h"
#include "testutil.h"

struct reader {
    int s;
    int rc;
    int code;
    int done;
    int64_t returned_ms;
};

static void *blocked_reader(void *arg)
{
    struct reader *r = arg;
    const void *p;
    size_t len;
    int type;
    r->rc = ws_read(r->s, &p, &len, &type, -1);
    r->code = ws_last_error_code();
    r->returned_ms = wst_now_ms();
    __atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void ignores_close(struct ms_conn *c, void *arg)
{
    (void)arg;
    if (ms_handshake(c, NULL) == 0)
        ms_wait_eof(c, 20000);
}

/* Opens `url`, blocks a reader, closes from this thread. */
static void close_wakes_reader(const char *url, const char *options, int close_timeout_ms)
{
    struct reader r;
    memset(&r, 0, sizeof r);
    r.s = wst_open(url, options);
    if (r.s < 0)
        return;
    pthread_t t;
    if (!CHECK_EQ(pthread_create(&t, NULL, blocked_reader, &r), 0)) {
        ws_close(r.s, 0, NULL);
        return;
    }
    wst_sleep_ms(300); /* let it block */
    CHECK_EQ(__atomic_load_n(&r.done, __ATOMIC_SEQ_CST), 0);
    int64_t t0 = wst_now_ms();
    CHECK_EQ(ws_close(r.s, 1001, "going away"), WS_OK);
    int64_t close_took = wst_now_ms() - t0;
    /* Bounded wait for the reader: the close timeout plus slack. */
    int64_t deadline = wst_now_ms() + close_timeout_ms + 3000;
    while (!__atomic_load_n(&r.done, __ATOMIC_SEQ_CST) && wst_now_ms() < deadline)
        wst_sleep_ms(5);
    if (!CHECK(__atomic_load_n(&r.done, __ATOMIC_SEQ_CST))) {
        /* Cannot join a thread that never returns; the test fails anyway. */
        wst_log("ws_read still blocked %lld ms after ws_close", (long long)(wst_now_ms() - t0));
        return;
    }
    pthread_join(t, NULL);
    wst_log("ws_close took %lld ms; ws_read returned %d (%s) %lld ms after ws_close started",
            (long long)close_took, r.rc, ws_error_name(r.code), (long long)(r.returned_ms - t0));
    CHECK(r.rc == WS_CLOSED || (r.rc == WS_ERROR && r.code != WS_E_OK));
    CHECK(close_took <= close_timeout_ms + 1500);
    CHECK(r.returned_ms - t0 <= close_timeout_ms + 1500);
    CHECK_ERR(ws_close(r.s, 0, NULL), WS_ERROR, WS_E_BAD_SOCKET);
}

int main(int argc, char **argv)
{
    struct wst_server srv;
    struct miniserver ms;

    wst_init(argc, argv, 60);

    if (wst_echo_start(&srv) == 0) {
        close_wakes_reader(srv.url, NULL, 1000);
        wst_echo_stop(&srv);
    }
    if (ms_start(&ms, ignores_close, NULL) == 0) {
        close_wakes_reader(ms.url, "{\"closeTimeout\": 500}", 500);
        ms_stop(&ms);
    }
    return wst_result();
}
