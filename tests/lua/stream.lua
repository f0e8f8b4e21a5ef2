-- Messages in pieces in both dialects, through an echo server that echoes
-- frame by frame (wsclient-echo-server --frames): send_part / WritePart
-- send one frame each, a {streamReceive = true} client gets the echo as
-- pieces in the "part" handler / ws.DataPart (offset, last, type).
-- Globals: URL, HOST, PORT (the --frames echo server).

local PIECE = 65536
local COUNT = 128                 -- 8 MiB in 64 KiB pieces
local WINDOW = 4 * PIECE          -- sent but not yet echoed, at most

-- piece i (0-based): its number, then bytes that depend on it
local function piece(i)
  return string.pack("<I8", i) .. string.rep(string.char(i % 251), PIECE - 8)
end

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "no error, expected: " .. pattern)
  assert(tostring(err):find(pattern, 1, true), "error '" .. tostring(err) .. "' lacks '" .. pattern .. "'")
end

-- Compares the echo with what was sent as it comes, without keeping it.
local function checker()
  local self = {got = 0, pieces = 0, lasts = 0, next_piece = 0, pending = ""}
  function self.take(data, offset, last)
    assert(offset == self.got, ("piece at offset %d, expected %d"):format(offset, self.got))
    self.pieces = self.pieces + 1
    if last then self.lasts = self.lasts + 1 end
    local at = 1
    while at <= #data do
      if #self.pending == 0 then
        self.pending = piece(self.next_piece)
        self.next_piece = self.next_piece + 1
      end
      local k = math.min(#data - at + 1, #self.pending)
      assert(data:sub(at, at + k - 1) == self.pending:sub(1, k), "echo differs at offset " .. (self.got + at - 1))
      self.pending = self.pending:sub(k + 1)
      at = at + k
    end
    self.got = self.got + #data
  end
  return self
end

-- 1. NodeMCU: 8 MiB binary in pieces (type only on the first), the echo in
-- pieces; then a text message with code points split between pieces.
local TEXT = "gr\xc3\xbc\xc3\x9fe \xf0\x9f\x8c\x8d!"  -- "grüße 🌍!"
local nm = websocket.createClient()
nm:config({streamReceive = true, maxMessageSize = 0})
local check = checker()
local sent = 0
local text_pieces = {}

local function pump(ws)
  while sent < COUNT and sent * PIECE - check.got < WINDOW do
    local more = sent + 1 < COUNT
    ws:send_part(piece(sent), sent == 0 and 2 or nil, more)
    sent = sent + 1
    if sent == 1 then
      -- the message is unfinished: a whole message cannot go in between
      raises("being sent in pieces", ws.send, ws, "in between")
    end
  end
end

nm:on("connection", function(ws)
  raises("opcode must be", ws.send_part, ws, "x", 3)
  pump(ws)
end)
nm:on("receive", function() error("a streamReceive client got a whole message") end)
nm:on("part", function(ws, data, offset, last, opcode)
  if #text_pieces == 0 and check.lasts == 0 then
    assert(opcode == 2, "binary pieces have opcode 2")
    check.take(data, offset, last)
    if last then
      assert(check.got == COUNT * PIECE and check.next_piece == COUNT and #check.pending == 0)
      print("nodemcu binary ok", check.got)
      -- text split inside ü and inside the emoji; an empty final piece
      ws:send_part(TEXT:sub(1, 3), 1, true)
      raises("not valid UTF-8", ws.send_part, ws, "\xff", nil, true)
      ws:send_part(TEXT:sub(4, 10), nil, true)
      ws:send_part(TEXT:sub(11), nil, true)
      ws:send_part("", nil, false)
    else
      pump(ws)
    end
    return
  end
  assert(opcode == 1, "text pieces have opcode 1")
  assert(utf8.len(data), "a text piece is not valid UTF-8 on its own")
  text_pieces[#text_pieces + 1] = {data, offset, last}
  if last then
    local all, at = {}, 0
    for _, p in ipairs(text_pieces) do
      assert(p[2] == at, "text offset")
      at = at + #p[1]
      all[#all + 1] = p[1]
    end
    assert(table.concat(all) == TEXT, "text echo differs")
    print("nodemcu text ok", #table.concat(all))
    ws:close()
  end
end)
nm:on("close", function(_, status) print("nodemcu closed", status) end)
nm:connect(URL)

-- 2. Q-SYS: WritePart / DataPart, binary from isBinary on the first piece,
-- a piece while not connected.
local q = WebSocket.New()
local ok, err = q:WritePart("x", true, true)
assert(ok == nil and err == "websocket: not connected", "WritePart before Connect")
local qparts = {}
q.Connected = function(ws)
  assert(ws:WritePart("\0\1\2", true, true))
  assert(ws:WritePart("", nil, true))
  local ok2, err2 = ws:Write("whole")
  assert(ok2 == nil and err2:find("being sent in pieces", 1, true), "Write while unfinished: " .. tostring(err2))
  assert(ws:WritePart("\3\4", nil, false))
end
q.Data = function() error("a streamReceive client got a whole message") end
q.DataPart = function(ws, data, offset, last, isBinary)
  assert(isBinary == true, "Q-SYS pieces: isBinary")
  qparts[#qparts + 1] = data
  assert(offset == #table.concat(qparts) - #data, "Q-SYS offset")
  if last then
    assert(table.concat(qparts) == "\0\1\2\3\4", "Q-SYS echo differs")
    print("qsys parts ok", #table.concat(qparts))
    ws:Close()
  end
end
q.Closed = function() print("qsys closed") end
q:Connect("ws", HOST, "/", PORT, nil, nil, {streamReceive = true})

-- 3. NodeMCU: close while a message is half sent (the close frame follows
-- the piece), then a new connection of the same client: no message is
-- half sent there, so a piece without opcode starts a text message.
local half = websocket.createClient()
raises("not connected", half.send_part, half, "x", 2, true)
local round = 0
half:on("connection", function(ws)
  round = round + 1
  if round == 1 then
    ws:send_part("half a message", 2, true)
    ws:close()
  else
    ws:send_part("again")
  end
end)
half:on("receive", function(ws, msg, opcode)
  assert(round == 2 and msg == "again" and opcode == 1, "after the reconnect: " .. tostring(msg))
  print("whole after reconnect", msg)
  ws:close()
end)
half:on("close", function(ws, status)
  print("half close", round, status)
  if round == 1 then ws:connect(URL) end
end)
half:connect(URL)
