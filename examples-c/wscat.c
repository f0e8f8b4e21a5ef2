/*
 * wscat: talk to a WebSocket server from the terminal, with wsclient.
 *
 *   wscat [options] URL       (wscat --help lists them)
 *
 * Each line read from stdin is sent as one text message (binary with -b);
 * every message received is printed on stdout (text as is, binary as a hex
 * summary). Status lines (connected, pongs, closes, errors, reconnects) go
 * to stderr. At the end of stdin wscat keeps printing replies until none has
 * arrived for -w milliseconds (default 1000), then closes with 1000; when the
 * server closes first, its close code and reason are printed. With -c, lines
 * starting with '/' are commands: /ping [text], /close [code [reason]],
 * /reconnect ("//" sends a line starting with '/'). Exit status: 0 after a
 * close handshake or end of input, 1 on errors, 2 on usage errors.
 *
 *   wsclient-echo-server --port 8080 &
 *   printf 'hello\nworld\n' | wscat -p chat ws://127.0.0.1:8080/
 *   wscat --ping-interval 5000 --reconnect -c wss://plc.local/ws --cacert ca.pem
 *
 * Threads: the main thread reads stdin and writes; a second thread drains
 * the socket's event queue (messages, pongs, errors, close, reconnects) with
 * ws_next_event. wsclient's background thread does the reading, so a writer
 * is never held up.
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
    int commands;     /* -c: /ping, /close, /reconnect */
    /* TLS */
    int insecure;
    const char *ignore[MAX_REPEATED];
    int n_ignore;
    const char *cacert, *cert, *key, *key_password;
    const char *pins[MAX_REPEATED];
    int n_pins;
    /* liveness */
    long ping_interval_ms; /* -1: library default */
    long pong_timeout_ms;
    int reconnect;
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
          "  -c, --commands              lines starting with '/' are commands: /ping [text],\n"
          "                              /close [code [reason]], /reconnect ('//' escapes)\n"
          "TLS (wss://):\n"
          "      --insecure              ignore every certificate verification error\n"
          "      --ignore CLASS          ignore one verification error class, e.g.\n"
          "                              HostNameMismatch, SelfSignedCertificate (repeatable)\n"
          "      --cacert FILE           trust the CA certificates in FILE (PEM)\n"
          "      --cert FILE             client certificate (PEM, chain allowed)\n"
          "      --key FILE              its private key (PEM: PKCS#1, SEC1 or PKCS#8)\n"
          "      --key-password PW       password of an encrypted key\n"
          "      --pin SHA256            trust exactly the certificate or public key with\n"
          "                              this fingerprint (repeatable)\n"
          "Liveness:\n"
          "      --ping-interval MS      keepalive ping after MS of silence (0: off)\n"
          "      --pong-timeout MS       give up MS after an unanswered keepalive ping\n"
          "      --reconnect             reconnect automatically (exponential backoff)\n"
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
        {"commands", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"insecure", no_argument, NULL, 1},
        {"ignore", required_argument, NULL, 2},
        {"cacert", required_argument, NULL, 3},
        {"cert", required_argument, NULL, 4},
        {"key", required_argument, NULL, 5},
        {"key-password", required_argument, NULL, 6},
        {"pin", required_argument, NULL, 7},
        {"ping-interval", required_argument, NULL, 8},
        {"pong-timeout", required_argument, NULL, 9},
        {"reconnect", no_argument, NULL, 10},
        {NULL, 0, NULL, 0},
    };
    memset(cfg, 0, sizeof *cfg);
    cfg->timeout_ms = -1;
    cfg->linger_ms = 1000;
    cfg->ping_interval_ms = -1;
    cfg->pong_timeout_ms = -1;
    int c;
    while ((c = getopt_long(argc, argv, "H:p:t:bw:qch", long_options, NULL)) != -1) {
        switch (c) {
        case 1:
            cfg->insecure = 1;
            break;
        case 2:
            if (cfg->n_ignore == MAX_REPEATED) {
                fprintf(stderr, "wscat: too many --ignore\n");
                return 2;
            }
            cfg->ignore[cfg->n_ignore++] = optarg;
            break;
        case 3:
            cfg->cacert = optarg;
            break;
        case 4:
            cfg->cert = optarg;
            break;
        case 5:
            cfg->key = optarg;
            break;
        case 6:
            cfg->key_password = optarg;
            break;
        case 7:
            if (cfg->n_pins == MAX_REPEATED) {
                fprintf(stderr, "wscat: too many --pin\n");
                return 2;
            }
            cfg->pins[cfg->n_pins++] = optarg;
            break;
        case 8:
            if (parse_long(optarg, 0, 2147483647L, &cfg->ping_interval_ms) != 0) {
                fprintf(stderr, "wscat: bad ping interval '%s'\n", optarg);
                return 2;
            }
            break;
        case 9:
            if (parse_long(optarg, 1, 2147483647L, &cfg->pong_timeout_ms) != 0) {
                fprintf(stderr, "wscat: bad pong timeout '%s'\n", optarg);
                return 2;
            }
            break;
        case 10:
            cfg->reconnect = 1;
            break;
        case 'c':
            cfg->commands = 1;
            break;
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
    if (cfg->key && !cfg->cert) {
        fprintf(stderr, "wscat: --key needs --cert\n");
        return 2;
    }
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

static void put_key(struct buf *b, const char **sep, const char *key)
{
    puts_(b, *sep);
    put_json_string(b, key, strlen(key));
    puts_(b, ": ");
    *sep = ", ";
}

static void put_string_list(struct buf *b, const char *const *items, int n)
{
    puts_(b, "[");
    for (int i = 0; i < n; i++) {
        puts_(b, i ? ", " : "");
        put_json_string(b, items[i], strlen(items[i]));
    }
    puts_(b, "]");
}

/* The ws_open options JSON for the command line, plus "queue": Q; caller
 * frees. */
static char *build_options(const struct config *cfg, int queue)
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
    char n[48];
    if (cfg->timeout_ms > 0) {
        put_key(&b, &sep, "timeout");
        snprintf(n, sizeof n, "%ld", cfg->timeout_ms);
        puts_(&b, n);
    }
    if (cfg->insecure) {
        put_key(&b, &sep, "ignoreSslErrors");
        puts_(&b, "true");
    } else if (cfg->n_ignore > 0) {
        put_key(&b, &sep, "ignoreSslErrors");
        put_string_list(&b, cfg->ignore, cfg->n_ignore);
    }
    if (cfg->cacert) {
        put_key(&b, &sep, "caCertificatesFile");
        put_json_string(&b, cfg->cacert, strlen(cfg->cacert));
    }
    if (cfg->cert) {
        put_key(&b, &sep, "sslConfig");
        puts_(&b, "{\"localCertificateFile\": ");
        put_json_string(&b, cfg->cert, strlen(cfg->cert));
        if (cfg->key) {
            puts_(&b, ", \"privateKey\": {\"keyFile\": ");
            put_json_string(&b, cfg->key, strlen(cfg->key));
            if (cfg->key_password) {
                puts_(&b, ", \"password\": ");
                put_json_string(&b, cfg->key_password, strlen(cfg->key_password));
            }
            puts_(&b, "}");
        }
        puts_(&b, "}");
    }
    if (cfg->n_pins > 0) {
        put_key(&b, &sep, "pinnedSha256");
        put_string_list(&b, cfg->pins, cfg->n_pins);
    }
    if (cfg->ping_interval_ms >= 0) {
        put_key(&b, &sep, "pingInterval");
        snprintf(n, sizeof n, "%ld", cfg->ping_interval_ms);
        puts_(&b, n);
    }
    if (cfg->pong_timeout_ms > 0) {
        put_key(&b, &sep, "pongTimeout");
        snprintf(n, sizeof n, "%ld", cfg->pong_timeout_ms);
        puts_(&b, n);
    }
    if (cfg->reconnect) {
        put_key(&b, &sep, "autoReconnect");
        puts_(&b, "true");
    }
    put_key(&b, &sep, "queue");
    snprintf(n, sizeof n, "%d", queue);
    puts_(&b, n);
    puts_(&b, "}");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* --- state shared by the two threads --------------------------------------- */

static int g_socket;
static int g_queue;
static int g_user_closed; /* main: /close released the socket */
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

static const char *closed_by_name(int by)
{
    switch (by) {
    case WS_BY_CLIENT: return "by us";
    case WS_BY_SERVER: return "by the server";
    case WS_BY_ERROR: return "after an error";
    default: return "";
    }
}

static void *reader(void *arg)
{
    (void)arg;
    int opens = 0;
    for (;;) {
        ws_event ev;
        /* A short timeout so that the end of input is noticed. */
        int rc = ws_next_event(g_queue, &ev, 100);
        if (rc == WS_TIMEOUT) {
            if (__atomic_load_n(&g_stdin_eof, __ATOMIC_SEQ_CST) &&
                now_ms() - __atomic_load_n(&g_last_activity_ms, __ATOMIC_SEQ_CST) >= g_cfg->linger_ms)
                break; /* input done and the server went quiet */
            continue;
        }
        if (rc != WS_OK) {
            status("event queue: %s", ws_last_error());
            __atomic_store_n(&g_failed, 1, __ATOMIC_SEQ_CST);
            break;
        }
        __atomic_store_n(&g_last_activity_ms, now_ms(), __ATOMIC_SEQ_CST);
        switch (ev.type) {
        case WS_EV_OPEN:
            if (opens++ > 0)
                status("reconnected (HTTP %d)", ev.code);
            break;
        case WS_EV_MESSAGE:
            print_message(ev.data, ev.len, ev.msg_type);
            break;
        case WS_EV_PONG:
            if (ev.rtt_us >= 0)
                status("pong \"%.*s\", round trip %.3f ms", (int)ev.len, (const char *)ev.data, (double)ev.rtt_us / 1000.0);
            else
                status("unsolicited pong \"%.*s\"", (int)ev.len, (const char *)ev.data);
            break;
        case WS_EV_ERROR:
            status("read failed: %s (%s)", (const char *)ev.data, ws_error_name(ev.code));
            break;
        case WS_EV_RECONNECTING:
            status("reconnecting: attempt %d in %lld ms", ev.code, (long long)ev.delay_ms);
            break;
        case WS_EV_CLOSE:
            if (ev.closed_by == WS_BY_SERVER)
                status("closed by the server: code %d, reason \"%s\"", ev.code, (const char *)ev.data);
            else if (ev.closed_by != WS_BY_CLIENT)
                status("connection ended %s (close code %d)", closed_by_name(ev.closed_by), ev.code);
            /* with --reconnect the library may try again: then the state is
             * CONNECTING by the time this event can be seen */
            if (g_cfg->reconnect && ws_state(g_socket) == WS_STATE_CONNECTING)
                break;
            if (ev.error)
                __atomic_store_n(&g_failed, 1, __ATOMIC_SEQ_CST);
            __atomic_store_n(&g_closed, 1, __ATOMIC_SEQ_CST);
            return NULL;
        default:
            break;
        }
    }
    return NULL;
}

/* -c commands: 1 handled (or refused with a message), 0 not a command. */
static int command(const char *line, size_t len)
{
    char buf[256];
    if (len >= sizeof buf)
        len = sizeof buf - 1;
    memcpy(buf, line, len);
    buf[len] = '\0';
    if (!strncmp(buf, "/ping", 5) && (buf[5] == '\0' || buf[5] == ' ')) {
        const char *payload = buf[5] ? buf + 6 : "";
        if (ws_ping(g_socket, payload, strlen(payload)) != WS_OK)
            status("ping failed: %s", ws_last_error());
        return 1;
    }
    if (!strncmp(buf, "/close", 6) && (buf[6] == '\0' || buf[6] == ' ')) {
        long code = 1000;
        char *rest = buf[6] ? buf + 7 : buf + 6;
        if (*rest) {
            code = strtol(rest, &rest, 10);
            while (*rest == ' ')
                rest++;
        }
        /* the socket stays open when the code or reason is refused */
        if (ws_close(g_socket, (int)code, rest) != WS_OK) {
            status("close refused: %s", ws_last_error());
            return 1;
        }
        status("closed (code %ld)", code);
        __atomic_store_n(&g_user_closed, 1, __ATOMIC_SEQ_CST);
        return 1;
    }
    if (!strcmp(buf, "/reconnect")) {
        if (ws_reconnect(g_socket, 1) != WS_OK)
            status("reconnect failed: %s", ws_last_error());
        return 1;
    }
    return 0;
}

/* Sends one line; 0, 1 (the connection is closing: stop reading input) or
 * -1 (error printed). */
static int send_line(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--; /* CRLF input */
    if (g_cfg->commands && len > 0 && line[0] == '/') {
        if (len > 1 && line[1] == '/') {
            line++; /* "//text" sends "/text" */
            len--;
        } else if (command(line, len)) {
            return __atomic_load_n(&g_user_closed, __ATOMIC_SEQ_CST) ? 1 : 0;
        } else {
            status("unknown command (use /ping, /close, /reconnect; // to send a '/')");
            return 0;
        }
    }
    if (ws_write(g_socket, line, len, g_cfg->binary ? WS_BINARY : WS_TEXT) != WS_OK) {
        if (ws_last_error_code() == WS_E_CLOSED)
            return 1; /* the server closed; the reader reports it */
        if (ws_last_error_code() == WS_E_NOT_OPEN) {
            status("not sent (reconnecting): %.*s", (int)len, line);
            return 0;
        }
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

    g_queue = ws_queue_create();
    if (g_queue < 0) {
        fprintf(stderr, "wscat: %s\n", ws_last_error());
        return 1;
    }
    char *options = build_options(&cfg, g_queue);
    if (!options) {
        fprintf(stderr, "wscat: out of memory\n");
        return 1;
    }
    g_socket = ws_open(cfg.url, options);
    free(options);
    if (g_socket < 0) {
        fprintf(stderr, "wscat: cannot connect to %s: %s\n", cfg.url, ws_last_error());
        ws_queue_destroy(g_queue);
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
    int user_closed = __atomic_load_n(&g_user_closed, __ATOMIC_SEQ_CST);
    if (!user_closed && (g_interrupted || write_failed)) {
        /* Do not linger: the close ends the reader's event stream. */
        ws_close(g_socket, g_interrupted ? 1001 : 1011, NULL);
        pthread_join(thread, NULL);
        ws_queue_destroy(g_queue);
        status("closed");
        return g_interrupted ? 0 : 1;
    }
    pthread_join(thread, NULL);
    if (!user_closed) {
        if (ws_close(g_socket, 1000, NULL) != WS_OK)
            status("close failed: %s", ws_last_error());
        else if (!__atomic_load_n(&g_closed, __ATOMIC_SEQ_CST))
            status("closed");
    }
    ws_queue_destroy(g_queue);
    return __atomic_load_n(&g_failed, __ATOMIC_SEQ_CST) ? 1 : 0;
}
