/*
 * websocket.so: a Lua 5.4 module over wsclient's event API.
 *
 *   local websocket = require "websocket"
 *   require "websocket.qsys"        -- also: the Q-SYS globals WebSocket, Timer
 *
 * Two dialects on one engine:
 *
 *   NodeMCU  websocket.createClient(), ws:config{headers=...}, ws:connect(url),
 *            ws:on("connection"|"receive"|"close"[|"pong"|"part"], fn),
 *            ws:send(msg[, opcode]), ws:send_part(data[, opcode[, more]]), ws:close()
 *   Q-SYS    websocket.WebSocket.New(),
 *            ws:Connect(protocol, host, path, port[, subprotocol[, headers[, options]]]),
 *            ws:Write(msg[, isBinary]), ws:WritePart(data[, isBinary[, more]]),
 *            ws:Ping(), ws:Close(),
 *            handler fields ws.Connected, ws.Data, ws.DataPart, ws.Error,
 *            ws.Closed, ws.Pong
 *
 * Messages in pieces (extensions of both dialects): send_part/WritePart
 * send one piece each (ws_write_part: one WebSocket frame; `more` true
 * when more pieces of the message follow), and a client configured with
 * {streamReceive = true} gets every message as pieces (WS_EV_MESSAGE_PART)
 * in the "part" handler / ws.DataPart, never whole, so a message of any
 * size passes in bounded memory.
 *
 * plus the loop:
 *
 *   websocket.poll([timeout_ms])   deliver waiting events and due timers
 *   websocket.run([timeout_ms])    poll until nothing is connecting/open,
 *                                  no timer runs, or the timeout
 *   websocket.Timer.New(), t.EventHandler = fn, t:Start(seconds), t:Stop(),
 *   websocket.Timer.CallAfter(fn, seconds), websocket.timer(ms, fn[, repeat])
 *
 * Threads: every handler runs on the Lua thread, inside websocket.poll() or
 * websocket.run(). The library's threads only put events into this state's
 * queue (ws_queue_create); poll() drains it with ws_next_event(). No Lua
 * function is ever called from a library thread, and no callback is
 * registered with ws_queue_set_callback.
 *
 * Options: ws:config{...} and the options of ws:Connect() are turned into the
 * JSON of ws_open_async() and checked by the library at that call (a bad
 * option raises there, not later at connect): the module asks
 * ws_open_async() with a queue number that is known to be dead (created and
 * destroyed at load time), which the library checks after every option, so a
 * failure with exactly the library's dead-queue message means "all options
 * are fine" and nothing was opened. The JSON text is what the client keeps
 * (a deep copy: later changes to the caller's tables have no effect).
 *
 * Lifetimes: a client that is connecting or connected (or has a failure to
 * report) is referenced from the module's `active` table, so handlers fire
 * even when the script keeps no reference (NodeMCU: "ws = nil -- required to
 * lua gc the websocket client" in the close handler). After the final close
 * it is an ordinary object. `local ws <close> = ...` closes it at the end of
 * the scope.
 *
 * Shutdown: a client can only be collected with its socket still open when
 * the whole state goes (lua_close), because `active` holds every such client
 * and is reachable from the registry. Its __gc does not close the socket
 * itself (that would block for "closeTimeout" per client, one after
 * another); it hands the number to the state, and the state's __gc, which
 * Lua runs after those of all clients (finalizers run in the reverse order
 * of creation and the state is created first), closes them all in one
 * ws_close_many() call (code 1001, every closing handshake in parallel):
 * lua_close() blocks for at most the largest "closeTimeout" of those
 * sockets, not their sum.
 *
 * NodeMCU close status (the `close` handler's second argument), from
 * wsclient's outcome; NodeMCU's own table is in its docs/en/modules/websocket.md:
 *
 *    0  ws:close() by the script (or the connection ended without error,
 *       closed by us)
 *   -1  WS_E_UNSUPPORTED_SCHEME, or an URL without scheme
 *   -2  host name too long (WS_E_INVALID_URL "longer than 253")
 *   -3  bad port (WS_E_INVALID_URL mentioning the port)
 *   -4  any other WS_E_INVALID_URL (no host, syntax)
 *   -5  WS_E_DNS
 *   -6  the server sent a close frame (its code and reason follow as the
 *       third and fourth arguments)
 *   -7  WS_E_BAD_ACCEPT, WS_E_HANDSHAKE (invalid handshake response)
 *   -8  WS_E_MESSAGE_TOO_BIG (NodeMCU's "-8 to -14: failed to allocate
 *       memory to receive message")
 *  -15  WS_E_PROTOCOL (NodeMCU: "server not following FIN bit protocol")
 *  -17  WS_E_UPGRADE_REJECTED (HTTP status other than 101)
 *  -18  WS_E_TIMEOUT (connect timeout; default 10 s as in NodeMCU)
 *  -19  WS_E_HEALTH_CHECK (no answer to keepalive pings)
 *  -(100 + code) every other WS_E_* code, in NodeMCU's "-99 to -999:
 *       something bad happened" range, e.g. -106 WS_E_CONNECT (refused),
 *       -122 WS_E_CONNECTION_LOST, -107 WS_E_TLS, -108 WS_E_TLS_VERIFY,
 *       -113 WS_E_INVALID_UTF8, -119 WS_E_IO, -104 WS_E_INVALID_OPTIONS.
 *       (NodeMCU itself reports its TCP errors as errType - 100.)
 *
 * The close handler gets (ws, status, close_code, detail): close_code is the
 * code the server sent (1005 none, 1006 no close frame, 0 no connection);
 * detail is the server's reason, or the error message when status < 0 and
 * the server did not close.
 */

/* clock_gettime(CLOCK_MONOTONIC) under -std=c11 */
#define _POSIX_C_SOURCE 200809L

#include <lauxlib.h>
#include <lua.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsclient.h"

#define MT_NODEMCU "websocket.client"
#define MT_QSYS "websocket.WebSocket"
#define MT_TIMER "websocket.Timer"
#define MT_STATE "websocket.state"
/* Registry key of this state's module table: a second luaopen_websocket in
 * the same state (package.loaded reset) returns the same module instead of
 * rebinding the shared metatables to a second, unpolled queue. */
#define REG_MODULE "websocket.module"

/* Default "timeout" of a connection attempt, ms: NodeMCU's
 * WS_CONNECT_TIMEOUT_MS. The library's own default is no limit, which a
 * script runtime cannot afford (nothing would ever be reported). */
#define DEFAULT_CONNECT_TIMEOUT_MS 10000

/* Events handled per ws_next_event batch before timers get a turn. */
#define MAX_EVENTS_PER_POLL 1000

/* Close code for connections still open when the state goes: going away. */
#define SHUTDOWN_CLOSE_CODE 1001

/* Limits of an options table: nesting, values and JSON text. A table may
 * appear twice (shared, not cyclic); these keep a small table of shared
 * subtables from expanding into an exponential amount of text. */
#define JSON_MAX_DEPTH 16
#define JSON_MAX_VALUES 100000L
#define JSON_MAX_BYTES ((size_t)64 << 20)

/* Any valid URL: options are checked against it with a dead queue, which
 * fails before anything is opened (see check_options). */
#define PROBE_URL "ws://127.0.0.1:9/"

enum { DIALECT_NODEMCU = 1, DIALECT_QSYS = 2 };

/* One per lua_State that required the module. */
typedef struct {
    int queue;          /* ws_queue_create() number, 0 once destroyed */
    int probe_queue;    /* a destroyed queue number for option checks; 0: no checks */
    int in_poll;        /* poll()/run() is on the stack: no re-entry */
    int finalized;      /* the state's __gc ran (lua_close): no more connects */
    int nactive;        /* entries in private.active */
    int npending;       /* entries in private.pending */
    int ntimers;        /* running timers (entries in private.timers) */
    int nclients;       /* live client objects (statistics, leak tests) */
    long handler_errors;
    int *doomed;        /* sockets of collected clients, closed together */
    size_t ndoomed, capdoomed;
} modstate;

typedef struct {
    int sock;      /* current socket number, 0 when none */
    int dialect;
    int open;      /* OPEN seen, no CLOSE yet */
    int connecting;
    int error;     /* WS_E_* of the last ERROR event of this connection */
    int sending;   /* a send_part/WritePart message is unfinished */
} client;

typedef struct {
    double interval_ms;
    double due_ms;
    int running;
    int repeat;
} ltimer;

/* ---- small helpers --------------------------------------------------------- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Upvalue 1 of every module function: the private table
 * {state=, active=, pending=, timers=, module=, probe_msg=}. */
#define PRIV lua_upvalueindex(1)

static modstate *get_state(lua_State *L) {
    lua_getfield(L, PRIV, "state");
    modstate *st = (modstate *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return st;
}

/* Pushes private[name]. */
static void push_priv(lua_State *L, const char *name) {
    lua_getfield(L, PRIV, name);
}

/* A timeout argument in ms: nil -> dflt, negative -> -1 (no limit), else
 * rounded up and clamped to INT_MAX. */
static int check_timeout_ms(lua_State *L, int idx, int dflt) {
    if (lua_isnoneornil(L, idx)) return dflt;
    lua_Number n = luaL_checknumber(L, idx);
    if (n != n) return luaL_argerror(L, idx, "timeout is NaN");
    if (n < 0) return -1;
    if (n >= (lua_Number)INT_MAX) return INT_MAX;
    return (int)ceil(n);
}

/* A string argument that goes to the library as a C string: an embedded NUL
 * would cut it short there, so it is an error. */
static const char *check_text(lua_State *L, int arg, size_t *len, const char *what) {
    const char *s = luaL_checklstring(L, arg, len);
    if (memchr(s, '\0', *len)) luaL_argerror(L, arg, lua_pushfstring(L, "%s contains a NUL byte", what));
    return s;
}

/* ---- closing many sockets ----------------------------------------------------- */

/* Hands socket s of a collected client to the state; 0 when out of memory. */
static int defer_close(modstate *st, int s) {
    if (st->ndoomed == st->capdoomed) {
        size_t cap = st->capdoomed ? st->capdoomed * 2 : 16;
        int *p = (int *)realloc(st->doomed, cap * sizeof *p);
        if (!p) return 0;
        st->doomed = p;
        st->capdoomed = cap;
    }
    st->doomed[st->ndoomed++] = s;
    return 1;
}

/* Closes every handed-over socket in one ws_close_many() call: all closing
 * handshakes in parallel, each within its own "closeTimeout" (timeout -1),
 * so the wait is the longest of them, not their sum. */
static void flush_doomed(modstate *st) {
    if (st->ndoomed == 0) return;
    size_t n = st->ndoomed;
    st->ndoomed = 0;
    ws_close_many(st->doomed, n, SHUTDOWN_CLOSE_CODE, NULL, -1);
}

/* ---- JSON for the options argument of ws_open_async ------------------------- */

typedef struct {
    int seen;      /* stack index of {table -> true} for the tables being encoded */
    long values;   /* values encoded so far */
    size_t bytes;  /* text of strings and numbers so far */
} jctx;

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

static void json_count_bytes(lua_State *L, jctx *cx, size_t n) {
    if (n > JSON_MAX_BYTES - cx->bytes) luaL_error(L, "websocket: options too large (more than %d MiB of text)", (int)(JSON_MAX_BYTES >> 20));
    cx->bytes += n;
}

/* Pushes s (valid UTF-8) as a JSON string. */
static void json_push_string(lua_State *L, const char *s, size_t n, jctx *cx) {
    json_count_bytes(L, cx, n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': luaL_addstring(&b, "\\\""); break;
        case '\\': luaL_addstring(&b, "\\\\"); break;
        case '\n': luaL_addstring(&b, "\\n"); break;
        case '\r': luaL_addstring(&b, "\\r"); break;
        case '\t': luaL_addstring(&b, "\\t"); break;
        case '\b': luaL_addstring(&b, "\\b"); break;
        case '\f': luaL_addstring(&b, "\\f"); break;
        default:
            if (c < 0x20) {
                char esc[8];
                snprintf(esc, sizeof esc, "\\u%04x", c);
                luaL_addstring(&b, esc);
            } else {
                luaL_addchar(&b, (char)c);
            }
        }
    }
    luaL_addchar(&b, '"');
    luaL_pushresult(&b);
}

/* Keys whose empty table means an empty list, not an empty object. */
static int is_list_option(const char *key) {
    return strcmp(key, "subprotocols") == 0 || strcmp(key, "caCertificates") == 0 ||
           strcmp(key, "caCertificatesFile") == 0;
}

/* Pushes the JSON text of the value at idx. Lua values: strings (UTF-8),
 * numbers (finite; integral floats as integers), booleans, tables (arrays
 * when their keys are exactly 1..n, else objects with string keys; a table
 * inside itself is an error). `key` names the option in messages. Raises a
 * Lua error for anything else; uses a bounded amount of the Lua stack per
 * level, checked at every level. */
static void json_value(lua_State *L, int idx, const char *key, int depth, jctx *cx) {
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 12, "websocket: options nested too deeply");
    if (depth > JSON_MAX_DEPTH)
        luaL_error(L, "websocket: option \"%s\": nested too deeply (more than %d levels)", key, JSON_MAX_DEPTH);
    if (++cx->values > JSON_MAX_VALUES) luaL_error(L, "websocket: options too large (more than %d values)", (int)JSON_MAX_VALUES);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        if (!utf8_valid((const unsigned char *)s, n)) luaL_error(L, "websocket: option \"%s\": not valid UTF-8 text", key);
        json_push_string(L, s, n, cx);
        return;
    }
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
        } else {
            lua_Number x = lua_tonumber(L, idx);
            if (!isfinite(x)) luaL_error(L, "websocket: option \"%s\": not a finite number", key);
            if (x == floor(x) && fabs(x) < 9007199254740992.0) {
                lua_pushfstring(L, "%I", (LUAI_UACINT)x);
            } else {
                char num[64];
                snprintf(num, sizeof num, "%.17g", (double)x);
                for (char *p = num; *p; p++)
                    if (*p == ',') *p = '.'; /* a locale's decimal comma */
                lua_pushstring(L, num);
            }
        }
        json_count_bytes(L, cx, lua_rawlen(L, -1));
        return;
    case LUA_TTABLE: {
        lua_pushvalue(L, idx);
        if (lua_rawget(L, cx->seen) != LUA_TNIL) luaL_error(L, "websocket: option \"%s\": a table that contains itself", key);
        lua_pop(L, 1);
        lua_pushvalue(L, idx);
        lua_pushboolean(L, 1);
        lua_rawset(L, cx->seen);

        lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
        lua_Integer count = 0;
        int only_strings = 1, only_index = 1;
        /* Collect the keys first: lua_next cannot run while a luaL_Buffer is
         * in use (the buffer needs a balanced stack). */
        lua_newtable(L);
        int keys = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, idx) != 0) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING) only_strings = 0;
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > len) only_index = 0;
            if (++count > JSON_MAX_VALUES)
                luaL_error(L, "websocket: options too large (more than %d values)", (int)JSON_MAX_VALUES);
            lua_pushvalue(L, -1);
            lua_rawseti(L, keys, count);
        }
        int is_array = (count > 0 && only_index && count == len) || (count == 0 && is_list_option(key));
        if (!is_array && !only_strings)
            luaL_error(L, "websocket: option \"%s\": a table must be an array or have string keys only", key);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addchar(&b, is_array ? '[' : '{');
        for (lua_Integer i = 1; i <= count; i++) {
            if (i > 1) luaL_addchar(&b, ',');
            if (is_array) {
                lua_rawgeti(L, idx, i);                 /* v */
                json_value(L, -1, key, depth + 1, cx);  /* v, json */
                lua_remove(L, -2);                      /* json */
            } else {
                lua_rawgeti(L, keys, i);                /* k */
                size_t kn;
                const char *k = lua_tolstring(L, -1, &kn);
                if (!utf8_valid((const unsigned char *)k, kn))
                    luaL_error(L, "websocket: option \"%s\": a key that is not valid UTF-8 text", key);
                json_push_string(L, k, kn, cx);         /* k, "k" */
                lua_pushliteral(L, ":");                /* k, "k", ":" */
                lua_pushvalue(L, -3);
                lua_rawget(L, idx);                     /* k, "k", ":", v */
                json_value(L, -1, k, depth + 1, cx);    /* k, "k", ":", v, json */
                lua_remove(L, -2);                      /* k, "k", ":", json */
                lua_concat(L, 3);                       /* k, "k":json */
                lua_remove(L, -2);                      /* "k":json */
            }
            luaL_addvalue(&b);
        }
        luaL_addchar(&b, is_array ? ']' : '}');
        luaL_pushresult(&b);
        lua_remove(L, keys);
        lua_pushvalue(L, idx);
        lua_pushnil(L);
        lua_rawset(L, cx->seen);
        return;
    }
    default:
        luaL_error(L, "websocket: option \"%s\": cannot pass a %s to the library", key, luaL_typename(L, idx));
    }
}

/* Pushes the JSON members (the text between the braces; "" when none) of a
 * client's options: the entries of the table at cfg, plus headers and the
 * subprotocol (stack indices, or 0). Returns whether "timeout" is among
 * them. */
static int push_members(lua_State *L, int cfg, int headers, int sub) {
    luaL_checkstack(L, 12, NULL);
    lua_newtable(L);
    int o = lua_gettop(L);
    if (cfg) {
        lua_pushnil(L);
        while (lua_next(L, cfg) != 0) {
            if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "websocket: option names must be strings");
            if (strcmp(lua_tostring(L, -2), "queue") == 0)
                luaL_error(L, "websocket: option \"queue\" is the module's own (its event queue)");
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, o);
        }
    }
    if (headers) {
        lua_pushvalue(L, headers);
        lua_setfield(L, o, "headers");
    }
    if (sub) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, sub);
        lua_rawseti(L, -2, 1);
        lua_setfield(L, o, "subprotocols");
    }
    lua_getfield(L, o, "timeout");
    int has_timeout = !lua_isnil(L, -1);
    lua_pop(L, 1);
    lua_newtable(L);
    jctx cx = {lua_gettop(L), 0, 0};
    json_value(L, o, "options", 0, &cx); /* o, seen, "{...}" */
    size_t n;
    const char *j = lua_tolstring(L, -1, &n);
    lua_pushlstring(L, j + 1, n - 2); /* an object: strip the braces */
    lua_replace(L, o);
    lua_settop(L, o);
    return has_timeout;
}

/* Pushes the options JSON of ws_open_async: the members at index `members`,
 * the default connect timeout unless given, and queue q. */
static void push_options_json(lua_State *L, int members, int has_timeout, int q) {
    members = lua_absindex(L, members);
    size_t n;
    const char *m = lua_tolstring(L, members, &n);
    char tail[96];
    if (has_timeout)
        snprintf(tail, sizeof tail, "%s\"queue\":%d}", n ? "," : "", q);
    else
        snprintf(tail, sizeof tail, "%s\"timeout\":%d,\"queue\":%d}", n ? "," : "", DEFAULT_CONNECT_TIMEOUT_MS, q);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '{');
    luaL_addlstring(&b, m, n);
    luaL_addstring(&b, tail);
    luaL_pushresult(&b);
}

/* Raises a Lua error naming `what` when the library rejects the options
 * (members at index `members`); see "Options" at the top. */
static void check_options(lua_State *L, int members, int has_timeout, const char *what) {
    modstate *st = get_state(L);
    if (st->probe_queue <= 0) return;
    push_options_json(L, members, has_timeout, st->probe_queue);
    int s = ws_open_async(PROBE_URL, lua_tostring(L, -1));
    lua_pop(L, 1);
    if (s > 0) { /* not expected: the queue is dead; undo and accept */
        ws_close(s, 1000, NULL);
        return;
    }
    int code = ws_last_error_code();
    const char *msg = ws_last_error();
    push_priv(L, "probe_msg");
    int fine = code == WS_E_INVALID_OPTIONS && lua_type(L, -1) == LUA_TSTRING && strcmp(msg, lua_tostring(L, -1)) == 0;
    lua_pop(L, 1);
    if (!fine) luaL_error(L, "websocket: %s: %s", what, msg);
}

/* ---- clients -------------------------------------------------------------------- */

static client *to_client(lua_State *L, int idx) {
    client *c = (client *)luaL_testudata(L, idx, MT_NODEMCU);
    if (!c) c = (client *)luaL_testudata(L, idx, MT_QSYS);
    return c;
}

static client *check_client(lua_State *L, int idx) {
    client *c = to_client(L, idx);
    if (!c) luaL_typeerror(L, idx, "websocket client");
    return c;
}

static client *new_client(lua_State *L, int dialect) {
    modstate *st = get_state(L);
    client *c = (client *)lua_newuserdatauv(L, sizeof(client), 1);
    memset(c, 0, sizeof *c);
    c->dialect = dialect;
    lua_newtable(L); /* handlers, config, last error message */
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, dialect == DIALECT_QSYS ? MT_QSYS : MT_NODEMCU);
    st->nclients++;
    return c;
}

/* uservalue[key] of the client at idx, pushed. */
static void push_uv(lua_State *L, int idx, const char *key) {
    lua_getiuservalue(L, idx, 1);
    lua_getfield(L, -1, key);
    lua_remove(L, -2);
}

static void set_uv(lua_State *L, int idx, const char *key) { /* pops value */
    idx = lua_absindex(L, idx);
    lua_getiuservalue(L, idx, 1);
    lua_insert(L, -2);
    lua_setfield(L, -2, key);
    lua_pop(L, 1);
}

/* active[sock] = client at idx (or nil) */
static void set_active(lua_State *L, int sock, int idx) {
    modstate *st = get_state(L);
    if (idx) idx = lua_absindex(L, idx);
    push_priv(L, "active");
    lua_rawgeti(L, -1, sock);
    int had = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (idx)
        lua_pushvalue(L, idx);
    else
        lua_pushnil(L);
    lua_rawseti(L, -2, sock);
    lua_pop(L, 1);
    st->nactive += (idx ? 1 : 0) - (had ? 1 : 0);
}

/* Releases the current socket number without any handler (superseded by a
 * new connect). */
static void drop_socket(lua_State *L, client *c, int code) {
    if (c->sock > 0) {
        int s = c->sock;
        c->sock = 0;
        c->open = c->connecting = c->sending = 0;
        ws_close(s, code, NULL);
        set_active(L, s, 0);
    }
}

/* A synchronous ws_open_async failure, reported from the next poll like any
 * other connection failure (NodeMCU: "an error will be delivered via
 * websocket:on("close", handler)"). pending[#pending+1] = {client, code, msg} */
static void add_pending(lua_State *L, int idx, int code, const char *msg) {
    modstate *st = get_state(L);
    idx = lua_absindex(L, idx);
    push_priv(L, "pending");
    lua_createtable(L, 3, 0);
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, code);
    lua_rawseti(L, -2, 2);
    lua_pushstring(L, msg);
    lua_rawseti(L, -2, 3);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
    st->npending++;
}

/* Starts connecting the client at idx to url with the option members at
 * index `members`. */
static void start_connect(lua_State *L, int idx, const char *url, int members, int has_timeout) {
    modstate *st = get_state(L);
    client *c = to_client(L, idx);
    idx = lua_absindex(L, idx);
    members = lua_absindex(L, members);
    if (st->finalized || st->queue <= 0) luaL_error(L, "websocket: the Lua state is closing");
    /* connect() on a live client starts over: the old connection is closed
     * and its remaining events (close handler included) are dropped. */
    drop_socket(L, c, 1000);
    push_options_json(L, members, has_timeout, st->queue);
    int s = ws_open_async(url, lua_tostring(L, -1));
    c->error = 0;
    c->open = 0;
    c->sending = 0;
    c->connecting = 1;
    if (s > 0) {
        /* before anything that can raise (out of memory): the client owns
         * the number from here on, and its __gc closes it */
        c->sock = s;
        lua_pop(L, 1); /* the JSON */
        lua_pushnil(L);
        set_uv(L, idx, "_error");
        set_active(L, s, idx);
        return;
    }
    int code = ws_last_error_code();
    lua_pushstring(L, ws_last_error());
    lua_pushnil(L);
    set_uv(L, idx, "_error");
    add_pending(L, idx, code, lua_tostring(L, -1));
    lua_pop(L, 2); /* the message, the JSON */
}

static int client_gc(lua_State *L) {
    client *c = to_client(L, 1);
    if (!c) return 0;
    modstate *st = get_state(L);
    if (c->sock > 0) {
        /* Only at lua_close (see "Shutdown" at the top): the state closes
         * them all at once. If it is gone already, close this one alone. */
        int s = c->sock;
        c->sock = 0;
        c->open = c->connecting = 0;
        if (!st || st->finalized || !defer_close(st, s)) ws_close_many(&s, 1, SHUTDOWN_CLOSE_CODE, NULL, -1);
    }
    if (c->dialect) {
        c->dialect = 0;
        if (st) st->nclients--;
    }
    return 0;
}

/* The close shared by ws:close() and ws:Close(): the library closes at once
 * (waiting at most "closeTimeout" for the server) and queues the final CLOSE
 * event, which poll() turns into the close handler. Events of the connection
 * still in the queue (messages, pongs) are no longer delivered. */
static void client_close(lua_State *L, client *c) {
    if (c->sock > 0) {
        int s = c->sock;
        c->sock = 0; /* released by ws_close; active[s] stays for the CLOSE event */
        c->connecting = 0;
        c->open = 0;
        c->sending = 0;
        ws_close(s, 1000, NULL);
    }
    (void)L;
}

static int client_close_meta(lua_State *L) { /* __close */
    client *c = to_client(L, 1);
    if (c) client_close(L, c);
    return 0;
}

static int client_tostring(lua_State *L) {
    client *c = to_client(L, 1);
    if (c && c->dialect == DIALECT_QSYS)
        lua_pushstring(L, "websocket");
    else
        lua_pushfstring(L, "websocket.client: %p", lua_topointer(L, 1));
    return 1;
}

/* ---- NodeMCU dialect ----------------------------------------------------------- */

static int nm_create(lua_State *L) {
    new_client(L, DIALECT_NODEMCU);
    return 1;
}

/* ws:config{...}: checked now (a bad option raises here), kept as JSON text
 * for every later connect. */
static int nm_config(lua_State *L) {
    check_client(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_pushliteral(L, "headers");
    int ht = lua_rawget(L, 2);
    if (ht != LUA_TNIL && ht != LUA_TTABLE) luaL_argerror(L, 2, "headers must be a table");
    lua_pop(L, 1);
    int has_timeout = push_members(L, 2, 0, 0); /* 3 */
    check_options(L, 3, has_timeout, "config");
    set_uv(L, 1, "_config");
    lua_pushboolean(L, has_timeout);
    set_uv(L, 1, "_config_timeout");
    return 0;
}

static int nm_connect(lua_State *L) {
    check_client(L, 1);
    size_t n;
    const char *url = check_text(L, 2, &n, "URL");
    lua_settop(L, 2);
    push_uv(L, 1, "_config"); /* 3 */
    if (lua_type(L, 3) != LUA_TSTRING) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    }
    push_uv(L, 1, "_config_timeout");
    int has_timeout = lua_toboolean(L, -1);
    lua_pop(L, 1);
    start_connect(L, 1, url, 3, has_timeout);
    return 0;
}

static const char *const nm_events[] = {"connection", "receive", "close", "pong", "part", NULL};

static int nm_on(lua_State *L) {
    check_client(L, 1);
    int i = luaL_checkoption(L, 2, NULL, nm_events);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_settop(L, 3);
    set_uv(L, 1, nm_events[i]);
    return 0;
}

static int nm_send(lua_State *L) {
    client *c = check_client(L, 1);
    size_t n;
    const char *msg = luaL_checklstring(L, 2, &n);
    lua_Integer op = luaL_optinteger(L, 3, WS_TEXT);
    if (op != WS_TEXT && op != WS_BINARY) return luaL_argerror(L, 3, "opcode must be 1 (text) or 2 (binary)");
    if (c->sock <= 0 || !c->open) return luaL_error(L, "websocket: not connected");
    if (ws_write(c->sock, msg, n, (int)op) != WS_OK) return luaL_error(L, "websocket: send: %s", ws_last_error());
    return 0;
}

/* One piece of a message (ws_write_part) for send_part/WritePart. `type`:
 * WS_TEXT or WS_BINARY, or 0 for "continue": the first piece of a message
 * is then text, later pieces go on with the message's type. Returns the
 * library's result; c->sending follows the message's state. */
static int write_part(client *c, const char *data, size_t n, int type, int more) {
    if (type == 0 && !c->sending) type = WS_TEXT;
    int rc = ws_write_part(c->sock, data, n, type | (more ? WS_CONT : 0));
    /* taken (sent, or queued by a "sendTimeout" that expired: WS_E_PENDING) */
    if (rc == WS_OK || (rc == WS_TIMEOUT && ws_last_error_code() == WS_E_PENDING)) c->sending = more;
    return rc;
}

/* ws:send_part(data[, opcode[, more]]): one piece; `more` true when more
 * pieces of this message follow (else the piece ends it). opcode 1 text, 2
 * binary; nil: text for the first piece, the message's type later. Raises
 * as send() does. */
static int nm_send_part(lua_State *L) {
    client *c = check_client(L, 1);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    lua_Integer op = luaL_optinteger(L, 3, 0);
    if (op != 0 && op != WS_TEXT && op != WS_BINARY)
        return luaL_argerror(L, 3, "opcode must be 1 (text), 2 (binary) or nil (the message's)");
    int more = lua_toboolean(L, 4);
    if (c->sock <= 0 || !c->open) return luaL_error(L, "websocket: not connected");
    if (write_part(c, data, n, (int)op, more) != WS_OK) return luaL_error(L, "websocket: send_part: %s", ws_last_error());
    return 0;
}

static int nm_close(lua_State *L) {
    client_close(L, check_client(L, 1));
    return 0;
}

/* ws:compression(): the permessage-deflate parameters agreed with the server
 * ({clientMaxWindowBits=, serverMaxWindowBits=, clientNoContextTakeover=,
 * serverNoContextTakeover=}), or nil when the connection is not compressed
 * (option "compression" not given, declined by the server, not connected). */
static int nm_compression(lua_State *L) {
    client *c = check_client(L, 1);
    ws_info i;
    if (c->sock <= 0 || !c->open || ws_get_info(c->sock, &i, sizeof i) != WS_OK || !i.compression) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, i.client_max_window_bits);
    lua_setfield(L, -2, "clientMaxWindowBits");
    lua_pushinteger(L, i.server_max_window_bits);
    lua_setfield(L, -2, "serverMaxWindowBits");
    lua_pushboolean(L, i.client_no_context_takeover);
    lua_setfield(L, -2, "clientNoContextTakeover");
    lua_pushboolean(L, i.server_no_context_takeover);
    lua_setfield(L, -2, "serverNoContextTakeover");
    return 1;
}

/* ---- Q-SYS dialect --------------------------------------------------------------- */

static const char *const qs_handlers[] = {"Connected", "Data", "DataPart", "Error", "Closed", "Pong", NULL};

static int qs_new(lua_State *L) {
    new_client(L, DIALECT_QSYS);
    return 1;
}

/* ws:Connect(protocol, host, path, port[, subprotocol[, headers[, options]]]).
 * Bad arguments and options raise here; connection failures (URL, network)
 * go to the Error and Closed handlers. */
static int qs_connect(lua_State *L) {
    check_client(L, 1);
    lua_settop(L, 8);
    size_t lproto, lhost, lpath = 1, lsub = 0;
    const char *proto = check_text(L, 2, &lproto, "protocol");
    const char *host = check_text(L, 3, &lhost, "host");
    const char *path = lua_isnil(L, 4) ? "/" : check_text(L, 4, &lpath, "path");
    lua_Integer port = luaL_optinteger(L, 5, 0);
    int sub = 0;
    if (!lua_isnil(L, 6)) {
        check_text(L, 6, &lsub, "subprotocol");
        if (lsub > 0) sub = 6; /* "" = none */
    }
    int headers = 0, cfg = 0;
    if (!lua_isnil(L, 7)) {
        luaL_checktype(L, 7, LUA_TTABLE);
        headers = 7;
    }
    if (!lua_isnil(L, 8)) {
        luaL_checktype(L, 8, LUA_TTABLE);
        cfg = 8;
    }
    int has_timeout = push_members(L, cfg, headers, sub); /* 9 */
    check_options(L, 9, has_timeout, "Connect");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, proto, lproto);
    luaL_addstring(&b, "://");
    int v6 = memchr(host, ':', lhost) != NULL && host[0] != '[';
    if (v6) luaL_addchar(&b, '[');
    luaL_addlstring(&b, host, lhost);
    if (v6) luaL_addchar(&b, ']');
    if (port != 0) {
        char p[32];
        snprintf(p, sizeof p, ":%lld", (long long)port);
        luaL_addstring(&b, p);
    }
    if (lpath == 0 || path[0] != '/') luaL_addchar(&b, '/');
    luaL_addlstring(&b, path, lpath);
    luaL_pushresult(&b); /* 10 */
    start_connect(L, 1, lua_tostring(L, 10), 9, has_timeout);
    return 0;
}

/* Q-SYS Write/Ping do not raise for connection state: they return true, or
 * nil and a message (the Error handler reports connection failures). */
static int qs_result(lua_State *L, int rc) {
    if (rc == WS_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, ws_last_error());
    return 2;
}

static int qs_write(lua_State *L) {
    client *c = check_client(L, 1);
    size_t n;
    const char *msg = luaL_checklstring(L, 2, &n);
    int binary = lua_toboolean(L, 3);
    if (c->sock <= 0 || !c->open) {
        lua_pushnil(L);
        lua_pushstring(L, "websocket: not connected");
        return 2;
    }
    return qs_result(L, ws_write(c->sock, msg, n, binary ? WS_BINARY : WS_TEXT));
}

/* ws:WritePart(data[, isBinary[, more]]): true, or nil and a message, as
 * Write. isBinary nil: text for the first piece, the message's type later. */
static int qs_write_part(lua_State *L) {
    client *c = check_client(L, 1);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    int type = lua_isnoneornil(L, 3) ? 0 : lua_toboolean(L, 3) ? WS_BINARY : WS_TEXT;
    int more = lua_toboolean(L, 4);
    if (c->sock <= 0 || !c->open) {
        lua_pushnil(L);
        lua_pushstring(L, "websocket: not connected");
        return 2;
    }
    return qs_result(L, write_part(c, data, n, type, more));
}

static int qs_ping(lua_State *L) {
    client *c = check_client(L, 1);
    size_t n = 0;
    const char *payload = luaL_optlstring(L, 2, "", &n);
    if (c->sock <= 0 || !c->open) {
        lua_pushnil(L);
        lua_pushstring(L, "websocket: not connected");
        return 2;
    }
    return qs_result(L, ws_ping(c->sock, payload, n));
}

static int qs_close(lua_State *L) {
    client_close(L, check_client(L, 1));
    return 0;
}

static int qs_index(lua_State *L) {
    check_client(L, 1);
    /* methods first */
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "__methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 3);
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *k = lua_tostring(L, 2);
        if (strcmp(k, "IsConnected") == 0) {
            client *c = to_client(L, 1);
            lua_pushboolean(L, c->sock > 0 && c->open);
            return 1;
        }
        for (int i = 0; qs_handlers[i]; i++)
            if (strcmp(k, qs_handlers[i]) == 0) {
                push_uv(L, 1, k);
                return 1;
            }
    }
    lua_pushnil(L);
    return 1;
}

static int qs_newindex(lua_State *L) {
    check_client(L, 1);
    const char *k = luaL_checkstring(L, 2);
    for (int i = 0; qs_handlers[i]; i++)
        if (strcmp(k, qs_handlers[i]) == 0) {
            if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
            lua_settop(L, 3);
            set_uv(L, 1, qs_handlers[i]);
            return 0;
        }
    return luaL_error(L, "WebSocket has no field '%s' (handlers: Connected, Data, DataPart, Error, Closed, Pong)", k);
}

/* ---- NodeMCU status --------------------------------------------------------------- */

static int nodemcu_status(int error, int closed_by, const char *msg) {
    if (error == 0) return closed_by == WS_BY_SERVER ? -6 : 0;
    switch (error) {
    case WS_E_UNSUPPORTED_SCHEME: return -1;
    case WS_E_INVALID_URL:
        if (msg && strstr(msg, "missing scheme")) return -1;
        if (msg && strstr(msg, "longer than")) return -2;
        if (msg && strstr(msg, "port")) return -3;
        return -4;
    case WS_E_DNS: return -5;
    case WS_E_BAD_ACCEPT:
    case WS_E_HANDSHAKE: return -7;
    case WS_E_MESSAGE_TOO_BIG: return -8;
    case WS_E_PROTOCOL: return -15;
    case WS_E_UPGRADE_REJECTED: return -17;
    case WS_E_TIMEOUT: return -18;
    case WS_E_HEALTH_CHECK: return -19;
    default: return error > 0 && error <= 899 ? -(100 + error) : -999; /* NodeMCU's -99..-999 */
    }
}

/* ---- calling handlers ----------------------------------------------------------------- */

static int tostring_body(lua_State *L) {
    luaL_tolstring(L, 1, NULL);
    return 1;
}

/* Replaces the value at the top by a string describing it. Never raises
 * for the value itself (a __tostring that fails or returns something else
 * than a string gives the type's name); only running out of memory can. */
static void to_message(lua_State *L) {
    if (lua_type(L, -1) == LUA_TSTRING) return;
    const char *tn = luaL_typename(L, -1); /* a static string */
    lua_pushcfunction(L, tostring_body);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        lua_pushfstring(L, "(error object is a %s value)", tn);
    }
}

static int traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function below `nargs` arguments at the top; an error goes to
 * websocket.onerror(message) if set, else to stderr, and never propagates:
 * one bad handler must not stop the others. */
static void call_handler(lua_State *L, int nargs) {
    modstate *st = get_state(L);
    luaL_checkstack(L, 6, NULL);
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    int rc = lua_pcall(L, nargs, 0, base);
    lua_remove(L, base);
    if (rc == LUA_OK) return;
    st->handler_errors++;
    to_message(L);
    push_priv(L, "module");
    lua_pushliteral(L, "onerror");
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (lua_isfunction(L, -1)) {
        lua_insert(L, -2); /* onerror, msg */
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
            to_message(L);
            fprintf(stderr, "websocket: error in onerror: %s\n", lua_tostring(L, -1));
            fflush(stderr);
            lua_pop(L, 1);
        }
    } else {
        lua_pop(L, 1);
        fprintf(stderr, "websocket: error in handler: %s\n", lua_tostring(L, -1));
        fflush(stderr);
        lua_pop(L, 1);
    }
}

/* Pushes handler `name` of the client at idx; returns 0 (nothing pushed)
 * when none is set. */
static int push_handler(lua_State *L, int idx, const char *name) {
    push_uv(L, idx, name);
    if (lua_isfunction(L, -1)) return 1;
    lua_pop(L, 1);
    return 0;
}

/* The end of a connection. `final`: no reconnect follows, so the number is
 * released and the client leaves `active` before its handlers run (they may
 * connect again). sock 0: a connect that failed synchronously. */
static void deliver_close(lua_State *L, int idx, int sock, int code, const char *reason, size_t rlen,
                          int error, int closed_by, int final) {
    client *c = to_client(L, idx);
    luaL_checkstack(L, 10, NULL);
    if (c->sock == sock) c->open = 0; /* else it closed earlier (ws:close) or moved on */
    if (final) {
        if (sock > 0 && c->sock == sock) {
            c->sock = 0;
            c->connecting = 0;
            ws_close(sock, 0, NULL); /* releases the number; no events follow */
        }
        if (sock > 0) set_active(L, sock, 0);
    }
    const char *detail = reason;
    size_t dlen = rlen;
    push_uv(L, idx, "_error");
    if (error && closed_by != WS_BY_SERVER && lua_type(L, -1) == LUA_TSTRING) detail = lua_tolstring(L, -1, &dlen);
    int errmsg = lua_gettop(L);
    if (c->dialect == DIALECT_NODEMCU) {
        if (push_handler(L, idx, "close")) {
            lua_pushvalue(L, idx);
            lua_pushinteger(L, nodemcu_status(error, closed_by, detail));
            lua_pushinteger(L, code);
            lua_pushlstring(L, detail ? detail : "", detail ? dlen : 0);
            call_handler(L, 4);
        }
    } else {
        if (push_handler(L, idx, "Closed")) {
            lua_pushvalue(L, idx);
            lua_pushinteger(L, code);
            lua_pushlstring(L, reason ? reason : "", reason ? rlen : 0);
            call_handler(L, 3);
        }
    }
    lua_remove(L, errmsg);
}

static void deliver_error(lua_State *L, int idx, int code, const char *msg, size_t len) {
    client *c = to_client(L, idx);
    luaL_checkstack(L, 10, NULL);
    c->error = code;
    lua_pushlstring(L, msg, len);
    set_uv(L, idx, "_error");
    if (c->dialect == DIALECT_QSYS && push_handler(L, idx, "Error")) {
        lua_pushvalue(L, idx);
        lua_pushlstring(L, msg, len);
        lua_pushinteger(L, code);
        call_handler(L, 3);
    }
}

static void handle_event(lua_State *L, const ws_event *ev) {
    luaL_checkstack(L, 10, NULL);
    push_priv(L, "active");
    lua_rawgeti(L, -1, ev->socket);
    lua_remove(L, -2);
    if (lua_isnil(L, -1)) { /* superseded or dropped: nobody to tell */
        lua_pop(L, 1);
        return;
    }
    int idx = lua_gettop(L);
    client *c = to_client(L, idx);
    /* The script closed this connection (ws:close()) or the client was
     * collected: of its remaining events only the final CLOSE is delivered. */
    int current = c->sock == ev->socket;
    /* The event's data stays valid until the next ws_next_event() on this
     * queue, which only poll() calls and poll() is not re-entrant; it is
     * copied into Lua strings anyway before any handler runs. */
    const char *data = (const char *)ev->data;
    switch (ev->type) {
    case WS_EV_OPEN:
        if (!current) break;
        c->open = 1;
        c->connecting = 0;
        c->sending = 0; /* a new connection (reconnect): no message is half sent */
        if (push_handler(L, idx, c->dialect == DIALECT_NODEMCU ? "connection" : "Connected")) {
            lua_pushvalue(L, idx);
            call_handler(L, 1);
        }
        break;
    case WS_EV_MESSAGE:
        if (!current) break;
        if (c->dialect == DIALECT_NODEMCU) {
            if (push_handler(L, idx, "receive")) {
                lua_pushvalue(L, idx);
                lua_pushlstring(L, data, ev->len);
                lua_pushinteger(L, ev->msg_type);
                call_handler(L, 3);
            }
        } else if (push_handler(L, idx, "Data")) {
            lua_pushvalue(L, idx);
            lua_pushlstring(L, data, ev->len);
            lua_pushboolean(L, ev->msg_type == WS_BINARY);
            call_handler(L, 3);
        }
        break;
    case WS_EV_MESSAGE_PART:
        /* a "streamReceive" client: pieces only, never whole messages */
        if (!current) break;
        if (push_handler(L, idx, c->dialect == DIALECT_NODEMCU ? "part" : "DataPart")) {
            lua_pushvalue(L, idx);
            lua_pushlstring(L, data, ev->len);
            lua_pushinteger(L, (lua_Integer)ev->rtt_us); /* the piece's offset */
            lua_pushboolean(L, ev->code == 1);           /* it ends the message */
            if (c->dialect == DIALECT_NODEMCU)
                lua_pushinteger(L, ev->msg_type);
            else
                lua_pushboolean(L, ev->msg_type == WS_BINARY);
            call_handler(L, 5);
        }
        break;
    case WS_EV_PONG:
        if (!current) break;
        if (push_handler(L, idx, c->dialect == DIALECT_NODEMCU ? "pong" : "Pong")) {
            lua_pushvalue(L, idx);
            if (ev->rtt_us >= 0)
                lua_pushnumber(L, (lua_Number)ev->rtt_us / 1000.0);
            else
                lua_pushnil(L);
            call_handler(L, 2);
        }
        break;
    case WS_EV_ERROR:
        if (!current) break;
        deliver_error(L, idx, ev->code, data, ev->len);
        break;
    case WS_EV_CLOSE: {
        /* With "autoReconnect" a CLOSE is followed by a reconnect: the socket
         * is then connecting (or open again) rather than closed. */
        int st = current ? ws_state(ev->socket) : WS_STATE_CLOSED;
        int final = !(st == WS_STATE_CONNECTING || st == WS_STATE_OPEN);
        lua_pushlstring(L, data, ev->len);
        size_t rlen;
        const char *r = lua_tolstring(L, -1, &rlen);
        deliver_close(L, idx, ev->socket, ev->code, r, rlen, ev->error, ev->closed_by, final);
        lua_pop(L, 1);
        break;
    }
    default: /* WS_EV_RECONNECTING and future kinds */
        break;
    }
    lua_settop(L, idx - 1);
}

/* Pending synchronous connect failures: {client, code, message}. */
static int deliver_pending(lua_State *L) {
    modstate *st = get_state(L);
    if (st->npending == 0) return 0;
    luaL_checkstack(L, 10, NULL);
    push_priv(L, "pending");
    int list = lua_gettop(L);
    lua_newtable(L);
    lua_setfield(L, PRIV, "pending");
    int n = (int)lua_rawlen(L, list);
    st->npending = 0;
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        int e = lua_gettop(L);
        lua_rawgeti(L, e, 1);
        int idx = lua_gettop(L);
        client *c = to_client(L, idx);
        lua_rawgeti(L, e, 2);
        int code = (int)lua_tointeger(L, -1);
        lua_rawgeti(L, e, 3);
        size_t len;
        const char *msg = lua_tolstring(L, -1, &len);
        if (c && c->connecting && c->sock == 0) { /* not superseded by another connect */
            c->connecting = 0;
            deliver_error(L, idx, code, msg, len);
            deliver_close(L, idx, 0, 0, "", 0, code, WS_BY_ERROR, 1);
        }
        lua_settop(L, list);
    }
    lua_pop(L, 1);
    return n;
}

/* ---- timers ------------------------------------------------------------------------ */

static ltimer *check_timer(lua_State *L, int idx) {
    return (ltimer *)luaL_checkudata(L, idx, MT_TIMER);
}

static ltimer *new_timer(lua_State *L) {
    ltimer *t = (ltimer *)lua_newuserdatauv(L, sizeof(ltimer), 1);
    memset(t, 0, sizeof *t);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, MT_TIMER);
    return t;
}

static void timer_set_running(lua_State *L, int idx, ltimer *t, int running) {
    modstate *st = get_state(L);
    idx = lua_absindex(L, idx);
    if (t->running == running) return;
    t->running = running;
    st->ntimers += running ? 1 : -1;
    push_priv(L, "timers");
    lua_pushvalue(L, idx);
    if (running)
        lua_pushboolean(L, 1);
    else
        lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static void timer_start(lua_State *L, int idx, ltimer *t, double ms, int repeat) {
    if (!(ms >= 0) || ms > 1e12) luaL_error(L, "timer: bad interval");
    t->interval_ms = ms;
    t->repeat = repeat;
    t->due_ms = now_ms() + ms;
    timer_set_running(L, idx, t, 1);
}

static int timer_new(lua_State *L) { /* Timer.New() */
    new_timer(L);
    return 1;
}

static int timer_Start(lua_State *L) { /* t:Start(seconds): every `seconds` until Stop */
    ltimer *t = check_timer(L, 1);
    lua_Number s = luaL_checknumber(L, 2);
    if (!(s > 0)) return luaL_argerror(L, 2, "interval must be > 0 seconds");
    timer_start(L, 1, t, s * 1000.0, 1);
    return 0;
}

static int timer_Stop(lua_State *L) {
    ltimer *t = check_timer(L, 1);
    timer_set_running(L, 1, t, 0);
    return 0;
}

static int timer_index(lua_State *L) {
    ltimer *t = check_timer(L, 1);
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    if (k && strcmp(k, "EventHandler") == 0) {
        lua_getiuservalue(L, 1, 1);
        lua_getfield(L, -1, "EventHandler");
        return 1;
    }
    if (k && strcmp(k, "IsRunning") == 0) {
        lua_pushboolean(L, t->running);
        return 1;
    }
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "__methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int timer_newindex(lua_State *L) {
    check_timer(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "EventHandler") != 0) return luaL_error(L, "Timer has no field '%s' (EventHandler)", k);
    if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, "EventHandler");
    return 0;
}

static int timer_tostring(lua_State *L) {
    lua_pushfstring(L, "Timer: %p", lua_topointer(L, 1));
    return 1;
}

/* Timer.CallAfter(fn, seconds): once. */
static int timer_callafter(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_Number s = luaL_checknumber(L, 2);
    ltimer *t = new_timer(L);
    lua_getiuservalue(L, -1, 1);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "EventHandler");
    lua_pop(L, 1);
    timer_start(L, -1, t, s > 0 ? s * 1000.0 : 0.0, 0);
    return 1;
}

/* websocket.timer(ms, fn[, repeat]) */
static int l_timer(lua_State *L) {
    lua_Number ms = luaL_checknumber(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    int repeat = lua_toboolean(L, 3);
    if (repeat && !(ms > 0)) return luaL_argerror(L, 1, "a repeating timer needs ms > 0");
    ltimer *t = new_timer(L);
    lua_getiuservalue(L, -1, 1);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "EventHandler");
    lua_pop(L, 1);
    timer_start(L, -1, t, ms > 0 ? ms : 0.0, repeat);
    return 1;
}

/* Milliseconds until the next running timer is due (0 if overdue), or -1. */
static double next_timer_in(lua_State *L) {
    modstate *st = get_state(L);
    if (st->ntimers == 0) return -1;
    double best = -1, now = now_ms();
    push_priv(L, "timers");
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        lua_pop(L, 1);
        ltimer *t = (ltimer *)lua_touserdata(L, -1);
        double in = t->due_ms - now;
        if (in < 0) in = 0;
        if (best < 0 || in < best) best = in;
    }
    lua_pop(L, 1);
    return best;
}

typedef struct {
    ltimer *t;
    int slot; /* index in the snapshot array */
} due_timer;

static int cmp_due(const void *a, const void *b) {
    double x = ((const due_timer *)a)->t->due_ms, y = ((const due_timer *)b)->t->due_ms;
    return x < y ? -1 : x > y;
}

/* Runs every timer due now, earliest first. Timers started by handlers run
 * on a later poll. */
static int run_timers(lua_State *L) {
    modstate *st = get_state(L);
    if (st->ntimers == 0) return 0;
    luaL_checkstack(L, 10, NULL);
    double now = now_ms();
    /* snapshot of the due timers: a Lua array keeps them alive */
    lua_newtable(L);
    int due = lua_gettop(L);
    int n = 0;
    push_priv(L, "timers");
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        lua_pop(L, 1);
        ltimer *t = (ltimer *)lua_touserdata(L, -1);
        if (t->due_ms <= now) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, due, ++n);
        }
    }
    lua_pop(L, 1);
    if (n == 0) {
        lua_pop(L, 1);
        return 0;
    }
    due_timer *order = (due_timer *)lua_newuserdatauv(L, sizeof(due_timer) * (size_t)n, 0);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, due, i);
        order[i - 1].t = (ltimer *)lua_touserdata(L, -1);
        order[i - 1].slot = i;
        lua_pop(L, 1);
    }
    qsort(order, (size_t)n, sizeof *order, cmp_due);
    int fired = 0;
    for (int i = 0; i < n; i++) {
        ltimer *t = order[i].t;
        if (!t->running || t->due_ms > now) continue; /* stopped/restarted by an earlier handler */
        lua_rawgeti(L, due, order[i].slot);
        int tidx = lua_gettop(L);
        if (t->repeat) {
            t->due_ms += t->interval_ms;
            if (t->due_ms <= now) t->due_ms = now + t->interval_ms; /* fell behind: no burst */
        } else {
            timer_set_running(L, tidx, t, 0);
        }
        lua_getiuservalue(L, tidx, 1);
        lua_getfield(L, -1, "EventHandler");
        lua_remove(L, -2);
        if (lua_isfunction(L, -1)) {
            lua_pushvalue(L, tidx);
            call_handler(L, 1);
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1); /* tidx */
        fired++;
    }
    lua_settop(L, due - 1);
    return fired;
}

/* ---- the loop ------------------------------------------------------------------------ */

static int is_busy(modstate *st) {
    return st->nactive > 0 || st->npending > 0 || st->ntimers > 0;
}

/* One poll: pending failures, then events (waiting up to timeout_ms, or
 * less when a timer is due sooner), then due timers. Returns how many
 * handlers' worth of work was done. */
static int poll_once(lua_State *L, int timeout_ms) {
    modstate *st = get_state(L);
    flush_doomed(st);
    int handled = deliver_pending(L);
    if (st->queue <= 0) return handled;
    int wait = handled ? 0 : timeout_ms;
    double tin = next_timer_in(L);
    /* A timer further away than INT_MAX ms (24.8 days) waits INT_MAX; the
     * next poll waits again. */
    if (tin >= 0 && (wait < 0 || tin < wait)) wait = tin >= (double)INT_MAX ? INT_MAX : (int)ceil(tin);
    if (wait < 0 && !is_busy(st)) wait = 0; /* nothing could ever arrive */
    ws_event ev;
    int rc = ws_next_event(st->queue, &ev, wait);
    int batch = 0;
    while (rc == WS_OK) {
        handle_event(L, &ev);
        handled++;
        if (++batch >= MAX_EVENTS_PER_POLL) break;
        rc = ws_next_event(st->queue, &ev, 0);
    }
    handled += run_timers(L);
    return handled;
}

static int poll_body(lua_State *L) { /* upvalue 1: PRIV; arg 1: timeout */
    int n = poll_once(L, (int)lua_tointeger(L, 1));
    lua_pushinteger(L, n);
    return 1;
}

static int run_body(lua_State *L) {
    modstate *st = get_state(L);
    int timeout = (int)lua_tointeger(L, 1);
    double deadline = timeout >= 0 ? now_ms() + timeout : -1;
    while (is_busy(st)) {
        int slice = 1000;
        if (deadline >= 0) {
            double left = deadline - now_ms();
            if (left <= 0) {
                lua_pushboolean(L, 0);
                return 1;
            }
            if (left < slice) slice = (int)ceil(left);
        }
        poll_once(L, slice);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* Runs body(timeout) with the re-entrancy guard, which is reset even when
 * the body raises (out of memory). */
static int guarded(lua_State *L, lua_CFunction body, int timeout_ms, const char *what) {
    modstate *st = get_state(L);
    if (st->in_poll) return luaL_error(L, "websocket.%s: called from a handler or timer (not re-entrant)", what);
    st->in_poll = 1;
    lua_pushvalue(L, PRIV);
    lua_pushcclosure(L, body, 1);
    lua_pushinteger(L, timeout_ms);
    int rc = lua_pcall(L, 1, 1, 0);
    st->in_poll = 0;
    if (rc != LUA_OK) return lua_error(L);
    return 1;
}

/* websocket.poll([timeout_ms]): default 0 (do what is due, do not wait);
 * negative waits until something happens. Returns the number of events and
 * timers handled. */
static int l_poll(lua_State *L) {
    return guarded(L, poll_body, check_timeout_ms(L, 1, 0), "poll");
}

/* websocket.run([timeout_ms]): poll until no client is connecting, open or
 * has a failure to report, and no timer runs (true), or until timeout_ms
 * (false). Default: no limit. */
static int l_run(lua_State *L) {
    return guarded(L, run_body, check_timeout_ms(L, 1, -1), "run");
}

static int l_busy(lua_State *L) {
    lua_pushboolean(L, is_busy(get_state(L)));
    return 1;
}

static int l_stats(lua_State *L) {
    modstate *st = get_state(L);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, st->nclients);
    lua_setfield(L, -2, "clients");
    lua_pushinteger(L, st->nactive);
    lua_setfield(L, -2, "active");
    lua_pushinteger(L, st->npending);
    lua_setfield(L, -2, "pending");
    lua_pushinteger(L, st->ntimers);
    lua_setfield(L, -2, "timers");
    lua_pushinteger(L, (lua_Integer)st->handler_errors);
    lua_setfield(L, -2, "errors");
    lua_pushinteger(L, st->queue);
    lua_setfield(L, -2, "queue");
    return 1;
}

static int l_errorname(lua_State *L) {
    lua_Integer code = luaL_checkinteger(L, 1);
    lua_pushstring(L, code < INT_MIN || code > INT_MAX ? "WS_E_UNKNOWN" : ws_error_name((int)code));
    return 1;
}

static int l_nodemcu_status(lua_State *L) { /* for tests and documentation */
    lua_Integer code = luaL_checkinteger(L, 1), by = luaL_optinteger(L, 2, WS_BY_ERROR);
    if (code < INT_MIN || code > INT_MAX) code = INT_MAX;
    if (by < INT_MIN || by > INT_MAX) by = WS_BY_ERROR;
    lua_pushinteger(L, nodemcu_status((int)code, (int)by, luaL_optstring(L, 3, NULL)));
    return 1;
}

/* The state's finalizer: at lua_close, after every client's (see "Shutdown"
 * at the top). */
static int state_gc(lua_State *L) {
    modstate *st = (modstate *)luaL_checkudata(L, 1, MT_STATE);
    st->finalized = 1;
    flush_doomed(st);
    free(st->doomed);
    st->doomed = NULL;
    st->capdoomed = 0;
    if (st->queue > 0) {
        ws_queue_destroy(st->queue);
        st->queue = 0;
    }
    return 0;
}

/* ---- registration ------------------------------------------------------------------- */

static const luaL_Reg nm_methods[] = {
    {"config", nm_config}, {"connect", nm_connect}, {"on", nm_on}, {"send", nm_send}, {"send_part", nm_send_part},
    {"close", nm_close},
    {"compression", nm_compression}, {NULL, NULL}};

static const luaL_Reg qs_methods[] = {
    {"Connect", qs_connect}, {"Write", qs_write}, {"WritePart", qs_write_part}, {"Ping", qs_ping},
    {"Close", qs_close}, {NULL, NULL}};

static const luaL_Reg timer_methods[] = {{"Start", timer_Start}, {"Stop", timer_Stop}, {NULL, NULL}};

static const luaL_Reg module_funcs[] = {
    {"createClient", nm_create},
    {"poll", l_poll},
    {"run", l_run},
    {"busy", l_busy},
    {"stats", l_stats},
    {"timer", l_timer},
    {"errorname", l_errorname},
    {"nodemcu_status", l_nodemcu_status},
    {NULL, NULL}};

/* Creates metatable `name` with the given metamethods, methods in
 * __methods (and as __index unless index is given); all with PRIV as
 * upvalue (at the top of the stack). getmetatable() on an object gives its
 * name, not the table, so a script cannot remove __gc or replace methods. */
static void make_meta(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction index,
                      lua_CFunction newindex, lua_CFunction gc, lua_CFunction close, lua_CFunction tostr) {
    int priv = lua_gettop(L);
    luaL_newmetatable(L, name);
    int mt = lua_gettop(L);
    lua_newtable(L);
    lua_pushvalue(L, priv);
    luaL_setfuncs(L, methods, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, mt, "__methods");
    if (index) {
        lua_pop(L, 1);
        lua_pushvalue(L, priv);
        lua_pushcclosure(L, index, 1);
    }
    lua_setfield(L, mt, "__index");
    const struct {
        const char *k;
        lua_CFunction f;
    } extra[] = {{"__newindex", newindex}, {"__gc", gc}, {"__close", close}, {"__tostring", tostr}};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        if (!extra[i].f) continue;
        lua_pushvalue(L, priv);
        lua_pushcclosure(L, extra[i].f, 1);
        lua_setfield(L, mt, extra[i].k);
    }
    lua_pushstring(L, name);
    lua_setfield(L, mt, "__name");
    lua_pushstring(L, name);
    lua_setfield(L, mt, "__metatable");
    lua_pop(L, 1);
}

/* The two exported symbols (the module is built with hidden visibility). */
#if defined(__GNUC__)
#define WSLUA_EXPORT __attribute__((visibility("default")))
#else
#define WSLUA_EXPORT
#endif
WSLUA_EXPORT int luaopen_websocket(lua_State *L);
WSLUA_EXPORT int luaopen_websocket_qsys(lua_State *L);

/* Finds the message of an options check that passed (see "Options" at the
 * top): ws_open_async with a dead queue and nothing else. Sets
 * private.probe_msg and returns the queue number, or 0 when the library
 * does not behave as expected (then options are checked at connect only). */
static int setup_probe(lua_State *L, int priv) {
    int q = ws_queue_create();
    if (q <= 0) return 0;
    if (ws_queue_destroy(q) != WS_OK) return 0;
    char json[64];
    snprintf(json, sizeof json, "{\"queue\":%d}", q);
    int s = ws_open_async(PROBE_URL, json);
    if (s > 0) {
        ws_close(s, 1000, NULL);
        return 0;
    }
    if (ws_last_error_code() != WS_E_INVALID_OPTIONS) return 0;
    lua_pushstring(L, ws_last_error());
    lua_setfield(L, priv, "probe_msg");
    return q;
}

WSLUA_EXPORT int luaopen_websocket(lua_State *L) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, REG_MODULE) == LUA_TTABLE) return 1;
    lua_pop(L, 1);
    luaL_checkstack(L, 12, NULL);
    int q = ws_queue_create();
    if (q < 0) return luaL_error(L, "websocket: cannot create an event queue: %s", ws_last_error());

    /* private table */
    lua_newtable(L);
    int priv = lua_gettop(L);
    modstate *st = (modstate *)lua_newuserdatauv(L, sizeof(modstate), 0);
    memset(st, 0, sizeof *st);
    st->queue = q;
    luaL_newmetatable(L, MT_STATE);
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushstring(L, MT_STATE);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, priv, "state");
    lua_newtable(L);
    lua_setfield(L, priv, "active");
    lua_newtable(L);
    lua_setfield(L, priv, "pending");
    lua_newtable(L);
    lua_setfield(L, priv, "timers");
    st->probe_queue = setup_probe(L, priv);

    make_meta(L, MT_NODEMCU, nm_methods, NULL, NULL, client_gc, client_close_meta, client_tostring);
    make_meta(L, MT_QSYS, qs_methods, qs_index, qs_newindex, client_gc, client_close_meta, client_tostring);
    make_meta(L, MT_TIMER, timer_methods, timer_index, timer_newindex, NULL, NULL, timer_tostring);

    /* module table */
    lua_newtable(L);
    int mod = lua_gettop(L);
    lua_pushvalue(L, priv);
    luaL_setfuncs(L, module_funcs, 1);
    lua_pushvalue(L, mod);
    lua_setfield(L, priv, "module");

    /* websocket.WebSocket (Q-SYS) */
    lua_newtable(L);
    lua_pushvalue(L, priv);
    lua_pushcclosure(L, qs_new, 1);
    lua_setfield(L, -2, "New");
    lua_setfield(L, mod, "WebSocket");

    /* websocket.Timer (Q-SYS) */
    lua_newtable(L);
    lua_pushvalue(L, priv);
    lua_pushcclosure(L, timer_new, 1);
    lua_setfield(L, -2, "New");
    lua_pushvalue(L, priv);
    lua_pushcclosure(L, timer_callafter, 1);
    lua_setfield(L, -2, "CallAfter");
    lua_setfield(L, mod, "Timer");

    lua_pushstring(L, ws_version());
    lua_setfield(L, mod, "version");
    lua_pushinteger(L, WS_TEXT);
    lua_setfield(L, mod, "TEXT");
    lua_pushinteger(L, WS_BINARY);
    lua_setfield(L, mod, "BINARY");

    lua_pushvalue(L, mod);
    lua_setfield(L, LUA_REGISTRYINDEX, REG_MODULE);
    return 1;
}

/* require "websocket.qsys": the Q-SYS globals WebSocket and Timer for a
 * plain interpreter, as the Q-SYS runtime provides them. Returns a table
 * {WebSocket, Timer, run, poll, busy, websocket = the module}; the script's
 * connections and timers run while something calls run() or poll(), e.g.
 *
 *   lua5.4 -e 'Q = require "websocket.qsys"' -e 'dofile "script.lua"' -e 'Q.run()'
 *
 * Found by Lua's all-in-one C loader: "websocket.qsys" -> luaopen_websocket_qsys
 * in websocket.so. */
WSLUA_EXPORT int luaopen_websocket_qsys(lua_State *L) {
    luaL_requiref(L, "websocket", luaopen_websocket, 0);
    int mod = lua_gettop(L);
    lua_createtable(L, 0, 6);
    static const char *const names[] = {"WebSocket", "Timer", "run", "poll", "busy", NULL};
    for (int i = 0; names[i]; i++) {
        lua_getfield(L, mod, names[i]);
        if (i < 2) {
            lua_pushvalue(L, -1);
            lua_setglobal(L, names[i]);
        }
        lua_setfield(L, -2, names[i]);
    }
    lua_pushvalue(L, mod);
    lua_setfield(L, -2, "websocket");
    return 1;
}
