-- NodeMCU dialect: connect to URL and report how it ends.
-- Globals: URL; TIMEOUT_MS (config timeout), PING_MS/PONG_MS (keepalive),
-- SEND (a message to send once connected), EXPECT (the close status).
local ws = websocket.createClient()
local cfg = {headers = {['User-Agent'] = 'NodeMCU'}}
if TIMEOUT_MS then cfg.timeout = tonumber(TIMEOUT_MS) end
if PING_MS then cfg.pingInterval = tonumber(PING_MS) end
if PONG_MS then cfg.pongTimeout = tonumber(PONG_MS) end
ws:config(cfg)
ws:on("connection", function(ws)
  print("connected")
  if SEND then ws:send(SEND) end
end)
ws:on("receive", function(_, msg, opcode) print("received", msg, opcode) end)
ws:on("close", function(_, status, code, detail)
  print("close", status, code, detail)
  assert(status == tonumber(EXPECT), "expected status " .. tostring(EXPECT) .. ", got " .. status)
end)
ws:connect(URL)
-- the handler runs from the host's loop, never inside connect()
print("connect returned")
