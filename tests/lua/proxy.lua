-- The "proxy" option from Lua (ws:config): an echo through a SOCKS5 proxy
-- with user and password, then a wrong password, reported through the
-- NodeMCU close status. Globals: URL (echo server), PROXY, BADPROXY.
local function client(proxy, on_done)
  local ws = websocket.createClient()
  ws:config({proxy = proxy, timeout = 5000})
  ws:on("connection", function(c) c:send("via proxy") end)
  ws:on("receive", function(c, msg) print("got", msg) c:close() end)
  ws:on("close", function(_, status) on_done(status) end)
  ws:connect(URL)
end

client(PROXY, function(status)
  print("good proxy closed", status)
  client(BADPROXY, function(status2) print("bad proxy closed", status2) end)
end)
