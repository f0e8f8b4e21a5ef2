/*
 * Helpers shared by the C tests (tests/c/test_*.c), in the spirit of curl's
 * tests/libtest: every check reports file:line plus the library's last error
 * and counts as a failure, tests always run their cleanup, and every test
 * process has a watchdog so that a hang fails instead of blocking ctest.
 *
 * A test's main() typically does:
 *
 *     wst_init(argc, argv, 60);           // watchdog: 60 s for the whole test
 *     if (wst_echo_start(&srv) != 0) ...  // spawns wsclient-echo-server --port 0
 *     ...checks...
 *     wst_echo_stop(&srv);
 *     return wst_result();                // 0 when no check failed
 */
#ifndef WSCLIENT_TESTUTIL_H
#define WSCLIENT_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wsclient.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of failed checks so far (all threads). */
int wst_failures(void);
/* Records one failure; printf-style message. Thread-safe. */
void wst_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Exit status for main(): 0 if no check failed, else 1. Prints a summary. */
int wst_result(void);

/*
 * CHECK(cond): on failure records it (with the last error of this thread,
 * read before any other ws_* call) and evaluates to 0, so a test can write
 * `if (!CHECK(s > 0)) goto out;`.
 */
#define CHECK(cond) wst_check_(__FILE__, __LINE__, #cond, (cond) ? 1 : 0)
int wst_check_(const char *file, int line, const char *expr, int ok);

/* CHECK_EQ for integers: prints both values. */
#define CHECK_EQ(actual, expected)                                           \
    wst_check_eq_(__FILE__, __LINE__, #actual, (long long)(actual),          \
                  (long long)(expected))
int wst_check_eq_(const char *file, int line, const char *expr, long long actual,
                  long long expected);

/*
 * CHECK_ERR(call, rc, code): `call` returned `rc` and ws_last_error_code()
 * is `code` (read right after the call, on this thread).
 */
#define CHECK_ERR(call, rc, code)                                            \
    wst_check_err_(__FILE__, __LINE__, #call, (long long)(call), (rc), (code))
int wst_check_err_(const char *file, int line, const char *expr, long long actual,
                   long long rc, int code);

/* Prints a progress line (prefixed with the elapsed time) on stderr. */
void wst_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Starts the watchdog (the whole process is killed with a message after
 * `deadline_s` seconds) and remembers argv[1] as the echo server's path
 * (else the WSCLIENT_ECHO_SERVER environment variable is used).
 */
void wst_init(int argc, char **argv, unsigned deadline_s);

/* Monotonic clock in milliseconds. */
int64_t wst_now_ms(void);
void wst_sleep_ms(int ms);

/* Deterministic payload: byte i of a message with `seed` (never 0xff so that
 * text payloads can be built from it: see wst_fill_text). */
void wst_fill(unsigned char *buf, size_t len, unsigned seed);
/* Printable ASCII payload (valid UTF-8). */
void wst_fill_text(unsigned char *buf, size_t len, unsigned seed);

/* --- The echo server (src/bin/wsclient-echo-server.rs) ------------------ */

struct wst_server {
    pid_t pid;
    int port;
    char url[64]; /* "ws://127.0.0.1:PORT/" */
};

/*
 * Spawns `wsclient-echo-server --port 0` (extra arguments may be NULL) and
 * waits up to 15 s for its "LISTENING <port>" line. The child dies with the
 * test process (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.
 * Returns 0, or -1 after recording a failure.
 */
int wst_echo_start(struct wst_server *srv);
/*
 * The same on a given port (`--port N`; 0 as wst_echo_start), e.g. to start a
 * stopped server again on its old port. Returns 0, or -1 after recording a
 * failure.
 */
int wst_echo_start_port(struct wst_server *srv, int port);
/* Stops it (SIGTERM, then SIGKILL after 5 s) and reaps it. Idempotent. */
void wst_echo_stop(struct wst_server *srv);

/* --- Small socket helpers -------------------------------------------- */

/*
 * A TCP port on 127.0.0.1 that refuses connections: a socket bound to
 * port 0 but not listening (Linux answers SYNs to it with RST). Keep the
 * returned fd open while using the port; close it afterwards.
 */
int wst_refusing_port(int *port);

/* Opens `url` with `options`; on failure records it and returns -1. */
int wst_open(const char *url, const char *options);

/*
 * Writes `len` bytes of `type`, reads the echo within `timeout_ms`, and
 * checks type, length and content. Returns 1 on success, 0 after recording a
 * failure.
 */
int wst_echo_roundtrip(int s, const void *data, size_t len, int type, int timeout_ms);

/* --- Events (ws_next_event) --------------------------------------------- */

/* "OPEN", "MESSAGE", "PONG", "ERROR", "CLOSE", "RECONNECTING" or "?". */
const char *wst_ev_name(int type);

/* One line about an event (type, socket, fields, the first bytes of data),
 * for failure messages and logs. */
void wst_ev_format(const ws_event *e, char *buf, size_t cap);

/* 1 when `data` is not NULL and followed by a NUL byte (as the header
 * promises), else 0. */
int wst_ev_data_ok(const ws_event *e);

/* 1 when the event's data is exactly the NUL-terminated string `s`. */
int wst_ev_data_is(const ws_event *e, const char *s);

/*
 * WST_EXPECT_EVENT(q, type, timeout_ms, &ev): the next event of queue `q`
 * comes within `timeout_ms`, is of `type` (0: any) and has valid data;
 * otherwise records a failure naming what came instead. Returns 1 or 0.
 */
#define WST_EXPECT_EVENT(q, type, timeout_ms, ev)                             \
    wst_expect_event_(__FILE__, __LINE__, (q), (type), (timeout_ms), (ev))
int wst_expect_event_(const char *file, int line, int q, int type, int timeout_ms,
                      ws_event *ev);

/* WST_EXPECT_NO_EVENT(q, ms, what): no event comes within `ms` (ws_next_event
 * times out with WS_E_TIMEOUT). Returns 1 or 0 (failure recorded). */
#define WST_EXPECT_NO_EVENT(q, ms, what)                                      \
    wst_expect_no_event_(__FILE__, __LINE__, (q), (ms), (what))
int wst_expect_no_event_(const char *file, int line, int q, int ms, const char *what);

#ifdef __cplusplus
}
#endif

#endif /* WSCLIENT_TESTUTIL_H */
