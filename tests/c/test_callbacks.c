/*
 * Issue 4, callbacks (ws_queue_set_callback), through the C API:
 *
 * 1. Callbacks of two queues run in order (OPEN, messages, CLOSE, nothing
 *    after) on one library thread ("wsclient-callbacks", which Linux shows
 *    truncated to 15 bytes), never on the test's
 *    thread, so never inside one of the test's ws_* calls (the test keeps
 *    calling ws_state/ws_get_info/ws_write meanwhile); ws_next_event on a
 *    queue with a callback is WS_E_INVALID_ARGUMENT.
 * 2. A callback ws_write()s on OPEN and on each echo and ws_close()s its
 *    socket from inside the callback: no deadlock, ws_close returns WS_OK
 *    promptly, the final CLOSE still comes, the number is released.
 * 3. 100 sockets on one queue with a callback: each writes N messages from
 *    its OPEN callback and closes itself from the callback after the N-th
 *    echo; every echo and every CLOSE is accounted for.
 * 4. A NULL callback switches the queue back to ws_next_event.
 *
 * The test waits with pthread mutex/cond (CLOCK_MONOTONIC deadlines), never
 * by spinning.
 */
#define _GNU_SOURCE /* pthread_getname_np */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "miniserver.h"
#include "testutil.h"

static pthread_t g_main_thread;

/* ---- waiting with a condition variable ---------------------------------- */

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Each waiter is initialised once, before its callbacks can run, and never
 * destroyed (callback contexts have static storage). */
static void waiter_init(struct waiter *w)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &a);
    pthread_condattr_destroy(&a);
    pthread_mutex_init(&w->mu, NULL);
}

/* With w->mu held: waits for a signal until `deadline_ms` (wst_now_ms clock,
 * which is CLOCK_MONOTONIC). Returns 0 once the deadline passed. */
static int waiter_wait(struct waiter *w, int64_t deadline_ms)
{
    int64_t now = wst_now_ms();
    if (now >= deadline_ms)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (deadline_ms - now) * 1000000;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    return 1;
}

static int queue_opts(char *buf, size_t cap, int q)
{
    return snprintf(buf, cap, "{\"queue\": %d}", q);
}

/* ---- 1. order and thread ---------------------------------------------------- */

#define ORDER_N 300

/* Sends ORDER_N text messages "<tag> <i>", then closes with 1000. */
struct closing_arg {
    const char *tag;
    int reply;
};

static void closing_server(struct ms_conn *c, void *arg)
{
    struct closing_arg *ca = arg;
    ca->reply = -1;
    if (ms_handshake(c, NULL) != 0)
        return;
    wst_sleep_ms(50);
    for (int i = 0; i < ORDER_N; i++) {
        char m[64];
        int n = snprintf(m, sizeof m, "%s %d", ca->tag, i);
        if (ms_send_frame(c, 0x81, m, (size_t)n) != 0)
            return;
    }
    ms_send_frame(c, 0x88, "\x03\xe8", 2);
    ca->reply = ms_wait_close(c, 10000);
}

struct rec_entry {
    int type, socket, code, closed_by, data_ok;
    char text[48];
    pthread_t thread;
    char thread_name[32];
};

#define REC_CAP (ORDER_N + 50)

/* A recording callback's log. Static storage (see main): a late callback
 * after a failure must not touch freed memory. */
struct rec_log {
    struct waiter w;
    struct rec_entry e[REC_CAP];
    int n, cap;
    int closes;
    int null_events;
};

static void record_cb(const ws_event *ev, void *user)
{
    struct rec_log *log = user;
    struct rec_entry en;
    memset(&en, 0, sizeof en);
    en.thread = pthread_self();
    pthread_getname_np(en.thread, en.thread_name, sizeof en.thread_name);
    pthread_mutex_lock(&log->w.mu);
    if (ev == NULL) {
        log->null_events++;
    } else {
        en.type = ev->type;
        en.socket = ev->socket;
        en.code = ev->code;
        en.closed_by = ev->closed_by;
        en.data_ok = wst_ev_data_ok(ev);
        if (en.data_ok)
            snprintf(en.text, sizeof en.text, "%.*s", (int)(ev->len < 40 ? ev->len : 40),
                     (const char *)ev->data);
        if (log->n < log->cap)
            log->e[log->n++] = en;
        if (ev->type == WS_EV_CLOSE)
            log->closes++;
    }
    pthread_cond_broadcast(&log->w.cv);
    pthread_mutex_unlock(&log->w.mu);
}

/* Called once per log, before any callback can use it; never destroyed. */
static int rec_init(struct rec_log *log, int cap)
{
    memset(log, 0, sizeof *log);
    waiter_init(&log->w);
    log->cap = cap < REC_CAP ? cap : REC_CAP;
    return 1;
}

/* Waits until the log holds `closes` CLOSE events. */
static int rec_wait_closes(struct rec_log *log, int closes, int timeout_ms)
{
    int64_t deadline = wst_now_ms() + timeout_ms;
    pthread_mutex_lock(&log->w.mu);
    while (log->closes < closes && waiter_wait(&log->w, deadline)) {
    }
    int ok = log->closes >= closes;
    pthread_mutex_unlock(&log->w.mu);
    return ok;
}

static int rec_count(struct rec_log *log)
{
    pthread_mutex_lock(&log->w.mu);
    int n = log->n;
    pthread_mutex_unlock(&log->w.mu);
    return n;
}

/* Checks a log: OPEN, ORDER_N messages "<tag> i", CLOSE by the server,
 * every entry on the callback thread. Returns that thread via *cb_thread. */
static void check_order_log(struct rec_log *log, int s, const char *tag, pthread_t *cb_thread,
                            int *have_cb_thread)
{
    pthread_mutex_lock(&log->w.mu);
    if (log->n != ORDER_N + 2)
        wst_fail(__FILE__, __LINE__, "%s: %d callbacks, expected OPEN + %d messages + CLOSE", tag,
                 log->n, ORDER_N);
    CHECK_EQ(log->null_events, 0);
    for (int i = 0; i < log->n; i++) {
        struct rec_entry *en = &log->e[i];
        int bad = 0;
        if (pthread_equal(en->thread, g_main_thread)) {
            wst_fail(__FILE__, __LINE__, "%s: callback %d ran on the test's thread", tag, i);
            bad = 1;
        }
        /* the OS keeps 15 bytes of a thread's name: "wsclient-callba" */
        if (strncmp(en->thread_name, "wsclient-callbacks", 15) != 0) {
            wst_fail(__FILE__, __LINE__, "%s: callback %d ran on thread \"%s\"", tag, i,
                     en->thread_name);
            bad = 1;
        }
        if (!*have_cb_thread) {
            *cb_thread = en->thread;
            *have_cb_thread = 1;
        } else if (!pthread_equal(*cb_thread, en->thread)) {
            wst_fail(__FILE__, __LINE__, "%s: callback %d ran on another thread than the others",
                     tag, i);
            bad = 1;
        }
        if (en->socket != s || !en->data_ok) {
            wst_fail(__FILE__, __LINE__, "%s: callback %d: socket %d (expected %d), data_ok %d",
                     tag, i, en->socket, s, en->data_ok);
            bad = 1;
        }
        char want[64];
        if (i == 0) {
            if (en->type != WS_EV_OPEN || en->code != 101) {
                wst_fail(__FILE__, __LINE__, "%s: first callback %s code %d, expected OPEN 101",
                         tag, wst_ev_name(en->type), en->code);
                bad = 1;
            }
        } else if (i <= ORDER_N) {
            snprintf(want, sizeof want, "%s %d", tag, i - 1);
            if (en->type != WS_EV_MESSAGE || strcmp(en->text, want) != 0) {
                wst_fail(__FILE__, __LINE__, "%s: callback %d is %s \"%s\", expected MESSAGE \"%s\"",
                         tag, i, wst_ev_name(en->type), en->text, want);
                bad = 1;
            }
        } else if (en->type != WS_EV_CLOSE || en->closed_by != WS_BY_SERVER || en->code != 1000) {
            wst_fail(__FILE__, __LINE__, "%s: callback %d is %s (code %d, closed_by %d), expected "
                     "the server's CLOSE 1000", tag, i, wst_ev_name(en->type), en->code,
                     en->closed_by);
            bad = 1;
        }
        if (bad)
            break; /* one report per log is enough */
    }
    pthread_mutex_unlock(&log->w.mu);
}

static void callbacks_order_and_thread(void)
{
    struct closing_arg ca1 = {"one", -1}, ca2 = {"two", -1};
    struct miniserver m1, m2;
    static struct rec_log l1, l2;
    int q1 = -1, q2 = -1, a = -1, b = -1;
    rec_init(&l1, REC_CAP);
    rec_init(&l2, REC_CAP);
    if (ms_start(&m1, closing_server, &ca1) != 0)
        return;
    if (ms_start(&m2, closing_server, &ca2) != 0) {
        ms_stop(&m1);
        return;
    }
    q1 = ws_queue_create();
    q2 = ws_queue_create();
    if (!CHECK(q1 > 0 && q2 > 0))
        goto out;
    CHECK_EQ(ws_queue_set_callback(q1, record_cb, &l1), WS_OK);
    CHECK_EQ(ws_queue_set_callback(q2, record_cb, &l2), WS_OK);
    char o1[64], o2[64];
    queue_opts(o1, sizeof o1, q1);
    queue_opts(o2, sizeof o2, q2);
    a = ws_open_async(m1.url, o1);
    CHECK(a > 0);
    b = wst_open(m2.url, o2);
    /* Keep calling into the library from this thread while callbacks run:
     * none of them may run inside these calls (they would be on this thread). */
    int64_t deadline = wst_now_ms() + 10000;
    int calls = 0;
    while (wst_now_ms() < deadline && (rec_count(&l1) < ORDER_N + 2 || rec_count(&l2) < ORDER_N + 2)) {
        ws_info info;
        if (a > 0) {
            ws_state(a);
            ws_get_info(a, &info, sizeof info);
        }
        if (b > 0)
            ws_state(b);
        ws_next_event(q1, &(ws_event){0}, 0); /* refused: the queue has a callback */
        calls += 4;
        wst_sleep_ms(1);
    }
    wst_log("%d ws_* calls on the test thread while the callbacks ran", calls);
    CHECK(rec_wait_closes(&l1, 1, 5000));
    CHECK(rec_wait_closes(&l2, 1, 5000));
    wst_sleep_ms(300); /* nothing may follow the CLOSE */
    pthread_t cb_thread;
    int have = 0;
    if (a > 0)
        check_order_log(&l1, a, "one", &cb_thread, &have);
    if (b > 0)
        check_order_log(&l2, b, "two", &cb_thread, &have);
    /* ws_next_event cannot be used on a queue with a callback */
    ws_event ev;
    CHECK_ERR(ws_next_event(q1, &ev, 0), WS_ERROR, WS_E_INVALID_ARGUMENT);
    CHECK_ERR(ws_next_event(q2, &ev, 100), WS_ERROR, WS_E_INVALID_ARGUMENT);
    int before = rec_count(&l1) + rec_count(&l2);
    if (a > 0)
        CHECK_EQ(ws_close(a, 0, NULL), WS_OK);
    if (b > 0)
        CHECK_EQ(ws_close(b, 0, NULL), WS_OK);
    a = b = -1;
    wst_sleep_ms(200);
    CHECK_EQ(rec_count(&l1) + rec_count(&l2), before); /* no callback after ws_close */
out:
    if (a > 0)
        ws_close(a, 0, NULL);
    if (b > 0)
        ws_close(b, 0, NULL);
    if (q1 > 0)
        CHECK_EQ(ws_queue_destroy(q1), WS_OK);
    if (q2 > 0)
        CHECK_EQ(ws_queue_destroy(q2), WS_OK);
    ms_stop(&m1);
    ms_stop(&m2);
    CHECK_EQ(ca1.reply, 1000);
    CHECK_EQ(ca2.reply, 1000);
}

/* ---- 2. write and close from inside the callback ----------------------------- */

#define ROUNDS 5

struct echo_ctl {
    struct waiter w;
    int types[32];
    int sockets[32];
    char texts[32][32];
    int n;
    int messages;
    int write_fail;
    int write_fail_code;
    int close_rc, close_code, close_called;
    int64_t close_took_ms;
    int closed;
    int on_main_thread;
    int after_close;
};

static void echo_then_close_cb(const ws_event *ev, void *user)
{
    struct echo_ctl *ctl = user;
    if (pthread_equal(pthread_self(), g_main_thread))
        __atomic_store_n(&ctl->on_main_thread, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&ctl->w.mu);
    if (ctl->closed)
        ctl->after_close++;
    if (ctl->n < 32) {
        ctl->types[ctl->n] = ev->type;
        ctl->sockets[ctl->n] = ev->socket;
        snprintf(ctl->texts[ctl->n], sizeof ctl->texts[0], "%.*s",
                 (int)(ev->len < 30 ? ev->len : 30), (const char *)ev->data);
        ctl->n++;
    }
    if (ev->type == WS_EV_MESSAGE)
        ctl->messages++;
    int k = ctl->messages;
    pthread_mutex_unlock(&ctl->w.mu);

    /* ws_* calls without holding our lock (as a host would) */
    if ((ev->type == WS_EV_OPEN || ev->type == WS_EV_MESSAGE) && k < ROUNDS) {
        char m[32];
        int n = snprintf(m, sizeof m, "round %d", k);
        int rc = ws_write(ev->socket, m, (size_t)n, WS_TEXT);
        if (rc != WS_OK) {
            pthread_mutex_lock(&ctl->w.mu);
            ctl->write_fail++;
            ctl->write_fail_code = ws_last_error_code();
            pthread_mutex_unlock(&ctl->w.mu);
        }
    } else if (ev->type == WS_EV_MESSAGE && k == ROUNDS) {
        int64_t t0 = wst_now_ms();
        int rc = ws_close(ev->socket, 1000, "closed from the callback");
        int code = ws_last_error_code();
        pthread_mutex_lock(&ctl->w.mu);
        ctl->close_rc = rc;
        ctl->close_code = code;
        ctl->close_took_ms = wst_now_ms() - t0;
        ctl->close_called++;
        pthread_mutex_unlock(&ctl->w.mu);
    }
    if (ev->type == WS_EV_CLOSE) {
        pthread_mutex_lock(&ctl->w.mu);
        ctl->closed = 1;
        pthread_mutex_unlock(&ctl->w.mu);
    }
    pthread_mutex_lock(&ctl->w.mu);
    pthread_cond_broadcast(&ctl->w.cv);
    pthread_mutex_unlock(&ctl->w.mu);
}

static void callback_writes_and_closes(const char *url)
{
    static struct echo_ctl ctl; /* static: see struct rec_log */
    memset(&ctl, 0, sizeof ctl);
    waiter_init(&ctl.w);
    int q = ws_queue_create();
    if (!CHECK(q > 0))
        return;
    CHECK_EQ(ws_queue_set_callback(q, echo_then_close_cb, &ctl), WS_OK);
    char opts[64];
    queue_opts(opts, sizeof opts, q);
    int s = ws_open_async(url, opts);
    if (CHECK(s > 0)) {
        int64_t deadline = wst_now_ms() + 10000;
        pthread_mutex_lock(&ctl.w.mu);
        while (!ctl.closed && waiter_wait(&ctl.w, deadline)) {
        }
        int closed = ctl.closed;
        pthread_mutex_unlock(&ctl.w.mu);
        if (!CHECK(closed))
            wst_log("no CLOSE callback within 10 s: %d events, %d messages, close called %d",
                    ctl.n, ctl.messages, ctl.close_called);
        wst_sleep_ms(300); /* nothing may follow */
        pthread_mutex_lock(&ctl.w.mu);
        CHECK_EQ(ctl.n, ROUNDS + 2); /* OPEN, ROUNDS echoes, CLOSE */
        if (ctl.n >= 1)
            CHECK_EQ(ctl.types[0], WS_EV_OPEN);
        for (int i = 1; i <= ROUNDS && i < ctl.n; i++) {
            char want[32];
            snprintf(want, sizeof want, "round %d", i - 1);
            CHECK_EQ(ctl.types[i], WS_EV_MESSAGE);
            if (strcmp(ctl.texts[i], want) != 0)
                wst_fail(__FILE__, __LINE__, "echo %d is \"%s\", expected \"%s\"", i,
                         ctl.texts[i], want);
        }
        if (ctl.n == ROUNDS + 2)
            CHECK_EQ(ctl.types[ROUNDS + 1], WS_EV_CLOSE);
        for (int i = 0; i < ctl.n; i++)
            CHECK_EQ(ctl.sockets[i], s);
        CHECK_EQ(ctl.after_close, 0);
        CHECK_EQ(ctl.write_fail, 0);
        if (ctl.write_fail)
            wst_log("a write from the callback failed with %s", ws_error_name(ctl.write_fail_code));
        CHECK_EQ(ctl.close_called, 1);
        CHECK_EQ(ctl.close_rc, WS_OK);
        CHECK_EQ(ctl.close_code, WS_E_OK);
        wst_log("ws_close from inside the callback took %lld ms", (long long)ctl.close_took_ms);
        CHECK(ctl.close_took_ms < 2000);
        CHECK_EQ(ctl.on_main_thread, 0);
        pthread_mutex_unlock(&ctl.w.mu);
        /* released by the callback's ws_close */
        CHECK_ERR(ws_state(s), WS_ERROR, WS_E_BAD_SOCKET);
        CHECK_ERR(ws_close(s, 0, NULL), WS_ERROR, WS_E_BAD_SOCKET);
    }
    CHECK_EQ(ws_queue_destroy(q), WS_OK);
}

/* ---- 3. 100 sockets ---------------------------------------------------------- */

#define FLEET 100
#define FLEET_MSGS 50

struct fleet_slot {
    int socket;
    int opens;
    int next; /* echoes received, in order */
    int closes;
    int after_close;
};

struct fleet {
    struct waiter w;
    struct fleet_slot slot[FLEET];
    int used;
    int done;
    int errors;
    char first_error[256];
    int on_main_thread;
};

static void fleet_error(struct fleet *f, const char *fmt, int s, int a)
{
    pthread_mutex_lock(&f->w.mu);
    if (f->errors++ == 0)
        snprintf(f->first_error, sizeof f->first_error, fmt, s, a);
    pthread_mutex_unlock(&f->w.mu);
}

/* With f->w.mu held. */
static struct fleet_slot *fleet_slot(struct fleet *f, int s)
{
    for (int i = 0; i < f->used; i++)
        if (f->slot[i].socket == s)
            return &f->slot[i];
    if (f->used == FLEET)
        return NULL;
    f->slot[f->used].socket = s;
    return &f->slot[f->used++];
}

static void fleet_cb(const ws_event *ev, void *user)
{
    struct fleet *f = user;
    int s = ev->socket;
    if (pthread_equal(pthread_self(), g_main_thread))
        __atomic_store_n(&f->on_main_thread, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&f->w.mu);
    struct fleet_slot *sl = fleet_slot(f, s);
    int closed = sl ? sl->closes : 0;
    int n = 0;
    if (sl && !closed) {
        if (ev->type == WS_EV_OPEN)
            sl->opens++;
        if (ev->type == WS_EV_MESSAGE) {
            char want[32];
            int wl = snprintf(want, sizeof want, "%d:%d", s, sl->next);
            if (ev->len != (size_t)wl || memcmp(ev->data, want, (size_t)wl) != 0) {
                if (f->errors++ == 0)
                    snprintf(f->first_error, sizeof f->first_error,
                             "socket %d: echo %d is \"%.*s\"", s, sl->next,
                             (int)(ev->len < 40 ? ev->len : 40), (const char *)ev->data);
            }
            n = ++sl->next;
        }
        if (ev->type == WS_EV_CLOSE) {
            sl->closes++;
            f->done++;
            pthread_cond_broadcast(&f->w.cv);
        }
    } else if (sl) {
        sl->after_close++;
    }
    pthread_mutex_unlock(&f->w.mu);
    if (!sl) {
        fleet_error(f, "socket %d: more than %d sockets seen", s, FLEET);
        return;
    }
    if (closed) {
        fleet_error(f, "socket %d: event %d after its CLOSE", s, ev->type);
        return;
    }
    switch (ev->type) {
    case WS_EV_OPEN:
        for (int i = 0; i < FLEET_MSGS; i++) {
            char m[32];
            int len = snprintf(m, sizeof m, "%d:%d", s, i);
            if (ws_write(s, m, (size_t)len, WS_TEXT) != WS_OK)
                fleet_error(f, "socket %d: ws_write from the callback failed: %d", s,
                            ws_last_error_code());
        }
        break;
    case WS_EV_MESSAGE:
        if (n == FLEET_MSGS && ws_close(s, 0, NULL) != WS_OK)
            fleet_error(f, "socket %d: ws_close from the callback failed: %d", s,
                        ws_last_error_code());
        break;
    case WS_EV_CLOSE:
        break;
    default:
        fleet_error(f, "socket %d: unexpected event type %d", s, ev->type);
    }
}

static void hundred_sockets(const char *url)
{
    static struct fleet fleet; /* static: see struct rec_log */
    struct fleet *f = &fleet;
    memset(f, 0, sizeof *f);
    waiter_init(&f->w);
    int socks[FLEET];
    int opened = 0;
    int q = ws_queue_create();
    if (!CHECK(q > 0))
        return;
    CHECK_EQ(ws_queue_set_callback(q, fleet_cb, f), WS_OK);
    char opts[64];
    queue_opts(opts, sizeof opts, q);
    int64_t t0 = wst_now_ms();
    for (int i = 0; i < FLEET; i++) {
        socks[i] = ws_open_async(url, opts);
        if (!CHECK(socks[i] > 0))
            break;
        opened++;
    }
    int64_t deadline = wst_now_ms() + 45000;
    pthread_mutex_lock(&f->w.mu);
    while (f->done < opened && waiter_wait(&f->w, deadline)) {
    }
    int done = f->done;
    pthread_mutex_unlock(&f->w.mu);
    wst_log("%d of %d sockets echoed %d messages each and closed from the callback in %lld ms",
            done, opened, FLEET_MSGS, (long long)(wst_now_ms() - t0));
    CHECK_EQ(done, FLEET);
    wst_sleep_ms(300); /* nothing may follow a CLOSE */
    pthread_mutex_lock(&f->w.mu);
    if (f->errors)
        wst_fail(__FILE__, __LINE__, "%d problems in the callbacks; first: %s", f->errors,
                 f->first_error);
    CHECK_EQ(f->used, opened);
    CHECK_EQ(f->on_main_thread, 0);
    int bad = 0;
    for (int i = 0; i < opened; i++) {
        struct fleet_slot *sl = NULL;
        for (int k = 0; k < f->used; k++)
            if (f->slot[k].socket == socks[i])
                sl = &f->slot[k];
        if (!sl || sl->opens != 1 || sl->next != FLEET_MSGS || sl->closes != 1 ||
            sl->after_close != 0) {
            if (bad++ < 5)
                wst_fail(__FILE__, __LINE__,
                         "socket %d: %s opens %d, echoes %d of %d, closes %d, after close %d",
                         socks[i], sl ? "" : "(never seen)", sl ? sl->opens : 0,
                         sl ? sl->next : 0, FLEET_MSGS, sl ? sl->closes : 0,
                         sl ? sl->after_close : 0);
        }
    }
    pthread_mutex_unlock(&f->w.mu);
    /* every number was released by ws_close in its callback */
    for (int i = 0; i < opened; i++) {
        int st = ws_state(socks[i]);
        if (st != WS_ERROR) {
            wst_fail(__FILE__, __LINE__, "socket %d: ws_state %d, expected released", socks[i], st);
            ws_close(socks[i], 0, NULL);
        }
    }
    CHECK_EQ(ws_queue_destroy(q), WS_OK);
}

/* ---- 4. back to ws_next_event ---------------------------------------------- */

static void null_callback_switches_back(const char *url)
{
    static struct rec_log log; /* static: see struct rec_log */
    rec_init(&log, 16);
    int q = ws_queue_create();
    if (!CHECK(q > 0))
        return;
    CHECK_EQ(ws_queue_set_callback(q, record_cb, &log), WS_OK);
    char opts[64];
    queue_opts(opts, sizeof opts, q);
    int s = ws_open_async(url, opts);
    if (CHECK(s > 0)) {
        int64_t deadline = wst_now_ms() + 5000;
        pthread_mutex_lock(&log.w.mu);
        while (log.n < 1 && waiter_wait(&log.w, deadline)) {
        }
        pthread_mutex_unlock(&log.w.mu);
        CHECK_EQ(rec_count(&log), 1); /* the OPEN */
        ws_event ev;
        CHECK_ERR(ws_next_event(q, &ev, 0), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_EQ(ws_queue_set_callback(q, NULL, NULL), WS_OK);
        CHECK_EQ(ws_write(s, "after the switch", 16, WS_TEXT), WS_OK);
        if (WST_EXPECT_EVENT(q, WS_EV_MESSAGE, 3000, &ev)) {
            CHECK_EQ(ev.socket, s);
            CHECK(wst_ev_data_is(&ev, "after the switch"));
        }
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        WST_EXPECT_EVENT(q, WS_EV_CLOSE, 3000, &ev);
        pthread_mutex_lock(&log.w.mu);
        CHECK_EQ(log.n, 1);
        if (log.n >= 1) {
            CHECK_EQ(log.e[0].type, WS_EV_OPEN);
            CHECK_EQ(log.e[0].socket, s);
        }
        pthread_mutex_unlock(&log.w.mu);
    }
    CHECK_EQ(ws_queue_destroy(q), WS_OK);
}

int main(int argc, char **argv)
{
    struct wst_server srv;
    wst_init(argc, argv, 85);
    g_main_thread = pthread_self();

    wst_log("--- callbacks: order, one library thread, never the test's");
    callbacks_order_and_thread();
    if (wst_echo_start(&srv) == 0) {
        wst_log("--- a callback writes and closes its socket");
        callback_writes_and_closes(srv.url);
        wst_log("--- %d sockets echo %d messages each through callbacks", FLEET, FLEET_MSGS);
        hundred_sockets(srv.url);
        wst_log("--- a NULL callback switches back to ws_next_event");
        null_callback_switches_back(srv.url);
        wst_echo_stop(&srv);
    }
    return wst_result();
}
