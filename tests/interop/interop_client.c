/*
 * interop_client.c - wsclient's C API against a third-party server: the
 * Python `websockets` server in tests/interop/server.py.
 *
 * usage: interop_client ws://127.0.0.1:PORT
 *
 * Every check prints "ok: ..." or "FAIL: ..."; the last line is
 * "interop: N passed, M failed" and the exit status is 0 only when M is 0.
 * Every read has a deadline, so a misbehaving peer cannot hang the test.
 */

#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsclient.h"

enum { DEADLINE_MS = 5000, BIG = 1024 * 1024 };

static const char *base;
static int passed, failed;

/* Records one check. On failure, also prints the thread's last error, which
 * describes the most recent ws_* call (call check() right after it). */
static int check(int ok, const char *what)
{
    if (ok) {
        passed++;
        printf("ok: %s\n", what);
    } else {
        failed++;
        printf("FAIL: %s (last error: %s: %s)\n", what,
               ws_error_name(ws_last_error_code()), ws_last_error());
    }
    return ok;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ws_close, checking that the closing handshake completed rather than ran
 * into "closeTimeout" (default 1000 ms): the server answers at once. */
static void close_quickly(int sock, int code, const char *reason, const char *what)
{
    double t0 = now_ms();
    int rc = ws_close(sock, code, reason);
    double ms = now_ms() - t0;
    char label[160];
    snprintf(label, sizeof label, "%s (%.0f ms)", what, ms);
    check(rc == WS_OK && ms < 500, label);
}

static int open_path(const char *path, const char *options)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    return ws_open(url, options);
}

/* Reads one message and checks its type and content. */
static int expect_message(int sock, int want_type, const void *want, size_t want_len,
                          const char *what)
{
    const void *data;
    size_t len;
    int type;
    int rc = ws_read(sock, &data, &len, &type, DEADLINE_MS);
    if (rc != WS_OK)
        return check(0, what);
    return check(type == want_type && len == want_len &&
                 (len == 0 || memcmp(data, want, len) == 0), what);
}

/* Sends a message and expects it back unchanged, with the same type. */
static int echo(int sock, const void *msg, size_t len, int type, const char *what)
{
    char label[160];
    snprintf(label, sizeof label, "%s: sent", what);
    if (!check(ws_write(sock, msg, len, type) == WS_OK, label))
        return 0;
    snprintf(label, sizeof label, "%s: echoed", what);
    return expect_message(sock, type, msg, len, label);
}

/* Asks the server how the client closed the previous connection: the
 * server answers "CODE REASON" as it received them. */
static void expect_last_close(const char *want, const char *what)
{
    int sock = open_path("/lastclose", NULL);
    if (!check(sock > 0, "open /lastclose"))
        return;
    expect_message(sock, WS_TEXT, want, strlen(want), what);
    const void *data;
    size_t len;
    int type;
    int rc = ws_read(sock, &data, &len, &type, DEADLINE_MS);
    check(rc == WS_CLOSED && ws_close_code(sock) == 1000, "then /lastclose closed with 1000");
    close_quickly(sock, 0, NULL, "close /lastclose");
}

static void test_echo(void)
{
    int sock = open_path("/echo", NULL);
    if (!check(sock > 0, "open /echo"))
        return;
    check(ws_http_status(sock) == 101, "HTTP status 101");
    const char *server = ws_response_header(sock, "server"); /* any case */
    check(server != NULL && strstr(server, "websockets") != NULL,
          "response header Server names websockets");
    const char *sp = ws_subprotocol(sock);
    check(sp != NULL && strcmp(sp, "") == 0, "no subprotocol when none offered");

    /* Nothing has arrived: a 0 ms read is a timeout that loses nothing. */
    const void *data;
    size_t len;
    int type;
    int rc = ws_read(sock, &data, &len, &type, 0);
    check(rc == WS_TIMEOUT && ws_last_error_code() == WS_E_TIMEOUT, "polling read times out");

    const char *text = "hello, wsclient \xe2\x9c\x93"; /* U+2713, 3 bytes of UTF-8 */
    echo(sock, text, strlen(text), WS_TEXT, "echo text (UTF-8)");
    echo(sock, "", 0, WS_TEXT, "echo empty text");

    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)i; /* includes NUL and invalid UTF-8 */
    echo(sock, bytes, sizeof bytes, WS_BINARY, "echo binary (all byte values)");

    unsigned char *big = malloc(BIG);
    if (check(big != NULL, "allocate 1 MiB")) {
        for (size_t i = 0; i < BIG; i++)
            big[i] = (unsigned char)(i * 31 + 7);
        echo(sock, big, BIG, WS_BINARY, "echo 1 MiB binary");
        /* 1 MiB of text whose multi-byte characters straddle frame and read
         * boundaries: "abc" U+2713 repeated, ASCII padding at the end. */
        static const char unit[] = "abc\xe2\x9c\x93";
        size_t n = 0;
        for (; n + sizeof unit - 1 <= BIG; n += sizeof unit - 1)
            memcpy(big + n, unit, sizeof unit - 1);
        memset(big + n, 'x', BIG - n);
        echo(sock, big, BIG, WS_TEXT, "echo 1 MiB text");
        free(big);
    }

    /* WS_MORE queues; the next write without it sends both, in order. */
    check(ws_write(sock, "one", 3, WS_TEXT | WS_MORE) == WS_OK, "queue with WS_MORE");
    check(ws_write(sock, "two", 3, WS_BINARY) == WS_OK, "write after WS_MORE");
    expect_message(sock, WS_TEXT, "one", 3, "queued message echoed first");
    expect_message(sock, WS_BINARY, "two", 3, "then the second");

    /* ws_read_into with a small buffer keeps the message for the next read. */
    char buf[64];
    size_t need = 0;
    check(ws_write(sock, "0123456789", 10, WS_TEXT) == WS_OK, "write for ws_read_into");
    rc = ws_read_into(sock, buf, 4, &need, &type, DEADLINE_MS);
    check(rc == WS_ERROR && ws_last_error_code() == WS_E_BUFFER_TOO_SMALL && need == 10,
          "ws_read_into: buffer too small, size reported");
    rc = ws_read_into(sock, buf, sizeof buf, &len, &type, DEADLINE_MS);
    check(rc == WS_OK && len == 10 && type == WS_TEXT && memcmp(buf, "0123456789", 10) == 0,
          "ws_read_into: the kept message");

    /* Our close code and reason must reach the server intact. */
    close_quickly(sock, 4000, "client done \xe2\x9c\x93", "close with 4000 + reason");
    expect_last_close("4000 client done \xe2\x9c\x93", "server received our code and reason");
}

/* Messages from the server that the client must refuse: the library fails
 * the connection with the close code RFC 6455 asks for, and the server must
 * receive that code. */
static void test_refused_messages(void)
{
    const void *data;
    size_t len;
    int type;
    char msg[1025];
    memset(msg, 'm', sizeof msg);

    int sock = open_path("/echo", "{\"maxMessageSize\": 1024}");
    if (check(sock > 0, "open /echo with maxMessageSize 1024")) {
        echo(sock, msg, 1024, WS_BINARY, "message of exactly maxMessageSize");
        /* the limit is on what we receive: 1025 bytes go out, the echo fails */
        check(ws_write(sock, msg, 1025, WS_BINARY) == WS_OK, "write 1025 bytes");
        int rc = ws_read(sock, &data, &len, &type, DEADLINE_MS);
        check(rc == WS_ERROR && ws_last_error_code() == WS_E_MESSAGE_TOO_BIG,
              "1025-byte echo: WS_E_MESSAGE_TOO_BIG");
        close_quickly(sock, 0, NULL, "close after WS_E_MESSAGE_TOO_BIG");
        expect_last_close("1009 ", "server received close code 1009");
    }

    sock = open_path("/badutf8", NULL);
    if (check(sock > 0, "open /badutf8")) {
        int rc = ws_read(sock, &data, &len, &type, DEADLINE_MS);
        check(rc == WS_ERROR && ws_last_error_code() == WS_E_INVALID_UTF8,
              "invalid UTF-8 in a text message: WS_E_INVALID_UTF8");
        close_quickly(sock, 0, NULL, "close after WS_E_INVALID_UTF8");
        expect_last_close("1007 ", "server received close code 1007");
    }
}

static void test_subprotocol(void)
{
    /* Offered in the client's order; the server prefers v2. */
    int sock = open_path("/subprotocol",
                         "{\"subprotocols\": [\"v1.interop.wsclient\", \"v2.interop.wsclient\"]}");
    if (check(sock > 0, "open /subprotocol offering v1, v2")) {
        const char *sp = ws_subprotocol(sock);
        check(sp != NULL && strcmp(sp, "v2.interop.wsclient") == 0,
              "ws_subprotocol is the server's choice (v2)");
        const char *h = ws_response_header(sock, "Sec-WebSocket-Protocol");
        check(h != NULL && strcmp(h, "v2.interop.wsclient") == 0,
              "Sec-WebSocket-Protocol response header");
        echo(sock, "sp", 2, WS_TEXT, "echo on the subprotocol connection");
        close_quickly(sock, 0, NULL, "close /subprotocol");
    }

    /* The endpoint requires a subprotocol: HTTP 400 without one. */
    sock = open_path("/subprotocol", NULL);
    check(sock == WS_ERROR && ws_last_error_code() == WS_E_UPGRADE_REJECTED &&
              strstr(ws_last_error(), "400") != NULL,
          "no subprotocol offered: upgrade rejected (HTTP 400)");
    if (sock > 0)
        ws_close(sock, 0, NULL);
    sock = open_path("/subprotocol", "{\"subprotocols\": [\"nope\"]}");
    check(sock == WS_ERROR && ws_last_error_code() == WS_E_UPGRADE_REJECTED,
          "unknown subprotocol offered: upgrade rejected");
    if (sock > 0)
        ws_close(sock, 0, NULL);
}

static void test_server_close(void)
{
    int sock = open_path("/close?code=4001", NULL);
    if (!check(sock > 0, "open /close"))
        return;
    expect_message(sock, WS_TEXT, "closing", 7, "message before the server's close");
    const void *data;
    size_t len;
    int type;
    int rc = ws_read(sock, &data, &len, &type, DEADLINE_MS);
    check(rc == WS_CLOSED, "ws_read reports the server's close");
    check(ws_close_code(sock) == 4001, "ws_close_code is 4001");
    const char *reason = ws_close_reason(sock);
    check(reason != NULL && strcmp(reason, "going away \xe2\x9c\x93") == 0,
          "ws_close_reason is the server's reason (UTF-8)");
    check(ws_read(sock, &data, &len, &type, 0) == WS_CLOSED, "later reads stay closed");
    rc = ws_write(sock, "late", 4, WS_TEXT);
    check(rc == WS_ERROR && ws_last_error_code() == WS_E_CLOSED, "write after close: WS_E_CLOSED");
    close_quickly(sock, 0, NULL, "ws_close releases the socket");
    rc = ws_close(sock, 0, NULL);
    check(rc == WS_ERROR && ws_last_error_code() == WS_E_BAD_SOCKET,
          "second ws_close: WS_E_BAD_SOCKET");

    /* A close frame without a status code reads back as 1005, reason "". */
    sock = open_path("/close?code=none", NULL);
    if (check(sock > 0, "open /close?code=none")) {
        expect_message(sock, WS_TEXT, "closing", 7, "message before the empty close");
        rc = ws_read(sock, &data, &len, &type, DEADLINE_MS);
        reason = ws_close_reason(sock);
        check(rc == WS_CLOSED && ws_close_code(sock) == 1005 && reason != NULL &&
                  *reason == '\0',
              "close frame without a code: 1005, empty reason");
        close_quickly(sock, 0, NULL, "close after the empty close frame");
    }

    /* The server drops TCP without a close frame: an error, code 1006. */
    sock = open_path("/drop", NULL);
    if (check(sock > 0, "open /drop")) {
        expect_message(sock, WS_TEXT, "dropping", 8, "message before the drop");
        rc = ws_read(sock, &data, &len, &type, DEADLINE_MS);
        int code = ws_last_error_code();
        check(rc == WS_ERROR && (code == WS_E_CONNECTION_LOST || code == WS_E_IO),
              "connection dropped: WS_E_CONNECTION_LOST (or WS_E_IO after a reset)");
        check(ws_close_code(sock) == 1006, "ws_close_code is 1006");
        rc = ws_read(sock, &data, &len, &type, 0);
        check(rc == WS_ERROR && ws_last_error_code() == code, "later reads repeat the error");
        close_quickly(sock, 0, NULL, "ws_close after the drop");
    }
}

static void test_fragments_and_ping(void)
{
    int sock = open_path("/fragments", NULL);
    if (check(sock > 0, "open /fragments")) {
        const char *want = "fragmented \xc3\xa9 message";
        expect_message(sock, WS_TEXT, want, strlen(want), "fragmented message reassembled");
        close_quickly(sock, 0, NULL, "close /fragments");
    }
    /* The server pings and waits for the pong before it sends anything: the
     * library answers pings while the program is blocked in ws_read. */
    sock = open_path("/ping", NULL);
    if (check(sock > 0, "open /ping")) {
        expect_message(sock, WS_TEXT, "pong received", 13, "server's ping answered");
        close_quickly(sock, 0, NULL, "close /ping");
    }
}

int main(int argc, char **argv)
{
    if (argc != 2 || strncmp(argv[1], "ws://", 5) != 0 || strlen(argv[1]) > 256) {
        fprintf(stderr, "usage: %s ws://127.0.0.1:PORT\n", argv[0]);
        return 2;
    }
    base = argv[1];
    printf("wsclient %s against %s\n", ws_version(), base);

    test_echo();
    test_refused_messages();
    test_subprotocol();
    test_server_close();
    test_fragments_and_ping();

    printf("interop: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
