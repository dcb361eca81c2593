/**
 * Socket.IO 4 for the application-shaped benchmarks (many-channels, connect-storm, idle), WebSocket transport
 * only, written the way Socket.IO applications usually are:
 *
 *   - An auth middleware (`io.use`) verifies the HS256 JWT in the handshake's `auth.token` with jose; its `sub` is
 *     the user. With `--personal`, every connection joins its user's room `user:<sub>` on connect.
 *   - An event `subscribe` (room, acknowledged) joins a room.
 *   - `POST /publish` `{"user","data"}` with `X-API-Key`: `io.to("user:<user>").emit("m", data)` — how a backend
 *     pushes to one user through Socket.IO (an HTTP endpoint on the Socket.IO server).
 *   - `POST /broadcast` `{"channel","data"}` with `X-API-Key`: `io.to(channel).emit("m", data)`.
 *   - `GET /stats`: `{"clients","subs"}` (rooms joined, not counting each socket's own id room).
 *
 *   node --import tsx bench/targets/socketio-app.ts --port 0 --secret S --api-key K [--personal]
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready; stops on SIGTERM.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { jwtVerify } from 'jose';
import { Server } from 'socket.io';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    secret: { type: 'string', default: '' },
    'api-key': { type: 'string', default: '' },
    personal: { type: 'boolean', default: false },
  },
});
if (values.secret === '') throw new Error('--secret is required');
const KEY = new TextEncoder().encode(values.secret);
const API_KEY = values['api-key'];

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === 'GET' && req.url === '/stats') {
    let subs = 0;
    for (const s of io.sockets.sockets.values()) subs += s.rooms.size - 1;
    return answer(res, 200, JSON.stringify({ clients: io.engine.clientsCount, subs }));
  }
  if (req.method !== 'POST') return answer(res, 405, '{}');
  if (req.headers['x-api-key'] !== API_KEY) return answer(res, 401, '{}');
  let msg: { user?: string; channel?: string; data?: unknown };
  try {
    msg = JSON.parse(await readBody(req));
  } catch {
    return answer(res, 400, '{"error":"bad json"}');
  }
  if (req.url === '/publish') {
    io.to(`user:${msg.user}`).emit('m', msg.data);
    return answer(res, 200, '{"result":{}}');
  }
  if (req.url === '/broadcast') {
    io.to(String(msg.channel)).emit('m', msg.data);
    return answer(res, 200, '{"result":{}}');
  }
  return answer(res, 404, '{}');
}

const http = createServer((req, res) => {
  onRequest(req, res).catch(() => answer(res, 500, '{}'));
});
const io = new Server(http, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
});
io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: unknown }).token;
  jwtVerify(String(token ?? ''), KEY, { algorithms: ['HS256'] }).then(
    ({ payload }) => {
      socket.data.user = String(payload.sub ?? '');
      next();
    },
    () => next(new Error('unauthorized')),
  );
});
io.on('connection', (socket) => {
  if (values.personal) void socket.join(`user:${socket.data.user}`);
  socket.on('subscribe', (room: string, ack?: (r: string) => void) => {
    void socket.join(room);
    ack?.('ok');
  });
});
http.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`socket.io app listening on http://127.0.0.1:${(http.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
