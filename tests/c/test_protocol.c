/*
 * Misbehaving servers (the C mini server): protocol violations fail the
 * connection with the documented code and close code, a dropped TCP
 * connection is WS_E_CONNECTION_LOST (1006), fragmented messages are
 * reassembled with a ping in between, pings are answered while the program
 * only reads, and every client frame is masked.
 */
#include <string.h>

#include "miniserver.h"
#include "testutil.h"

struct scenario {
    const char *name;
    /* What the server sends after the upgrade: raw bytes. */
    const unsigned char *bytes;
    size_t len;
    /* Expected from the client. */
    int rc;           /* ws_read result */
    int code;         /* ws_last_error_code after it */
    int close_sent;   /* close code the server should get (0: none expected) */
    int drop;         /* server closes TCP right after sending */
    const char *options;
    /* Filled by the server. */
    int client_close; /* close code the client sent, 0 none, -1 timeout */
    int unmasked;
};

static void run_scenario(struct ms_conn *c, void *arg)
{
    struct scenario *sc = arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    ms_send_raw(c, sc->bytes, sc->len);
    if (sc->drop)
        return; /* closing the fd without a close frame */
    sc->client_close = ms_wait_close(c, 10000);
    sc->unmasked = c->unmasked_frame;
}

/* Fragmented "Hello, world" with a ping between the fragments; records the
 * pong. Then a lone ping while the client just waits in ws_read, then the
 * message that ends that read. */
struct pingpong {
    int pong1, pong2, unmasked, client_close;
};

static int expect_pong(struct ms_conn *c, const char *payload)
{
    unsigned b0;
    unsigned char buf[64];
    size_t len;
    if (ms_read_frame(c, &b0, buf, sizeof buf, &len, 5000) != 1)
        return 0;
    return b0 == 0x8A && len == strlen(payload) && memcmp(buf, payload, len) == 0;
}

static void fragments(struct ms_conn *c, void *arg)
{
    struct pingpong *pp = arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    ms_send_frame(c, 0x01, "Hel", 3);
    ms_send_frame(c, 0x89, "p1", 2);
    ms_send_frame(c, 0x00, "lo, ", 4);
    ms_send_frame(c, 0x80, "world", 5);
    pp->pong1 = expect_pong(c, "p1");
    /* The client is now blocked in ws_read without data: ping it. */
    wst_sleep_ms(100);
    ms_send_frame(c, 0x89, "p2", 2);
    pp->pong2 = expect_pong(c, "p2");
    ms_send_frame(c, 0x82, "done", 4);
    pp->client_close = ms_wait_close(c, 10000);
    pp->unmasked = c->unmasked_frame;
}

int main(int argc, char **argv)
{
    static const unsigned char rsv1[] = {0xC1, 2, 'h', 'i'};
    static const unsigned char bad_utf8[] = {0x81, 2, 0xC3, 0x28};
    static const unsigned char masked[] = {0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2};
    static const unsigned char bad_opcode[] = {0x83, 0};
    static const unsigned char bad_close_code[] = {0x88, 2, 0x03, 0xE7}; /* 999 */
    static const unsigned char long_ping[] = {0x89, 126, 0, 126};          /* control > 125 */
    static const unsigned char fragmented_ping[] = {0x09, 0};
    static const unsigned char lone_continuation[] = {0x80, 1, 'x'};
    static const unsigned char bad_close_utf8[] = {0x88, 4, 0x03, 0xE8, 0xC3, 0x28};
    static unsigned char too_big[4 + 2000];
    static const unsigned char partial_then_drop[] = {0x81, 10, 'a', 'b'};

    too_big[0] = 0x82;
    too_big[1] = 126;
    too_big[2] = 2000 >> 8;
    too_big[3] = 2000 & 0xff;

    struct scenario scenarios[] = {
        {"RSV1 without extension", rsv1, sizeof rsv1, WS_ERROR, WS_E_COMPRESSION, 1002, 0, NULL, 0, 0}, /* RFC 7692: an error code of its own */
        {"invalid UTF-8 text", bad_utf8, sizeof bad_utf8, WS_ERROR, WS_E_INVALID_UTF8, 1007, 0, NULL, 0, 0},
        {"masked server frame", masked, sizeof masked, WS_ERROR, WS_E_PROTOCOL, 1002, 0, NULL, 0, 0},
        {"reserved opcode 3", bad_opcode, sizeof bad_opcode, WS_ERROR, WS_E_PROTOCOL, 1002, 0, NULL, 0, 0},
        {"close code 999", bad_close_code, sizeof bad_close_code, WS_ERROR, WS_E_PROTOCOL, 1002, 0, NULL, 0, 0},
        {"126-byte ping", long_ping, sizeof long_ping, WS_ERROR, WS_E_PROTOCOL, 1002, 0, NULL, 0, 0},
        {"fragmented ping", fragmented_ping, sizeof fragmented_ping, WS_ERROR, WS_E_PROTOCOL, 1002, 0, NULL, 0, 0},
        {"continuation without start", lone_continuation, sizeof lone_continuation, WS_ERROR, WS_E_PROTOCOL, 1002, 0, NULL, 0, 0},
        {"close reason not UTF-8", bad_close_utf8, sizeof bad_close_utf8, WS_ERROR, WS_E_INVALID_UTF8, 1007, 0, NULL, 0, 0},
        {"message above maxMessageSize", too_big, sizeof too_big, WS_ERROR, WS_E_MESSAGE_TOO_BIG, 1009, 0, "{\"maxMessageSize\": 1000}", 0, 0},
        {"TCP drop mid-frame", partial_then_drop, sizeof partial_then_drop, WS_ERROR, WS_E_CONNECTION_LOST, 0, 1, NULL, 0, 0},
        {"TCP drop", NULL, 0, WS_ERROR, WS_E_CONNECTION_LOST, 0, 1, NULL, 0, 0},
    };

    wst_init(argc, argv, 120);

    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        struct scenario *sc = &scenarios[i];
        struct miniserver ms;
        wst_log("scenario: %s", sc->name);
        if (ms_start(&ms, run_scenario, sc) != 0)
            break;
        int s = wst_open(ms.url, sc->options);
        if (s > 0) {
            const void *p;
            size_t len;
            int rc = ws_read(s, &p, &len, NULL, 10000);
            if (!wst_check_err_(__FILE__, __LINE__, sc->name, rc, sc->rc, sc->code))
                wst_log("  ... scenario %s", sc->name);
            wst_log("  -> %d %s: %s", rc, ws_error_name(ws_last_error_code()), ws_last_error());
            /* Every later read gives the same error. */
            rc = ws_read(s, &p, &len, NULL, 1000);
            if (!wst_check_err_(__FILE__, __LINE__, sc->name, rc, sc->rc, sc->code))
                wst_log("  ... second read, scenario %s", sc->name);
            if (sc->drop)
                CHECK_EQ(ws_close_code(s), 1006);
            CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
        }
        ms_stop(&ms);
        if (s > 0 && sc->close_sent) {
            if (!CHECK_EQ(sc->client_close, sc->close_sent))
                wst_log("  ... scenario %s: the client's close code", sc->name);
        }
        CHECK_EQ(sc->unmasked, 0);
    }

    /* --- fragments + pings --- */
    {
        struct pingpong pp = {0, 0, 0, 0};
        struct miniserver ms;
        if (ms_start(&ms, fragments, &pp) == 0) {
            int s = wst_open(ms.url, NULL);
            if (s > 0) {
                const void *p;
                size_t len;
                int type;
                if (CHECK_EQ(ws_read(s, &p, &len, &type, 10000), WS_OK))
                    CHECK(type == WS_TEXT && len == 12 && memcmp(p, "Hello, world", 12) == 0);
                /* Only reading: the ping "p2" must be answered meanwhile. */
                if (CHECK_EQ(ws_read(s, &p, &len, &type, 10000), WS_OK))
                    CHECK(type == WS_BINARY && len == 4 && memcmp(p, "done", 4) == 0);
                CHECK_EQ(ws_close(s, 4000, "done"), WS_OK);
            }
            ms_stop(&ms);
            CHECK(pp.pong1);
            CHECK(pp.pong2);
            CHECK_EQ(pp.client_close, 4000);
            CHECK_EQ(pp.unmasked, 0);
        }
    }

    return wst_result();
}
