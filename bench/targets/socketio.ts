/**
 * Socket.IO 4 target for the fan-out benchmark, WebSocket transport only. A client emits `subscribe` (room name,
 * acknowledged) to join a room; `publish` (room, data) broadcasts `m` with the data to the room — the idiomatic
 * Socket.IO fan-out, where the adapter encodes the packet and pre-builds the WebSocket frame once per broadcast.
 *
 *   node --import tsx bench/targets/socketio.ts --port 0
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready; stops on SIGTERM.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Server } from 'socket.io';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });

const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
});
io.on('connection', (socket) => {
  socket.on('subscribe', (room: string, ack?: (r: string) => void) => {
    void socket.join(room);
    ack?.('ok');
  });
  socket.on('publish', (room: string, data: unknown) => {
    io.to(room).emit('m', data);
  });
});
http.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`socket.io listening on http://127.0.0.1:${(http.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
