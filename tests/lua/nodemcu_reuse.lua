-- NodeMCU: the same client connects again after a close; callbacks are kept.
local ws = websocket.createClient()
local rounds = 0
ws:on("connection", function(ws) ws:send("round " .. (rounds + 1)) end)
ws:on("receive", function(ws, msg) print("got", msg); ws:close() end)
ws:on("close", function(ws, status)
  rounds = rounds + 1
  print("closed", rounds, status)
  assert(status == 0)
  if rounds < 3 then ws:connect(URL) end
end)
ws:connect(URL)
