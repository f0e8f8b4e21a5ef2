-- websocket.poll(-1) while a timer is 30 days away (more than INT_MAX ms):
-- the wait is clamped, so messages that arrive meanwhile are handled at
-- once and the far timer stays pending. Globals: URL (echo server).
local far = websocket.timer(30 * 86400 * 1000, function() error("the 30-day timer fired") end)
local far2 = Timer.New()
far2.EventHandler = function() error("the 30-day Q-SYS timer fired") end
far2:Start(30 * 86400)
local ws = websocket.createClient()
local got
ws:on("connection", function(c) c:send("during a 30-day timer") end)
ws:on("receive", function(c, msg) got = msg; c:close() end)
ws:connect(URL)
local t0 = host.time()
local polls = 0
while not got do
  polls = polls + 1
  assert(polls < 100, "poll(-1) returned without work 100 times")
  websocket.poll(-1)
end
print("got", got, "after polls", polls)
assert(host.time() - t0 < 10, "took " .. (host.time() - t0) .. " s")
assert(far.IsRunning and far2.IsRunning, "a far timer stopped")
far:Stop()
far2:Stop()
print("far timer ok")
