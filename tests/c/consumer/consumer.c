/*
 * A minimal wsclient user, built by tests/c/install_check.sh against the
 * installed package (CMake find_package and pkg-config, shared and static):
 *
 *   consumer URL shared|static
 *
 * Prints the library version, echoes one message, and checks whether
 * libwsclient.so is loaded as expected.
 */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include <link.h>
#include <stdio.h>
#include <string.h>

#include <wsclient.h>

static int find_shared(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    if (info->dlpi_name && strstr(info->dlpi_name, "libwsclient.so"))
        *(int *)data = 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: consumer URL shared|static\n");
        return 2;
    }
    int loaded = 0;
    dl_iterate_phdr(find_shared, &loaded);
    if (loaded != (strcmp(argv[2], "shared") == 0)) {
        fprintf(stderr, "libwsclient.so is %sloaded, expected %s linking\n", loaded ? "" : "not ",
                argv[2]);
        return 1;
    }
    printf("wsclient %s\n", ws_version());
    int s = ws_open(argv[1], "{\"timeout\": 10000}");
    if (s < 0) {
        fprintf(stderr, "ws_open: %s\n", ws_last_error());
        return 1;
    }
    const void *data;
    size_t len;
    int type, rc = 1;
    if (ws_write(s, "consumer", 8, WS_TEXT) != WS_OK)
        fprintf(stderr, "ws_write: %s\n", ws_last_error());
    else if (ws_read(s, &data, &len, &type, 10000) != WS_OK)
        fprintf(stderr, "ws_read: %s\n", ws_last_error());
    else if (type != WS_TEXT || len != 8 || memcmp(data, "consumer", 8) != 0)
        fprintf(stderr, "wrong echo\n");
    else
        rc = 0;
    if (ws_close(s, 0, NULL) != WS_OK) {
        fprintf(stderr, "ws_close: %s\n", ws_last_error());
        rc = 1;
    }
    if (rc == 0)
        printf("echo ok (%s)\n", argv[2]);
    return rc;
}
