/*
 * wscat: talk to a WebSocket server from the terminal, with wsclient.
 * Its flags follow node's wscat (npm install -g wscat) where both have one.
 *
 *   wscat [options] URL            or  wscat -c URL [options]
 *   wscat --help                   every option
 *
 * Each line read from stdin is sent as one text message (binary with -b);
 * every message received is printed on stdout (text as is, binary as a hex
 * summary). When stdout is a terminal, received lines are marked "< " and
 * sent ones "> " (with a "> " prompt when stdin is a terminal too); piped
 * output is the bare messages. Status lines (connected, pongs, closes,
 * errors, reconnects) go to stderr. At the end of stdin, or after sending
 * the -x messages, wscat prints replies for -w seconds (default 1; 2 with
 * -x), then closes with 1000; when the server closes first, its close code
 * and reason are printed. With --slash, lines starting with '/' are
 * commands: /ping [text], /close [code [reason]], /reconnect ("//" sends a
 * line starting with '/'). Exit status: 0 after a close handshake or end
 * of input, 1 on errors, 2 on usage errors.
 *
 *   wsclient-echo-server --port 8080 &
 *   printf 'hello\nworld\n' | wscat -s chat ws://127.0.0.1:8080/
 *   wscat -c ws://127.0.0.1:8080/ -x '{"op":"status"}' -w 0.5
 *   wscat --ping-interval 5000 --reconnect --slash -c wss://plc.local/ws --ca ca.pem
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

#ifndef WSCAT_VERSION
#define WSCAT_VERSION "dev"
#endif

#include "wsclient.h"

/* --- command line -------------------------------------------------------- */

#define MAX_REPEATED 32

struct config {
    const char *url;
    const char *headers[MAX_REPEATED]; /* "Name: value" as given */
    int n_headers;
    const char *protocols[MAX_REPEATED];
    int n_protocols;
    const char *execute[MAX_REPEATED]; /* -x messages */
    int n_execute;
    long timeout_ms;  /* connect timeout; -1: none */
    long wait_ms;     /* after the end of input or the -x messages; -1: default */
    int binary;
    int quiet;
    int commands;     /* --slash: /ping, /close, /reconnect */
    int show_ping_pong;
    /* TLS */
    int insecure;
    const char *ignore[MAX_REPEATED];
    int n_ignore;
    const char *cacert, *cert, *key, *key_password;
    const char *pins[MAX_REPEATED];
    int n_pins;
    /* liveness */
    /* proxy: NULL = the environment (curl's rules); "" = direct */
    const char *proxy;
    /* --compress: the "compression" option's value (JSON), NULL: off */
    const char *compress;
    long ping_interval_ms; /* -1: library default */
    long pong_timeout_ms;
    int reconnect;
};

static void usage(FILE *to)
{
    fputs("usage: wscat [options] URL\n"
          "       wscat -c URL [options]\n"
          "\n"
          "Talk to a WebSocket server: each line of standard input is sent as a message,\n"
          "each message received is printed. On a terminal, received lines are marked\n"
          "'< ' and sent lines '> '. A URL without a scheme gets ws://.\n"
          "\n"
          "Options:\n"
          "  -c, --connect URL           the server to connect to (or give URL last)\n"
          "  -H, --header 'Name: value'  add a header to the upgrade request (repeatable)\n"
          "  -o, --origin ORIGIN         send an Origin header\n"
          "  -s, --subprotocol NAME      offer a subprotocol (repeatable)\n"
          "  -p, --protocol NAME         the same as -s\n"
          "  -t, --timeout MS            connect timeout in milliseconds (default: none)\n"
          "  -x, --execute MESSAGE       send MESSAGE once connected, print the replies for\n"
          "                              -w seconds, close and exit; stdin is not read\n"
          "                              (repeatable: one message each)\n"
          "  -w, --wait SECONDS          after the -x messages or the end of input, print\n"
          "                              replies for SECONDS before closing (default 2 with\n"
          "                              -x, else 1; fractions and an 'ms' suffix allowed)\n"
          "  -b, --binary                send the lines as binary messages\n"
          "  -P, --show-ping-pong        print the pongs received, with the round trip of\n"
          "                              the ping they answer (/ping; keepalive pongs and\n"
          "                              the server's pings are handled by the library)\n"
          "      --slash                 lines starting with '/' are commands: /ping [text],\n"
          "                              /close [code [reason]], /reconnect ('//' escapes)\n"
          "      --commands              the same as --slash\n"
          "  -q, --quiet                 no status lines on stderr\n"
          "  -h, --help                  this text\n"
          "  -V, --version               wscat's and the library's version\n"
          "\n"
          "TLS (wss://):\n"
          "  -n, --no-check              do not verify the server certificate (--insecure)\n"
          "      --insecure              ignore every certificate verification error\n"
          "      --ignore CLASS          ignore one verification error class, e.g.\n"
          "                              HostNameMismatch, SelfSignedCertificate (repeatable)\n"
          "      --ca FILE, --cacert FILE\n"
          "                              trust the CA certificates in FILE (PEM)\n"
          "      --cert FILE             client certificate (PEM, chain allowed)\n"
          "      --key FILE              its private key (PEM: PKCS#1, SEC1 or PKCS#8)\n"
          "      --passphrase PW, --key-password PW\n"
          "                              password of an encrypted key\n"
          "      --pin SHA256            trust exactly the certificate or public key with\n"
          "                              this fingerprint (repeatable)\n"
          "\n"
          "Liveness:\n"
          "      --ping-interval MS      keepalive ping after MS of silence (0: off)\n"
          "      --pong-timeout MS       give up MS after an unanswered keepalive ping\n"
          "      --reconnect             reconnect automatically (exponential backoff)\n"
          "      --compress[=JSON]       offer permessage-deflate (RFC 7692); JSON: the\n"
          "                              \"compression\" option, e.g. '{\"clientMaxWindowBits\":10}'\n"
          "      --proxy URL             connect through a proxy: http://[user:pass@]host:port,\n"
          "                              https://..., socks5://... or socks5h://...; '' for\n"
          "                              a direct connection (default: https_proxy, all_proxy,\n"
          "                              no_proxy ... from the environment, as curl)\n"
          "\n"
          "Exit status: 0 after a close handshake or the end of input, 1 on errors,\n"
          "2 on usage errors.\n"
          "\n"
          "Examples:\n"
          "  printf 'hello\\nworld\\n' | wscat ws://127.0.0.1:8080/\n"
          "  wscat -c ws://127.0.0.1:8080/ -x '{\"op\":\"status\"}' -w 0.5\n"
          "  wscat --slash --ping-interval 5000 --reconnect -c wss://plc.local/ws --ca ca.pem\n",
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

/* "2", "0.5", "1.5s", "500ms" -> milliseconds (0 .. 1 hour). */
static int parse_seconds(const char *s, long *ms_out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v >= 0))
        return -1;
    if (!strcmp(end, "ms"))
        v /= 1000.0;
    else if (*end && strcmp(end, "s"))
        return -1;
    if (v > 3600.0)
        return -1;
    *ms_out = (long)(v * 1000.0 + 0.5);
    return 0;
}

static int add_repeated(const char **list, int *n, const char *value, const char *flag)
{
    if (*n == MAX_REPEATED) {
        fprintf(stderr, "wscat: too many %s (at most %d)\n", flag, MAX_REPEATED);
        return -1;
    }
    list[(*n)++] = value;
    return 0;
}

/* Returns 0, 2 (usage error, message printed) or -1 (--help/--version done). */
static int parse_args(int argc, char **argv, struct config *cfg)
{
    enum {
        OPT_INSECURE = 256, OPT_IGNORE, OPT_CACERT, OPT_CERT, OPT_KEY, OPT_KEY_PASSWORD,
        OPT_PIN, OPT_PING_INTERVAL, OPT_PONG_TIMEOUT, OPT_RECONNECT, OPT_SLASH, OPT_PROXY, OPT_COMPRESS,
    };
    static const struct option long_options[] = {
        {"connect", required_argument, NULL, 'c'},
        {"header", required_argument, NULL, 'H'},
        {"origin", required_argument, NULL, 'o'},
        {"subprotocol", required_argument, NULL, 's'},
        {"protocol", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"execute", required_argument, NULL, 'x'},
        {"wait", required_argument, NULL, 'w'},
        {"binary", no_argument, NULL, 'b'},
        {"show-ping-pong", no_argument, NULL, 'P'},
        {"slash", no_argument, NULL, OPT_SLASH},
        {"commands", no_argument, NULL, OPT_SLASH},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"no-check", no_argument, NULL, 'n'},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"ignore", required_argument, NULL, OPT_IGNORE},
        {"ca", required_argument, NULL, OPT_CACERT},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"passphrase", required_argument, NULL, OPT_KEY_PASSWORD},
        {"key-password", required_argument, NULL, OPT_KEY_PASSWORD},
        {"pin", required_argument, NULL, OPT_PIN},
        {"ping-interval", required_argument, NULL, OPT_PING_INTERVAL},
        {"pong-timeout", required_argument, NULL, OPT_PONG_TIMEOUT},
        {"reconnect", no_argument, NULL, OPT_RECONNECT},
        {"proxy", required_argument, NULL, OPT_PROXY},
        {"compress", optional_argument, NULL, OPT_COMPRESS},
        {NULL, 0, NULL, 0},
    };
    static char origin_header[1024];
    memset(cfg, 0, sizeof *cfg);
    cfg->timeout_ms = -1;
    cfg->wait_ms = -1;
    cfg->ping_interval_ms = -1;
    cfg->pong_timeout_ms = -1;
    const char *connect = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "c:H:o:s:p:t:x:w:bPqhVn", long_options, NULL)) != -1) {
        switch (c) {
        case 'c':
            connect = optarg;
            break;
        case 'H':
            if (!strchr(optarg, ':')) {
                fprintf(stderr, "wscat: bad -H '%s' (expected 'Name: value')\n", optarg);
                return 2;
            }
            if (add_repeated(cfg->headers, &cfg->n_headers, optarg, "-H") != 0)
                return 2;
            break;
        case 'o':
            snprintf(origin_header, sizeof origin_header, "Origin: %s", optarg);
            if (add_repeated(cfg->headers, &cfg->n_headers, origin_header, "-H/-o") != 0)
                return 2;
            break;
        case 's':
        case 'p':
            if (add_repeated(cfg->protocols, &cfg->n_protocols, optarg, "-s") != 0)
                return 2;
            break;
        case 't':
            if (parse_long(optarg, 1, 2147483647L, &cfg->timeout_ms) != 0) {
                fprintf(stderr, "wscat: bad timeout '%s' (milliseconds)\n", optarg);
                return 2;
            }
            break;
        case 'x':
            if (add_repeated(cfg->execute, &cfg->n_execute, optarg, "-x") != 0)
                return 2;
            break;
        case 'w':
            if (parse_seconds(optarg, &cfg->wait_ms) != 0) {
                fprintf(stderr, "wscat: bad wait '%s' (seconds, e.g. 2, 0.5 or 500ms; at most 3600)\n",
                        optarg);
                return 2;
            }
            break;
        case 'b':
            cfg->binary = 1;
            break;
        case 'P':
            cfg->show_ping_pong = 1;
            break;
        case OPT_SLASH:
            cfg->commands = 1;
            break;
        case 'q':
            cfg->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case 'V':
            printf("wscat %s (wsclient %s)\n", WSCAT_VERSION, ws_version());
            return -1;
        case 'n':
        case OPT_INSECURE:
            cfg->insecure = 1;
            break;
        case OPT_IGNORE:
            if (add_repeated(cfg->ignore, &cfg->n_ignore, optarg, "--ignore") != 0)
                return 2;
            break;
        case OPT_CACERT:
            cfg->cacert = optarg;
            break;
        case OPT_CERT:
            cfg->cert = optarg;
            break;
        case OPT_KEY:
            cfg->key = optarg;
            break;
        case OPT_KEY_PASSWORD:
            cfg->key_password = optarg;
            break;
        case OPT_PIN:
            if (add_repeated(cfg->pins, &cfg->n_pins, optarg, "--pin") != 0)
                return 2;
            break;
        case OPT_PROXY:
            cfg->proxy = optarg;
            break;
        case OPT_COMPRESS:
            cfg->compress = optarg && optarg[0] ? optarg : "true";
            break;
        case OPT_PING_INTERVAL:
            if (parse_long(optarg, 0, 2147483647L, &cfg->ping_interval_ms) != 0) {
                fprintf(stderr, "wscat: bad ping interval '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_PONG_TIMEOUT:
            if (parse_long(optarg, 1, 2147483647L, &cfg->pong_timeout_ms) != 0) {
                fprintf(stderr, "wscat: bad pong timeout '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_RECONNECT:
            cfg->reconnect = 1;
            break;
        default:
            fprintf(stderr, "(wscat --help lists the options)\n");
            return 2;
        }
    }
    if (connect && optind == argc) {
        cfg->url = connect;
    } else if (!connect && optind == argc - 1) {
        cfg->url = argv[optind];
    } else {
        fprintf(stderr, "wscat: give one URL, as -c URL or as the last argument "
                        "(wscat --help lists the options)\n");
        return 2;
    }
    if (cfg->key && !cfg->cert) {
        fprintf(stderr, "wscat: --key needs --cert\n");
        return 2;
    }
    if (cfg->wait_ms < 0)
        cfg->wait_ms = cfg->n_execute > 0 ? 2000 : 1000;
    return 0;
}

/* "host:port/path" as in node's wscat: no scheme means ws://. The result
 * is cfg->url or a static buffer. */
static const char *with_scheme(const char *url)
{
    static char buf[4096];
    const char *sep = strstr(url, "://");
    if (sep && sep > url) {
        const char *p = url;
        while (p < sep && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                           (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))
            p++;
        if (p == sep)
            return url;
    }
    snprintf(buf, sizeof buf, "ws://%s", url);
    return buf;
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
    if (cfg->proxy) {
        put_key(&b, &sep, "proxy");
        put_json_string(&b, cfg->proxy, strlen(cfg->proxy));
    }
    if (cfg->compress) { /* JSON as given: ws_open checks it */
        put_key(&b, &sep, "compression");
        puts_(&b, cfg->compress);
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
static int g_closed;    /* reader: the connection ended (close frame or error) */
static int g_failed;    /* reader: it ended with an error */
static int g_input_done; /* main: end of input, or the -x messages are sent */
static long long g_input_done_ms;

/* Terminal output: on a terminal, received lines are marked "< " and sent
 * ones "> ". When stdin is a terminal too, "> " is a prompt that the typed
 * line follows (the terminal echoes it), and lines printed meanwhile first
 * clear the prompt and then put it back. */
static int g_mark;   /* stdout is a terminal */
static int g_prompt; /* ... and so is stdin (and no -x) */
static int g_prompt_shown;
static pthread_mutex_t g_out_lock = PTHREAD_MUTEX_INITIALIZER;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* With g_out_lock held: take the prompt (and what is typed after it) off
 * the terminal line. Always, in prompt mode: the cursor may be after a
 * prompt whose line the terminal's echo did not end yet. */
static void clear_prompt(void)
{
    if (g_prompt) {
        fputs("\r\033[2K", stdout);
        fflush(stdout);
        g_prompt_shown = 0;
    }
}

/* With g_out_lock held. */
static void show_prompt(void)
{
    if (g_prompt && !g_prompt_shown && !__atomic_load_n(&g_input_done, __ATOMIC_SEQ_CST)) {
        fputs("> ", stdout);
        fflush(stdout);
        g_prompt_shown = 1;
    }
}

static void prompt(void)
{
    pthread_mutex_lock(&g_out_lock);
    show_prompt();
    pthread_mutex_unlock(&g_out_lock);
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
    pthread_mutex_lock(&g_out_lock);
    clear_prompt();
    fprintf(stderr, "wscat: %s\n", line);
    fflush(stderr);
    show_prompt();
    pthread_mutex_unlock(&g_out_lock);
}

/* mark: "< " (received), "> " (sent) or "" */
static void print_message(const char *mark, const void *data, size_t len, int type)
{
    pthread_mutex_lock(&g_out_lock);
    clear_prompt();
    fputs(g_mark ? mark : "", stdout);
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
    show_prompt();
    pthread_mutex_unlock(&g_out_lock);
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

/* Milliseconds until the -w wait after the end of input is over; -1 while
 * input goes on. */
static long long wait_left_ms(void)
{
    if (!__atomic_load_n(&g_input_done, __ATOMIC_SEQ_CST))
        return -1;
    long long left = __atomic_load_n(&g_input_done_ms, __ATOMIC_SEQ_CST) + g_cfg->wait_ms - now_ms();
    return left > 0 ? left : 0;
}

static void *reader(void *arg)
{
    (void)arg;
    int opens = 0;
    for (;;) {
        /* A short timeout so that the end of input is noticed. */
        long long left = wait_left_ms();
        if (left == 0)
            break; /* input done and the -w wait is over */
        int slice = left > 0 && left < 100 ? (int)left : 100;
        ws_event ev;
        int rc = ws_next_event(g_queue, &ev, slice);
        if (rc == WS_TIMEOUT)
            continue;
        if (rc != WS_OK) {
            status("event queue: %s", ws_last_error());
            __atomic_store_n(&g_failed, 1, __ATOMIC_SEQ_CST);
            break;
        }
        switch (ev.type) {
        case WS_EV_OPEN:
            if (opens++ > 0)
                status("reconnected (HTTP %d)", ev.code);
            break;
        case WS_EV_MESSAGE:
            print_message("< ", ev.data, ev.len, ev.msg_type);
            break;
        case WS_EV_PONG:
            /* As node's wscat: shown with -P only. */
            if (!g_cfg->show_ping_pong)
                break;
            if (ev.rtt_us >= 0)
                status("pong \"%.*s\", round trip %.3f ms", (int)ev.len, (const char *)ev.data,
                       (double)ev.rtt_us / 1000.0);
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

/* --slash commands: 1 handled (or refused with a message), 0 not a command. */
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
    int type = g_cfg->binary ? WS_BINARY : WS_TEXT;
    if (ws_write(g_socket, line, len, type) != WS_OK) {
        if (ws_last_error_code() == WS_E_CLOSED)
            return 1; /* the server closed; the reader reports it */
        if (ws_last_error_code() == WS_E_NOT_OPEN) {
            status("not sent (reconnecting): %.*s", (int)len, line);
            return 0;
        }
        status("write failed: %s", ws_last_error());
        return -1;
    }
    /* The prompt already shows what was typed; piped input is shown here. */
    if (g_mark && !g_prompt)
        print_message("> ", line, len, type);
    return 0;
}

/* Reads stdin until EOF, the connection ends or Ctrl-C; sends each line.
 * Returns 0, 1 (the server closed) or -1 (write error). */
static int pump_stdin(void)
{
    struct buf in = {NULL, 0, 0, 0};
    int result = 0;
    prompt();
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
        /* The terminal echoed the typed line and its newline: the prompt
         * is no longer on the cursor's line. */
        pthread_mutex_lock(&g_out_lock);
        if (memchr(chunk, '\n', (size_t)n))
            g_prompt_shown = 0;
        pthread_mutex_unlock(&g_out_lock);
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
        prompt();
    }
    free(in.p);
    return result;
}

/* -x: sends the messages; 0, 1 (the server closed) or -1. */
static int send_execute(void)
{
    int type = g_cfg->binary ? WS_BINARY : WS_TEXT;
    for (int i = 0; i < g_cfg->n_execute; i++) {
        const char *m = g_cfg->execute[i];
        if (ws_write(g_socket, m, strlen(m), type) != WS_OK) {
            if (ws_last_error_code() == WS_E_CLOSED)
                return 1;
            status("write failed: %s", ws_last_error());
            return -1;
        }
        if (g_mark)
            print_message("> ", m, strlen(m), type);
    }
    return 0;
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
        return rc < 0 ? 0 : rc;
    g_cfg = &cfg;
    const char *url = with_scheme(cfg.url);
    g_mark = isatty(1);
    g_prompt = g_mark && isatty(0) && cfg.n_execute == 0;

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
    g_socket = ws_open(url, options);
    free(options);
    if (g_socket < 0) {
        fprintf(stderr, "wscat: cannot connect to %s: %s\n", url, ws_last_error());
        ws_queue_destroy(g_queue);
        return 1;
    }
    {
        /* ws_subprotocol's string lasts until the next ws_* call: copy it. */
        char proto[256];
        const char *sp = ws_subprotocol(g_socket);
        snprintf(proto, sizeof proto, "%s", sp ? sp : "");
        int http = ws_http_status(g_socket);
        status("connected to %s (HTTP %d%s%s%s)", url, http,
               proto[0] ? ", subprotocol \"" : "", proto, proto[0] ? "\"" : "");
        ws_info zi;
        if (g_cfg->compress && ws_get_info(g_socket, &zi, sizeof zi) == WS_OK) {
            if (zi.compression)
                status("permessage-deflate: client_max_window_bits=%d server_max_window_bits=%d%s%s",
                       zi.client_max_window_bits, zi.server_max_window_bits,
                       zi.client_no_context_takeover ? " client_no_context_takeover" : "",
                       zi.server_no_context_takeover ? " server_no_context_takeover" : "");
            else
                status("permessage-deflate: declined by the server");
        }
    }

    pthread_t thread;
    if (pthread_create(&thread, NULL, reader, NULL) != 0) {
        fprintf(stderr, "wscat: cannot start the reader thread\n");
        ws_close(g_socket, 1011, NULL);
        return 1;
    }

    int sent = cfg.n_execute > 0 ? send_execute() : pump_stdin();
    int write_failed = sent < 0;
    __atomic_store_n(&g_input_done_ms, now_ms(), __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_input_done, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&g_out_lock);
    clear_prompt();
    pthread_mutex_unlock(&g_out_lock);
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
