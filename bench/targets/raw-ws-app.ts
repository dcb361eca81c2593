/**
 * The floor for the application-shaped benchmarks (many-channels, connect-storm, idle): a bare `ws` server on an
 * HTTP server with just what an application needs, and no protocol at all.
 *
 *   - Upgrade: the HS256 JWT in `?token=` is verified with jose before the WebSocket is accepted (401 otherwise);
 *     its `sub` is the user, and the socket is recorded by user (Map user → socket). With `--verify hmac` the
 *     token is checked by hand with node:crypto instead (HS256 signature and `exp`): what JWT checking costs
 *     without a JOSE library.
 *   - A client message `sub <channel>` records the channel for the socket (Map channel → Set of sockets and the
 *     socket's own Set of channels), answered `ok`.
 *   - `POST /publish` `{"user","data"}` with `X-API-Key`: `data` as JSON text to that user's socket — a backend
 *     pushing to one user.
 *   - `POST /broadcast` `{"channel","data"}` with `X-API-Key`: `data` to every socket of the channel.
 *   - `GET /stats`: `{"clients","subs"}` as the server sees them.
 *
 *   node --import tsx bench/targets/raw-ws-app.ts --port 0 --secret S --api-key K [--verify jose|hmac]
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready; stops on SIGTERM.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { jwtVerify } from 'jose';
import { type WebSocket, WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    secret: { type: 'string', default: '' },
    'api-key': { type: 'string', default: '' },
    verify: { type: 'string', default: 'jose' },
  },
});
if (values.secret === '') throw new Error('--secret is required');
const KEY = new TextEncoder().encode(values.secret);
const API_KEY = values['api-key'];
if (values.verify !== 'jose' && values.verify !== 'hmac') throw new Error(`unknown --verify ${values.verify}`);

const HS256_HEADER = /"alg"\s*:\s*"HS256"/;

/** HS256 by hand: header says HS256, the signature matches, `exp` (if any) is in the future; returns `sub`. */
function verifyHmac(token: string): Promise<{ payload: { sub?: string } }> {
  try {
    const [h, p, sig] = token.split('.');
    if (h === undefined || p === undefined || sig === undefined) throw new Error('malformed');
    if (!HS256_HEADER.test(Buffer.from(h, 'base64url').toString())) throw new Error('alg');
    const mac = createHmac('sha256', KEY).update(`${h}.${p}`).digest();
    const got = Buffer.from(sig, 'base64url');
    if (got.length !== mac.length || !timingSafeEqual(got, mac)) throw new Error('signature');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as { sub?: string; exp?: number };
    if (payload.exp !== undefined && payload.exp * 1000 <= Date.now()) throw new Error('expired');
    return Promise.resolve({ payload });
  } catch (e) {
    return Promise.reject(e);
  }
}

const verify =
  values.verify === 'hmac' ? verifyHmac : (token: string) => jwtVerify(token, KEY, { algorithms: ['HS256'] });

interface Conn {
  user: string;
  channels: Set<string>;
}

const byUser = new Map<string, WebSocket>();
const byChannel = new Map<string, Set<WebSocket>>();
const state = new WeakMap<WebSocket, Conn>();
let clients = 0;
let subs = 0;

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });

function onConnection(ws: WebSocket, user: string): void {
  const me: Conn = { user, channels: new Set() };
  state.set(ws, me);
  byUser.set(user, ws);
  clients++;
  ws.on('message', (data: Buffer) => {
    const text = data.toString();
    if (!text.startsWith('sub ')) return;
    const channel = text.slice(4);
    if (!me.channels.has(channel)) {
      me.channels.add(channel);
      let set = byChannel.get(channel);
      if (set === undefined) {
        set = new Set();
        byChannel.set(channel, set);
      }
      set.add(ws);
      subs++;
    }
    ws.send('ok');
  });
  ws.on('close', () => {
    clients--;
    if (byUser.get(user) === ws) byUser.delete(user);
    for (const ch of me.channels) {
      const set = byChannel.get(ch);
      set?.delete(ws);
      if (set?.size === 0) byChannel.delete(ch);
      subs--;
    }
  });
  ws.on('error', () => {});
}

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
  if (req.method === 'GET' && req.url === '/stats') return answer(res, 200, JSON.stringify({ clients, subs }));
  if (req.method !== 'POST') return answer(res, 405, '{}');
  if (req.headers['x-api-key'] !== API_KEY) return answer(res, 401, '{}');
  let msg: { user?: string; channel?: string; data?: unknown };
  try {
    msg = JSON.parse(await readBody(req));
  } catch {
    return answer(res, 400, '{"error":"bad json"}');
  }
  const text = JSON.stringify(msg.data);
  if (req.url === '/publish') {
    byUser.get(String(msg.user))?.send(text);
    return answer(res, 200, '{"result":{}}');
  }
  if (req.url === '/broadcast') {
    const set = byChannel.get(String(msg.channel));
    if (set) {
      const buf = Buffer.from(text);
      for (const ws of set) ws.send(buf, { binary: false });
    }
    return answer(res, 200, '{"result":{}}');
  }
  return answer(res, 404, '{}');
}

const http = createServer((req, res) => {
  onRequest(req, res).catch(() => answer(res, 500, '{}'));
});
http.on('upgrade', (req: IncomingMessage, socket, head) => {
  socket.on('error', () => {});
  const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? '';
  verify(token).then(
    ({ payload }) => {
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, String(payload.sub ?? '')));
    },
    () => socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'),
  );
});
http.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`raw ws app listening on http://127.0.0.1:${(http.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
