/*
 * lua_host: a SCADA-style scripting host. It embeds a Lua 5.4 interpreter,
 * loads the `websocket` module (bindings/lua, websocket.so), runs a user
 * script, then drives the script's connections and timers from its own
 * main loop, the way an automation runtime (Q-SYS, NodeMCU's event loop)
 * runs control scripts:
 *
 *   load script -> run its top level (it sets handlers and connects)
 *   loop: websocket.poll(slice)  -- events -> handlers, due timers -> handlers
 *         stop when nothing is connecting/open and no timer runs,
 *         when the script calls host.exit(), on SIGINT/SIGTERM, or at -t
 *   lua_close()                  -- closes what is still open (code 1001)
 *
 * usage: lua_host [-m DIR] [-D NAME=VALUE]... [-t SECONDS] [-k] SCRIPT [ARG...]
 *        lua_host --help | --version
 *
 *   -m DIR          where websocket.so is (default: this program's directory,
 *                   then where `cmake --install` puts it relative to this
 *                   program (<prefix>/lib/lua/5.4), then LUA_CPATH / the
 *                   default search path)
 *   -D NAME=VALUE   set global NAME to the string VALUE before the script
 *                   runs (e.g. -D URL=ws://127.0.0.1:8080/ -D PORT=8080)
 *   -t SECONDS      run-time limit; reaching it ends the host with status 124
 *   -k              keep running while idle (until host.exit, a signal or -t),
 *                   like a runtime whose scripts may connect later
 *
 * The script sees, as globals:
 *   websocket        the module (NodeMCU: websocket.createClient())
 *   WebSocket, Timer Q-SYS names (WebSocket.New(), Timer.New())
 *   host             host.exit([status]) ends the main loop after the current
 *                    handler; host.time() monotonic seconds
 *   arg              arg[0] = SCRIPT, arg[1..] = ARGs (as the lua program)
 *
 * Exit status: the one given to host.exit(); else 1 when the script or a
 * handler raised an error (handlers keep running after an error: it is
 * reported on stderr, as a runtime logs it); 124 at the -t limit; else 0.
 */

#define _GNU_SOURCE /* getopt_long */

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <time.h>
#include <unistd.h>

/* Set by CMakeLists.txt: the installed module directory relative to the
 * installed lua_host, and the version. */
#ifndef LUA_HOST_MODULE_DIR
#define LUA_HOST_MODULE_DIR "../lib/lua/5.4"
#endif
#ifndef LUA_HOST_VERSION
#define LUA_HOST_VERSION "dev"
#endif

/* Longest wait inside one websocket.poll(): the loop checks its stop
 * conditions (signals, the -t limit) at least this often. */
#define SLICE_MS 100

static volatile sig_atomic_t g_signal = 0;
static int g_exit_requested = 0;
static int g_exit_status = 0;
static long g_errors = 0;

static void on_signal(int sig) { g_signal = sig; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *to) {
    fputs("usage: lua_host [-m DIR] [-D NAME=VALUE]... [-t SECONDS] [-k] SCRIPT [ARG...]\n", to);
}

static void help(void) {
    usage(stdout);
    fputs("\n"
          "A scripting host in the manner of an automation runtime: runs a Lua 5.4\n"
          "SCRIPT with the websocket module loaded (NodeMCU's websocket.createClient(),\n"
          "Q-SYS's WebSocket.New() and Timer.New() as globals), then drives its\n"
          "connections and timers until nothing is connecting, open or running.\n"
          "\n"
          "Options:\n"
          "  -m DIR            where websocket.so is (default: this program's directory,\n"
          "                    then " LUA_HOST_MODULE_DIR " relative to it, then\n"
          "                    LUA_CPATH and Lua's default search path)\n"
          "  -D NAME=VALUE     set the global NAME to the string VALUE before the\n"
          "                    script runs (repeatable), e.g. -D URL=ws://127.0.0.1:8080/\n"
          "  -t SECONDS        run-time limit; reaching it ends the host with status 124\n"
          "  -k                keep running while idle (until host.exit(), a signal or -t)\n"
          "  -h, --help        this text\n"
          "  -V, --version     lua_host's and Lua's version\n"
          "\n"
          "The script sees the globals websocket, WebSocket, Timer, host (host.exit([status])\n"
          "ends the main loop, host.time() is monotonic seconds) and arg (arg[0] = SCRIPT,\n"
          "arg[1..] = ARGs).\n"
          "\n"
          "Exit status: the one given to host.exit(); else 1 when the script or a handler\n"
          "raised an error; 124 at the -t limit; 2 on usage errors; else 0.\n"
          "\n"
          "Examples:\n"
          "  lua_host -D URL=ws://127.0.0.1:8080/ nodemcu_echo.lua\n"
          "  lua_host -t 60 -D HOST=127.0.0.1 -D PORT=8080 qsys_ping.lua\n",
          stdout);
}

/* host.exit([status]) */
static int host_exit(lua_State *L) {
    g_exit_status = (int)luaL_optinteger(L, 1, 0);
    g_exit_requested = 1;
    return 0;
}

static int host_time(lua_State *L) {
    lua_pushnumber(L, now_s());
    return 1;
}

/* websocket.onerror: how the runtime logs an error in a handler or timer. */
static int host_onerror(lua_State *L) {
    g_errors++;
    fprintf(stderr, "lua_host: error in handler: %s\n", luaL_tolstring(L, 1, NULL));
    fflush(stderr);
    return 0;
}

static int traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function below nargs arguments with a traceback handler; on
 * error prints it and returns 0. */
static int pcall_report(lua_State *L, int nargs, int nres, const char *what) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    int rc = lua_pcall(L, nargs, nres, base);
    lua_remove(L, base);
    if (rc != LUA_OK) {
        fprintf(stderr, "lua_host: %s: %s\n", what, lua_tostring(L, -1));
        fflush(stderr);
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* package.cpath = DIR/?.so;<previous> */
static void prepend_cpath(lua_State *L, const char *dir) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "cpath");
    lua_pushfstring(L, "%s/?.so;%s", dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "cpath");
    lua_pop(L, 2);
}

static int exe_dir(char *buf, size_t cap) {
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash) return 0;
    *slash = '\0';
    return 1;
}

/* Calls websocket.<name>(arg) and leaves its first result on the stack;
 * returns 0 on error (reported). */
static int call_module(lua_State *L, const char *name, lua_Integer arg) {
    lua_getglobal(L, "websocket");
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    lua_pushinteger(L, arg);
    return pcall_report(L, 1, 1, name);
}

int main(int argc, char **argv) {
    const char *module_dir = NULL;
    double limit = 0;
    int keep_running = 0;
    int opt;
    /* -D pairs are applied after the state exists */
    const char **defs = calloc((size_t)argc, sizeof *defs);
    int ndefs = 0;
    if (!defs) return 2;
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    while ((opt = getopt_long(argc, argv, "+m:D:t:khV", long_options, NULL)) != -1) {
        switch (opt) {
        case 'm': module_dir = optarg; break;
        case 'D':
            if (!strchr(optarg, '=')) {
                fprintf(stderr, "lua_host: -D needs NAME=VALUE, got '%s'\n", optarg);
                free(defs);
                return 2;
            }
            defs[ndefs++] = optarg;
            break;
        case 't': {
            char *end;
            limit = strtod(optarg, &end);
            if (*end || !(limit > 0)) {
                fprintf(stderr, "lua_host: -t needs a positive number of seconds\n");
                free(defs);
                return 2;
            }
            break;
        }
        case 'k': keep_running = 1; break;
        case 'h': help(); free(defs); return 0;
        case 'V':
            /* the library is the module's: only the host's own version here */
            printf("lua_host %s (%s)\n", LUA_HOST_VERSION, LUA_RELEASE);
            free(defs);
            return 0;
        default: usage(stderr); free(defs); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        free(defs);
        return 2;
    }
    const char *script = argv[optind];

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "lua_host: cannot create a Lua state\n");
        free(defs);
        return 2;
    }
    luaL_openlibs(L);
    int status = 0;

    /* Module search: -m, then the host's own directory (CMake builds
     * websocket.so next to lua_host), then the installed layout
     * (<prefix>/bin/lua_host, <prefix>/lib/lua/5.4/websocket.so), then
     * Lua's usual path. */
    char dir[PATH_MAX];
    if (exe_dir(dir, sizeof dir)) {
        char installed[PATH_MAX + sizeof LUA_HOST_MODULE_DIR + 1];
        snprintf(installed, sizeof installed, "%s/%s", dir, LUA_HOST_MODULE_DIR);
        prepend_cpath(L, installed);
        prepend_cpath(L, dir);
    }
    if (module_dir) prepend_cpath(L, module_dir);

    /* websocket, WebSocket, Timer as globals, as the runtimes provide them */
    lua_getglobal(L, "require");
    lua_pushstring(L, "websocket");
    if (!pcall_report(L, 1, 1, "loading the websocket module")) {
        lua_close(L);
        free(defs);
        return 2;
    }
    lua_pushvalue(L, -1);
    lua_setglobal(L, "websocket");
    lua_getfield(L, -1, "WebSocket");
    lua_setglobal(L, "WebSocket");
    lua_getfield(L, -1, "Timer");
    lua_setglobal(L, "Timer");
    lua_pushcfunction(L, host_onerror);
    lua_setfield(L, -2, "onerror");
    lua_pop(L, 1);

    lua_newtable(L);
    lua_pushcfunction(L, host_exit);
    lua_setfield(L, -2, "exit");
    lua_pushcfunction(L, host_time);
    lua_setfield(L, -2, "time");
    lua_setglobal(L, "host");

    for (int i = 0; i < ndefs; i++) {
        const char *eq = strchr(defs[i], '=');
        lua_pushglobaltable(L);
        lua_pushlstring(L, defs[i], (size_t)(eq - defs[i]));
        lua_pushstring(L, eq + 1);
        lua_settable(L, -3);
        lua_pop(L, 1);
    }
    free(defs);

    lua_createtable(L, argc - optind - 1, 1);
    for (int i = optind; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - optind);
    }
    lua_setglobal(L, "arg");

    /* the script's top level: sets handlers, connects, starts timers */
    double start = now_s();
    if (luaL_loadfile(L, script) != LUA_OK) {
        fprintf(stderr, "lua_host: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return 1;
    }
    if (!pcall_report(L, 0, 0, script)) status = 1;

    /* the main loop */
    while (status == 0 && !g_exit_requested) {
        if (g_signal) {
            fprintf(stderr, "lua_host: signal %d, stopping\n", (int)g_signal);
            status = 128 + (int)g_signal;
            break;
        }
        double slice = SLICE_MS;
        if (limit > 0) {
            double left = limit - (now_s() - start);
            if (left <= 0) {
                fprintf(stderr, "lua_host: time limit of %g s reached\n", limit);
                status = 124;
                break;
            }
            if (left * 1000 < slice) slice = ceil(left * 1000);
        }
        if (!call_module(L, "poll", (lua_Integer)slice)) {
            status = 1;
            break;
        }
        lua_pop(L, 1);
        if (!keep_running && !g_exit_requested) {
            if (!call_module(L, "busy", 0)) {
                status = 1;
                break;
            }
            int busy = lua_toboolean(L, -1);
            lua_pop(L, 1);
            if (!busy) break;
        }
    }
    if (g_exit_requested)
        status = g_exit_status;
    else if (status == 0 && g_errors > 0)
        status = 1;

    /* Closes every connection still open (the client objects' __gc sends
     * close code 1001 "going away") and frees the event queue. */
    lua_close(L);
    return status;
}
