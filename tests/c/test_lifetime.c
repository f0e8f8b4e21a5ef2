/*
 * Lifetime promises of the header, checked where a use-after-free shows:
 * this test runs under ASan/UBSan (and the library's own memory is checked
 * by it through every pointer the library lends).
 *
 *  - ws_read's message stays valid until the next read or ws_close on the
 *    number, also when "autoReconnect" replaces the connection meanwhile;
 *  - after ws_queue_set_callback(q, NULL) or ws_queue_destroy(q) returns,
 *    no callback with the old `user` runs: the host frees `user` at once;
 *  - an event lent by ws_next_event stays valid until the same thread's
 *    next call, whatever other consumers do;
 *  - ws_close_many closes everything in parallel.
 * (ws_cleanup before dlclose: test_dlclose.c.)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "miniserver.h"
#include "testutil.h"

#define BIG (4u << 20)

static unsigned char *big_payload(void)
{
    unsigned char *p = malloc(BIG);
    if (p)
        wst_fill(p, BIG, 7);
    return p;
}

/* Connection 1: a 4 MiB message, then the server closes; connection 2:
 * "again", then waits for the client's close. */
static void two_lives(struct ms_conn *c, void *arg)
{
    const unsigned char *big = arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    if (__atomic_load_n(&c->server->connections, __ATOMIC_SEQ_CST) == 1) {
        ms_send_frame(c, 0x82, big, BIG);
        ms_send_frame(c, 0x88, "\x03\xe9restart", 9);
        ms_wait_close(c, 5000);
    } else {
        ms_send_frame(c, 0x81, "again", 5);
        ms_wait_close(c, 10000);
    }
}

static void lent_message_survives_a_background_reconnect(void)
{
    unsigned char *big = big_payload();
    struct miniserver ms;
    if (!CHECK(big != NULL) || ms_start(&ms, two_lives, big) != 0) {
        free(big);
        return;
    }
    int s = wst_open(ms.url, "{\"autoReconnect\":{\"initialDelay\":50},\"pingInterval\":0}");
    if (s > 0) {
        const void *data = NULL;
        size_t len = 0;
        int type = 0;
        CHECK_EQ(ws_read(s, &data, &len, &type, 5000), WS_OK);
        CHECK_EQ(len, BIG);
        /* the connection that delivered it ends and is replaced */
        ws_info info;
        int64_t end = wst_now_ms() + 10000;
        do {
            wst_sleep_ms(5);
            CHECK_EQ(ws_get_info(s, &info, sizeof info), WS_OK);
        } while (info.reconnects < 1 && wst_now_ms() < end);
        CHECK_EQ(info.reconnects, 1);
        /* ASan reports here if the buffer was freed with the connection */
        CHECK(len == BIG && memcmp(data, big, BIG) == 0);
        CHECK_EQ(ws_read(s, &data, &len, &type, 3000), WS_CLOSED);
        CHECK_EQ(ws_read(s, &data, &len, &type, 3000), WS_OK);
        CHECK(len == 5 && memcmp(data, "again", 5) == 0);
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    ms_stop(&ms);
    free(big);
}

/* A callback's state, freed by the host as soon as detaching returns. */
struct cb_state {
    int calls;
    unsigned char scratch[64];
};

static void counting_cb(const ws_event *ev, void *user)
{
    struct cb_state *st = user;
    st->calls++; /* a use-after-free here when called after detaching */
    if (ev->len)
        memcpy(st->scratch, ev->data, ev->len < sizeof st->scratch ? ev->len : sizeof st->scratch);
}

static void host_frees_user_after_detaching(const struct wst_server *echo, int destroy)
{
    int q = ws_queue_create();
    char opts[64];
    snprintf(opts, sizeof opts, "{\"queue\":%d}", q);
    int s = wst_open(echo->url, opts);
    struct cb_state *st = calloc(1, sizeof *st);
    if (s < 0 || !CHECK(st != NULL)) {
        free(st);
        return;
    }
    CHECK_EQ(ws_queue_set_callback(q, counting_cb, st), WS_OK);
    /* events keep flowing while we detach */
    for (int i = 0; i < 200; i++)
        CHECK_EQ(ws_write(s, "tick tock tick tock", 19, WS_TEXT), WS_OK);
    if (destroy)
        CHECK_EQ(ws_queue_destroy(q), WS_OK);
    else
        CHECK_EQ(ws_queue_set_callback(q, NULL, NULL), WS_OK);
    free(st); /* allowed now: no call with this user runs or will start */
    for (int i = 0; i < 100; i++)
        CHECK_EQ(ws_write(s, "after", 5, WS_TEXT), WS_OK);
    wst_sleep_ms(200); /* give a wrong callback the chance to run (ASan) */
    CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    if (!destroy)
        CHECK_EQ(ws_queue_destroy(q), WS_OK);
}

struct consumer {
    int q;
    ws_event ev;
    int rc;
};

static void *second_consumer(void *arg)
{
    struct consumer *c = arg;
    c->rc = ws_next_event(c->q, &c->ev, 3000);
    return NULL;
}

static void one_consumer_never_frees_another_consumers_event(const struct wst_server *echo)
{
    int q = ws_queue_create();
    char opts[64];
    snprintf(opts, sizeof opts, "{\"queue\":%d}", q);
    int s = wst_open(echo->url, opts);
    if (s < 0)
        return;
    ws_event ev;
    WST_EXPECT_EVENT(q, WS_EV_OPEN, 3000, &ev);
    static unsigned char a[8192], b[8192];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    CHECK_EQ(ws_write(s, a, sizeof a, WS_BINARY), WS_OK);
    CHECK_EQ(ws_write(s, b, sizeof b, WS_BINARY), WS_OK);
    if (WST_EXPECT_EVENT(q, WS_EV_MESSAGE, 3000, &ev)) {
        struct consumer other = {q, {0}, -1};
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, second_consumer, &other), 0);
        pthread_join(t, NULL);
        CHECK_EQ(other.rc, WS_OK);
        /* ASan reports here if the other thread's call freed our event */
        CHECK(ev.len == sizeof a && memcmp(ev.data, a, sizeof a) == 0);
    }
    CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    CHECK_EQ(ws_queue_destroy(q), WS_OK);
}

static void silent_script(struct ms_conn *c, void *arg)
{
    (void)arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    ms_wait_eof(c, 5000); /* never answers the close frame */
}

static void close_many_in_parallel(void)
{
    struct miniserver ms;
    if (ms_start(&ms, silent_script, NULL) != 0)
        return;
    int socks[4];
    for (int i = 0; i < 4; i++)
        socks[i] = wst_open(ms.url, "{\"closeTimeout\":300,\"pingInterval\":0}");
    int64_t t0 = wst_now_ms();
    CHECK_EQ(ws_close_many(socks, 4, 1001, "bye", -1), WS_OK);
    int64_t took = wst_now_ms() - t0;
    CHECK(took >= 250 && took < 1000); /* one closeTimeout, not four */
    for (int i = 0; i < 4; i++)
        CHECK_ERR(ws_state(socks[i]), WS_ERROR, WS_E_BAD_SOCKET);
    ms_stop(&ms);
}

int main(int argc, char **argv)
{
    wst_init(argc, argv, 120);
    struct wst_server echo;
    if (wst_echo_start(&echo) != 0)
        return wst_result();
    lent_message_survives_a_background_reconnect();
    host_frees_user_after_detaching(&echo, 0);
    host_frees_user_after_detaching(&echo, 1);
    one_consumer_never_frees_another_consumers_event(&echo);
    close_many_in_parallel();
    wst_echo_stop(&echo);
    return wst_result();
}
