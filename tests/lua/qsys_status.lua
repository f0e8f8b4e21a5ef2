-- Q-SYS dialect: connect and report Error/Closed.
-- Globals: PROTOCOL (default ws), HOST, PATH, PORT; TIMEOUT_MS; SEND.
ws = WebSocket.New()
ws.Connected = function(ws)
  print("Connected")
  if SEND then ws:Write(SEND) end
end
ws.Data = function(ws, data) print("Data", data) end
ws.Error = function(ws, err, code) print("Error", err, websocket.errorname(code)) end
ws.Closed = function(ws, code, reason) print("closed", code, reason) end
local opts = TIMEOUT_MS and {timeout = tonumber(TIMEOUT_MS)} or nil
ws:Connect(PROTOCOL or "ws", HOST, PATH or "/", PORT, nil, nil, opts)
