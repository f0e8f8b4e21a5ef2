-- Handlers and websocket.onerror raising values that are not strings: every
-- one is reported as text, the loop goes on, nothing crashes.
local named = setmetatable({}, {__tostring = function() return "a named error object" end})
local failing = setmetatable({}, {__tostring = function() error("__tostring fails") end})
local notext = setmetatable({}, {__tostring = function() return {} end})
local objects = {{}, named, failing, notext, true, 42, io.stdout, coroutine.create(print), print}
local n = #objects + 1                    -- + error(nil)

local seen = 0
websocket.onerror = function(msg)
  seen = seen + 1
  assert(type(msg) == "string", "onerror got a " .. type(msg))
  io.write("onerror ", seen, ": ", (msg:gsub("\n.*", "")), "\n")
  error(objects[seen] or nil)             -- onerror itself raises a non-string
end
for i = 1, n do
  websocket.timer(i, function() error(objects[i]) end)
end
websocket.timer(n + 20, function()
  assert(seen == n, "onerror ran " .. seen .. " times, expected " .. n)
  websocket.onerror = nil                 -- the default: stderr
  websocket.timer(0, function() error(failing) end)
  websocket.timer(1, function()
    assert(websocket.stats().errors == n + 1, "errors: " .. websocket.stats().errors)
    print("error objects ok")
  end)
end)
