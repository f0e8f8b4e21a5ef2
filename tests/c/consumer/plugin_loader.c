/*
 * plugin_loader PLUGIN URL: dlopen()s a plugin built with libwsclient.a
 * (plugin.c) and runs its echo. Prints "plugin echo ok" on success.
 */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: plugin_loader PLUGIN URL\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    int (*echo)(const char *) = (int (*)(const char *))dlsym(h, "consumer_plugin_echo");
    if (!echo) {
        fprintf(stderr, "dlsym: %s\n", dlerror());
        return 1;
    }
    if (dlsym(h, "ws_open")) {
        fprintf(stderr, "the plugin exports ws_open (it should keep libwsclient.a to itself)\n");
        return 1;
    }
    int rc = echo(argv[2]);
    printf("plugin echo %s\n", rc == 0 ? "ok" : "failed");
    return rc;
}
