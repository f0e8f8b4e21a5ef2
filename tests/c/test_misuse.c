/*
 * Misuse, in the spirit of SQLite's test/misuse.test: socket numbers 0, -1,
 * never issued, closed, double close; NULL pointers; invalid types, close
 * codes and reasons. Every call must return -1 (or NULL) with the
 * documented code and never crash; the socket stays usable after a
 * rejected argument. Also: the last error is per thread and kept by the
 * getters, socket numbers are never reused, ws_set_max_sockets.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

/* Every socket-taking function with `s`: -1 / NULL and WS_E_BAD_SOCKET. */
static void all_bad_socket(int s)
{
    const void *p = NULL;
    size_t len = 0;
    int type = 0;
    unsigned char buf[8];
    wst_log("bad socket %d", s);
    CHECK_ERR(ws_write(s, "x", 1, WS_TEXT), WS_ERROR, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_write(s, NULL, 0, WS_BINARY | WS_MORE), WS_ERROR, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_flush(s, 0), WS_ERROR, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_read(s, &p, &len, &type, 0), WS_ERROR, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_read(s, &p, &len, &type, 100), WS_ERROR, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_read(s, &p, &len, &type, -1), WS_ERROR, WS_E_BAD_SOCKET); /* must not block */
    CHECK_ERR(ws_read_into(s, buf, sizeof buf, &len, &type, -1), WS_ERROR, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_close(s, 0, NULL), WS_ERROR, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_close(s, 1000, "bye"), WS_ERROR, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_http_status(s), WS_ERROR, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_close_code(s), WS_ERROR, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_response_header(s, "Upgrade") == NULL ? -1 : 0, -1, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_response_headers(s) == NULL ? -1 : 0, -1, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_subprotocol(s) == NULL ? -1 : 0, -1, WS_E_BAD_SOCKET);
    CHECK_ERR(ws_close_reason(s) == NULL ? -1 : 0, -1, WS_E_BAD_SOCKET);
    /* Out-parameters untouched. */
    CHECK(p == NULL && len == 0 && type == 0);
    /* The message says what is wrong. */
    CHECK(strlen(ws_last_error()) > 0);
}

/* -1 with one of two codes (which check comes first is not specified). */
static void fails_either(int rc, int a, int b, const char *what)
{
    int code = ws_last_error_code();
    if (!CHECK(rc == WS_ERROR && (code == a || code == b)))
        wst_log("  ... %s: rc %d code %s", what, rc, ws_error_name(code));
}

struct thread_err {
    int code;
    char msg[256];
};

static void *fail_in_thread(void *arg)
{
    struct thread_err *te = arg;
    ws_close(424242, 0, NULL);
    te->code = ws_last_error_code();
    snprintf(te->msg, sizeof te->msg, "%s", ws_last_error());
    return NULL;
}

int main(int argc, char **argv)
{
    struct wst_server srv;
    int s = -1;

    wst_init(argc, argv, 60);

    /* --- library-wide functions --- */
    CHECK(ws_version() != NULL && ws_version()[0] >= '0' && ws_version()[0] <= '9');
    CHECK(strcmp(ws_error_name(WS_E_OK), "WS_E_OK") == 0);
    CHECK(strcmp(ws_error_name(WS_E_TIMEOUT), "WS_E_TIMEOUT") == 0);
    CHECK(strcmp(ws_error_name(WS_E_BAD_SOCKET), "WS_E_BAD_SOCKET") == 0);
    CHECK(strcmp(ws_error_name(WS_E_BUFFER_TOO_SMALL), "WS_E_BUFFER_TOO_SMALL") == 0);
    CHECK(strcmp(ws_error_name(-1), "WS_E_UNKNOWN") == 0);
    CHECK(strcmp(ws_error_name(9999), "WS_E_UNKNOWN") == 0);
    CHECK(strcmp(ws_error_name(INT_MIN), "WS_E_UNKNOWN") == 0);
    CHECK(ws_last_error() != NULL);

    /* --- bad socket numbers --- */
    static const int bad[] = {0, -1, -2, INT_MIN, INT_MAX, 12345, 987654321};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        all_bad_socket(bad[i]);

    /* --- the last error is per thread and kept by the getters --- */
    CHECK_ERR(ws_open("ftp://x/", NULL), WS_ERROR, WS_E_UNSUPPORTED_SCHEME);
    {
        struct thread_err te = {0, ""};
        pthread_t t;
        if (CHECK_EQ(pthread_create(&t, NULL, fail_in_thread, &te), 0)) {
            pthread_join(t, NULL);
            CHECK_EQ(te.code, WS_E_BAD_SOCKET);
            CHECK(te.msg[0] != '\0');
        }
        /* This thread's error is still the URL one, after many getter calls. */
        for (int i = 0; i < 3; i++) {
            CHECK_EQ(ws_last_error_code(), WS_E_UNSUPPORTED_SCHEME);
            CHECK(strstr(ws_last_error(), "ftp") != NULL);
        }
    }

    /* --- NULL arguments --- */
    CHECK_ERR(ws_open(NULL, NULL), WS_ERROR, WS_E_INVALID_ARGUMENT);
    CHECK_ERR(ws_open(NULL, "{}"), WS_ERROR, WS_E_INVALID_ARGUMENT);
    {
        fails_either(ws_read(777, NULL, NULL, NULL, 0), WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT,
                     "ws_read(777, NULL...)");
        fails_either(ws_read_into(777, NULL, 10, NULL, NULL, 0), WS_E_BAD_SOCKET,
                     WS_E_INVALID_ARGUMENT, "ws_read_into(777, NULL...)");
        fails_either(ws_write(777, NULL, 10, WS_TEXT), WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT,
                     "ws_write(777, NULL, 10)");
        fails_either(ws_response_header(777, NULL) == NULL ? -1 : 0, WS_E_BAD_SOCKET,
                     WS_E_INVALID_ARGUMENT, "ws_response_header(777, NULL)");
    }

    if (wst_echo_start(&srv) != 0)
        return wst_result();
    s = wst_open(srv.url, NULL);
    if (s < 0)
        goto out;
    {
        const void *p = NULL;
        size_t len = 0;
        unsigned char buf[8];
        CHECK_ERR(ws_write(s, NULL, 5, WS_TEXT), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_ERR(ws_write(s, NULL, 5, WS_BINARY), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_ERR(ws_read(s, NULL, &len, NULL, 0), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_ERR(ws_read(s, &p, NULL, NULL, 0), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_ERR(ws_read(s, NULL, NULL, NULL, -1), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_ERR(ws_read_into(s, NULL, 8, &len, NULL, 0), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_ERR(ws_read_into(s, buf, sizeof buf, NULL, NULL, 0), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_ERR(ws_response_header(s, NULL) == NULL ? -1 : 0, -1, WS_E_INVALID_ARGUMENT);
        /* Invalid message types. */
        static const int bad_types[] = {0, 3, 8, 9, 10, -1, WS_MORE, 0x10000 | WS_TEXT};
        for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++)
            CHECK_ERR(ws_write(s, "x", 1, bad_types[i]), WS_ERROR, WS_E_INVALID_ARGUMENT);
    }

    /* --- invalid close codes and reasons: -1, and the socket stays open --- */
    {
        static const int bad_codes[] = {-1, 1, 999, 1004, 1005, 1006, 1014, 1015, 2000, 2999, 5000, INT_MAX};
        for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++)
            if (!CHECK_ERR(ws_close(s, bad_codes[i], NULL), WS_ERROR, WS_E_INVALID_ARGUMENT))
                wst_log("  ... close code %d", bad_codes[i]);
        char reason[200];
        memset(reason, 'r', sizeof reason);
        reason[WS_MAX_CLOSE_REASON + 1] = '\0'; /* 124 bytes */
        CHECK_ERR(ws_close(s, 1000, reason), WS_ERROR, WS_E_INVALID_ARGUMENT);
        CHECK_ERR(ws_close(s, 1000, "bad \xff reason"), WS_ERROR, WS_E_INVALID_ARGUMENT);
        /* Still open and working. */
        CHECK_EQ(ws_http_status(s), 101);
        wst_echo_roundtrip(s, "still open", 10, WS_TEXT, 10000);

        /* A maximal reason is fine. */
        reason[WS_MAX_CLOSE_REASON] = '\0';
        CHECK_EQ(ws_close(s, 4999, reason), WS_OK);
        CHECK_EQ(ws_last_error_code(), WS_E_OK);
        CHECK(strcmp(ws_last_error(), "") == 0);
    }
    /* --- closed and double-closed --- */
    all_bad_socket(s);
    CHECK_ERR(ws_close(s, 0, NULL), WS_ERROR, WS_E_BAD_SOCKET);

    /* --- valid close codes are accepted --- */
    {
        static const int good_codes[] = {0, 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 4000, 4999};
        for (size_t i = 0; i < sizeof good_codes / sizeof good_codes[0]; i++) {
            int t = wst_open(srv.url, "{\"closeTimeout\": 2000}");
            if (t < 0)
                break;
            if (!CHECK_EQ(ws_close(t, good_codes[i], "ok"), WS_OK))
                wst_log("  ... close code %d", good_codes[i]);
        }
    }

    /* --- socket numbers are never reused --- */
    {
        enum { N = 40 };
        int seen[N];
        for (int i = 0; i < N; i++) {
            seen[i] = wst_open(srv.url, NULL);
            if (seen[i] < 0)
                break;
            for (int j = 0; j < i; j++)
                if (!CHECK(seen[j] != seen[i]))
                    break;
            /* Close every other one at once so numbers get freed early. */
            if (i % 2 == 0)
                CHECK_EQ(ws_close(seen[i], 0, NULL), WS_OK);
        }
        for (int i = 1; i < N; i += 2)
            if (seen[i] > 0)
                CHECK_EQ(ws_close(seen[i], 0, NULL), WS_OK);
    }

    /* --- ws_set_max_sockets --- */
    CHECK_ERR(ws_set_max_sockets(0), WS_ERROR, WS_E_INVALID_ARGUMENT);
    CHECK_ERR(ws_set_max_sockets(-5), WS_ERROR, WS_E_INVALID_ARGUMENT);
    {
        int prev = ws_set_max_sockets(1);
        CHECK_EQ(prev, 4096);
        int a = wst_open(srv.url, NULL);
        if (a > 0) {
            CHECK_ERR(ws_open(srv.url, NULL), WS_ERROR, WS_E_TOO_MANY_SOCKETS);
            wst_log("limit: %s", ws_last_error());
            CHECK(strstr(ws_last_error(), "no more free sockets") != NULL);
            CHECK_EQ(ws_close(a, 0, NULL), WS_OK);
            /* Freed: the next open works. */
            int b = wst_open(srv.url, NULL);
            if (b > 0)
                CHECK_EQ(ws_close(b, 0, NULL), WS_OK);
        }
        CHECK_EQ(ws_set_max_sockets(prev), 1);
    }

out:
    wst_echo_stop(&srv);
    return wst_result();
}
