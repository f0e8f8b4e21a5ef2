-- LuaRocks build of the Lua 5.4 binding (websocket.so) from this tree,
-- against an installed (or built) wsclient library:
--
--   cd bindings/lua
--   luarocks --lua-version 5.4 make WSCLIENT_DIR=/usr/local      # include/ and lib/ below it
--   luarocks --lua-version 5.4 make WSCLIENT_INCDIR=../../include \
--            WSCLIENT_LIBDIR=../../build/cargo/release            # a CMake build, not installed
--
-- Without a variable LuaRocks looks in /usr/local and /usr. The module
-- records the library's directory as its RPATH. `--tree DIR` installs into
-- a local tree (`luarocks --lua-version 5.4 --tree DIR path` prints the
-- LUA_PATH/LUA_CPATH for it). The version is "scm": this spec builds the
-- tree it sits in; the library's version is the one in Cargo.toml.
rockspec_format = "3.0"
package = "wsclient"
version = "scm-1"
source = {
  url = "git+file://.",  -- not fetched by `luarocks make`, which builds the current directory
}
description = {
  summary = "WebSocket client for Lua 5.4 (NodeMCU and Q-SYS dialects) on the wsclient C library",
  detailed = [[
require "websocket" gives NodeMCU's websocket.createClient() and Q-SYS's
WebSocket.New() with an event loop (websocket.poll / websocket.run) and
timers; require "websocket.qsys" also sets the Q-SYS globals WebSocket and
Timer. See bindings/lua/README.md.]],
  license = "MIT OR Apache-2.0",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  WSCLIENT = {
    header = "wsclient.h",
    library = "wsclient",
  },
}
build = {
  type = "builtin",
  modules = {
    -- also serves require "websocket.qsys" (luaopen_websocket_qsys, found
    -- by Lua's all-in-one C loader)
    websocket = {
      sources = {"lwebsocket.c"},
      libraries = {"wsclient"},
      incdirs = {"$(WSCLIENT_INCDIR)"},
      libdirs = {"$(WSCLIENT_LIBDIR)"},
    },
  },
}
