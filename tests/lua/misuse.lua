-- Argument errors raise; state errors follow each dialect's convention.
local ws = websocket.createClient()
assert(not pcall(ws.send, ws, "x"))                 -- NodeMCU: not connected raises
assert(not pcall(ws.on, ws, "bogus", print))
assert(not pcall(ws.config, ws, {headers = 5}))
ws:close(); ws:close()                              -- "nothing will happen"
local q = WebSocket.New()
local ok, err = q:Write("x")                        -- Q-SYS: nil, message
assert(ok == nil and err:find("not connected"))
assert(q:Ping() == nil)
q:Close()
assert(not pcall(websocket.poll, "x"))
-- poll/run are not re-entrant
websocket.timer(0, function()
  local ok2, e = pcall(websocket.poll, 0)
  assert(not ok2 and e:find("not re%-entrant"), e)
  print("reentry refused")
end)
-- options that cannot be encoded, or that the library refuses, raise at
-- config time (the call that gave them), not at connect
assert(not pcall(ws.config, ws, {headers = {["X-A"] = function() end}}))
assert(not pcall(ws.config, ws, {nosuchoption = 1}))
print("misuse ok", tostring(q), websocket.nodemcu_status(16), websocket.nodemcu_status(6))
