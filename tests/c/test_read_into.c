/*
 * ws_read_into() with the caller's buffer: a message larger than the buffer
 * gives -1 / WS_E_BUFFER_TOO_SMALL with *len = the size needed, copies
 * nothing, and keeps the message for the next read, which returns it whole
 * (by ws_read_into with a big enough buffer, or by ws_read).
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

int main(int argc, char **argv)
{
    struct wst_server srv;
    enum { N = 70000 };
    unsigned char *msg = malloc(N), *buf = malloc(N);
    int s = -1;

    wst_init(argc, argv, 60);
    if (!CHECK(msg && buf))
        goto out;
    if (wst_echo_start(&srv) != 0)
        goto out;
    s = wst_open(srv.url, NULL);
    if (s < 0)
        goto out_server;

    wst_fill(msg, N, 7);
    if (!CHECK_EQ(ws_write(s, msg, N, WS_BINARY), WS_OK))
        goto out_close;

    /* Too small: nothing copied, size reported, the message stays. */
    memset(buf, 0xab, 16);
    size_t len = 0;
    int type = 12345;
    if (!CHECK_ERR(ws_read_into(s, buf, 16, &len, &type, 10000), WS_ERROR,
                   WS_E_BUFFER_TOO_SMALL))
        goto out_close;
    CHECK_EQ(len, N);
    CHECK_EQ(type, 12345); /* out-params other than len untouched */
    CHECK(buf[0] == 0xab && buf[15] == 0xab);

    /* Learning the size with NULL/0, twice: still kept. */
    for (int i = 0; i < 2; i++) {
        len = 0;
        if (!CHECK_ERR(ws_read_into(s, NULL, 0, &len, NULL, 0), WS_ERROR,
                       WS_E_BUFFER_TOO_SMALL))
            goto out_close;
        CHECK_EQ(len, N);
    }
    /* One byte short. */
    len = 0;
    CHECK_ERR(ws_read_into(s, buf, N - 1, &len, &type, 10000), WS_ERROR,
              WS_E_BUFFER_TOO_SMALL);
    CHECK_EQ(len, N);

    /* Now big enough: the whole message. */
    len = 0;
    type = 0;
    if (!CHECK_EQ(ws_read_into(s, buf, N, &len, &type, 10000), WS_OK))
        goto out_close;
    CHECK_EQ(len, N);
    CHECK_EQ(type, WS_BINARY);
    CHECK(memcmp(buf, msg, N) == 0);
    CHECK_EQ(ws_last_error_code(), WS_E_OK);

    /* The kept message can also be taken with ws_read. */
    wst_fill_text(msg, 300, 3);
    if (!CHECK_EQ(ws_write(s, msg, 300, WS_TEXT), WS_OK))
        goto out_close;
    CHECK_ERR(ws_read_into(s, buf, 299, &len, &type, 10000), WS_ERROR, WS_E_BUFFER_TOO_SMALL);
    CHECK_EQ(len, 300);
    {
        const void *p = NULL;
        size_t plen = 0;
        type = 0;
        if (CHECK_EQ(ws_read(s, &p, &plen, &type, 10000), WS_OK)) {
            CHECK_EQ(plen, 300);
            CHECK_EQ(type, WS_TEXT);
            CHECK(p && memcmp(p, msg, 300) == 0);
        }
    }

    /* Messages after a too-small one keep their order. */
    for (int i = 0; i < 3; i++) {
        unsigned char m = (unsigned char)('a' + i);
        if (!CHECK_EQ(ws_write(s, &m, 1, WS_TEXT), WS_OK))
            goto out_close;
    }
    CHECK_ERR(ws_read_into(s, buf, 0, &len, NULL, 10000), WS_ERROR, WS_E_BUFFER_TOO_SMALL);
    for (int i = 0; i < 3; i++) {
        if (!CHECK_EQ(ws_read_into(s, buf, 1, &len, NULL, 10000), WS_OK))
            goto out_close;
        CHECK(len == 1 && buf[0] == 'a' + i);
    }

    /* A timeout with the buffer too small for nothing: -2, len untouched. */
    len = 777;
    CHECK_ERR(ws_read_into(s, buf, N, &len, NULL, 50), WS_TIMEOUT, WS_E_TIMEOUT);
    CHECK_EQ(len, 777);

out_close:
    CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
out_server:
    wst_echo_stop(&srv);
out:
    free(msg);
    free(buf);
    return wst_result();
}
