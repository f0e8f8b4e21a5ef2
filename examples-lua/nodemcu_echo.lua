-- The NodeMCU websocket module's examples (docs/en/modules/websocket.md,
-- websocket.client:on() and :send()), unchanged except where marked.
-- Run under the host:
--   lua_host -D URL=ws://127.0.0.1:8080/ examples-lua/nodemcu_echo.lua
-- or with the plain interpreter (LUA_CPATH must find websocket.so):
--   URL=ws://127.0.0.1:8080/ lua5.4 -e 'websocket = require "websocket"
--     URL = os.getenv "URL"; dofile "examples-lua/nodemcu_echo.lua"; websocket.run(10000)'

local ws = websocket.createClient()
ws:config({headers={['User-Agent']='NodeMCU'}})   -- from the :config() example
ws:on("connection", function(ws)
  print('got ws connection')
  ws:send('hello!')                                 -- from the :send() example
end)
ws:on("receive", function(_, msg, opcode)
  print('got message:', msg, opcode) -- opcode is 1 for text message, 2 for binary
  ws:close()                                        -- added: end the example
end)
ws:on("close", function(_, status)
  print('connection closed', status)
  ws = nil -- required to lua gc the websocket client
end)

ws:connect(URL or 'ws://echo.websocket.org')      -- changed: URL from the host
