-- N clients (both dialects) connected to a server that never answers a close
-- frame; the script then ends with all of them open and unreferenced, so
-- the end of the Lua state (lua_close) has to close them.
-- Globals: URL, HOST, PORT, N (default 8), CLOSE_MS (their closeTimeout,
-- default 1000). Under lua_host it ends with host.exit(); in the plain
-- interpreter it polls until all are open and returns (lua.c then closes
-- the state).
local n = tonumber(N or 8)
local close_ms = tonumber(CLOSE_MS or 1000)
local open = 0
local function opened()
  open = open + 1
  if open == n then
    print("all open", n)
    if host then host.exit(0) end
  end
end
for i = 1, n do
  if i % 2 == 0 then
    local c = websocket.createClient()
    c:config({closeTimeout = close_ms})
    c:on("connection", opened)
    c:on("close", function(_, status) print("unexpected close", status) end)
    c:connect(URL)
  else
    local q = WebSocket.New()
    q.Connected = opened
    q.Error = function(_, err) print("unexpected error", err) end
    q:Connect("ws", HOST, "/", PORT, nil, nil, {closeTimeout = close_ms})
  end
end
if not host then
  local deadline = os.time() + 20
  while open < n do
    websocket.poll(100)
    assert(os.time() < deadline, "not all clients opened")
  end
end
