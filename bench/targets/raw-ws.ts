/**
 * The floor for the fan-out benchmark: a bare `ws` server with no protocol at all. A client's first message says
 * what it is (`sub` or `pub`, answered `ok`); every later message of a publisher is broadcast to every subscriber.
 *
 *   --mode frame     (default) the WebSocket frame is built once and the same Buffer written to each socket
 *   --mode send      `ws.send(sameBuffer)` per subscriber (ws frames it per socket)
 *   --mode coalesce  pre-framed, queued per subscriber and written once per event-loop turn (setImmediate),
 *                    several frames in one write: what write batching can reach
 *
 *   node --import tsx bench/targets/raw-ws.ts --port 0 --mode frame
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready; stops on SIGTERM.
 */
import type { Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { type WebSocket, WebSocketServer } from 'ws';
import { serverFrame } from '../lib/wire.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    mode: { type: 'string', default: 'frame' },
  },
});
const MODE = values.mode as 'frame' | 'send' | 'coalesce';
if (!['frame', 'send', 'coalesce'].includes(MODE)) throw new Error(`unknown --mode ${MODE}`);

/** The TCP socket under a `ws` connection (a private field of ws, stable across ws 7 and 8). */
const tcp = (ws: WebSocket): Socket => (ws as unknown as { _socket: Socket })._socket;

interface Sub {
  ws: WebSocket;
  socket: Socket;
  queue: Buffer[];
}

const subs = new Set<Sub>();
let dirty: Sub[] = [];
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  const list = dirty;
  dirty = [];
  for (const s of list) {
    const q = s.queue;
    s.queue = [];
    if (q.length === 1) s.socket.write(q[0] as Buffer);
    else if (q.length > 1) s.socket.write(Buffer.concat(q));
  }
}

function broadcast(data: Buffer): void {
  if (MODE === 'send') {
    for (const s of subs) s.ws.send(data, { binary: false });
    return;
  }
  const frame = serverFrame(data);
  if (MODE === 'frame') {
    for (const s of subs) s.socket.write(frame);
    return;
  }
  for (const s of subs) {
    if (s.queue.push(frame) === 1) dirty.push(s);
  }
  if (!flushScheduled && dirty.length > 0) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

const wss = new WebSocketServer({
  port: Number(values.port),
  host: '127.0.0.1',
  perMessageDeflate: false,
  clientTracking: false,
});
wss.on('connection', (ws) => {
  let role: 'sub' | 'pub' | undefined;
  let me: Sub | undefined;
  ws.on('message', (data: Buffer) => {
    if (role === 'pub') {
      broadcast(data);
      return;
    }
    const text = data.toString();
    if (text === 'sub') {
      role = 'sub';
      me = { ws, socket: tcp(ws), queue: [] };
      subs.add(me);
    } else if (text === 'pub') role = 'pub';
    ws.send('ok');
  });
  ws.on('close', () => {
    if (me) subs.delete(me);
  });
  ws.on('error', () => {});
});
wss.on('listening', () => {
  const addr = wss.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  console.log(`raw ws (${MODE}) listening on http://127.0.0.1:${port}`);
});
process.on('SIGTERM', () => process.exit(0));
