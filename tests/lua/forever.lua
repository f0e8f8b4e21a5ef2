-- A timer that never stops: only the host's -t limit ends this.
local t = Timer.New()
t.EventHandler = function() end
t:Start(0.05)
print("running")
