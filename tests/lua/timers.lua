-- Timers: Timer.New/EventHandler/Start/Stop, Timer.CallAfter, websocket.timer.
local events = {}
local function log(s) events[#events + 1] = s; print(s) end

local t = Timer.New()
local n = 0
t.EventHandler = function(timer)
  assert(timer == t)
  n = n + 1
  log("tick " .. n)
  if n == 3 then t:Stop() end
end
t:Start(0.05)
assert(t.IsRunning)

Timer.CallAfter(function() log("call after") end, 0.12)
websocket.timer(10, function() log("once") end)
local r = 0
local rep
rep = websocket.timer(30, function() r = r + 1; if r == 2 then rep:Stop(); log("repeat done") end end, true)
assert(not pcall(function() t.Nope = 1 end))
assert(not pcall(function() t:Start(0) end))

websocket.timer(400, function()
  assert(n == 3, "ticks: " .. n)
  assert(events[1] == "once")
  assert(not t.IsRunning)
  log("timers ok")
end)
