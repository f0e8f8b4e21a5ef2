-- The host ends while a connection is open: lua_close() collects the client
-- and its __gc closes the socket with 1001 (the server records the code).
keep = websocket.createClient()
keep:on("connection", function(ws)
  print("connected")
  host.exit(0)
end)
keep:connect(URL)
