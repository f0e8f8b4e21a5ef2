/*
 * A plugin built with libwsclient.a inside (tests/c/consumer): echoes one
 * message through the URL it is given. Loaded by plugin_loader.c.
 */
#include <string.h>

#include <wsclient.h>

int consumer_plugin_echo(const char *url);

__attribute__((visibility("default"))) int consumer_plugin_echo(const char *url)
{
    int s = ws_open(url, "{\"timeout\": 10000}");
    if (s < 0)
        return 1;
    const void *data;
    size_t len;
    int type, rc = 1;
    if (ws_write(s, "plugin", 6, WS_TEXT) == WS_OK && ws_read(s, &data, &len, &type, 10000) == WS_OK &&
        type == WS_TEXT && len == 6 && memcmp(data, "plugin", 6) == 0)
        rc = 0;
    if (ws_close(s, 0, NULL) != WS_OK)
        rc = 1;
    return rc;
}
