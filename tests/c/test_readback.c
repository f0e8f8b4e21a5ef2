/*
 * What a connection reports about itself: ws_http_status (101), the
 * upgrade response headers (by name, case-insensitive, repeated headers
 * joined; all of them in order), ws_subprotocol ("" when none offered, the
 * server's choice otherwise), and the server's close code and reason.
 * Also what the library sent in the upgrade request (path, query, Host,
 * custom headers replacing its own, Basic auth from the URL).
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "miniserver.h"
#include "testutil.h"

/* Copies a library-owned string (valid only until the next ws_* call). */
static const char *copy(char *buf, size_t cap, const char *s)
{
    if (!s)
        return NULL;
    snprintf(buf, cap, "%s", s);
    return buf;
}

struct captured {
    char request[8192];
};

/* Upgrade with extra headers, remember the request, send two messages and a
 * close frame with code 4001 "bye", then finish the close handshake. */
static void headers_then_close(struct ms_conn *c, void *arg)
{
    struct captured *cap = arg;
    /* Keep the request before answering: ws_open returns on the answer. */
    if (ms_read_request(c, 10000) != 0)
        return;
    snprintf(cap->request, sizeof cap->request, "%s", c->request);
    if (ms_send_101(c, "X-Multi: a\r\nServer: mini\r\nx-multi: b\r\n") != 0)
        return;
    ms_send_frame(c, 0x81, "m1", 2);
    ms_send_frame(c, 0x82, "m2", 2);
    ms_send_frame(c, 0x88, "\x0f\xa1" "bye", 5);
    ms_wait_close(c, 10000);
}

/* A close frame without a code. */
static void close_no_code(struct ms_conn *c, void *arg)
{
    (void)arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    ms_send_frame(c, 0x88, NULL, 0);
    ms_wait_close(c, 10000);
}

static int has_line(const char *request, const char *line)
{
    char needle[512];
    snprintf(needle, sizeof needle, "\r\n%s\r\n", line);
    return strstr(request, needle) != NULL;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    size_t nl = strlen(needle);
    for (const char *p = hay; (p = strcasestr(p, needle)) != NULL; p += nl)
        n++;
    return n;
}

int main(int argc, char **argv)
{
    struct wst_server srv;
    char buf[4096];
    const char *v;
    int s;

    wst_init(argc, argv, 60);

    /* --- echo server, no subprotocol offered --- */
    if (wst_echo_start(&srv) != 0)
        return wst_result();
    s = wst_open(srv.url, NULL);
    if (s > 0) {
        CHECK_EQ(ws_http_status(s), 101);
        v = copy(buf, sizeof buf, ws_subprotocol(s));
        CHECK(v && strcmp(v, "") == 0);
        CHECK_EQ(ws_last_error_code(), WS_E_OK);
        v = copy(buf, sizeof buf, ws_response_header(s, "upgrade"));
        CHECK(v && strcasecmp(v, "websocket") == 0);
        v = copy(buf, sizeof buf, ws_response_header(s, "UPGRADE"));
        CHECK(v && strcasecmp(v, "websocket") == 0);
        v = copy(buf, sizeof buf, ws_response_header(s, "Sec-WebSocket-Accept"));
        CHECK(v && strlen(v) == 28);
        CHECK(ws_response_header(s, "X-Not-There") == NULL);
        CHECK_EQ(ws_last_error_code(), WS_E_OK); /* absent is not an error */
        CHECK(ws_response_header(s, "") == NULL);
        v = copy(buf, sizeof buf, ws_response_headers(s));
        wst_log("response headers:\n%s", v ? v : "(NULL)");
        CHECK(v && strcasestr(v, "Sec-WebSocket-Accept: ") != NULL); /* the echo server sends lowercase names */
        CHECK(v && strlen(v) >= 2 && strcmp(v + strlen(v) - 2, "\r\n") == 0);
        CHECK(v && strncmp(v, "HTTP/", 5) != 0); /* header lines only */
        CHECK_EQ(ws_close_code(s), 0); /* no close frame yet */
        v = copy(buf, sizeof buf, ws_close_reason(s));
        CHECK(v && strcmp(v, "") == 0);
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }

    /* --- subprotocols offered: the echo server takes the first --- */
    s = wst_open(srv.url, "{\"subprotocols\": [\"chat\", \"superchat\"]}");
    if (s > 0) {
        v = copy(buf, sizeof buf, ws_subprotocol(s));
        CHECK(v && strcmp(v, "chat") == 0);
        v = copy(buf, sizeof buf, ws_response_header(s, "sec-websocket-protocol"));
        CHECK(v && strcmp(v, "chat") == 0);
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    wst_echo_stop(&srv);

    /* --- C mini server: repeated headers, the request, the server's close --- */
    struct miniserver ms;
    struct captured cap;
    memset(&cap, 0, sizeof cap);
    if (ms_start(&ms, headers_then_close, &cap) != 0)
        return wst_result();
    {
        char url[160];
        snprintf(url, sizeof url, "ws://user:pa%%3Ass@127.0.0.1:%d/chat/room?x=1&y=two", ms.port);
        s = wst_open(url, "{\"headers\": {\"X-Test\": \"1\", \"User-Agent\": \"readback/1.0\","
                          " \"Origin\": \"http://example.com\"}}");
    }
    if (s > 0) {
        v = copy(buf, sizeof buf, ws_response_header(s, "x-multi"));
        wst_log("X-Multi: %s", v ? v : "(NULL)");
        CHECK(v && strcmp(v, "a, b") == 0);
        v = copy(buf, sizeof buf, ws_response_header(s, "Server"));
        CHECK(v && strcmp(v, "mini") == 0);
        v = copy(buf, sizeof buf, ws_response_headers(s));
        /* In the order the server sent them. */
        CHECK(v && strstr(v, "X-Multi: a\r\nServer: mini\r\nx-multi: b\r\n") != NULL);

        /* The request as the server saw it. */
        wst_log("request:\n%s", cap.request);
        CHECK(strncmp(cap.request, "GET /chat/room?x=1&y=two HTTP/1.1\r\n", 35) == 0);
        {
            char host[64];
            snprintf(host, sizeof host, "Host: 127.0.0.1:%d", ms.port);
            CHECK(has_line(cap.request, host));
        }
        CHECK(has_line(cap.request, "X-Test: 1"));
        CHECK(has_line(cap.request, "Origin: http://example.com"));
        CHECK(has_line(cap.request, "User-Agent: readback/1.0"));
        CHECK_EQ(count(cap.request, "\r\nUser-Agent:"), 1); /* replaced, not added */
        /* user:pa:ss (percent-decoded) -> base64 "dXNlcjpwYTpzcw==" */
        CHECK(has_line(cap.request, "Authorization: Basic dXNlcjpwYTpzcw=="));
        CHECK(has_line(cap.request, "Sec-WebSocket-Version: 13"));

        /* Messages sent before the close frame come first. */
        const void *p;
        size_t len;
        int type;
        if (CHECK_EQ(ws_read(s, &p, &len, &type, 10000), WS_OK))
            CHECK(type == WS_TEXT && len == 2 && memcmp(p, "m1", 2) == 0);
        if (CHECK_EQ(ws_read(s, &p, &len, &type, 10000), WS_OK))
            CHECK(type == WS_BINARY && len == 2 && memcmp(p, "m2", 2) == 0);
        CHECK_EQ(ws_read(s, &p, &len, &type, 10000), WS_CLOSED);
        CHECK_EQ(ws_close_code(s), 4001);
        v = copy(buf, sizeof buf, ws_close_reason(s));
        CHECK(v && strcmp(v, "bye") == 0);
        /* Closed stays closed (at once); writes are refused. */
        int64_t t0 = wst_now_ms();
        CHECK_EQ(ws_read(s, &p, &len, &type, 5000), WS_CLOSED);
        CHECK(wst_now_ms() - t0 < 500);
        CHECK_ERR(ws_write(s, "late", 4, WS_TEXT), WS_ERROR, WS_E_CLOSED);
        CHECK_EQ(ws_http_status(s), 101);
        /* The close handshake is already done: ws_close does not wait. */
        t0 = wst_now_ms();
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        CHECK(wst_now_ms() - t0 < 500);
        CHECK_ERR(ws_close_code(s), WS_ERROR, WS_E_BAD_SOCKET);
    }
    ms_stop(&ms);

    /* --- a close frame without a code: 1005, "" --- */
    if (ms_start(&ms, close_no_code, NULL) != 0)
        return wst_result();
    s = wst_open(ms.url, NULL);
    if (s > 0) {
        const void *p;
        size_t len;
        CHECK_EQ(ws_read(s, &p, &len, NULL, 10000), WS_CLOSED);
        CHECK_EQ(ws_close_code(s), 1005);
        v = copy(buf, sizeof buf, ws_close_reason(s));
        CHECK(v && strcmp(v, "") == 0);
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    ms_stop(&ms);

    return wst_result();
}
