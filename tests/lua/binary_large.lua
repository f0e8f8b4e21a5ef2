-- Binary and large messages in both dialects.
local big = string.rep("0123456789abcdef", 65536)        -- 1 MiB of text
local bin = {}
for i = 0, 255 do bin[#bin + 1] = string.char(i) end
bin = table.concat(bin):rep(4096)                        -- 1 MiB, every byte value

local nm = websocket.createClient()
local step = 0
nm:on("connection", function(ws) ws:send(bin, 2) end)
nm:on("receive", function(ws, msg, opcode)
  step = step + 1
  if step == 1 then
    assert(opcode == 2 and msg == bin, "binary echo differs")
    print("nodemcu binary ok", #msg)
    ws:send(big)
  else
    assert(opcode == 1 and msg == big, "text echo differs")
    print("nodemcu text ok", #msg)
    ws:close()
  end
end)
nm:connect(URL)

local q = WebSocket.New()
q.Connected = function(ws) assert(ws:Write(bin, true)) end
q.Data = function(ws, data, isBinary)
  assert(isBinary and data == bin, "Q-SYS binary echo differs")
  print("qsys binary ok", #data)
  ws:Close()
end
q:Connect("ws", HOST, "/", PORT)
