-- Nested option tables at depths 0..17 and cyclic ones, given to ws:config
-- (then ws:connect) and to ws:Connect, each in a fresh coroutine: its Lua
-- stack starts small, so an encoder that pushes without luaL_checkstack
-- writes past its end. Run under valgrind (test lua_depth_valgrind), which
-- sees such writes even inside liblua; no network is used (port 0 fails
-- at once). Globals: websocket, WebSocket.
local function nest(d)
  local v = 1
  for _ = 1, d do v = {a = v} end
  return v
end
local cyc = {}
cyc.a = {b = cyc}
local errors = 0
for d = -1, 17 do
  local value = d < 0 and cyc or nest(d)
  local co = coroutine.create(function()
    local ws = websocket.createClient()
    local ok = pcall(ws.config, ws, {deep = value})
    ws:connect("ws://127.0.0.1:0/")
    local q = WebSocket.New()
    local ok2 = pcall(q.Connect, q, "ws", "127.0.0.1", "/", 0, nil, {["X-A"] = value})
    local ok3 = pcall(q.Connect, q, "ws", "127.0.0.1", "/", 0, nil, nil, {deep = value})
    return ok, ok2, ok3
  end)
  local res = table.pack(coroutine.resume(co))
  assert(res[1], res[2])
  for i = 2, 4 do if not res[i] then errors = errors + 1 end end
end
print("depth errors", errors)
