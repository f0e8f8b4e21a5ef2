-- A careless (or hostile) script: wrong argument types everywhere, methods
-- on closed clients, re-entrancy from handlers (a handler closing or
-- reconnecting its own client, closing another one, yielding, polling),
-- garbage collection inside handlers, a message over maxMessageSize and
-- large messages. Nothing may crash; each misuse is an error or a
-- documented result. Globals: URL, HOST, PORT (echo server).

local function pack(...) return {n = select("#", ...), ...} end
local function try(f, ...) return pcall(f, ...) end  -- result does not matter: no crash
local function fails(what, f, ...)
  local ok = pcall(f, ...)
  assert(not ok, what .. ": expected an error")
end

-- 1. Wrong types for every function and method -----------------------------------
local nm = websocket.createClient()
local q = WebSocket.New()
local t = Timer.New()
local odd = pack(nil, true, 0, -1, 2 ^ 63, 0 / 0, math.huge, "", "x", {}, setmetatable({}, {__index = error}),
                 print, io.stdout, coroutine.create(print), t, q, nm)
for _, m in ipairs({"config", "connect", "on", "send", "close"}) do
  local f = nm[m]
  for i = 1, odd.n do
    local v = odd[i]
    if v ~= nm and v ~= q then fails("nm." .. m .. "(" .. tostring(v) .. ")", f, v) end
    if m ~= "close" then
      try(f, nm, v)
      try(f, q, v, v)
    end
  end
end
for _, m in ipairs({"Connect", "Write", "Ping", "Close"}) do
  local f = q[m]
  for i = 1, odd.n do
    local v = odd[i]
    if v ~= nm and v ~= q then fails("q." .. m .. "(" .. tostring(v) .. ")", f, v) end
    if m ~= "Close" then
      try(f, q, v)
      try(f, q, v, v, v, v, v, v, v)
      try(f, nm, "ws", v, v, v)
    end
  end
end
for i = 1, odd.n do
  local v = odd[i]
  fails("Timer.Start", t.Start, v == t and nm or v, 1)
  fails("Timer.Stop", t.Stop, v == t and nm or v)
  if type(v) ~= "number" and type(v) ~= "string" or v ~= v or v == math.huge or (type(v) == "number" and v <= 0) then
    fails("t:Start(" .. tostring(v) .. ")", t.Start, t, v)
  end
  try(websocket.errorname, v)
  try(websocket.nodemcu_status, v, v, v)
  try(websocket.stats, v)
  try(websocket.busy, v)
  if type(v) ~= "function" then
    fails("websocket.timer", websocket.timer, 1, v)
    fails("Timer.CallAfter", Timer.CallAfter, v, 1)
  end
  try(function() return q[v] end)
  try(function() return t[v] end)
  try(function() return nm[v] end)
  fails("q[v] = v", function() q[v] = v end)
  if v ~= nil and type(v) ~= "function" then fails("t.EventHandler = " .. tostring(v), function() t.EventHandler = v end) end
  if v ~= nil and type(v) ~= "function" then fails("q.Data = " .. tostring(v), function() q.Data = v end) end
end
t:Stop()
fails("poll('x')", websocket.poll, "x")
fails("poll(nan)", websocket.poll, 0 / 0)
fails("run(nan)", websocket.run, 0 / 0)
fails("run({})", websocket.run, {})
fails("Timer.CallAfter(fn, 1e300)", Timer.CallAfter, print, 1e300)
fails("websocket.timer(1e300)", websocket.timer, 1e300, print)
fails("websocket.timer(0, fn, true)", websocket.timer, 0, print, true)
assert(websocket.errorname(2 ^ 40) and websocket.nodemcu_status(-(2 ^ 40)))
-- the metatables cannot be reached or changed from Lua
assert(getmetatable(nm) == "websocket.client", tostring(getmetatable(nm)))
assert(getmetatable(q) == "websocket.WebSocket")
assert(getmetatable(t) == "websocket.Timer")
-- loading the module again gives the same module (one queue per state)
package.loaded.websocket = nil
assert(rawequal(require("websocket"), websocket), "a second require made a second module")
-- poll inside a coroutine: its handlers run there, and one that yields
-- gets an error (a C call is in between), reported like any other
do
  local saved, n = websocket.onerror, 0
  websocket.onerror = function() n = n + 1 end
  local co = coroutine.wrap(function()
    websocket.timer(0, function() coroutine.yield("x") end)
    return websocket.poll(0)
  end)
  local r = co()
  assert(n == 1 and r >= 1, "yield in a timer inside a coroutine: " .. n .. " errors, " .. tostring(r))
  websocket.onerror = saved
end
print("types ok")

-- The scenarios below run one after another; each ends with next().
local steps, step = {}, 0
local function next_step()
  step = step + 1
  collectgarbage()
  if steps[step] then steps[step]() else print("hostile ok", step - 1) end
end

-- 2. A handler closes its own client while more messages are queued: no
-- message after close(); the close handler runs once, status 0. The
-- connection handler stays busy for a moment after sending 20 messages, so
-- that their echoes are (most likely) waiting in the queue when the first
-- is delivered; if they are not, the test is weaker but still right.
steps[#steps + 1] = function()
  local c = websocket.createClient()
  local received, closes = 0, 0
  c:on("connection", function(ws)
    for i = 1, 20 do ws:send("m" .. i) end
    local t0 = os.clock()
    while os.clock() - t0 < 0.3 do end
  end)
  c:on("receive", function(ws)
    received = received + 1
    ws:close()
    ws = nil
    collectgarbage()
  end)
  c:on("close", function(_, status)
    closes = closes + 1
    assert(status == 0, "status " .. status)
    websocket.timer(100, function()
      assert(received == 1 and closes == 1, "after close(): " .. received .. " messages, " .. closes .. " closes")
      print("close in handler ok")
      next_step()
    end)
  end)
  c:connect(URL)
  c = nil
  collectgarbage()
end

-- 3. A handler reconnects its own client (connect() while open) three
-- times, and closes another client whose events are in the same batch.
steps[#steps + 1] = function()
  local other = WebSocket.New()
  local otherdata = 0
  other.Data = function() otherdata = otherdata + 1 end
  other.Closed = function() end
  other.Connected = function(o) for _ = 1, 5 do o:Write("o") end end
  other:Connect("ws", HOST, "/", PORT)
  local c = websocket.createClient()
  local opens, closes = 0, 0
  c:on("connection", function(ws)
    opens = opens + 1
    collectgarbage()
    if opens == 1 then
      ws:send("first")
    elseif opens < 4 then
      ws:connect(URL)                 -- starts over: the old one is dropped
    else
      ws:send("last")
    end
  end)
  c:on("receive", function(ws, msg)
    if msg == "first" then
      other:Close()                   -- another client, mid-batch
      other:Close()
      ws:connect(URL)
    else
      assert(msg == "last", msg)
      ws:close()
    end
  end)
  c:on("close", function(_, status)
    closes = closes + 1
    assert(status == 0 and closes == 1 and opens == 4, "reconnect: opens " .. opens .. ", closes " .. closes)
    assert(not other.IsConnected)
    print("reconnect in handler ok")
    next_step()
  end)
  c:connect(URL)
end

-- 4. Handlers that raise, yield or poll: reported, the loop goes on.
steps[#steps + 1] = function()
  local saved, msgs = websocket.onerror, {}
  websocket.onerror = function(m) msgs[#msgs + 1] = m end
  local c = websocket.createClient()
  c:on("connection", function(ws)
    ws:send("x")
    coroutine.yield("from a handler")
  end)
  c:on("receive", function(ws)
    assert(not pcall(websocket.poll, 0), "poll from a handler")
    ws:close()
    error(setmetatable({}, {__tostring = function() error("and its __tostring fails") end}))
  end)
  c:on("close", function()
    websocket.timer(0, function()
      assert(#msgs == 2, "errors reported: " .. #msgs)
      assert(msgs[1]:find("yield"), msgs[1])
      assert(msgs[2]:find("__tostring fails"), msgs[2])
      websocket.onerror = saved
      print("raise/yield in handler ok")
      next_step()
    end)
  end)
  c:connect(URL)
end

-- 5. Over maxMessageSize: status -8; large messages through both dialects.
steps[#steps + 1] = function()
  local small = websocket.createClient()
  small:config({maxMessageSize = 1000})
  small:on("connection", function(ws) ws:send(string.rep("y", 5000)) end)
  small:on("receive", function() error("a message over maxMessageSize was delivered") end)
  small:on("close", function(_, status)
    assert(status == -8, "over maxMessageSize: status " .. status)
    local big = string.rep("\0\1\2\3 large ", 8 * 1024 * 1024 // 12)
    local qb = WebSocket.New()
    qb.Connected = function(ws) assert(ws:Write(big, true)) end
    qb.Data = function(ws, data, bin)
      assert(bin and data == big, "large echo differs")
      ws:Close()
    end
    qb.Closed = function()
      print("large messages ok", #big)
      next_step()
    end
    qb:Connect("ws", HOST, "/", PORT)
  end)
  small:connect(URL)
end

-- 6. Methods on closed clients; the same client connects again.
steps[#steps + 1] = function()
  local c = websocket.createClient()
  c:close()
  fails("send on a closed client", c.send, c, "x")
  local qc = WebSocket.New()
  qc:Close()
  local ok, err = qc:Write("x")
  assert(ok == nil and err:find("not connected"))
  assert(qc:Ping() == nil)
  local round = 0
  c:on("connection", function(ws) ws:close(); ws:close(); fails("send after close", ws.send, ws, "x") end)
  c:on("close", function(ws)
    round = round + 1
    local okw, errw = pcall(ws.send, ws, "x")
    assert(not okw and errw:find("not connected"))
    if round < 3 then ws:connect(URL) else print("closed clients ok", round); next_step() end
  end)
  c:connect(URL)
end

next_step()
