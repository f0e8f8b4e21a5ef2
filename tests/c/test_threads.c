/*
 * Threads: several threads open, echo, and close their own sockets at once;
 * and one socket shared by two writer threads and a reader thread (full
 * duplex): every message arrives whole (never interleaved) and each
 * writer's messages in order.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define THREADS 8
#define ROUNDS 3
#define MESSAGES 25

static const char *g_url;

static void *own_sockets(void *arg)
{
    unsigned id = (unsigned)(size_t)arg;
    static const size_t sizes[] = {0, 1, 125, 126, 1000, 65536, 70000};
    unsigned char *buf = malloc(70000);
    if (!CHECK(buf != NULL))
        return NULL;
    for (int r = 0; r < ROUNDS; r++) {
        int s = wst_open(g_url, "{\"timeout\": 10000}");
        if (s < 0)
            break;
        for (int m = 0; m < MESSAGES; m++) {
            size_t n = sizes[(id + (unsigned)m) % (sizeof sizes / sizeof sizes[0])];
            int type = (m % 2) ? WS_BINARY : WS_TEXT;
            if (type == WS_TEXT)
                wst_fill_text(buf, n, id * 1000 + (unsigned)m);
            else
                wst_fill(buf, n, id * 1000 + (unsigned)m);
            if (!wst_echo_roundtrip(s, buf, n, type, 20000)) {
                wst_log("thread %u round %d message %d failed", id, r, m);
                break;
            }
        }
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    free(buf);
    return NULL;
}

/* --- one socket, two writers, one reader --- */

#define PER_WRITER 400

struct shared {
    int s;
    char tag; /* 'A' or 'B' */
};

/* Message i of writer `tag`: "<tag> <i> " followed by filler up to a size
 * that varies with i, so that a torn or interleaved message is detected. */
static size_t make_message(char tag, int i, char *buf, size_t cap)
{
    size_t size = 16 + (size_t)(i * 37) % 3000;
    if (size > cap)
        size = cap;
    int n = snprintf(buf, cap, "%c %d ", tag, i);
    for (size_t k = (size_t)n; k < size; k++)
        buf[k] = (char)(tag + (char)(k % 20));
    return size;
}

static void *writer(void *arg)
{
    struct shared *sh = arg;
    char buf[4096];
    for (int i = 0; i < PER_WRITER; i++) {
        size_t n = make_message(sh->tag, i, buf, sizeof buf);
        if (!CHECK_EQ(ws_write(sh->s, buf, n, WS_TEXT), WS_OK))
            break;
    }
    return NULL;
}

static void full_duplex(void)
{
    int s = wst_open(g_url, NULL);
    if (s < 0)
        return;
    struct shared a = {s, 'A'}, b = {s, 'B'};
    pthread_t ta, tb;
    int started_a = pthread_create(&ta, NULL, writer, &a) == 0;
    int started_b = pthread_create(&tb, NULL, writer, &b) == 0;
    CHECK(started_a && started_b);
    int next[2] = {0, 0};
    int expected = (started_a + started_b) * PER_WRITER;
    char want[4096];
    for (int got = 0; got < expected; got++) {
        const void *p;
        size_t len;
        int type;
        if (!CHECK_EQ(ws_read(s, &p, &len, &type, 20000), WS_OK))
            break;
        const char *m = p;
        int w = len > 0 && m[0] == 'B';
        size_t n = make_message(w ? 'B' : 'A', next[w], want, sizeof want);
        if (!CHECK(type == WS_TEXT && len == n && memcmp(m, want, n) == 0)) {
            wst_log("message %d: expected %c %d, got %.20s (%zu bytes)", got, w ? 'B' : 'A',
                    next[w], m, len);
            break;
        }
        next[w]++;
    }
    if (started_a)
        pthread_join(ta, NULL);
    if (started_b)
        pthread_join(tb, NULL);
    wst_log("full duplex: %d + %d messages", next[0], next[1]);
    CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
}

int main(int argc, char **argv)
{
    struct wst_server srv;
    pthread_t t[THREADS];
    int started[THREADS];

    wst_init(argc, argv, 110);
    if (wst_echo_start(&srv) != 0)
        return wst_result();
    g_url = srv.url;

    for (size_t i = 0; i < THREADS; i++)
        started[i] = CHECK_EQ(pthread_create(&t[i], NULL, own_sockets, (void *)i), 0);
    for (size_t i = 0; i < THREADS; i++)
        if (started[i])
            pthread_join(t[i], NULL);
    wst_log("%d threads x %d connections x %d echoes done", THREADS, ROUNDS, MESSAGES);

    full_duplex();

    wst_echo_stop(&srv);
    return wst_result();
}
