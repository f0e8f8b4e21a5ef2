/* Helpers shared by the C tests; see testutil.h. */
#define _GNU_SOURCE /* pipe2, PR_SET_PDEATHSIG */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_failures;
static int64_t g_start_ms;
static const char *g_server_path;
static const char *g_test_name = "test";

int64_t wst_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void wst_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int wst_failures(void)
{
    pthread_mutex_lock(&g_lock);
    int n = g_failures;
    pthread_mutex_unlock(&g_lock);
    return n;
}

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
    char raw[2048], msg[2048 * 4];
    vsnprintf(raw, sizeof raw, fmt, ap);
    /* Tests log deliberately invalid bytes: show them as \xNN. */
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)raw; *p && o + 5 < sizeof msg; p++) {
        if ((*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r') || *p >= 0x7f)
            o += (size_t)snprintf(msg + o, sizeof msg - o, "\\x%02x", *p);
        else
            msg[o++] = (char)*p;
    }
    msg[o] = '\0';
    /* One fprintf per line so that lines from several threads do not mix. */
    fprintf(stderr, "[%s %6.3fs] %s%s\n", g_test_name,
            (double)(wst_now_ms() - g_start_ms) / 1000.0, prefix, msg);
}

void wst_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("", fmt, ap);
    va_end(ap);
}

void wst_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[1800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g_lock);
    g_failures++;
    pthread_mutex_unlock(&g_lock);
    wst_log("FAIL %s:%d: %s", file, line, msg);
}

/* Formats this thread's last error, read before any other ws_* call. */
static void last_error(char *buf, size_t cap)
{
    int code = ws_last_error_code();
    const char *msg = ws_last_error();
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", msg ? msg : "(NULL!)");
    snprintf(buf, cap, "%s (%d): \"%s\"", ws_error_name(code), code, copy);
}

int wst_check_(const char *file, int line, const char *expr, int ok)
{
    if (ok)
        return 1;
    char err[1200];
    last_error(err, sizeof err);
    wst_fail(file, line, "CHECK(%s) failed; last error %s", expr, err);
    return 0;
}

int wst_check_eq_(const char *file, int line, const char *expr, long long actual,
                  long long expected)
{
    if (actual == expected)
        return 1;
    char err[1200];
    last_error(err, sizeof err);
    wst_fail(file, line, "%s == %lld, expected %lld; last error %s", expr, actual,
             expected, err);
    return 0;
}

int wst_check_err_(const char *file, int line, const char *expr, long long actual,
                   long long rc, int code)
{
    char err[1200];
    int got = ws_last_error_code();
    const char *msg = ws_last_error();
    if (actual == rc && got == code && msg != NULL && (code == WS_E_OK || msg[0] != '\0'))
        return 1;
    last_error(err, sizeof err);
    wst_fail(file, line, "%s == %lld, expected %lld with %s; last error %s", expr, actual,
             rc, ws_error_name(code), err);
    return 0;
}

int wst_result(void)
{
    int n = wst_failures();
    if (n == 0)
        wst_log("PASS");
    else
        wst_log("%d check(s) FAILED", n);
    return n == 0 ? 0 : 1;
}

static void on_alarm(int sig)
{
    (void)sig;
    /* Only async-signal-safe calls here. */
    static const char msg[] = "\n*** test deadline exceeded: watchdog fired, aborting ***\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(3);
}

void wst_init(int argc, char **argv, unsigned deadline_s)
{
    g_start_ms = wst_now_ms();
    if (argc > 0 && argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        g_test_name = slash ? slash + 1 : argv[0];
    }
    g_server_path = argc > 1 ? argv[1] : getenv("WSCLIENT_ECHO_SERVER");
    signal(SIGALRM, on_alarm);
    /* Writes to a closed socket must be errors, not a dead test. */
    signal(SIGPIPE, SIG_IGN);
    alarm(deadline_s);
    setvbuf(stdout, NULL, _IOLBF, 0);
}

void wst_fill(unsigned char *buf, size_t len, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)((x >> 16) % 255); /* never 0xff */
    }
}

void wst_fill_text(unsigned char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(' ' + (i * 7 + seed) % 95);
}

/* --- echo server ------------------------------------------------------ */

int wst_echo_start(struct wst_server *srv)
{
    return wst_echo_start_port(srv, 0);
}

int wst_echo_start_port(struct wst_server *srv, int port)
{
    char port_arg[16];
    snprintf(port_arg, sizeof port_arg, "%d", port);
    memset(srv, 0, sizeof *srv);
    srv->pid = -1;
    if (!g_server_path || !*g_server_path) {
        wst_fail(__FILE__, __LINE__,
                 "no echo server: pass its path as argv[1] or set WSCLIENT_ECHO_SERVER");
        return -1;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        wst_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        wst_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        /* Child: stdout -> pipe; die with the test. Only async-signal-safe
         * calls until exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(fds[1], 1);
        char *const args[] = {(char *)g_server_path, (char *)"--port", port_arg,
                              (char *)"--host", (char *)"127.0.0.1", NULL};
        execv(g_server_path, args);
        _exit(127);
    }
    close(fds[1]);
    srv->pid = pid;

    /* Read "LISTENING <port>\n" with a deadline. */
    char line[128];
    size_t used = 0;
    int64_t deadline = wst_now_ms() + 15000;
    int ok = 0;
    while (used < sizeof line - 1) {
        int64_t left = deadline - wst_now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {fds[0], POLLIN, 0};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        ssize_t n = read(fds[0], line + used, sizeof line - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        line[used] = '\0';
        if (strchr(line, '\n')) {
            ok = sscanf(line, "LISTENING %d", &srv->port) == 1 && srv->port > 0 &&
                 srv->port < 65536;
            break;
        }
    }
    close(fds[0]); /* the server writes nothing else on stdout */
    if (!ok) {
        line[used] = '\0';
        wst_fail(__FILE__, __LINE__, "echo server %s did not report its port (got \"%s\")",
                 g_server_path, line);
        wst_echo_stop(srv);
        return -1;
    }
    snprintf(srv->url, sizeof srv->url, "ws://127.0.0.1:%d/", srv->port);
    return 0;
}

void wst_echo_stop(struct wst_server *srv)
{
    if (srv->pid <= 0)
        return;
    kill(srv->pid, SIGTERM);
    int64_t deadline = wst_now_ms() + 5000;
    for (;;) {
        int status;
        pid_t r = waitpid(srv->pid, &status, WNOHANG);
        if (r == srv->pid || (r < 0 && errno != EINTR))
            break;
        if (wst_now_ms() > deadline) {
            kill(srv->pid, SIGKILL);
            waitpid(srv->pid, &status, 0);
            break;
        }
        wst_sleep_ms(10);
    }
    srv->pid = -1;
}

/* --- sockets ----------------------------------------------------------- */

int wst_refusing_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        wst_fail(__FILE__, __LINE__, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        wst_fail(__FILE__, __LINE__, "bind: %s", strerror(errno));
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int wst_open(const char *url, const char *options)
{
    int s = ws_open(url, options);
    if (s <= 0) {
        char err[1200];
        last_error(err, sizeof err);
        wst_fail(__FILE__, __LINE__, "ws_open(\"%s\", %s) == %d; last error %s", url,
                 options ? options : "NULL", s, err);
        return -1;
    }
    return s;
}

int wst_echo_roundtrip(int s, const void *data, size_t len, int type, int timeout_ms)
{
    int rc = ws_write(s, data, len, type);
    if (!CHECK_EQ(rc, WS_OK))
        return 0;
    const void *got = NULL;
    size_t got_len = 0;
    int got_type = 0;
    rc = ws_read(s, &got, &got_len, &got_type, timeout_ms);
    if (!CHECK_EQ(rc, WS_OK))
        return 0;
    if (!CHECK_EQ(got_type, type & 0xff) || !CHECK_EQ(got_len, len))
        return 0;
    if (len > 0 && !CHECK(got != NULL && memcmp(got, data, len) == 0))
        return 0;
    return 1;
}

/* --- events ------------------------------------------------------------ */

const char *wst_ev_name(int type)
{
    switch (type) {
    case WS_EV_OPEN:
        return "OPEN";
    case WS_EV_MESSAGE:
        return "MESSAGE";
    case WS_EV_PONG:
        return "PONG";
    case WS_EV_ERROR:
        return "ERROR";
    case WS_EV_CLOSE:
        return "CLOSE";
    case WS_EV_RECONNECTING:
        return "RECONNECTING";
    default:
        return "?";
    }
}

void wst_ev_format(const ws_event *e, char *buf, size_t cap)
{
    char data[100];
    size_t o = 0;
    if (e->data == NULL) {
        snprintf(data, sizeof data, "(NULL)");
    } else {
        const unsigned char *d = e->data;
        for (size_t i = 0; i < e->len && o + 6 < sizeof data; i++) {
            if (d[i] >= 0x20 && d[i] < 0x7f && d[i] != '"')
                data[o++] = (char)d[i];
            else
                o += (size_t)snprintf(data + o, sizeof data - o, "\\x%02x", d[i]);
        }
        data[o] = '\0';
    }
    snprintf(buf, cap,
             "%s(socket %d, msg_type %d, code %d, error %s, closed_by %d, clean %d, "
             "rtt_us %lld, delay_ms %lld, time_us %lld, %zu bytes \"%s%s\")",
             wst_ev_name(e->type), e->socket, e->msg_type, e->code, ws_error_name(e->error),
             e->closed_by, e->clean, (long long)e->rtt_us, (long long)e->delay_ms,
             (long long)e->time_us, e->len, data, e->data && o < e->len ? "..." : "");
}

int wst_ev_data_ok(const ws_event *e)
{
    return e->data != NULL && ((const unsigned char *)e->data)[e->len] == 0;
}

int wst_ev_data_is(const ws_event *e, const char *s)
{
    size_t n = strlen(s);
    return e->data != NULL && e->len == n && memcmp(e->data, s, n) == 0;
}

int wst_expect_event_(const char *file, int line, int q, int type, int timeout_ms,
                      ws_event *ev)
{
    memset(ev, 0, sizeof *ev);
    int rc = ws_next_event(q, ev, timeout_ms);
    if (rc != WS_OK) {
        char err[1200];
        last_error(err, sizeof err);
        wst_fail(file, line, "expected %s within %d ms: ws_next_event(%d) == %d; last error %s",
                 type ? wst_ev_name(type) : "an event", timeout_ms, q, rc, err);
        return 0;
    }
    char desc[512];
    wst_ev_format(ev, desc, sizeof desc);
    if (type != 0 && ev->type != type) {
        wst_fail(file, line, "expected %s, got %s", wst_ev_name(type), desc);
        return 0;
    }
    if (!wst_ev_data_ok(ev)) {
        wst_fail(file, line, "event data NULL or not NUL-terminated: %s", desc);
        return 0;
    }
    return 1;
}

int wst_expect_no_event_(const char *file, int line, int q, int ms, const char *what)
{
    ws_event ev;
    memset(&ev, 0, sizeof ev);
    int rc = ws_next_event(q, &ev, ms);
    if (rc == WS_OK) {
        char desc[512];
        wst_ev_format(&ev, desc, sizeof desc);
        wst_fail(file, line, "no event expected (%s), got %s", what, desc);
        return 0;
    }
    int code = ws_last_error_code();
    if (rc != WS_TIMEOUT || code != WS_E_TIMEOUT) {
        char err[1200];
        last_error(err, sizeof err);
        wst_fail(file, line, "ws_next_event(%d, %d ms) == %d (%s); expected a timeout; last error %s",
                 q, ms, rc, what, err);
        return 0;
    }
    return 1;
}
