/*
 * A host that loads the library at run time (dlopen), uses it (blocking
 * socket, a callback queue), calls ws_cleanup() and unloads it (dlclose),
 * three times over: every library thread must be gone before dlclose (else
 * a thread would run unmapped code), and each new dlopen must work afresh.
 * Deliberately not linked against the library (nor the test helpers, which
 * are): usage `test_dlclose ECHO_SERVER LIBRARY`.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wsclient.h"

static int failures;
#define CHECK(c) ((c) ? 1 : (fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c), failures++, 0))

static int library_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], name[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(name, sizeof name, f) && strncmp(name, "wsclient", 8) == 0)
            n++;
        fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

/* Waits (at most 5 s) until some library thread carries its name: a new
 * thread names itself once it runs, so right after ws_open it may still
 * have the name of the thread that spawned it. */
static int library_threads_seen(void)
{
    for (int i = 0; i < 500; i++) {
        if (library_threads() > 0)
            return 1;
        usleep(10000);
    }
    return 0;
}

/* Starts the echo server; returns its pid and fills `url`. */
static pid_t start_echo(const char *path, char *url, size_t cap)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 1);
        close(p[0]);
        execl(path, path, "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char line[64] = "";
    FILE *f = fdopen(p[0], "r");
    int port = 0;
    if (f && fgets(line, sizeof line, f))
        sscanf(line, "LISTENING %d", &port);
    if (f)
        fclose(f);
    snprintf(url, cap, "ws://127.0.0.1:%d/", port);
    return port > 0 ? pid : -1;
}

static void noop_cb(const ws_event *ev, void *user)
{
    (void)ev;
    (void)user;
}

#define SYM(h, name) ((__typeof__(&name))dlsym((h), #name))

static int cycle(const char *lib, const char *url)
{
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!CHECK(h != NULL)) {
        fprintf(stderr, "dlopen %s: %s\n", lib, dlerror());
        return 0;
    }
    __typeof__(&ws_open) o = SYM(h, ws_open);
    __typeof__(&ws_write) w = SYM(h, ws_write);
    __typeof__(&ws_read) r = SYM(h, ws_read);
    __typeof__(&ws_cleanup) cleanup = SYM(h, ws_cleanup);
    __typeof__(&ws_queue_create) qcreate = SYM(h, ws_queue_create);
    __typeof__(&ws_queue_set_callback) setcb = SYM(h, ws_queue_set_callback);
    int ok = 0;
    if (CHECK(o && w && r && cleanup && qcreate && setcb)) {
        int q = qcreate();
        char opts[64];
        snprintf(opts, sizeof opts, "{\"queue\":%d}", q);
        const void *data;
        size_t len;
        int type;
        ok = CHECK(setcb(q, noop_cb, NULL) == WS_OK);
        int a = o(url, opts), b = o(url, "{\"timeout\":5000}");
        ok = ok && CHECK(a > 0 && b > 0) && CHECK(w(a, "q", 1, WS_TEXT) == WS_OK) &&
             CHECK(w(b, "dl", 2, WS_TEXT) == WS_OK) && CHECK(r(b, &data, &len, &type, 5000) == WS_OK) &&
             CHECK(len == 2 && memcmp(data, "dl", 2) == 0) && CHECK(library_threads_seen()) &&
             CHECK(cleanup(5000) == WS_OK) && CHECK(library_threads() == 0);
    }
    CHECK(dlclose(h) == 0);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_dlclose ECHO_SERVER LIBRARY\n");
        return 2;
    }
    alarm(60);
    char url[64];
    pid_t echo = start_echo(argv[1], url, sizeof url);
    if (!CHECK(echo > 0))
        return 1;
    int done = 0;
    while (done < 3 && cycle(argv[2], url))
        done++;
    CHECK(done == 3);
    fprintf(stderr, "%d dlopen / ws_cleanup / dlclose cycles\n", done);
    kill(echo, SIGTERM);
    waitpid(echo, NULL, 0);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
