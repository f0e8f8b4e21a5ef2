/*
 * The WinCC OA CTRL example for webSocketOpen() (open, write a JSON request,
 * read the reply, close), ported to C with wsclient.
 *
 *   ctrl_example [URL]            default URL: ws://127.0.0.1:8080/
 *
 * Try it with the echo server that comes with wsclient:
 *
 *   wsclient-echo-server --port 8080 &
 *   ctrl_example ws://127.0.0.1:8080/
 *
 * CTRL                                   C (wsclient.h)
 * webSocketOpen(url, options)            ws_open(url, options_json)
 * webSocketWrite(webSocket, request)     ws_write(webSocket, request, len, WS_TEXT)
 * webSocketRead(webSocket, any)          ws_read(webSocket, &data, &len, &type, timeout_ms)
 * webSocketClose(webSocket)              ws_close(webSocket, 0, NULL)
 * getLastError()                         ws_last_error()
 */
#include <stdio.h>
#include <string.h>

#include "wsclient.h"

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "ws://127.0.0.1:8080/";
    int failed = 0;

    /* makeMapping("ignoreSslErrors", true): the options mapping is a JSON
     * object (NULL or "" for none). "ignoreSslErrors" accepts any server
     * certificate on wss:// (WinCC's example talks to a test server with a
     * self-signed one; do not use it in production) and does nothing on
     * ws://. The connect timeout is not in WinCC's example: without one,
     * ws_open waits as long as the system's TCP connect does. */
    int webSocket = ws_open(url, "{\"ignoreSslErrors\": true, \"timeout\": 5000}");
    if (webSocket < 0) {
        printf("Not possible to open the web socket! Error: %s\n", ws_last_error());
        return 1;
    }

    /* jsonEncode(makeMapping("method", "dummy", "connectionId", 12345678,
     *                        "payload", data, "id", id)) */
    const char *data = "hello";
    int id = 1;
    char request[256];
    snprintf(request, sizeof request,
             "{\"method\":\"dummy\",\"connectionId\":12345678,\"payload\":\"%s\",\"id\":%d}",
             data, id);

    int writeResult = ws_write(webSocket, request, strlen(request), WS_TEXT);
    if (writeResult != 0) {
        printf("Not possible to write! Error: %s\n", ws_last_error());
        failed = 1;
    } else {
        /* webSocketRead waits forever; a doc example should not, so 5 s. The
         * reply points into the library's buffer: valid until the next
         * ws_read or ws_close on this socket. */
        const void *any;
        size_t len;
        int type;
        int readResult = ws_read(webSocket, &any, &len, &type, 5000);
        if (readResult != 0) {
            printf("Not possible to read! Error: %s\n",
                   readResult == WS_CLOSED ? "connection closed" : ws_last_error());
            failed = 1;
        } else {
            printf("Received %s: %.*s\n", type == WS_TEXT ? "text" : "binary", (int)len,
                   (const char *)any);
        }
    }

    int closeResult = ws_close(webSocket, 0, NULL);
    if (closeResult < 0) {
        printf("Not possible to close the open web socket! Error: %s\n", ws_last_error());
        return 1;
    }
    printf("The open web socket successfully closed!\n");
    return failed;
}
