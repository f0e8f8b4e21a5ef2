-- Options tables: checked at the call that gives them (ws:config, ws:Connect),
-- encoded as JSON without ever overrunning the Lua stack, strings escaped
-- byte-exactly, bad values refused.
-- Globals: URL, HOST, PORT (the mock "headers" server), REFUSED (a port
-- with nothing listening).
-- Prints "EXPECT <name> <hex>" for every header the server must receive.

local function nest(d) -- d tables around a number: depth d + 1 below the option
  local v = 1
  for _ = 1, d do v = {a = v} end
  return v
end

-- Runs f in a fresh coroutine: its Lua stack starts small (LUA_MINSTACK
-- plus a little), so an encoder that pushes without luaL_checkstack writes
-- past its end.
local function in_coroutine(f, ...)
  local co = coroutine.create(f)
  local res = table.pack(coroutine.resume(co, ...))
  assert(res[1], res[2])
  return table.unpack(res, 2, res.n)
end

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "no error, expected: " .. pattern)
  assert(tostring(err):find(pattern), "error '" .. tostring(err) .. "' lacks '" .. pattern .. "'")
  return err
end

local refused = "ws://127.0.0.1:" .. REFUSED .. "/"

-- 1. Depths 0..17, many times each, in small stacks: an error at config,
-- never a crash. Up to the limit the library sees the (unknown) key; past
-- it the encoder stops.
for d = 0, 17 do
  for round = 1, 30 do
    in_coroutine(function()
      local ws = websocket.createClient()
      local ok, err = pcall(ws.config, ws, {deep = nest(d)})
      -- A URL that fails at once (port 0, reported later by the loop):
      -- before the fix this encoded the options here, in the small stack.
      ws:connect("ws://127.0.0.1:0/")
      assert(not ok, "config accepted depth " .. d)
      if d <= 15 then
        assert(err:find('unknown key "deep"', 1, true), err)
      else
        assert(err:find("nested too deeply", 1, true), err)
      end
      -- the client still connects with its last good config
      if round == 1 then
        ws:config({timeout = 2000, headers = {["X-Depth"] = tostring(d)}})
        ws:connect(refused)
      end
      local q = WebSocket.New()
      err = raises("websocket: ", q.Connect, q, "ws", "127.0.0.1", "/", REFUSED, nil, nil, {deep = nest(d)})
      if d <= 15 then assert(err:find('unknown key "deep"', 1, true), err) end
      err = raises("websocket: ", q.Connect, q, "ws", "127.0.0.1", "/", REFUSED, nil, {["X-D"] = nest(d)})
    end)
  end
end
local base = websocket.stats().active
assert(base == 18, "expected the 18 connects only, active: " .. base)
print("depths ok")

-- 2. Cycles and shared subtables: an error, quickly, not a hang.
local cyc = {}
cyc.a = cyc
local t0 = os.clock()
raises("contains itself", websocket.createClient().config, websocket.createClient(), {headers = {X = cyc}})
local ws = websocket.createClient()
raises("contains itself", ws.config, ws, {deep = cyc})
local arr = {}
arr[1] = arr
raises("contains itself", ws.config, ws, {subprotocols = arr})
local q = WebSocket.New()
raises("contains itself", q.Connect, q, "ws", "127.0.0.1", "/", REFUSED, nil, nil, {deep = {x = {y = cyc}}})
-- a table used twice is not a cycle
local shared = {"chat"}
raises('unknown key "[ab]"', ws.config, ws, {a = shared, b = shared})
-- 16 levels of 10 references to one table: 10^16 paths, stopped by the value limit
local wide = 1
for _ = 1, 15 do
  local level = {}
  for i = 1, 10 do level[i] = wide end
  wide = level
end
raises("too large", ws.config, ws, {deep = wide})
assert(os.clock() - t0 < 10, "cycle/size checks took " .. (os.clock() - t0) .. " s")
print("cycles ok")

-- 3. Values: non-finite numbers, non-integers where the library needs an
-- integer, wrong types, invalid UTF-8 and NUL bytes are errors at config.
raises("not a finite number", ws.config, ws, {timeout = 0 / 0})
raises("not a finite number", ws.config, ws, {timeout = math.huge})
raises("not a finite number", ws.config, ws, {closeTimeout = -math.huge})
raises("timeout", ws.config, ws, {timeout = 1.5})
raises("timeout", ws.config, ws, {timeout = 2 ^ 60})
raises("timeout", ws.config, ws, {timeout = 0})
raises("timeout", ws.config, ws, {timeout = "5000"})
raises("pingInterval", ws.config, ws, {pingInterval = -1})
raises("maxMessageSize", ws.config, ws, {maxMessageSize = 0.5})
raises("not valid UTF%-8", ws.config, ws, {headers = {["X-A"] = "\xff\xfe"}})
raises("not valid UTF%-8", ws.config, ws, {headers = {["X-A"] = "\xed\xa0\x80"}})  -- a surrogate
raises("not valid UTF%-8", ws.config, ws, {headers = {["X-A"] = "\xc0\xaf"}})      -- overlong
raises("not valid UTF%-8", ws.config, ws, {headers = {["\xff"] = "x"}})
raises("websocket: config: ", ws.config, ws, {headers = {["X-A"] = "a\0b"}})        -- NUL in a value
raises("websocket: config: ", ws.config, ws, {headers = {["X-A"] = "a\nInjected: 1"}})
raises("websocket: config: ", ws.config, ws, {headers = {["X-A"] = "a\1b"}})
raises("websocket: config: ", ws.config, ws, {headers = {['X"A'] = "x"}})           -- not a token
raises("websocket: config: ", ws.config, ws, {headers = {["X\0A"] = "x"}})
raises("cannot pass a function", ws.config, ws, {headers = {["X-A"] = print}})
raises("cannot pass a userdata", ws.config, ws, {deep = io.stdout})
raises("array or have string keys", ws.config, ws, {headers = {[1] = "a", x = "b"}})
raises("array or have string keys", ws.config, ws, {subprotocols = {[1] = "a", [3] = "c"}})
raises("option names must be strings", ws.config, ws, {[1] = true})
raises('"queue" is the module', ws.config, ws, {queue = 1})
raises("headers must be a table", ws.config, ws, {headers = 5})
raises("websocket: Connect: ", q.Connect, q, "ws", "127.0.0.1", "/", REFUSED, nil, nil, {timeout = 1.5})
raises("websocket: Connect: ", q.Connect, q, "ws", "127.0.0.1", "/", REFUSED, nil, {["Bad Name"] = "x"})
raises("websocket: Connect: ", q.Connect, q, "ws", "127.0.0.1", "/", REFUSED, "bad sub")
assert(websocket.stats().active == base and websocket.stats().pending == 18 * 30, "a rejected option connected")
-- good values pass, integral floats included, and nothing is opened by config
ws:config({timeout = 5000.0, closeTimeout = 500, pingInterval = 0, subprotocols = {},
           autoReconnect = {initialDelay = 100, maxAttempts = 1}})
assert(websocket.stats().active == base, "config opened a socket")
print("values ok")

-- 4. Strings reach the server byte for byte: quotes, backslashes, JSON
-- look-alikes, non-ASCII UTF-8.
local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
local headers = {
  ["X-Quote"] = 'say "hi"',
  ["X-Backslash"] = [[C:\path\to\"x"\]],
  ["X-Json"] = '{"queue":1,"timeout":0}',
  ["X-Unicode"] = "caf\u{e9} \u{20ac} \u{1f600}",
  ["X-Escapes"] = "\\u0000 \\n",
  ["X-Tab"] = "a\tb",
}
for k, v in pairs(headers) do print("EXPECT " .. k:lower() .. " " .. hex(v)) end
local cfg = {headers = headers, timeout = 5000}
local nm = websocket.createClient()
in_coroutine(function() nm:config(cfg) end)
headers["X-Quote"] = "changed after config"  -- config took a copy
nm:on("connection", function(c) c:send("hi") end)
nm:on("receive", function(c, msg) assert(msg == "hi"); c:close() end)
nm:on("close", function(_, status) print("nodemcu closed", status) end)
in_coroutine(function() nm:connect(URL) end)

local qs = WebSocket.New()
qs.Connected = function(c) print("qsys connected"); c:Close() end
qs.Error = function(_, err) print("qsys error", err) end
qs.Closed = function() print("qsys closed") end
in_coroutine(function()
  qs:Connect("ws", HOST, "/", PORT, "chat", {["X-Qsys"] = 'q"s\\y'}, {timeout = 5000})
end)
print("EXPECT x-qsys " .. hex('q"s\\y'))
print("EXPECT sec-websocket-protocol " .. hex("chat"))
