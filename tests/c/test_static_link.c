/*
 * Linked against libwsclient.a only (wsclient::static, which adds the system
 * libraries rustc reports with --print native-static-libs): the program
 * links, runs, does not load libwsclient.so, and talks to the echo server.
 */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include <link.h>
#include <string.h>

#include "testutil.h"

static int find_shared_lib(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    if (info->dlpi_name && strstr(info->dlpi_name, "libwsclient"))
        *(int *)data = 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct wst_server srv;
    int loaded = 0;

    wst_init(argc, argv, 60);
    dl_iterate_phdr(find_shared_lib, &loaded);
    CHECK_EQ(loaded, 0);
    wst_log("ws_version() = %s", ws_version());
    CHECK(ws_version()[0] != '\0');

    if (wst_echo_start(&srv) != 0)
        return wst_result();
    int s = wst_open(srv.url, NULL);
    if (s > 0) {
        wst_echo_roundtrip(s, "static", 6, WS_TEXT, 10000);
        CHECK_EQ(ws_close(s, 0, NULL), WS_OK);
    }
    wst_echo_stop(&srv);
    return wst_result();
}
