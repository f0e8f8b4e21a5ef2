-- permessage-deflate from Lua: the "compression" option given to ws:config,
-- the agreed parameters from ws:compression() once connected, a message
-- compressed both ways (tests/lua/mock_server.py deflate). Globals: URL.
local msg = string.rep('{"tag":"line1.temp","v":21.5}', 100) -- 2900 bytes
msg = msg:sub(1, 1700)
local ws = websocket.createClient()
print("plain", tostring(ws:compression())) -- not connected: nil
ws:config({compression = {clientMaxWindowBits = 12, level = 1}})
ws:on("connection", function(c)
  local z = c:compression()
  print("agreed", z.clientMaxWindowBits, z.serverMaxWindowBits, tostring(z.clientNoContextTakeover),
    tostring(z.serverNoContextTakeover))
  c:send(msg)
end)
ws:on("receive", function(c, m, op)
  print("echo", #m, op, tostring(m == msg))
  c:close()
end)
ws:on("close", function(_, status)
  print("closed", status)
end)
ws:connect(URL)
