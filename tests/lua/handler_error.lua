-- An error in a handler is reported and the others keep running.
local ws = websocket.createClient()
ws:on("connection", function(ws) ws:send("x") end)
ws:on("receive", function(ws, msg)
  ws:close()
  error("boom in receive")
end)
ws:on("close", function(_, status) print("close still runs", status) end)
ws:connect(URL)
