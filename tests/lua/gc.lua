-- Garbage collection: clients nobody references are collected (and the
-- module keeps connected ones alive so their handlers still run).
for i = 1, 100 do websocket.createClient(); WebSocket.New() end
collectgarbage(); collectgarbage()
assert(websocket.stats().clients == 0, "idle clients were not collected")
print("idle clients collected")

do
  -- no reference kept by the script: the module holds it while connected
  local ws = websocket.createClient()
  ws:on("connection", function(ws) collectgarbage(); ws:send("still here") end)
  ws:on("receive", function(ws, msg) print("got", msg); ws:close() end)
  ws:on("close", function(ws, status)
    print("closed", status)
    websocket.timer(0, function()
      collectgarbage(); collectgarbage()
      local s = websocket.stats()
      print("after close: clients", s.clients, "active", s.active)
      assert(s.clients == 0 and s.active == 0)
    end)
  end)
  ws:connect(URL)
end
collectgarbage(); collectgarbage()
assert(websocket.stats().clients == 1)
