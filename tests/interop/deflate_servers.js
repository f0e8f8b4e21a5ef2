// permessage-deflate interop servers: node `ws` echo servers, one per
// perMessageDeflate configuration, for tests/interop/deflate_interop.c
// (run.sh installs ws with npm and drives the matrix).
//
// Listens on 127.0.0.1, free ports; prints "NAME PORT" per server, then
// "READY". Runs until killed. Echoes every message with its type.
'use strict';
const { WebSocketServer } = require('ws');

const configs = {
  // ws's defaults: messages under 1 KiB go uncompressed (threshold 1024)
  'node-default': true,
  'node-all': {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 10,
    clientMaxWindowBits: 9,
    threshold: 0,
  },
  'node-smwb12': { serverMaxWindowBits: 12, threshold: 0 },
  'node-cmwb8': { clientMaxWindowBits: 8, threshold: 0 },
};

let pending = Object.keys(configs).length;
for (const [name, perMessageDeflate] of Object.entries(configs)) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate, maxPayload: 64 * 1024 * 1024 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  wss.on('listening', () => {
    console.log(`${name} ${wss.address().port}`);
    if (--pending === 0) console.log('READY');
  });
}
