-- Embedded NUL bytes: refused where the library takes a C string (URL,
-- host, path, protocol, subprotocol, header names and values), kept intact
-- in message payloads (text and binary, both dialects).
local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "no error, expected: " .. pattern)
  assert(tostring(err):find(pattern, 1, true), "error '" .. tostring(err) .. "' lacks '" .. pattern .. "'")
end

local ws = websocket.createClient()
raises("URL contains a NUL byte", ws.connect, ws, URL .. "\0ws://127.0.0.1:1/")
raises("URL contains a NUL byte", ws.connect, ws, "\0" .. URL)
local q = WebSocket.New()
raises("protocol contains a NUL byte", q.Connect, q, "ws\0x", HOST, "/", PORT)
raises("host contains a NUL byte", q.Connect, q, "ws", HOST .. "\0evil.example", "/", PORT)
raises("path contains a NUL byte", q.Connect, q, "ws", HOST, "/a\0/b", PORT)
raises("subprotocol contains a NUL byte", q.Connect, q, "ws", HOST, "/", PORT, "chat\0x")
raises("websocket: config: ", ws.config, ws, {headers = {["X-A"] = "v\0alue"}})
raises("websocket: Connect: ", q.Connect, q, "ws", HOST, "/", PORT, nil, {["X\0A"] = "v"})
assert(websocket.stats().active == 0, "a NUL string connected")

local text = "a\0b\0" .. string.rep("\0", 1000) .. "end \u{e9}\0"
local bin = "\0\1\2\0\255\0"
local nm = websocket.createClient()
local got = 0
nm:on("connection", function(c) c:send(text); c:send(bin, 2) end)
nm:on("receive", function(c, msg, op)
  got = got + 1
  if got == 1 then assert(op == 1 and msg == text, "text with NUL changed") end
  if got == 2 then assert(op == 2 and msg == bin, "binary with NUL changed"); c:close() end
end)
nm:on("close", function(_, status) print("nodemcu nul ok", got, status) end)
nm:connect(URL)

q.Connected = function(c) assert(c:Write(text)); assert(c:Write(bin, true)) end
local qgot = 0
q.Data = function(c, data, isBinary)
  qgot = qgot + 1
  if qgot == 1 then assert(not isBinary and data == text, "Q-SYS text with NUL changed") end
  if qgot == 2 then assert(isBinary and data == bin, "Q-SYS binary with NUL changed"); c:Close() end
end
q.Closed = function() print("qsys nul ok", qgot) end
q:Connect("ws", HOST, "/", PORT)
