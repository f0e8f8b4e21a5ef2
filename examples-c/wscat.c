/*
 * wscat: talk to a WebSocket server from the terminal, with wsclient.
 *
 *   wscat [-H 'Name: value']... [-t timeout_ms] [-p subprotocol]... [-b] [-w ms] [-q] URL
 *
 * Each line read from stdin is sent as one text message (binary with -b);
 * every message received is printed on stdout (text as is, binary as a hex
 * summary). Status lines (connected, closed, errors) go to stderr. At the
 * end of stdin wscat keeps printing replies until none has arrived for -w
 * milliseconds (default 1000), then closes with 1000; when the server closes
 * first, its close code and reason are printed. Exit status: 0 after a
 * close handshake or end of input, 1 on errors, 2 on usage errors.
 *
 *   wsclient-echo-server --port 8080 &
 *   printf 'hello\nworld\n' | wscat -p chat ws://127.0.0.1:8080/
 *
 * Threads: the main thread reads stdin and writes; a reader thread blocks
 * in ws_read. wsclient lets both use the socket at once (a writer is never
 * held up by a blocked reader).
 */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wsclient.h"

/* --- command line -------------------------------------------------------- */

#define MAX_REPEATED 32

struct config {
    const char *url;
    const char *headers[MAX_REPEATED]; /* "Name: value" as given */
    int n_headers;
    const char *protocols[MAX_REPEATED];
    int n_protocols;
    long timeout_ms;  /* connect timeout; -1: none */
    long linger_ms;   /* after EOF on stdin */
    int binary;
    int quiet;
    /* Room for more: TLS (--insecure, --cacert FILE), --ping MS,
     * --reconnect. Add a field here, an entry in long_options and usage(),
     * a case in parse_args(), and the key in build_options(). */
};

static void usage(FILE *to)
{
    fputs("usage: wscat [options] URL\n"
          "  -H, --header 'Name: value'  add a header to the upgrade request (repeatable)\n"
          "  -p, --protocol NAME         offer a subprotocol (repeatable)\n"
          "  -t, --timeout MS            connect timeout in milliseconds (default: none)\n"
          "  -b, --binary                send stdin lines as binary messages\n"
          "  -w, --wait MS               after end of input, wait until no message arrived\n"
          "                              for MS milliseconds before closing (default 1000)\n"
          "  -q, --quiet                 no status lines on stderr\n"
          "  -h, --help                  this text\n",
          to);
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Returns 0, or 2 (usage error, message printed). */
static int parse_args(int argc, char **argv, struct config *cfg)
{
    static const struct option long_options[] = {
        {"header", required_argument, NULL, 'H'},
        {"protocol", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"binary", no_argument, NULL, 'b'},
        {"wait", required_argument, NULL, 'w'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(cfg, 0, sizeof *cfg);
    cfg->timeout_ms = -1;
    cfg->linger_ms = 1000;
    int c;
    while ((c = getopt_long(argc, argv, "H:p:t:bw:qh", long_options, NULL)) != -1) {
        switch (c) {
        case 'H':
            if (cfg->n_headers == MAX_REPEATED || !strchr(optarg, ':')) {
                fprintf(stderr, "wscat: bad or too many -H '%s' (expected 'Name: value')\n", optarg);
                return 2;
            }
            cfg->headers[cfg->n_headers++] = optarg;
            break;
        case 'p':
            if (cfg->n_protocols == MAX_REPEATED) {
                fprintf(stderr, "wscat: too many -p\n");
                return 2;
            }
            cfg->protocols[cfg->n_protocols++] = optarg;
            break;
        case 't':
            if (parse_long(optarg, 1, 2147483647L, &cfg->timeout_ms) != 0) {
                fprintf(stderr, "wscat: bad timeout '%s'\n", optarg);
                return 2;
            }
            break;
        case 'w':
            if (parse_long(optarg, 0, 3600000L, &cfg->linger_ms) != 0) {
                fprintf(stderr, "wscat: bad wait '%s'\n", optarg);
                return 2;
            }
            break;
        case 'b':
            cfg->binary = 1;
            break;
        case 'q':
            cfg->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    cfg->url = argv[optind];
    return 0;
}

/* --- the options JSON ------------------------------------------------------ */

/* A growable string; on allocation failure `failed` is set and it stops growing. */
struct buf {
    char *p;
    size_t len, cap;
    int failed;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Appends `n` bytes of `s` as a JSON string literal (RFC 8259 escaping;
 * UTF-8 passes through, wsclient validates it). */
static void put_json_string(struct buf *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        switch (c) {
        case '"': puts_(b, "\\\""); break;
        case '\\': puts_(b, "\\\\"); break;
        case '\n': puts_(b, "\\n"); break;
        case '\r': puts_(b, "\\r"); break;
        case '\t': puts_(b, "\\t"); break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                puts_(b, esc);
            } else {
                put(b, (const char *)&s[i], 1);
            }
        }
    }
    put(b, "\"", 1);
}

/* {"headers": {...}, "subprotocols": [...], "timeout": N}; caller frees. */
static char *build_options(const struct config *cfg)
{
    struct buf b = {NULL, 0, 0, 0};
    const char *sep = "";
    puts_(&b, "{");
    if (cfg->n_headers > 0) {
        puts_(&b, "\"headers\": {");
        for (int i = 0; i < cfg->n_headers; i++) {
            const char *h = cfg->headers[i];
            const char *colon = strchr(h, ':');
            const char *name_end = colon;
            while (name_end > h && (name_end[-1] == ' ' || name_end[-1] == '\t'))
                name_end--;
            const char *value = colon + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            puts_(&b, i ? ", " : "");
            put_json_string(&b, h, (size_t)(name_end - h));
            puts_(&b, ": ");
            put_json_string(&b, value, strlen(value));
        }
        puts_(&b, "}");
        sep = ", ";
    }
    if (cfg->n_protocols > 0) {
        puts_(&b, sep);
        puts_(&b, "\"subprotocols\": [");
        for (int i = 0; i < cfg->n_protocols; i++) {
            puts_(&b, i ? ", " : "");
            put_json_string(&b, cfg->protocols[i], strlen(cfg->protocols[i]));
        }
        puts_(&b, "]");
        sep = ", ";
    }
    if (cfg->timeout_ms > 0) {
        char n[48];
        snprintf(n, sizeof n, "%s\"timeout\": %ld", sep, cfg->timeout_ms);
        puts_(&b, n);
    }
    puts_(&b, "}");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* --- state shared by the two threads --------------------------------------- */

static int g_socket;
static const struct config *g_cfg;
static volatile sig_atomic_t g_interrupted;
/* Set with __atomic builtins: */
static int g_closed;   /* reader: the connection ended (close frame or error) */
static int g_failed;   /* reader: it ended with an error */
static int g_stdin_eof; /* main: no more input */
static long long g_last_activity_ms;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void status(const char *fmt, ...)
{
    if (g_cfg->quiet)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "wscat: %s\n", line);
}

static void print_message(const void *data, size_t len, int type)
{
    if (type == WS_TEXT) {
        fwrite(data, 1, len, stdout);
        fputc('\n', stdout);
    } else {
        const unsigned char *p = data;
        size_t shown = len < 32 ? len : 32;
        printf("[binary %zu bytes]", len);
        for (size_t i = 0; i < shown; i++)
            printf(" %02x", p[i]);
        printf("%s\n", shown < len ? " ..." : "");
    }
    fflush(stdout);
}

static void *reader(void *arg)
{
    (void)arg;
    for (;;) {
        const void *data;
        size_t len;
        int type;
        /* A short timeout so that the end of input is noticed. */
        int rc = ws_read(g_socket, &data, &len, &type, 100);
        if (rc == WS_OK) {
            print_message(data, len, type);
            __atomic_store_n(&g_last_activity_ms, now_ms(), __ATOMIC_SEQ_CST);
        } else if (rc == WS_TIMEOUT) {
            if (__atomic_load_n(&g_stdin_eof, __ATOMIC_SEQ_CST) &&
                now_ms() - __atomic_load_n(&g_last_activity_ms, __ATOMIC_SEQ_CST) >=
                    g_cfg->linger_ms)
                break; /* input done and the server went quiet */
        } else if (rc == WS_CLOSED) {
            /* One call at a time: a returned string is valid only until the
             * next ws_* call on this thread. A negative code means our own
             * ws_close (Ctrl-C) already released the socket. */
            int code = ws_close_code(g_socket);
            if (code >= 0) {
                const char *r = ws_close_reason(g_socket);
                status("closed by the server: code %d, reason \"%s\"", code, r ? r : "");
            }
            __atomic_store_n(&g_closed, 1, __ATOMIC_SEQ_CST);
            break;
        } else {
            /* Copy before calling ws_close_code (which resets the error). */
            char err[512];
            snprintf(err, sizeof err, "%s", ws_last_error());
            status("read failed: %s (close code %d)", err, ws_close_code(g_socket));
            __atomic_store_n(&g_failed, 1, __ATOMIC_SEQ_CST);
            __atomic_store_n(&g_closed, 1, __ATOMIC_SEQ_CST);
            break;
        }
    }
    return NULL;
}

/* Sends one line; 0, 1 (the connection is closing: stop reading input) or
 * -1 (error printed). */
static int send_line(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--; /* CRLF input */
    if (ws_write(g_socket, line, len, g_cfg->binary ? WS_BINARY : WS_TEXT) != WS_OK) {
        if (ws_last_error_code() == WS_E_CLOSED)
            return 1; /* the server closed; the reader reports it */
        status("write failed: %s", ws_last_error());
        return -1;
    }
    return 0;
}

/* Reads stdin until EOF, the connection ends or Ctrl-C; sends each line.
 * Returns 0, 1 (the server closed) or -1 (write error). */
static int pump_stdin(void)
{
    struct buf in = {NULL, 0, 0, 0};
    int result = 0;
    for (;;) {
        if (g_interrupted || __atomic_load_n(&g_closed, __ATOMIC_SEQ_CST))
            break;
        struct pollfd p = {0, POLLIN, 0};
        int rc = poll(&p, 1, 200);
        if (rc < 0 && errno != EINTR) {
            status("poll: %s", strerror(errno));
            result = -1;
            break;
        }
        if (rc <= 0)
            continue;
        char chunk[65536];
        ssize_t n = read(0, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* End of input: a last line without newline is still a message. */
            if (in.len > 0 && send_line(in.p, in.len) < 0)
                result = -1;
            break;
        }
        put(&in, chunk, (size_t)n);
        if (in.failed) {
            status("out of memory");
            result = -1;
            break;
        }
        size_t start = 0;
        for (size_t i = 0; i < in.len; i++) {
            if (in.p[i] == '\n') {
                int sent = send_line(in.p + start, i - start);
                if (sent != 0) {
                    result = sent < 0 ? -1 : 1;
                    break;
                }
                start = i + 1;
            }
        }
        if (result != 0)
            break;
        memmove(in.p, in.p + start, in.len - start);
        in.len -= start;
    }
    free(in.p);
    return result;
}

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

int main(int argc, char **argv)
{
    struct config cfg;
    int rc = parse_args(argc, argv, &cfg);
    if (rc != 0)
        return rc;
    g_cfg = &cfg;

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll() returns EINTR */

    char *options = build_options(&cfg);
    if (!options) {
        fprintf(stderr, "wscat: out of memory\n");
        return 1;
    }
    g_socket = ws_open(cfg.url, options);
    free(options);
    if (g_socket < 0) {
        fprintf(stderr, "wscat: cannot connect to %s: %s\n", cfg.url, ws_last_error());
        return 1;
    }
    {
        char proto[256];
        const char *sp = ws_subprotocol(g_socket);
        snprintf(proto, sizeof proto, "%s", sp ? sp : "");
        status("connected to %s (HTTP %d%s%s%s)", cfg.url, ws_http_status(g_socket),
               proto[0] ? ", subprotocol \"" : "", proto, proto[0] ? "\"" : "");
    }

    __atomic_store_n(&g_last_activity_ms, now_ms(), __ATOMIC_SEQ_CST);
    pthread_t thread;
    if (pthread_create(&thread, NULL, reader, NULL) != 0) {
        fprintf(stderr, "wscat: cannot start the reader thread\n");
        ws_close(g_socket, 1011, NULL);
        return 1;
    }

    int write_failed = pump_stdin() < 0;
    __atomic_store_n(&g_last_activity_ms, now_ms(), __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_stdin_eof, 1, __ATOMIC_SEQ_CST);
    if (g_interrupted || write_failed) {
        /* Do not linger: ws_close wakes the reader. */
        ws_close(g_socket, g_interrupted ? 1001 : 1011, NULL);
        pthread_join(thread, NULL);
        status("closed");
        return g_interrupted ? 0 : 1;
    }
    pthread_join(thread, NULL);
    if (ws_close(g_socket, 1000, NULL) != WS_OK)
        status("close failed: %s", ws_last_error());
    else if (!__atomic_load_n(&g_closed, __ATOMIC_SEQ_CST))
        status("closed");
    return __atomic_load_n(&g_failed, __ATOMIC_SEQ_CST) ? 1 : 0;
}
