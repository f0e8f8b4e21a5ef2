-- The Q-SYS WebSocket example (Ping / Pong section), unchanged except where
-- marked. Run under the host:
--   lua_host -D HOST=127.0.0.1 -D PORT=8080 examples-lua/qsys_ping.lua
-- or with the plain interpreter (LUA_CPATH must find websocket.so):
--   lua5.4 -e 'HOST = "127.0.0.1"; PORT = 8080' -e 'Q = require "websocket.qsys"' \
--     -e 'dofile "examples-lua/qsys_ping.lua"' -e 'Q.run()'
-- Globals: HOST, PORT (required), PROTOCOL (default "ws"), PATH (default
-- "/qrc"), PING_SECONDS (default 10, as in the original), PONGS (close after
-- this many pongs; default: never, as in the original).

ws = WebSocket.New()
pingTimer = Timer.New()

pingTimer.EventHandler = function()
  ws:Ping()
end

ws.Connected = function(ws)
  print("Connected")
  -- send ping every 10 seconds
  pingTimer:Start(tonumber(PING_SECONDS) or 10)    -- changed: interval from the host
  ws:Write("Hey!")
end

ws.Error = function( ws, err)
  pingTimer:Stop()
  print("Error", err)
end

ws.Closed = function(ws)
  pingTimer:Stop()
  print("closed")
end

ws.Data = function( ws, data)
  print("Data", data)
end

local pongs = 0                                     -- added: a Pong handler
ws.Pong = function(ws)
  pongs = pongs + 1
  print("Pong", pongs)
  if PONGS and pongs >= tonumber(PONGS) then ws:Close() end
end

-- changed: was ws:Connect("wss", "192.168.0.201", "/qrc", 443)
ws:Connect(PROTOCOL or "ws", HOST, PATH or "/qrc", PORT)
