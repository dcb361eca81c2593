/**
 * The hostile inputs of the live fuzz, one function per kind of attacker: a WebSocket session sending mutated
 * and malformed frames, bad upgrades, resets at every stage, path tricks on the HTTP routes, hostile server API
 * bodies, and readers that stop reading. Each draws everything from the seeded Rng, checks every answer it gets,
 * and returns how many inputs (frames, requests) it sent.
 */
import { createHmac } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { schemas } from '../../../src/api/schemas.js';
import { Errors } from '../../../src/protocol/codes.js';
import { channelName, deepJSON, hostileLine, mutate, ODD_VALUES, payload, type Rng } from '../hostile-inputs.js';
import { checkCloseCode, checkServerText, type Findings, type Notes, REPLY_CODES, type Tally } from './checks.js';
import { frame, RawWs, upgradeRequest } from './raw-ws.js';

export interface Context {
  port: number;
  rng: Rng;
  findings: Findings;
  closes: Tally;
  statuses: Tally;
  kinds: Tally;
  /** Where each input is noted as it is sent (names what was around a long turn). */
  monitor: Notes;
  apiKey: string;
  secret: string;
  /** Largest batch / broadcast the API scenarios send (the CI run keeps them small). */
  batchMax: number;
  broadcastMax: number;
  /** Size of the WebSocket frame limit (websocket.message_size_limit). */
  frameLimit: number;
}

const ANSWER_MS = 5000;
/** An id no generated command uses: its reply tells that everything sent before was processed. */
const SETTLE_ID = 4_000_000_000;
const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** An HS256 token over exactly this payload text (absurd claims included). */
function token(secret: string, payloadText: string): string {
  const input = `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64(payloadText)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function connectLine(c: Context): string {
  const rng = c.rng;
  if (rng.chance(0.85)) return '{"id":1,"connect":{}}';
  const now = Math.floor(Date.now() / 1000);
  switch (rng.int(6)) {
    case 0:
      return `{"id":1,"connect":{"token":${JSON.stringify(token(c.secret, `{"sub":"u${rng.int(50)}","exp":${now + 3600}}`))}}}`;
    case 1:
      return `{"id":1,"connect":{"token":${JSON.stringify(token(c.secret, `{"sub":"u","exp":${rng.pick(['1e309', '1e300', '-1', String(now - 10), '"x"'])}}`))}}}`;
    case 2:
      return `{"id":1,"connect":{"token":${JSON.stringify(token(c.secret, `{"sub":"u","info":${deepJSON(rng.size(8000) + 1, rng)}}`))}}}`;
    case 3:
      return `{"id":1,"connect":{"token":"${rng.pick(['', 'x', 'a.b.c', 'e30.e30.e30'])}"}}`;
    case 4:
      return `{"id":1,"connect":{"subs":{${JSON.stringify(channelName(rng))}:{"recover":true,"offset":${rng.pick(ODD_VALUES)}}}}}`;
    default:
      return hostileLine(rng, 1);
  }
}

/** One frame's payload and options for a session, drawn by kind. */
function sessionFrame(c: Context, nextId: () => number): { bytes: Buffer; kind: string; text?: string } {
  const rng = c.rng;
  const r = rng.int(100);
  if (r < 3) return { bytes: frame('{}\n'.repeat(10_000)), kind: '10k-commands' };
  if (r < 6) {
    const lines = Array.from({ length: 1024 }, () => `{"id":${nextId()},"ping":{}}`);
    return { bytes: frame(lines.join('\n')), kind: '1024-commands' };
  }
  if (r < 8) {
    const depth = Math.floor((c.frameLimit - 100) / 6);
    return {
      bytes: frame(`{"id":${nextId()},"publish":{"channel":"open1","data":${deepJSON(depth, rng)}}}`),
      kind: 'deep-nesting',
    };
  }
  if (r < 10)
    return { bytes: frame(`{"id":${nextId()},"ping":{},"x":"${'y'.repeat(c.frameLimit)}"}`), kind: 'oversized' };
  if (r < 12) {
    const valid = Buffer.from(`{"id":${nextId()},"publish":{"channel":"open1","data":"`);
    const bad = rng.pick([[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]);
    return { bytes: frame(Buffer.concat([valid, Buffer.from(bad), Buffer.from('"}}')])), kind: 'invalid-utf8' };
  }
  if (r < 14) return { bytes: frame(Buffer.from(hostileLine(rng, nextId())), { opcode: 2 }), kind: 'binary' };
  if (r < 17) {
    const line = hostileLine(rng, nextId());
    switch (rng.int(8)) {
      case 0:
        return { bytes: frame(line, { mask: false }), kind: 'unmasked' };
      case 1:
        return { bytes: frame(line, { rsv: 1 + rng.int(7) }), kind: 'rsv-bits' };
      case 2:
        return { bytes: frame(line, { opcode: rng.pick([3, 4, 5, 6, 7, 11, 12, 15]) }), kind: 'reserved-opcode' };
      case 3:
        return { bytes: frame('p'.repeat(126 + rng.int(200)), { opcode: 9 }), kind: 'long-ping' };
      case 4:
        return { bytes: frame('', { opcode: 9, fin: false }), kind: 'fragmented-control' };
      case 5: {
        const code = Buffer.alloc(2);
        code.writeUInt16BE(rng.pick([0, 999, 1004, 1005, 1006, 1016, 2999, 5000, 65535]));
        return { bytes: frame(code, { opcode: 8 }), kind: 'bad-close-code' };
      }
      case 6:
        return { bytes: frame('x', { declaredLength: 2n ** 62n }), kind: 'huge-length' };
      default: {
        // A command split over a text frame and continuations: valid framing.
        const parts = [line.slice(0, line.length >> 1), line.slice(line.length >> 1)];
        return {
          bytes: Buffer.concat([frame(parts[0] as string, { fin: false }), frame(parts[1] as string, { opcode: 0 })]),
          kind: 'fragmented-text',
        };
      }
    }
  }
  if (r < 20)
    return {
      bytes: frame(
        `{"id":${nextId()},"publish":{"channel":${JSON.stringify(channelName(rng))},"data":${payload(rng, 60_000)}}}`,
      ),
      kind: 'big-publish',
    };
  const n = 1 + rng.size(8);
  const lines = Array.from({ length: n }, () => hostileLine(rng, nextId()));
  if (rng.chance(0.05)) lines.push(lines[0] as string); // a repeated id in one frame
  const text = lines.join(rng.chance(0.2) ? '\r\n' : '\n');
  return { bytes: frame(text), kind: 'hostile-lines', text };
}

/** A WebSocket session: connect (or not), frames of hostile commands, then a clean close, a reset or the server's close. */
export async function wsSession(c: Context): Promise<number> {
  const rng = c.rng;
  const ws = await RawWs.connect(c.port, upgradeRequest());
  let inputs = 1;
  if (!(await ws.answered(ANSWER_MS)) || ws.status !== 101) {
    if (!ws.ended) c.findings.add('ws: a valid upgrade got no 101', `status ${ws.status} ${ws.head}`);
    ws.reset();
    return inputs;
  }
  let id = 2;
  const nextId = () => id++;
  // The commands of the last frames, so a bad reply can be shown with what caused it.
  const sent: string[] = [];
  const sentWith = (replyId: number) =>
    sent.find((l) => l.includes(`"id":${replyId},`) || l.includes(`"id":${replyId}}`));
  const check = (t: string) => checkServerText(t, c.findings, 'ws', sentWith);
  ws.onText = check;
  const first = connectLine(c);
  sent.push(first);
  ws.sendText(first);
  c.kinds.add('ws-session');
  let weClosed = false;
  const frames = 1 + rng.size(60);
  for (let i = 0; i < frames && !ws.ended; i++) {
    const f = sessionFrame(c, nextId);
    if (f.text !== undefined) {
      sent.push(...f.text.split('\n'));
      if (sent.length > 200) sent.splice(0, sent.length - 200);
    }
    c.kinds.add(f.kind);
    c.monitor.note(f.kind);
    ws.write(f.bytes);
    inputs++;
    if (i % 8 === 7) {
      if (!(await ws.drained(ANSWER_MS))) c.findings.add('ws: the server stopped reading for 5 s', f.kind);
      await new Promise((r) => setImmediate(r));
    }
  }
  if (!ws.ended) {
    // Everything sent so far has been processed once this reply (or a close) comes.
    ws.sendText(`{"id":${SETTLE_ID},"ping":{}}`);
    const settled = new Promise<void>((resolve) => {
      const done = () => resolve();
      ws.onText = (t) => {
        check(t);
        if (t.includes(`"id":${SETTLE_ID}`)) done();
      };
      ws.socket.once('close', done);
    });
    const answered = await Promise.race([settled.then(() => true), sleep(ANSWER_MS).then(() => false)]);
    if (!answered) c.findings.add('ws: no answer to a ping within 5 s', '');
  }
  if (!ws.ended) {
    weClosed = true;
    const end = rng.int(10);
    if (end < 4) await ws.close(rng.pick([1000, 1001, 3000, 4000]));
    else if (end < 7) ws.reset();
    else if (end < 9) {
      // An unrequested pong: the server must close with 3501.
      weClosed = false;
      ws.sendText('{}');
      if (!(await ws.closed(ANSWER_MS))) c.findings.add('ws: an unrequested pong did not close the connection', '');
      else if (ws.closeCode !== 3501)
        c.findings.add(`ws: an unrequested pong closed with ${ws.closeCode}, not 3501`, '');
    } else ws.socket.end();
  }
  if (!weClosed && ws.ended) {
    checkCloseCode(ws.closeCode, c.findings, 'ws');
    c.closes.add(ws.closeCode);
  } else c.closes.add('by-client');
  await ws.closed(2000);
  ws.reset();
  return inputs;
}

const UPGRADE_STATUSES = new Set([101, 400, 403, 404, 405, 431]);

/** Upgrade requests that are wrong in one way each. */
function badUpgrade(rng: Rng): { request: string; kind: string } {
  const pick = rng.int(14);
  switch (pick) {
    case 0:
      return {
        request: upgradeRequest(
          rng.pick([
            '/connection/websocketX',
            '/connection/websocket/',
            '/%',
            '//connection/websocket',
            '/connection%2fwebsocket',
            '/connection/websocket/../../api',
            '/connection/websocket?x=%zz&y',
            `/${'a'.repeat(rng.size(20_000))}`,
          ]),
        ),
        kind: 'upgrade-path',
      };
    case 1:
      return {
        request: upgradeRequest(undefined, {
          Origin: rng.pick([
            'http://evil.example',
            'null',
            'http://good.example',
            'http://good.example.evil',
            'http://127.0.0.1',
            '\u00ff',
          ]),
        }),
        kind: 'upgrade-origin',
      };
    case 2:
      return {
        request: upgradeRequest(undefined, {
          'Sec-WebSocket-Version': rng.pick(['8', '12', '14', '13, 8', 'abc', ' ']),
        }),
        kind: 'upgrade-version',
      };
    case 3:
      return {
        request: upgradeRequest(undefined, {
          'Sec-WebSocket-Key': rng.pick(['', 'short', '!!!!!!!!!!!!!!!!!!!!!!==', 'a'.repeat(300)]),
        }),
        kind: 'upgrade-key',
      };
    case 4:
      return {
        request: upgradeRequest(undefined, {
          Upgrade: rng.pick(['h2c', 'websocket, foo', 'WebSocket', 'websocket\u0000']),
        }),
        kind: 'upgrade-upgrade',
      };
    case 5:
      return {
        request: upgradeRequest(undefined, {
          Connection: rng.pick(['keep-alive', 'close', 'Upgrade, close', 'upgrade']),
        }),
        kind: 'upgrade-connection',
      };
    case 6:
      return {
        request: upgradeRequest().replace(/^GET/, rng.pick(['POST', 'PUT', 'OPTIONS', 'HEAD', 'FOO'])),
        kind: 'upgrade-method',
      };
    case 7:
      return {
        request: upgradeRequest().replace('HTTP/1.1', rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTX/1.1'])),
        kind: 'upgrade-http-version',
      };
    case 8:
      return {
        request: upgradeRequest(undefined, { 'X-Big': 'a'.repeat(8000 + rng.size(40_000)) }),
        kind: 'upgrade-huge-header',
      };
    case 9: {
      const many: Record<string, string> = {};
      for (let i = 0; i < 50 + rng.size(3000); i++) many[`X-H${i}`] = 'v';
      return { request: upgradeRequest(undefined, many), kind: 'upgrade-many-headers' };
    }
    case 10:
      return {
        request: upgradeRequest(undefined, {
          'Sec-WebSocket-Extensions': rng.pick([
            'permessage-deflate; client_max_window_bits=99',
            'x-unknown',
            ';;;',
            'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
          ]),
        }),
        kind: 'upgrade-extensions',
      };
    case 11:
      return {
        request: upgradeRequest(undefined, {
          'Sec-WebSocket-Protocol': rng.pick(['', ' ', 'a,,b', 'centrifuge-json', '\u00e9']),
        }),
        kind: 'upgrade-protocol',
      };
    case 12:
      return { request: upgradeRequest(undefined, { Host: '' }), kind: 'upgrade-no-host' };
    default:
      return {
        request: rng.pick([
          'GARBAGE\r\n\r\n',
          '\u0000\u0001\u0002\r\n\r\n',
          'GET / HTTP/1.1\r\nX-A: \u0001\r\n\r\n',
          'GET  HTTP/1.1\r\n\r\n',
          'GET /connection/websocket HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
        ]),
        kind: 'upgrade-garbage',
      };
  }
}

export async function badUpgradeScenario(c: Context): Promise<number> {
  const { request, kind } = badUpgrade(c.rng);
  c.kinds.add(kind);
  c.monitor.note(kind);
  const ws = await RawWs.connect(c.port, request);
  if (!(await ws.answered(ANSWER_MS))) {
    c.findings.add(`${kind}: a complete request got no answer in 5 s`, JSON.stringify(request.slice(0, 200)));
  } else if (ws.status !== 0) {
    c.statuses.add(ws.status);
    if (!UPGRADE_STATUSES.has(ws.status) && !(ws.status === 200 && kind === 'upgrade-connection')) {
      // Without an upgrade, /connection/websocket is an ordinary request: 404 JSON, or 405/400.
      if (!(ws.status === 404 || ws.status === 400)) c.findings.add(`${kind}: unexpected status ${ws.status}`, ws.head);
    }
    if (ws.status === 101) await ws.close();
  }
  await ws.closed(500);
  ws.reset();
  return 1;
}

/** A TCP reset at a random byte of a request, or at a random moment after it. */
export async function resetScenario(c: Context): Promise<number> {
  const rng = c.rng;
  const body = `{"channel":"open${rng.int(5)}","data":${payload(rng, 2000)}}`;
  const requests = [
    upgradeRequest(),
    upgradeRequest('/nowhere'),
    upgradeRequest(undefined, { Origin: 'http://evil.example' }),
    `POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: ${c.apiKey}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    `POST /api/batch HTTP/1.1\r\nHost: x\r\nX-API-Key: ${c.apiKey}\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"commands":[]}\r\n0\r\n\r\n`,
    'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /health HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /assets/x.js HTTP/1.1\r\nHost: x\r\n\r\n',
  ];
  const request = rng.pick(requests);
  const stage = rng.int(4);
  c.kinds.add(`reset-stage-${stage}`);
  const ws = await RawWs.connect(c.port);
  if (stage === 0) ws.write(request.slice(0, rng.int(request.length)));
  else ws.write(request);
  if (stage === 2) await ws.answered(100);
  if (stage === 3 && (await ws.answered(1000)) && ws.status === 101) {
    // Upgraded: connect, subscribe, then a frame cut in the middle.
    ws.sendText(`{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":${JSON.stringify(channelName(rng))}}}`);
    await sleep(rng.int(5));
    const f = frame(hostileLine(rng, 3));
    ws.write(f.subarray(0, rng.int(f.length)));
  }
  if (stage === 1) await sleep(rng.int(5));
  ws.reset();
  return 1;
}

/** Path tricks on the HTTP routes. */
const PATHS = [
  '/',
  '/health',
  '/ready',
  '/info',
  '/metrics',
  '/%',
  '/%zz',
  '/assets/%zz',
  '/assets/%',
  '/assets/../../package.json',
  '/assets/..%2f..%2fpackage.json',
  '/assets/%2e%2e/%2e%2e/package.json',
  '/assets/....//....//package.json',
  '/assets/..\\..\\package.json',
  '/assets/%00',
  '/assets/',
  '/assets/%c0%ae%c0%ae/package.json',
  '//api/publish',
  '/api/../admin',
  '/api/publish%00',
  '/api/%2e%2e/info',
  '/api/',
  '/api//publish',
  '/admin/api/../../package.json',
  '/admin/api/login',
  '/admin',
  '/demo/chat',
  '/health?%zz',
  '/connection/websocket',
  '/../../../../etc/passwd',
  '/\u00e9',
  `/${'x'.repeat(9000)}`,
  '*',
  'http://evil.example/',
];
const METHODS_HTTP = ['GET', 'GET', 'GET', 'HEAD', 'POST', 'OPTIONS', 'DELETE', 'PUT', 'PATCH', 'TRACE', 'FOO'];

interface HttpAnswer {
  status: number;
  head: string;
  body: string;
}

/** Sends a raw HTTP request (`Connection: close`) and reads the whole answer; undefined when none came in time. */
function rawHttp(port: number, request: string, ms = ANSWER_MS): Promise<HttpAnswer | undefined> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const t = setTimeout(() => {
      s.resetAndDestroy();
      resolve(undefined);
    }, ms);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(t);
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        resolve(text === '' ? undefined : { status: -1, head: text, body: '' });
        return;
      }
      const head = text.slice(0, end);
      let body = text.slice(end + 4);
      if (/transfer-encoding: chunked/i.test(head)) body = dechunk(body);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? -1), head, body });
    });
    s.once('connect', () => s.write(request));
  });
}

function dechunk(body: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const nl = body.indexOf('\r\n', i);
    if (nl < 0) return out;
    const n = Number.parseInt(body.slice(i, nl), 16);
    if (!(n > 0)) return out;
    out += body.slice(nl + 2, nl + 2 + n);
    i = nl + 2 + n + 2;
  }
}

const PAGES_BUILT = existsSync(new URL('../../../dist/public/index.html', import.meta.url));
const OUTSIDE_WEB_ROOT = ['"devDependencies"', 'root:x:0:0', 'export class'];

function checkHttpAnswer(c: Context, a: HttpAnswer, what: string): void {
  c.statuses.add(a.status);
  // Without `npm run build` the pages answer 503 "the pages are not built" (documented); nothing else may be 5xx.
  if (a.status >= 500 && !(a.status === 503 && !PAGES_BUILT)) {
    c.findings.add(`${what}: HTTP ${a.status}`, `${a.head.split('\r\n')[0]} ${a.body.slice(0, 200)}`);
  }
  // The legacy API answers one JSON reply per line (checked line by line by its scenario).
  if (/content-type: application\/json/i.test(a.head) && a.body !== '' && what !== 'api-legacy') {
    try {
      JSON.parse(a.body);
    } catch {
      c.findings.add(`${what}: a JSON answer that is not JSON`, a.body.slice(0, 200));
    }
  }
  for (const marker of OUTSIDE_WEB_ROOT) {
    if (a.body.includes(marker)) c.findings.add(`${what}: served a file outside the web root`, a.head);
  }
}

export async function httpPathScenario(c: Context): Promise<number> {
  const rng = c.rng;
  const method = rng.pick(METHODS_HTTP);
  let path = rng.pick(PATHS);
  if (rng.chance(0.2)) path = mutate(path, rng).replace(/[\r\n ]/g, '');
  c.kinds.add('http-path');
  c.monitor.note(`http ${method} ${path.slice(0, 40)}`);
  const a = await rawHttp(c.port, `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  if (a === undefined) c.findings.add('http: a request got no answer in 5 s', `${method} ${path.slice(0, 100)}`);
  else checkHttpAnswer(c, a, `http ${method} ${path.slice(0, 60)}`);
  return 1;
}

// --- server API --------------------------------------------------------------------------------------------

const API_METHODS = Object.keys(schemas);
const API_STATUSES = new Set([200, 400, 401, 404, 405, 409, 413, 416]);

function keysOf(method: string): string[] {
  const schema = (schemas as Record<string, { shape?: Record<string, unknown> }>)[method];
  return Object.keys(schema?.shape ?? {});
}

function apiValue(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
      return rng.pick(ODD_VALUES);
    case 1:
      return JSON.stringify(channelName(rng));
    case 2:
      return `[${Array.from({ length: rng.size(20) }, () => JSON.stringify(channelName(rng))).join(',')}]`;
    case 3:
      return rng.pick([
        '{"offset":1,"epoch":"e"}',
        '{"value":true}',
        '{"code":3000,"reason":"r"}',
        '{"k":"v"}',
        '"e30="',
      ]);
    case 4:
      return payload(rng, 4000);
    default:
      return JSON.stringify(rng.pick(['*', '*a*a*a*a*a*a*a*b', '[z-a]', '[a-', '\\', '?', 'open*', 'u1', '']));
  }
}

function apiParams(rng: Rng, method: string): string {
  const keys = [...keysOf(method), 'unknown'];
  const n = rng.int(6);
  return `{${Array.from({ length: n }, () => `${JSON.stringify(rng.pick(keys))}:${apiValue(rng)}`).join(',')}}`;
}

/** A hostile API request: a method and its body. */
function apiRequest(c: Context): { method: string; body: string; kind: string } {
  const rng = c.rng;
  const r = rng.int(100);
  if (r < 5) {
    const n = rng.size(c.batchMax);
    const cmds = Array.from({ length: n }, (_, i) => `{"publish":{"channel":"open${i % 50}","data":{"i":${i}}}}`);
    return {
      method: 'batch',
      body: `{"commands":[${cmds.join(',')}],"parallel":${rng.chance(0.5)}}`,
      kind: 'api-batch',
    };
  }
  if (r < 9) {
    const n = 1 + rng.size(c.broadcastMax);
    const chans = Array.from({ length: n }, (_, i) => `"${rng.chance(0.5) ? 'hist:' : ''}b${i}"`);
    return { method: 'broadcast', body: `{"channels":[${chans.join(',')}],"data":{"x":1}}`, kind: 'api-broadcast' };
  }
  if (r < 12) {
    const stars = Array.from({ length: 1 + rng.int(8) }, () => 'a').join('*');
    return { method: 'channels', body: `{"pattern":"*${stars}*b"}`, kind: 'api-glob' };
  }
  if (r < 14)
    return {
      method: 'publish',
      body: `{"channel":"open1","data":${deepJSON(1 + rng.size(200_000), rng)}}`,
      kind: 'api-deep',
    };
  if (r < 15)
    return {
      method: 'publish',
      body: `{"channel":"open1","data":"${'z'.repeat(4 * 1024 * 1024)}"}`,
      kind: 'api-oversized',
    };
  if (r < 25) {
    let body = `{"channel":"open1","data":{"a":[1,2]},"channels":["a"],"user":"u","limit":5,"commands":[{"publish":{"channel":"x","data":1}}]}`;
    for (let i = rng.int(6); i >= 0; i--) body = mutate(body, rng);
    return { method: rng.pick(API_METHODS), body, kind: 'api-mutated' };
  }
  if (r < 30) {
    const cmds = Array.from({ length: rng.size(8) }, () => {
      const m = rng.pick([...API_METHODS, 'batch', 'nope']);
      return `{${JSON.stringify(m)}:${apiParams(rng, m)}}`;
    });
    return {
      method: 'batch',
      body: `{"commands":[${cmds.join(',')}],"parallel":${rng.pick(['true', 'false', '1'])}}`,
      kind: 'api-batch-mixed',
    };
  }
  const method = rng.chance(0.95)
    ? rng.pick(API_METHODS)
    : rng.pick(['Publish', 'constructor', '__proto__', '', '%2e%2e', 'publish/x']);
  return {
    method,
    body: rng.chance(0.05) ? rng.pick(['', 'null', '[]', '5', '{', 'not json']) : apiParams(rng, method),
    kind: 'api-params',
  };
}

export async function apiScenario(c: Context): Promise<number> {
  const rng = c.rng;
  const legacy = rng.chance(0.15);
  let path: string;
  let body: string;
  let kind: string;
  if (legacy) {
    const lines = Array.from({ length: 1 + rng.size(10) }, () => {
      const { method, body: b } = apiRequest(c);
      return rng.chance(0.1)
        ? rng.pick(['null', '[]', '{', '{"method":5}'])
        : `{"method":${JSON.stringify(method)},"params":${b}}`;
    });
    path = '/api';
    body = lines.join('\n');
    kind = 'api-legacy';
  } else {
    const req = apiRequest(c);
    path = `/api/${req.method}`;
    body = req.body;
    kind = req.kind;
  }
  // The server API is trusted: it may unsubscribe, disconnect or publish to anyone. Hostile bodies never name the
  // bystanders' channel, so what the bystanders receive stays the publisher's stream alone.
  body = body.replaceAll('watch:feed', 'watch:other');
  c.kinds.add(kind);
  c.monitor.note(kind);
  const auth = rng.int(20);
  const headers = [
    'Host: 127.0.0.1',
    'Connection: close',
    auth === 0 ? '' : auth === 1 ? 'X-API-Key: wrong' : `X-API-Key: ${c.apiKey}`,
    rng.chance(0.2) ? 'X-Centrifugo-Error-Mode: transport' : '',
    rng.chance(0.3) ? 'Content-Type: application/json' : rng.chance(0.1) ? 'Content-Type: text/plain' : '',
  ].filter((h) => h !== '');
  const bytes = Buffer.byteLength(body);
  const request = rng.chance(0.1)
    ? `POST ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\nTransfer-Encoding: chunked\r\n\r\n${bytes.toString(16)}\r\n${body}\r\n0\r\n\r\n`
    : `POST ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\nContent-Length: ${bytes}\r\n\r\n${body}`;
  const a = await rawHttp(c.port, request, 30_000);
  if (a === undefined) {
    c.findings.add(`${kind}: no answer in 30 s`, `${path} ${body.slice(0, 100)} (whole request: ${keep(request)})`);
    return 1;
  }
  checkHttpAnswer(c, a, kind);
  if (!API_STATUSES.has(a.status)) c.findings.add(`${kind}: undocumented API status ${a.status}`, a.body.slice(0, 200));
  for (const line of a.body === '' ? [] : a.body.split('\n')) {
    let reply: { error?: { code?: unknown }; result?: unknown };
    try {
      reply = JSON.parse(line);
    } catch {
      c.findings.add(`${kind}: API answer is not JSON`, line.slice(0, 200));
      continue;
    }
    const code = reply.error?.code;
    if (code === undefined) continue;
    if (a.status === 401 && code === 401) continue;
    if (typeof code !== 'number' || !REPLY_CODES.has(code))
      c.findings.add(`${kind}: undocumented API error ${String(code)}`, line.slice(0, 200));
    else if (code === Errors.internal.code)
      c.findings.add(`${kind}: API error 100 for client input`, `${path} ${body.slice(0, 160)}`);
  }
  return 1;
}

/** A subscriber that stops reading for a while (its queue must not grow without bound), then vanishes. */
export async function stalledReader(c: Context): Promise<number> {
  const rng = c.rng;
  c.kinds.add('stalled-reader');
  const ws = await RawWs.connect(c.port, upgradeRequest());
  if (!(await ws.answered(ANSWER_MS)) || ws.status !== 101) {
    ws.reset();
    return 1;
  }
  ws.sendText(
    `{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"watch:feed"}}\n{"id":3,"subscribe":{"channel":"open${rng.int(5)}"}}`,
  );
  await sleep(50);
  ws.socket.pause();
  await sleep(500 + rng.int(2500));
  ws.reset();
  return 1;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let kept = 0;
/** Saves an input too long for a report line to a file, so a failure can be replayed by hand; returns its path. */
function keep(input: string): string {
  if (kept >= 10) return 'not kept: 10 already';
  const file = join(tmpdir(), `chorus-fuzz-${process.pid}-${++kept}.txt`);
  writeFileSync(file, input);
  return file;
}
