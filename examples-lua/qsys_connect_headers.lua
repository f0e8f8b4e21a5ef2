-- The Q-SYS ws:Connect() example with a sub-protocol and custom headers,
-- pointed at the host's server (HOST, PORT globals), plus an echo.
ws = WebSocket.New()
protocol = PROTOCOL or "ws"          -- was "wss"
host = HOST                          -- was "example.com"
url = "/my-websocket-endpoint"
port = PORT                          -- was 443
sub_protocol = nil -- No specific sub-protocol
headers = {
["Authorization"] = "Bearer my-auth-token",
["Custom-Header"] = "SomeValue"
}

ws.Connected = function()
  print("Connected")
  ws:Write("Hey!")
end
ws.Data = function( ws, data)
  print("Data", data)
  ws:Close()
end
ws.Error = function( ws, err)
  print("Error", err)
end
ws.Closed = function()
  print("closed")
end

ws:Connect(protocol, host, url, port, sub_protocol, headers)
