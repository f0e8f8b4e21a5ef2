/*
 * ws_open failures, each with its code and a message naming the cause:
 * refused port, bad URLs, bad options (checked before any network I/O),
 * upgrade answers that are not a valid 101; and ws_write of invalid UTF-8
 * as text (-1, nothing sent).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "miniserver.h"
#include "testutil.h"

/* ws_open must fail with rc and code; returns the message (copied). */
static void open_fails(const char *url, const char *options, int rc, int code, char *msg,
                       size_t cap)
{
    int s = ws_open(url, options);
    if (!wst_check_err_(__FILE__, __LINE__, url, s, rc, code)) {
        wst_log("  ... url \"%s\" options %s", url, options ? options : "NULL");
        if (s > 0)
            ws_close(s, 0, NULL);
    }
    snprintf(msg, cap, "%s", ws_last_error());
}

static void http_401(struct ms_conn *c, void *arg)
{
    (void)arg;
    static const char resp[] = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
    if (ms_read_request(c, 10000) == 0)
        ms_send_raw(c, resp, sizeof resp - 1);
    ms_wait_eof(c, 10000);
}

static void bad_accept(struct ms_conn *c, void *arg)
{
    (void)arg;
    static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
    if (ms_read_request(c, 10000) == 0)
        ms_send_raw(c, resp, sizeof resp - 1);
    ms_wait_eof(c, 10000);
}

static void not_http(struct ms_conn *c, void *arg)
{
    (void)arg;
    static const char resp[] = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
    if (ms_read_request(c, 10000) == 0)
        ms_send_raw(c, resp, sizeof resp - 1);
    ms_wait_eof(c, 10000);
}

/* A 101 selecting a subprotocol the client did not offer. */
static void unoffered_protocol(struct ms_conn *c, void *arg)
{
    (void)arg;
    if (ms_handshake(c, "Sec-WebSocket-Protocol: surprise\r\n") == 0)
        ms_wait_eof(c, 10000);
}

/* Reads the request and closes without a word. */
static void hang_up(struct ms_conn *c, void *arg)
{
    (void)arg;
    ms_read_request(c, 10000);
}

static int contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

int main(int argc, char **argv)
{
    char msg[1024], url[128];
    int refuse_fd, port;

    wst_init(argc, argv, 90);

    /* --- refused port --- */
    refuse_fd = wst_refusing_port(&port);
    if (refuse_fd < 0)
        return wst_result();
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    open_fails(url, NULL, WS_ERROR, WS_E_CONNECT, msg, sizeof msg);
    wst_log("refused: %s", msg);
    CHECK(contains(msg, "connection refused"));
    {
        char peer[64];
        snprintf(peer, sizeof peer, "127.0.0.1:%d", port);
        CHECK(contains(msg, peer)); /* names the peer */
    }
    /* A successful call clears the error; getters keep it. */
    CHECK_EQ(ws_last_error_code(), WS_E_CONNECT);
    CHECK_EQ(ws_last_error_code(), WS_E_CONNECT);
    CHECK(contains(ws_last_error(), "connection refused"));

    /* --- bad URLs --- */
    static const struct {
        const char *url;
        int code;
    } bad_urls[] = {
        {"", WS_E_INVALID_URL},
        {"   ", WS_E_INVALID_URL},
        {"not a url", WS_E_INVALID_URL},
        {"ws://", WS_E_INVALID_URL},
        {"ws:///path", WS_E_INVALID_URL},
        {"ws://:8080/", WS_E_INVALID_URL},
        {"ws://127.0.0.1:0/", WS_E_INVALID_URL},
        {"ws://127.0.0.1:65536/", WS_E_INVALID_URL},
        {"ws://127.0.0.1:99999999999/", WS_E_INVALID_URL},
        {"ws://127.0.0.1:abc/", WS_E_INVALID_URL},
        {"ws://127.0.0.1/#fragment", WS_E_INVALID_URL},
        {"ws://[::1/", WS_E_INVALID_URL},
        {"ws://host name/", WS_E_INVALID_URL},
        {"http://127.0.0.1/", WS_E_UNSUPPORTED_SCHEME},
        {"https://127.0.0.1/", WS_E_UNSUPPORTED_SCHEME},
        {"ftp://127.0.0.1/", WS_E_UNSUPPORTED_SCHEME},
        {"WSX://127.0.0.1/", WS_E_UNSUPPORTED_SCHEME},
        {"ws://127.0.0.1\xff/", WS_E_INVALID_ARGUMENT}, /* not UTF-8 */
    };
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        open_fails(bad_urls[i].url, NULL, WS_ERROR, bad_urls[i].code, msg, sizeof msg);
        wst_log("url \"%s\": %s", bad_urls[i].url, msg);
    }

    /* --- bad options: "argument error in options: ...", before any I/O
     *     (the URL points at the refusing port, so an accepted option would
     *     give WS_E_CONNECT instead) --- */
    static const char *const bad_options[] = {
        "{",
        "{}}",
        "[]",
        "42",
        "\"timeout\"",
        "null",
        "{\"noSuchKey\": 1}",
        "{\"timeout\": 0}",
        "{\"timeout\": -5}",
        "{\"timeout\": \"5000\"}",
        "{\"timeout\": 2147483648}",
        "{\"headers\": []}",
        "{\"headers\": {\"X-Num\": 1}}",
        "{\"headers\": {\"Upgrade\": \"h2c\"}}",
        "{\"headers\": {\"Sec-WebSocket-Key\": \"x\"}}",
        "{\"headers\": {\"Bad Name\": \"x\"}}",
        "{\"headers\": {\"X-Inject\": \"a\\r\\nEvil: 1\"}}",
        "{\"subprotocols\": \"chat\"}",
        "{\"subprotocols\": [1]}",
        "{\"maxMessageSize\": 0}",
        "{\"maxMessageSize\": -1}",
        "{\"sendTimeout\": 0}",
        "{\"closeTimeout\": -1}",
        "{\"sendBufferLimit\": \"big\"}",
        "{\"tcpNoDelay\": 1}",
    };
    for (size_t i = 0; i < sizeof bad_options / sizeof bad_options[0]; i++) {
        open_fails(url, bad_options[i], WS_ERROR, WS_E_INVALID_OPTIONS, msg, sizeof msg);
        if (!CHECK(strncmp(msg, "argument error in options: ", 27) == 0))
            wst_log("  ... options %s", bad_options[i]);
        wst_log("options %s: %s", bad_options[i], msg);
    }
    /* Valid options reach the network (and get refused there). */
    static const char *const good_options[] = {
        "",
        "  ",
        "{}",
        " { } ",
        "{\"timeout\": 5000, \"headers\": {\"X-A\": \"1\", \"User-Agent\": \"test\"},"
        " \"subprotocols\": [\"chat\", \"superchat\"], \"maxMessageSize\": 1000,"
        " \"sendTimeout\": 100, \"closeTimeout\": 100, \"sendBufferLimit\": 65536,"
        " \"tcpNoDelay\": false}",
    };
    for (size_t i = 0; i < sizeof good_options / sizeof good_options[0]; i++)
        open_fails(url, good_options[i], WS_ERROR, WS_E_CONNECT, msg, sizeof msg);
    close(refuse_fd);

    /* --- upgrade answers that are not a valid 101 --- */
    struct miniserver ms;
    if (ms_start(&ms, http_401, NULL) == 0) {
        open_fails(ms.url, "{\"timeout\": 10000}", WS_ERROR, WS_E_UPGRADE_REJECTED, msg, sizeof msg);
        wst_log("401: %s", msg);
        CHECK(contains(msg, "401"));
        ms_stop(&ms);
    }
    if (ms_start(&ms, bad_accept, NULL) == 0) {
        open_fails(ms.url, "{\"timeout\": 10000}", WS_ERROR, WS_E_BAD_ACCEPT, msg, sizeof msg);
        wst_log("bad accept: %s", msg);
        ms_stop(&ms);
    }
    if (ms_start(&ms, not_http, NULL) == 0) {
        open_fails(ms.url, "{\"timeout\": 10000}", WS_ERROR, WS_E_HANDSHAKE, msg, sizeof msg);
        wst_log("not HTTP: %s", msg);
        ms_stop(&ms);
    }
    if (ms_start(&ms, unoffered_protocol, NULL) == 0) {
        open_fails(ms.url, "{\"timeout\": 10000}", WS_ERROR, WS_E_HANDSHAKE, msg, sizeof msg);
        wst_log("unoffered subprotocol: %s", msg);
        ms_stop(&ms);
    }
    if (ms_start(&ms, hang_up, NULL) == 0) {
        /* Documented under both WS_E_CONNECT ("the connection broke during
         * the upgrade") and WS_E_HANDSHAKE ("closed during the upgrade"). */
        int s = ws_open(ms.url, "{\"timeout\": 10000}");
        int code = ws_last_error_code();
        wst_log("hang-up during upgrade: %d %s: %s", s, ws_error_name(code), ws_last_error());
        CHECK(s == WS_ERROR && (code == WS_E_HANDSHAKE || code == WS_E_CONNECT));
        if (s > 0)
            ws_close(s, 0, NULL);
        ms_stop(&ms);
    }

    /* --- ws_write: invalid UTF-8 as text is refused and nothing is sent --- */
    struct wst_server srv;
    if (wst_echo_start(&srv) == 0) {
        int s = wst_open(srv.url, NULL);
        if (s > 0) {
            static const char *const bad_utf8[] = {
                "\xff",
                "abc\xfe",
                "\xc3",              /* truncated 2-byte sequence */
                "\xe2\x82",          /* truncated 3-byte sequence */
                "\xc0\x80",          /* overlong NUL */
                "\xed\xa0\x80",      /* UTF-16 surrogate */
                "\xf4\x90\x80\x80",  /* above U+10FFFF */
            };
            for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
                CHECK_ERR(ws_write(s, bad_utf8[i], strlen(bad_utf8[i]), WS_TEXT), WS_ERROR,
                          WS_E_INVALID_ARGUMENT);
                CHECK_ERR(ws_write(s, bad_utf8[i], strlen(bad_utf8[i]), WS_TEXT | WS_MORE),
                          WS_ERROR, WS_E_INVALID_ARGUMENT);
            }
            wst_log("invalid UTF-8: %s", ws_last_error());
            /* The same bytes are fine as binary; the first echo proves that
             * none of the refused texts went out. */
            if (CHECK_EQ(ws_write(s, "\xff", 1, WS_BINARY), WS_OK)) {
                const void *p;
                size_t len;
                int type;
                if (CHECK_EQ(ws_read(s, &p, &len, &type, 10000), WS_OK))
                    CHECK(type == WS_BINARY && len == 1 && memcmp(p, "\xff", 1) == 0);
            }
            /* Nothing pending either. */
            CHECK_EQ(ws_flush(s, 1000), WS_OK);
            {
                const void *p;
                size_t len;
                CHECK_ERR(ws_read(s, &p, &len, NULL, 300), WS_TIMEOUT, WS_E_TIMEOUT);
            }
            CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        }
        /* wss:// to a plain server: a TLS failure, not a hang. */
        snprintf(url, sizeof url, "wss://127.0.0.1:%d/", srv.port);
        open_fails(url, "{\"timeout\": 10000}", WS_ERROR, WS_E_TLS, msg, sizeof msg);
        wst_log("wss to plain ws: %s", msg);
        wst_echo_stop(&srv);
    }

    return wst_result();
}
