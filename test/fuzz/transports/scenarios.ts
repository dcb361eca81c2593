/**
 * The hostile clients of the transports fuzz, one function per kind: a Protobuf WebSocket session sending broken
 * frames; HTTP-streaming and SSE connects with hostile bodies, methods, content types and origins, followed (when
 * they connect) by hostile emulation requests; hostile emulation requests on their own (forged sessions, garbage,
 * oversized, replays); uni_websocket, uni_sse and uni_http_stream connects with hostile requests; and connections
 * reset at random points. Each draws everything from the seeded Rng, checks every answer it gets against
 * docs/protocol.md, and returns how many inputs (frames, requests) it sent.
 */
import { randomUUID } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import WebSocket from 'ws';
import { EmulationRequestType, ReplyType } from '../../../src/protocol/protobuf/schema.js';
import { deepJSON, hostileLine, mutate, ODD_VALUES, payload, type Rng } from '../hostile-inputs.js';
import { checkCloseCode, type Findings, type Tally } from '../live/checks.js';
import { exchange, HttpClient, type RequestSpec, race, sleep } from './http-client.js';
import {
  checkJsonMessages,
  checkPbReplies,
  checkUniPushes,
  mutateBytes,
  pbBody,
  pbCommand,
  pbFrame,
  Splitter,
  validPbCommand,
} from './wire.js';

export interface Context {
  port: number;
  rng: Rng;
  findings: Findings;
  closes: Tally;
  statuses: Tally;
  kinds: Tally;
  /** Names what was just started, for the report of the server's worst event-loop turn. */
  monitor: { note(label: string): void };
  /** The node id emulation requests must name. */
  nodeId: string;
  /** websocket/uni_websocket.message_size_limit and every *.max_request_body_size of the server (64 KiB). */
  limit: number;
  /** Live hostile emulated sessions, whose ids other workers replay commands to. */
  live: LiveSessions;
  /** How long an abandoned session may live: a ping interval plus the pong timeout (and stale_close_delay). */
  abandonMs: number;
}

const ANSWER_MS = 5000;
/** An id no generated command uses: its reply says everything sent before was processed. */
const SETTLE_ID = 4_000_000_000;
const GOOD_ORIGIN = 'http://good.example';
const EVIL_ORIGIN = 'http://evil.example';

/** Emulated sessions the hostile workers opened and still hold: their secrets, and the commands sent on them. */
export class LiveSessions {
  private readonly byId = new Map<string, { binary: boolean; sent: string[] }>();
  add(session: string, binary: boolean, sent: string[]): void {
    this.byId.set(session, { binary, sent });
  }
  remove(session: string): void {
    this.byId.delete(session);
  }
  pick(rng: Rng): { session: string; binary: boolean; sent: string[] } | undefined {
    if (this.byId.size === 0) return undefined;
    const ids = [...this.byId.keys()];
    const session = rng.pick(ids);
    return { session, ...(this.byId.get(session) as { binary: boolean; sent: string[] }) };
  }
}

/** Records an HTTP status and checks it against the documented ones for this request. */
function checkStatus(c: Context, where: string, status: number, allowed: readonly number[], detail = ''): void {
  c.statuses.add(status === 0 ? 'none' : status);
  if (status === 0) {
    c.findings.add(`${where}: no answer within ${ANSWER_MS / 1000} s`, detail);
    return;
  }
  if (status >= 500) c.findings.add(`${where}: HTTP ${status}`, detail);
  else if (!allowed.includes(status)) {
    c.findings.add(`${where}: HTTP ${status}, documented: ${allowed.join('/')}`, detail);
  }
}

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

const CONTENT_TYPES_JSON = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'text/plain;charset=latin1',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/x-ndjson',
  '',
  '*/*',
  'application/json\u00e9',
];
const CONTENT_TYPES_BINARY = ['application/octet-stream', 'APPLICATION/OCTET-STREAM', 'application/octet-stream; x=y'];

/**
 * A URL parameter's value, cut to keep the request head well under Node's 16 KiB limit (a longer head is refused
 * with 431 by Node before Chorus sees it). Cutting may leave a broken escape or JSON: still a hostile request.
 */
const URL_PARAM_MAX = 6000;
function urlParam(text: string): string {
  return uri(text).slice(0, URL_PARAM_MAX);
}

/** Percent-encoded UTF-8 of a text (a lone surrogate, which encodeURIComponent refuses, as U+FFFD). */
function uri(text: string): string {
  return encodeURIComponent(Buffer.from(text, 'utf8').toString('utf8'));
}

/** Origin header choices: none mostly, an allowed one sometimes, a foreign one (403) sometimes. */
function origin(rng: Rng): { headers: Record<string, string>; evil: boolean } {
  const r = rng.int(100);
  if (r < 6) return { headers: { origin: EVIL_ORIGIN }, evil: true };
  if (r < 12) return { headers: { origin: GOOD_ORIGIN }, evil: false };
  return { headers: {}, evil: false };
}

// --- JSON connect commands and requests ----------------------------------------------------------------------

/** A connect command (bidirectional streams): valid mostly, mutated or odd sometimes. */
function jsonConnectCommand(rng: Rng): { text: string; valid: boolean } {
  const r = rng.int(100);
  if (r < 55) return { text: '{"id":1,"connect":{}}', valid: true };
  if (r < 62)
    return {
      text: `{"id":1,"connect":{"subs":{"watch:feed":{"recover":true,"offset":${rng.int(5)}},"open${rng.int(5)}":{}}}}`,
      valid: true,
    };
  if (r < 70) {
    // More server-side channels than client.channel_limit: 3505.
    const subs = Array.from({ length: 129 + rng.int(2000) }, (_, i) => `"c${i}":{}`).join(',');
    return { text: `{"id":1,"connect":{"subs":{${subs}}}}`, valid: false };
  }
  if (r < 85) {
    let t = '{"id":1,"connect":{"name":"fuzz","version":"1","data":{"a":1}}}';
    for (let i = 0, n = 1 + rng.int(4); i < n; i++) t = mutate(t, rng);
    return { text: t, valid: false };
  }
  if (r < 90) return { text: `{"id":1,"connect":{"data":${deepJSON(rng.size(8000) + 1, rng)}}}`, valid: false };
  if (r < 95) return { text: hostileLine(rng, 1), valid: false };
  return { text: `{"id":1,"ping":{}}`, valid: false };
}

/** A unidirectional connect request (a bare ConnectRequest object). */
function uniConnectRequest(rng: Rng): { text: string; valid: boolean } {
  const r = rng.int(100);
  if (r < 40) return { text: rng.pick(['{}', 'null', '{"subs":{"watch:feed":{}}}']), valid: true };
  if (r < 48) return { text: `{"subs":{"watch:feed":{"recover":true,"offset":1,"epoch":"x"}}}`, valid: true };
  if (r < 70) {
    let t = `{"token":"","data":{"x":1},"subs":{"open${rng.int(5)}":{}},"name":"n","version":"v"}`;
    for (let i = 0, n = 1 + rng.int(4); i < n; i++) t = mutate(t, rng);
    return { text: t, valid: false };
  }
  if (r < 76) return { text: deepJSON(rng.size(20000) + 1, rng), valid: false };
  if (r < 82) return { text: rng.pick(ODD_VALUES), valid: false };
  if (r < 88) return { text: `{"token":${JSON.stringify(rng.pick(['x', 'a.b.c', 'e30.e30.e30']))}}`, valid: false };
  if (r < 94) {
    const subs = Array.from({ length: 129 + rng.int(500) }, (_, i) => `"c${i}":{}`).join(',');
    return { text: `{"subs":{${subs}}}`, valid: false };
  }
  return { text: randomBytes(rng, 1 + rng.size(200)).toString('latin1'), valid: false };
}

// --- Protobuf WebSocket sessions -----------------------------------------------------------------------------

/** A Protobuf WebSocket session that sends broken frames; every answer and the close code are checked. */
export async function pbSession(c: Context): Promise<number> {
  const rng = c.rng;
  c.kinds.add('pb-session');
  const url = rng.chance(0.8)
    ? `ws://127.0.0.1:${c.port}/connection/websocket`
    : `ws://127.0.0.1:${c.port}/connection/websocket?cf_protocol=protobuf`;
  const ws = new WebSocket(url, url.includes('cf_protocol') ? undefined : 'centrifuge-protobuf', {
    maxPayload: 64 * 1024 * 1024,
  });
  let closeCode: number | undefined;
  let weClosed = false;
  const replied = new Set<number>();
  let disconnectPushed: number | undefined;
  const closed = new Promise<void>((resolve) => {
    ws.on('close', (code) => {
      closeCode = code;
      resolve();
    });
  });
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      c.findings.add('pb: a text frame on a Protobuf session', data.toString().slice(0, 200));
      return;
    }
    const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
    const r = checkPbReplies(bytes, c.findings, 'pb');
    if (r.rest.length > 0) c.findings.add('pb: a frame ending inside a message', bytes.toString('hex').slice(0, 200));
    for (const id of r.ids) replied.add(id);
    if (r.disconnect !== undefined) disconnectPushed = r.disconnect;
  });
  const opened = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('unexpected-response', (_req, res) => {
      c.findings.add('pb: a valid Protobuf upgrade was refused', String(res.statusCode));
      resolve(false);
    });
    ws.once('close', () => resolve(false));
  });
  if (!opened) {
    ws.terminate();
    return 1;
  }
  c.statuses.add(101);
  let inputs = 1;
  let id = 2;
  const nextId = () => id++;
  const send = (bytes: Buffer | string) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(bytes, { binary: typeof bytes !== 'string' });
  };

  if (rng.chance(0.03)) {
    // Never connects: stale_close_delay closes it with 3502.
    c.kinds.add('pb-no-connect');
    if (!(await race(closed, c.abandonMs))) c.findings.add('pb: a session that never connected was not closed', '');
    else if (closeCode !== 3502) c.findings.add(`pb: a session that never connected closed with ${closeCode}`, '');
    c.closes.add(`pb:${closeCode}`);
    ws.terminate();
    return inputs;
  }
  const r = rng.int(100);
  if (r < 80) send(pbCommand({ id: 1, connect: rng.chance(0.3) ? { name: 'fuzz', data: Buffer.from('{}') } : {} }));
  else if (r < 88) {
    const subs: Record<string, unknown> = {};
    for (let i = 0, n = 100 + rng.int(3000); i < n; i++) subs[`c${i}`] = { recover: true, offset: i };
    send(pbCommand({ id: 1, connect: { subs } }));
  } else send(mutateBytes(pbCommand({ id: 1, connect: { token: 'x', name: 'n' } }), rng));

  const frames = 1 + rng.size(40);
  for (let i = 0; i < frames && ws.readyState === WebSocket.OPEN; i++) {
    const f = pbFrame(rng, nextId, c.limit);
    c.kinds.add(f.kind);
    c.monitor.note(f.kind);
    send(f.bytes);
    inputs++;
    if (i % 8 === 7) {
      const deadline = performance.now() + ANSWER_MS;
      while (ws.bufferedAmount > 256 * 1024 && ws.readyState === WebSocket.OPEN && performance.now() < deadline) {
        await sleep(5);
      }
      await new Promise((res) => setImmediate(res));
    }
  }
  if (ws.readyState === WebSocket.OPEN) {
    send(pbCommand({ id: SETTLE_ID, ping: {} }));
    const settled = (async () => {
      const deadline = performance.now() + ANSWER_MS;
      while (!replied.has(SETTLE_ID) && ws.readyState !== WebSocket.CLOSED && performance.now() < deadline) {
        await sleep(5);
      }
    })();
    await settled;
    if (!replied.has(SETTLE_ID) && ws.readyState === WebSocket.OPEN) {
      c.findings.add('pb: no answer to a ping within 5 s', '');
    }
  }
  if (ws.readyState === WebSocket.OPEN) {
    const end = rng.int(10);
    if (end < 4) {
      weClosed = true;
      ws.close(rng.pick([1000, 1001, 3000, 4000]));
    } else if (end < 7) {
      weClosed = true;
      ws.terminate();
    } else {
      // An unrequested pong (an empty command): the server must close with 3501.
      send(Buffer.from([0]));
      if (!(await race(closed, ANSWER_MS))) c.findings.add('pb: an unrequested pong did not close the session', '');
      else if (closeCode !== 3501) c.findings.add(`pb: an unrequested pong closed with ${closeCode}, not 3501`, '');
    }
  }
  await race(closed, 2000);
  if (!weClosed && closeCode !== undefined) {
    // 1006: the connection ended without a close frame.
    checkCloseCode(closeCode === 1006 ? 0 : closeCode, c.findings, 'pb');
    if (disconnectPushed !== undefined) c.findings.add('pb: a disconnect push on a WebSocket session', '');
    c.closes.add(`pb:${closeCode}`);
  } else c.closes.add('pb:by-client');
  ws.terminate();
  return inputs;
}

// --- HTTP-streaming and SSE with emulation -------------------------------------------------------------------

type StreamKind = 'http_stream' | 'http_stream-pb' | 'sse-get' | 'sse-post';

interface StreamState {
  kind: StreamKind;
  client: HttpClient;
  /** Messages as text (JSON) — for Protobuf the count of decoded messages is kept in `pbMessages`. */
  messages: string[];
  pbIds: Set<number>;
  disconnect: number | undefined;
  /** The connect result: the session's secret and node, once connected. */
  session: string | undefined;
  node: string | undefined;
  connectFailed: boolean;
}

function streamRequest(c: Context): {
  spec: RequestSpec;
  kind: StreamKind;
  expect: number[];
  valid: boolean;
  label: string;
} {
  const rng = c.rng;
  const kind = rng.pick<StreamKind>(['http_stream', 'http_stream', 'http_stream-pb', 'sse-get', 'sse-get', 'sse-post']);
  const o = origin(rng);
  const headers: Record<string, string> = { ...o.headers };
  let method = kind === 'sse-get' ? 'GET' : 'POST';
  let path = kind.startsWith('sse') ? '/connection/sse' : '/connection/http_stream';
  let body: Buffer | undefined;
  let valid = false;
  let label: string = kind;
  let expect = [200];
  // The connect command, in the stream's encoding (or deliberately in the other one).
  const r = rng.int(100);
  if (kind === 'http_stream-pb') {
    headers['content-type'] = rng.pick(CONTENT_TYPES_BINARY);
    if (r < 55) {
      body = pbCommand({ id: 1, connect: {} });
      valid = true;
    } else if (r < 75) body = mutateBytes(pbCommand({ id: 1, connect: { name: 'x', token: 'y' } }), rng);
    else if (r < 85) body = Buffer.from('{"id":1,"connect":{}}');
    else if (r < 92) body = pbFrame(rng, () => 1, c.limit).bytes as Buffer;
    else body = randomBytes(rng, 1 + rng.size(2000));
    if (typeof body === 'string') body = Buffer.from(body);
    label = 'http_stream-pb-connect';
  } else {
    if (kind !== 'sse-get') headers['content-type'] = rng.pick(CONTENT_TYPES_JSON);
    const cmd =
      r < 8 ? { text: pbBody({ id: 1, connect: {} }).toString('latin1'), valid: false } : jsonConnectCommand(rng);
    valid = cmd.valid;
    body = Buffer.from(cmd.text, r < 8 ? 'latin1' : 'utf8');
    label = `${kind}-connect`;
  }
  // Oversized bodies (413), empty ones, a wrong method (405), a preflight (204).
  const odd = rng.int(100);
  if (odd < 5 && kind !== 'sse-get') {
    body = Buffer.alloc(c.limit + 1 + rng.int(4096), 0x20);
    expect = [413];
    valid = false;
    label = `${kind}-oversized`;
  } else if (odd < 8 && kind !== 'sse-get') {
    // Content-Length says more than the limit while the body is small: refused on the header.
    headers['content-length'] = String(c.limit + 1);
    body = Buffer.alloc(c.limit + 1, 0x20);
    expect = [413];
    valid = false;
    label = `${kind}-oversized`;
  } else if (odd < 11) {
    body = Buffer.alloc(0);
    valid = false;
    label = `${kind}-empty`;
  } else if (odd < 16) {
    method = rng.pick(kind.startsWith('sse') ? ['PUT', 'DELETE', 'PATCH', 'HEAD'] : ['GET', 'PUT', 'DELETE', 'HEAD']);
    expect = [405];
    valid = false;
    label = `${kind.replace(/-.*/, '')}-method`;
  } else if (odd < 18) {
    method = 'OPTIONS';
    expect = [204];
    valid = false;
    label = `${kind.replace(/-.*/, '')}-preflight`;
  }
  if (kind === 'sse-get' && method === 'GET') {
    const text = body?.toString('utf8') ?? '';
    const q = rng.int(100);
    if (text === '' || q < 5) {
      // No cf_connect, or an empty one: nothing to connect with (400).
      path += rng.pick(['', '?', '?cf_connect=', '?x=1']);
      expect = [400];
      valid = false;
    } else if (q < 10) {
      path += `?cf_connect=${rng.pick(['%zz', '%', '%e9', '%00', '+%2B'])}${urlParam(text)}`;
      valid = false;
    } else {
      path += `?cf_connect=${urlParam(text)}&cf_connect=${rng.chance(0.1) ? 'x' : ''}`;
      if (text.length > URL_PARAM_MAX) valid = false;
    }
    body = undefined;
  }
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') body = undefined;
  // A generated command may itself be over the limit (a Protobuf frame of 64 KiB and more): 413 too.
  if (body !== undefined && body.length > c.limit && expect.includes(200)) {
    expect = [413];
    valid = false;
  }
  if (o.evil) {
    expect = [403];
    valid = false;
  }
  if (body !== undefined && headers['content-length'] === undefined && rng.chance(0.5)) {
    headers['content-length'] = String(body.length);
  }
  return { spec: { method, path, headers, body }, kind, expect, valid, label };
}

function watchStream(c: Context, st: StreamState): void {
  if (st.kind === 'http_stream-pb') {
    let rest: Uint8Array = new Uint8Array(0);
    st.client.onChunk = (chunk) => {
      if (st.client.status !== 200) return;
      const bytes = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      const r = checkPbReplies(bytes, c.findings, 'http_stream-pb');
      rest = r.rest;
      for (const id of r.ids) st.pbIds.add(id);
      if (r.disconnect !== undefined) st.disconnect = r.disconnect;
      st.messages.push(...r.ids.map(String));
      if (st.session === undefined && !st.connectFailed && bytes.length > 0) {
        // The first message: the connect reply, with its session and node.
        try {
          const m = ReplyType.toObject(ReplyType.decodeDelimited(Buffer.from(bytes))) as {
            id?: number;
            connect?: { session?: string; node?: string };
          };
          if (m.id === 1 && m.connect?.session) {
            st.session = m.connect.session;
            st.node = m.connect.node;
          } else st.connectFailed = true;
        } catch {
          // Not complete yet.
        }
      }
    };
    return;
  }
  const splitter = new Splitter(st.kind.startsWith('sse'));
  st.client.onChunk = (chunk) => {
    if (st.client.status !== 200) return;
    const units = splitter.take(chunk.toString('utf8'));
    if (units.length === 0) return;
    const d = checkJsonMessages(units, c.findings, st.kind);
    if (d !== undefined) st.disconnect = d;
    for (const u of units) {
      st.messages.push(u);
      if (st.session !== undefined || st.connectFailed) continue;
      try {
        const m = JSON.parse(u) as { id?: number; connect?: { session?: string; node?: string } };
        if (m.id === 1 && m.connect?.session) {
          st.session = m.connect.session;
          st.node = m.connect.node;
        } else st.connectFailed = true;
      } catch {
        st.connectFailed = true;
      }
    }
  };
}

/** POSTs one emulation request; checks the status against the documented answers. */
async function emulate(
  c: Context,
  label: string,
  body: Buffer,
  opts: { binary?: boolean; expect: readonly number[]; headers?: Record<string, string>; method?: string },
): Promise<number> {
  c.monitor.note(label);
  c.kinds.add(label);
  const headers: Record<string, string> = {
    'content-type': opts.binary ? 'application/octet-stream' : 'application/json',
    ...opts.headers,
  };
  const x = await exchange(c.port, { method: opts.method ?? 'POST', path: '/emulation', headers, body }, ANSWER_MS * 2);
  checkStatus(c, `emulation ${label}`, x.status, opts.expect, x.body.toString('utf8').slice(0, 200));
  return x.status;
}

function jsonEmulation(session: string, node: string, lines: string[]): Buffer {
  return Buffer.from(JSON.stringify({ session, node, data: lines.join('\n') }));
}

function pbEmulation(session: string, node: string, data: Buffer): Buffer {
  return Buffer.from(EmulationRequestType.encode(EmulationRequestType.fromObject({ session, node, data })).finish());
}

/** An HTTP-streaming or SSE connect with a hostile request; when it connects, hostile emulation requests follow. */
export async function streamSession(c: Context): Promise<number> {
  const rng = c.rng;
  const { spec, kind, expect, valid, label } = streamRequest(c);
  c.kinds.add(label);
  c.monitor.note(label);
  const st: StreamState = {
    kind,
    client: new HttpClient(c.port, spec),
    messages: [],
    pbIds: new Set(),
    disconnect: undefined,
    session: undefined,
    node: undefined,
    connectFailed: false,
  };
  watchStream(c, st);
  let inputs = 1;
  if (!(await st.client.answered(ANSWER_MS))) {
    checkStatus(c, label, 0, expect, spec.path.slice(0, 100));
    st.client.abort();
    return inputs;
  }
  checkStatus(
    c,
    label,
    st.client.status,
    st.client.status === 200 && !valid ? [200, ...expect] : expect,
    `${spec.method} ${spec.path.slice(0, 80)}`,
  );
  if (st.client.status !== 200) {
    await st.client.ended(ANSWER_MS);
    st.client.abort();
    return inputs;
  }
  // Wait for the connect reply (or a refusal's disconnect and the end of the stream).
  const deadline = performance.now() + ANSWER_MS;
  while (st.session === undefined && !st.connectFailed && !st.client.over && performance.now() < deadline) {
    await sleep(5);
  }
  if (st.session === undefined) {
    // Refused: the disconnect push, then the end of the response (docs/protocol.md, "Closing").
    if (!(await st.client.ended(ANSWER_MS))) {
      if (st.connectFailed || st.disconnect !== undefined) {
        c.findings.add(`${label}: a refused connect's stream did not end`, st.messages.slice(0, 3).join(' | '));
      } else c.findings.add(`${label}: no connect reply within 5 s`, `${spec.method} ${spec.path.slice(0, 80)}`);
      st.client.abort();
    } else if (st.client.endedByServer && st.disconnect === undefined) {
      c.findings.add(`${label}: the stream ended without a disconnect push`, st.messages.slice(-3).join(' | '));
    }
    c.closes.add(`${kind}:${st.disconnect ?? 'none'}`);
    if (valid && st.disconnect !== undefined) {
      c.findings.add(
        `${label}: a valid connect was refused with ${st.disconnect}`,
        spec.body?.toString().slice(0, 200) ?? '',
      );
    }
    return inputs;
  }
  const session = st.session;
  const node = st.node ?? c.nodeId;
  const binary = kind === 'http_stream-pb';
  const sent: string[] = [];
  c.live.add(session, binary, sent);
  try {
    inputs += await emulationFollowUps(c, st, session, node, binary, sent);
  } finally {
    c.live.remove(session);
  }
  // The end: the client goes away at a random moment, stops reading first, or abandons the session (never
  // answering a ping: the server must end it within a ping interval and the pong timeout).
  const end = rng.int(100);
  if (!st.client.over) {
    if (end < 3) {
      c.kinds.add('stream-abandoned');
      const reached = await st.client.ended(c.abandonMs);
      if (!reached) c.findings.add(`${kind}: an abandoned session (no pongs) was not ended`, '');
      else if (st.disconnect !== 3012) c.findings.add(`${kind}: an abandoned session ended with ${st.disconnect}`, '');
      c.closes.add(`${kind}:${st.disconnect ?? 'none'}`);
    } else if (end < 10) {
      c.kinds.add('stream-stalled-reader');
      st.client.pause();
      await sleep(300 + rng.int(2000));
      st.client.reset();
    } else if (end < 55) st.client.abort();
    else st.client.reset();
  }
  // Commands for the session after it is gone: 204 (docs/protocol.md: "also when the session is gone").
  if (rng.chance(0.3)) {
    await sleep(rng.int(20));
    const lines = sent.length > 0 ? sent.slice(0, 5) : ['{"id":2,"ping":{}}'];
    await emulate(
      c,
      'emulation-after-end',
      binary ? pbEmulation(session, node, pbCommand({ id: 2, ping: {} })) : jsonEmulation(session, node, lines),
      {
        binary,
        expect: [204],
      },
    );
    inputs++;
  }
  return inputs;
}

async function emulationFollowUps(
  c: Context,
  st: StreamState,
  session: string,
  node: string,
  binary: boolean,
  sent: string[],
): Promise<number> {
  const rng = c.rng;
  let inputs = 0;
  let id = 2;
  const requests = rng.size(12);
  for (let i = 0; i < requests && !st.client.over; i++) {
    const r = rng.int(100);
    let body: Buffer;
    let label: string;
    let expect: number[] = [204];
    if (binary) {
      if (r < 70) {
        const f = pbFrame(rng, () => id++, c.limit);
        body = pbEmulation(session, node, typeof f.bytes === 'string' ? Buffer.from(f.bytes) : f.bytes);
        label = `emulation-${f.kind}`;
        // A frame that does not fit with its envelope is refused whole.
        if (body.length > c.limit) expect = [413];
      } else if (r < 85) {
        body = pbEmulation(session, node, pbCommand(validPbCommand(rng, id++)));
        label = 'emulation-pb-valid';
      } else {
        // JSON commands in a Protobuf session's envelope: the session decodes them as Protobuf (3501 at worst).
        body = jsonEmulation(session, node, [hostileLine(rng, id++)]);
        label = 'emulation-pb-json-data';
      }
    } else if (r < 60) {
      const lines = Array.from({ length: 1 + rng.size(20) }, () => hostileLine(rng, id++));
      sent.push(...lines);
      body = jsonEmulation(session, node, lines);
      label = 'emulation-hostile-lines';
    } else if (r < 65) {
      const lines = Array.from({ length: rng.pick([1024, 1025, 3000]) }, () => `{"id":${id++},"ping":{}}`);
      body = jsonEmulation(session, node, lines);
      label = 'emulation-many-commands';
      if (body.length > c.limit) expect = [413];
    } else if (r < 72) {
      // Another session's commands replayed into this one (a second connect among them: 3501).
      const other = c.live.pick(rng);
      const lines =
        other !== undefined && !other.binary && other.sent.length > 0
          ? other.sent.slice(0, 10)
          : ['{"id":1,"connect":{}}'];
      body = jsonEmulation(
        session,
        node,
        [rng.chance(0.5) ? '{"id":1,"connect":{}}' : '', ...lines].filter((l) => l !== ''),
      );
      label = 'emulation-replayed';
    } else if (r < 78) {
      // This session's commands replayed into another live session (whose owner sees their effects).
      const other = c.live.pick(rng);
      const target = other?.session ?? session;
      body = other?.binary
        ? pbEmulation(target, node, pbCommand({ id: id++, ping: {} }))
        : jsonEmulation(target, node, sent.length > 0 ? sent.slice(-5) : [`{"id":${id++},"ping":{}}`]);
      label = 'emulation-replayed-elsewhere';
    } else if (r < 84) {
      const data = `{"id":${id++},"publish":{"channel":"open1","data":"${'y'.repeat(c.limit)}"}}`;
      body = jsonEmulation(session, node, [data]);
      label = 'emulation-oversized';
      expect = [413];
    } else if (r < 88) {
      // Pongs: answers to the server's pings (or unrequested ones: 3501).
      body = jsonEmulation(session, node, ['{}']);
      label = 'emulation-pong';
    } else if (r < 93) {
      body = jsonEmulation(session, node, [
        `{"id":${id++},"publish":{"channel":"open1","data":${deepJSON(Math.floor((c.limit - 200) / 12), rng)}}}`,
      ]);
      label = 'emulation-deep';
    } else {
      body = jsonEmulation(session, node, [`{"id":${id++},"ping":{}}`]);
      label = 'emulation-ping';
    }
    await emulate(c, label, body, { binary: body[0] !== 0x7b, expect });
    inputs++;
  }
  if (!st.client.over) {
    // Everything sent so far has been processed once this answer (or the end of the stream) comes.
    await emulate(
      c,
      'emulation-settle',
      binary
        ? pbEmulation(session, node, pbCommand({ id: SETTLE_ID, ping: {} }))
        : jsonEmulation(session, node, [`{"id":${SETTLE_ID},"ping":{}}`]),
      { binary, expect: [204] },
    );
    inputs++;
    const deadline = performance.now() + ANSWER_MS;
    const settled = () =>
      binary ? st.pbIds.has(SETTLE_ID) : st.messages.some((m) => m.startsWith(`{"id":${SETTLE_ID},`));
    while (!settled() && !st.client.over && performance.now() < deadline) await sleep(5);
    if (!settled() && !st.client.over) c.findings.add(`${st.kind}: no answer to a ping within 5 s`, '');
    if (st.client.over && st.client.endedByServer && st.disconnect === undefined) {
      c.findings.add(`${st.kind}: the stream ended without a disconnect push`, st.messages.slice(-3).join(' | '));
    }
    if (st.client.over) c.closes.add(`${st.kind}:${st.disconnect ?? 'none'}`);
  }
  return inputs;
}

/** Hostile emulation requests on their own: forged and unknown ids, garbage, oversized, wrong methods. */
export async function emulationScenario(c: Context): Promise<number> {
  const rng = c.rng;
  const live = c.live.pick(rng);
  const r = rng.int(100);
  if (r < 15) {
    // A session id nobody holds (or a near miss of a live one) on this node: 204, as for a session that is gone.
    const forged = live !== undefined && rng.chance(0.5) ? mutate(live.session, rng) || 'x' : randomUUID();
    await emulate(c, 'emulation-forged-session', jsonEmulation(forged, c.nodeId, [hostileLine(rng, 2)]), {
      expect: [204],
    });
  } else if (r < 25) {
    const node = rng.pick([randomUUID(), 'x', c.nodeId.slice(0, -1), `${c.nodeId} `, '\u00e9']);
    await emulate(c, 'emulation-unknown-node', jsonEmulation(live?.session ?? randomUUID(), node, ['{}']), {
      expect: [404],
    });
  } else if (r < 45) {
    const bodies = [
      '',
      'null',
      '[]',
      '{}',
      '{"session":1,"node":"n","data":""}',
      `{"session":"s","node":${JSON.stringify(c.nodeId)},"data":{}}`,
      `{"session":"s","node":${JSON.stringify(c.nodeId)}}`,
      `{"session":"","node":${JSON.stringify(c.nodeId)},"data":""}`,
      deepJSON(rng.size(30000) + 1, rng),
      randomBytes(rng, 1 + rng.size(500)).toString('latin1'),
    ];
    let body = rng.pick(bodies);
    if (rng.chance(0.3)) body = mutate(JSON.stringify({ session: randomUUID(), node: c.nodeId, data: '{}' }), rng);
    // A mutation may still leave a request that parses (then 204 or 404); deep nesting may be over the limit (413).
    const bytes = Buffer.from(body, 'latin1');
    await emulate(c, 'emulation-garbage', bytes, { expect: bytes.length > c.limit ? [413] : [400, 204, 404] });
  } else if (r < 55) {
    const data = 'x'.repeat(c.limit + rng.int(10000));
    await emulate(c, 'emulation-oversized-body', jsonEmulation(randomUUID(), c.nodeId, [data]), { expect: [413] });
  } else if (r < 70) {
    // Protobuf garbage: random bytes, a mutated EmulationRequest, a JSON body sent as octet-stream.
    const valid = pbEmulation(live?.session ?? randomUUID(), c.nodeId, pbCommand({ id: 2, ping: {} }));
    const body = rng.pick([
      randomBytes(rng, 1 + rng.size(300)),
      mutateBytes(valid, rng),
      mutateBytes(mutateBytes(valid, rng), rng),
      Buffer.from(JSON.stringify({ session: 's', node: c.nodeId, data: '' })),
      Buffer.concat([Buffer.from([0x0a]), Buffer.alloc(11, 0xff)]),
    ]);
    await emulate(c, 'emulation-pb-garbage', body, { binary: true, expect: [400, 204, 404] });
  } else if (r < 80) {
    const method = rng.pick(['GET', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'TRACE']);
    await emulate(c, 'emulation-method', method === 'GET' || method === 'HEAD' ? Buffer.alloc(0) : Buffer.from('{}'), {
      method,
      expect: [405],
    });
  } else if (r < 85) {
    await emulate(c, 'emulation-preflight', Buffer.alloc(0), {
      method: 'OPTIONS',
      headers: {
        origin: GOOD_ORIGIN,
        'access-control-request-headers': rng.pick(['content-type', 'x\t\u00ff', 'a,,b']),
      },
      expect: [204],
    });
  } else if (r < 92) {
    await emulate(c, 'emulation-foreign-origin', jsonEmulation(live?.session ?? randomUUID(), c.nodeId, ['{}']), {
      headers: { origin: EVIL_ORIGIN },
      expect: [403],
    });
  } else {
    // A live session's commands replayed from a connection that is not its stream's (all emulation requests are):
    // the server cannot tell, and answers 204 — the session id is the secret (docs/protocol.md).
    if (live === undefined) {
      await emulate(c, 'emulation-forged-session', jsonEmulation(randomUUID(), c.nodeId, ['{}']), { expect: [204] });
    } else {
      const body = live.binary
        ? pbEmulation(live.session, c.nodeId, pbCommand({ id: 3, ping: {} }))
        : jsonEmulation(live.session, c.nodeId, live.sent.length > 0 ? live.sent.slice(0, 8) : ['{"id":3,"ping":{}}']);
      await emulate(c, 'emulation-replay', body, { binary: live.binary, expect: [204] });
    }
  }
  return 1;
}

// --- Unidirectional transports -------------------------------------------------------------------------------

/** A uni_websocket connection with a hostile connect request; every push and the close code are checked. */
export async function uniWebSocket(c: Context): Promise<number> {
  const rng = c.rng;
  c.kinds.add('uni_websocket');
  const req = uniConnectRequest(rng);
  const inUrl = rng.chance(0.25);
  let path = '/connection/uni_websocket';
  if (inUrl) path += `?cf_connect=${urlParam(req.text)}`;
  const o = origin(rng);
  const noPong = rng.chance(0.03);
  const ws = new WebSocket(`ws://127.0.0.1:${c.port}${path}`, {
    headers: o.headers,
    autoPong: !noPong,
    maxPayload: 64 * 1024 * 1024,
  });
  const lines: string[] = [];
  let closeCode: number | undefined;
  const closed = new Promise<void>((resolve) => {
    ws.on('close', (code) => {
      closeCode = code;
      resolve();
    });
  });
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (isBinary) c.findings.add('uni_websocket: a binary frame', '');
    const text = data.toString();
    const units = text.split('\n');
    lines.push(...units);
    checkUniPushes(units, c.findings, 'uni_websocket');
  });
  const status = await new Promise<number>((resolve) => {
    ws.once('open', () => resolve(101));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('close', () => resolve(0));
  });
  const label = `uni_websocket${inUrl ? '-cf_connect' : ''}`;
  c.monitor.note(label);
  // A cf_connect that is not a connect request: 400; a foreign origin: 403 (docs/protocol.md, "uni_websocket").
  const expect = o.evil ? [403] : inUrl && (!req.valid || req.text.length > URL_PARAM_MAX) ? [101, 400] : [101];
  checkStatus(c, label, status, expect, req.text.slice(0, 200));
  if (status !== 101) {
    ws.terminate();
    return 1;
  }
  let inputs = 1;
  if (!inUrl) {
    const r = rng.int(100);
    if (r < 70) ws.send(req.text);
    else if (r < 78) ws.send(Buffer.from(req.text), { binary: true });
    else if (r < 85) ws.send(Buffer.alloc(c.limit + 1 + rng.int(1000), 0x20));
    else if (r < 92) ws.send(randomBytes(rng, 1 + rng.size(1000)), { binary: true });
    else ws.send('');
    inputs++;
    // Messages after the first are read and dropped.
    for (let i = 0, n = rng.int(4); i < n; i++) {
      ws.send(rng.chance(0.5) ? hostileLine(rng, i + 2) : randomBytes(rng, rng.size(100)));
      inputs++;
    }
  }
  const end = rng.int(100);
  if (noPong) {
    // Never answers the server's WebSocket pings: closed with 3012 within a ping interval and the pong timeout.
    c.kinds.add('uni_websocket-no-pong');
    if (!(await race(closed, c.abandonMs))) c.findings.add('uni_websocket: a peer that never pongs was not closed', '');
  } else if (end < 8) {
    c.kinds.add('uni_websocket-stalled-reader');
    await sleep(20);
    (ws as unknown as { _socket?: import('node:net').Socket })._socket?.pause();
    await sleep(300 + rng.int(2000));
    ws.terminate();
    return inputs;
  } else {
    await race(closed, rng.int(300));
  }
  if (ws.readyState === WebSocket.OPEN && rng.chance(0.5)) {
    ws.close(1000);
    await race(closed, 2000);
    c.closes.add('uni_websocket:by-client');
  } else if (closeCode !== undefined) {
    checkCloseCode(closeCode === 1006 ? 0 : closeCode, c.findings, 'uni_websocket');
    c.closes.add(`uni_websocket:${closeCode}`);
    // The disconnect push, then a close frame with the same code (docs/protocol.md, "uni_websocket"); frames the
    // WebSocket layer refuses (1009 too large, 1007, 1002) have no push.
    if (closeCode >= 3000) {
      const pushed = lines.filter((l) => l.includes('"disconnect"'));
      if (pushed.length === 0 && closeCode !== 3008) {
        c.findings.add(`uni_websocket: close ${closeCode} without a disconnect push`, lines.slice(-2).join(' | '));
      }
    }
  } else c.closes.add('uni_websocket:by-client');
  ws.terminate();
  return inputs;
}

/** A uni_sse or uni_http_stream connect with a hostile request; the pushes are checked, the reader ends anyhow. */
export async function uniHttp(c: Context): Promise<number> {
  const rng = c.rng;
  const kind = rng.pick(['uni_sse', 'uni_sse', 'uni_http_stream'] as const);
  const req = uniConnectRequest(rng);
  const o = origin(rng);
  const headers: Record<string, string> = { ...o.headers };
  let method = kind === 'uni_sse' && rng.chance(0.7) ? 'GET' : 'POST';
  let path = `/connection/${kind}`;
  let body: Buffer | undefined;
  // A request that is not a connect request: 400 (docs/protocol.md, "Connect request").
  let expect = req.valid ? [200] : [200, 400];
  let label: string = kind;
  const odd = rng.int(100);
  if (method === 'GET') {
    const q = rng.int(100);
    if (q < 10) path += rng.pick(['', '?', '?cf_connect=', '?other=1']);
    else if (q < 15) path += `?cf_connect=${rng.pick(['%zz', '%', '%e9%', '%00'])}${urlParam(req.text)}`;
    else path += `?cf_connect=${urlParam(req.text)}`;
    if (q < 10) expect = [200];
    else if (q < 15 || req.text.length > URL_PARAM_MAX) expect = [200, 400];
    label = `${kind}-get`;
  } else {
    headers['content-type'] = rng.pick([...CONTENT_TYPES_JSON, ...CONTENT_TYPES_BINARY]);
    body = Buffer.from(req.text, 'latin1');
    label = `${kind}-post`;
    if (odd < 6) {
      body = Buffer.alloc(c.limit + 1 + rng.int(4096), 0x20);
      expect = [413];
      label = `${kind}-oversized`;
    } else if (odd < 9) {
      body = Buffer.alloc(0);
      expect = [200, 400];
      label = `${kind}-empty`;
    } else if (body.length > c.limit) {
      // A generated request may itself be over the limit (120 KB of nesting): 413 (max_request_body_size).
      expect = [413];
    }
  }
  if (odd >= 90 && odd < 95) {
    method = rng.pick(kind === 'uni_sse' ? ['PUT', 'DELETE', 'PATCH'] : ['GET', 'PUT', 'DELETE', 'HEAD']);
    expect = [405];
    label = `${kind}-method`;
    if (method === 'GET' || method === 'HEAD') body = undefined;
  } else if (odd >= 95) {
    method = 'OPTIONS';
    body = undefined;
    expect = [204];
    label = `${kind}-preflight`;
  }
  if (o.evil) expect = [403];
  c.kinds.add(label);
  c.monitor.note(label);
  const client = new HttpClient(c.port, { method, path, headers, body });
  const splitter = new Splitter(kind === 'uni_sse');
  const pushes: string[] = [];
  let disconnect: number | undefined;
  client.onChunk = (chunk) => {
    if (client.status !== 200) return;
    const units = splitter.take(chunk.toString('utf8'));
    pushes.push(...units);
    const d = checkUniPushes(units, c.findings, kind);
    if (d !== undefined) disconnect = d;
  };
  if (!(await client.answered(ANSWER_MS))) {
    checkStatus(c, label, 0, expect, path.slice(0, 100));
    client.abort();
    return 1;
  }
  checkStatus(c, label, client.status, expect, `${method} ${path.slice(0, 100)} ${req.text.slice(0, 100)}`);
  if (client.status !== 200) {
    await client.ended(ANSWER_MS);
    client.abort();
    return 1;
  }
  const end = rng.int(100);
  if (end < 8) {
    c.kinds.add(`${kind}-stalled-reader`);
    client.pause();
    await sleep(300 + rng.int(2000));
    client.reset();
    return 1;
  }
  // Read for a while: the connect push first (or a refusal's disconnect push and the end of the stream).
  await client.ended(rng.int(400));
  if (pushes.length > 0) {
    const first = pushes[0] as string;
    if (!first.startsWith('{"connect"') && !first.startsWith('{"disconnect"')) {
      c.findings.add(`${kind}: the first push is neither connect nor disconnect`, first.slice(0, 200));
    }
  }
  if (client.over && client.endedByServer) {
    if (disconnect === undefined)
      c.findings.add(`${kind}: the stream ended without a disconnect push`, pushes.slice(-2).join(' | '));
    c.closes.add(`${kind}:${disconnect ?? 'none'}`);
  } else {
    if (rng.chance(0.5)) client.abort();
    else client.reset();
    c.closes.add(`${kind}:by-client`);
  }
  return 1;
}

// --- Resets at random points ---------------------------------------------------------------------------------

/** A request to one of the transports' endpoints over a raw socket, cut at a random byte or reset later. */
export async function resetScenario(c: Context): Promise<number> {
  const rng = c.rng;
  const connectCmd = rng.chance(0.5) ? '{"id":1,"connect":{}}' : hostileLine(rng, 1);
  const uniReq = rng.chance(0.5) ? '{"subs":{"watch:feed":{}}}' : payload(rng, 500);
  const post = (path: string, body: string, ct = 'application/json') =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${ct}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const chunked = (path: string, body: string) =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  const upgrade = (path: string, extra = '') =>
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
  const requests: Array<[string, string]> = [
    ['http_stream', post('/connection/http_stream', connectCmd)],
    ['http_stream-chunked', chunked('/connection/http_stream', connectCmd)],
    [
      'http_stream-pb',
      post('/connection/http_stream', pbCommand({ id: 1, connect: {} }).toString('latin1'), 'application/octet-stream'),
    ],
    ['sse', `GET /connection/sse?cf_connect=${uri(connectCmd)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`],
    ['sse-post', post('/connection/sse', connectCmd)],
    [
      'emulation',
      post(
        '/emulation',
        JSON.stringify({
          session: c.live.pick(rng)?.session ?? randomUUID(),
          node: c.nodeId,
          data: hostileLine(rng, 2),
        }),
      ),
    ],
    ['uni_sse', `GET /connection/uni_sse?cf_connect=${uri(uniReq)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`],
    ['uni_http_stream', post('/connection/uni_http_stream', uniReq)],
    ['uni_http_stream-chunked', chunked('/connection/uni_http_stream', uniReq)],
    ['uni_websocket', upgrade(`/connection/uni_websocket?cf_connect=${uri(uniReq)}`)],
    ['pb-websocket', upgrade('/connection/websocket', 'Sec-WebSocket-Protocol: centrifuge-protobuf\r\n')],
  ];
  const [what, request] = rng.pick(requests);
  const stage = rng.int(3);
  c.kinds.add(`reset-${stage === 0 ? 'mid-request' : stage === 1 ? 'after-request' : 'mid-answer'}`);
  c.monitor.note(`reset ${what}`);
  const socket = tcpConnect({ port: c.port, host: '127.0.0.1', noDelay: true });
  socket.on('error', () => {});
  await new Promise<void>((resolve) => {
    socket.once('connect', () => resolve());
    socket.once('error', () => resolve());
  });
  const bytes = Buffer.from(request, 'latin1');
  if (stage === 0) {
    socket.write(bytes.subarray(0, rng.int(bytes.length)));
    await sleep(rng.int(5));
  } else {
    socket.write(bytes);
    if (stage === 1) await sleep(rng.int(5));
    else {
      // Once some answer came (or after a moment), cut.
      await race(new Promise<void>((r) => socket.once('data', () => r())), 200);
      await sleep(rng.int(20));
    }
  }
  socket.resetAndDestroy();
  return 1;
}
