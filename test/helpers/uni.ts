/**
 * Clients of the unidirectional transports as a client without an SDK sees them: it sends its connect request
 * (first WebSocket message or `cf_connect`, SSE URL or POST body, HTTP-stream POST body) and reads JSON pushes —
 * WebSocket messages, `data:` events, or newline-delimited lines. One shape for all three, so the same behaviour
 * is tested on each.
 */
import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, request } from 'node:http';
import WebSocket from 'ws';
import { SECRET } from './clients.js';
import { openChannels } from './server.js';

export type UniKind = 'uni_websocket' | 'uni_sse' | 'uni_http_stream';
export const UNI_KINDS: readonly UniKind[] = ['uni_websocket', 'uni_sse', 'uni_http_stream'];

export type Push = Record<string, unknown>;

export interface UniConn {
  readonly kind: UniKind;
  /** Every push received, parsed. */
  readonly messages: Push[];
  /** HTTP status and headers (HTTP transports; 101 for WebSocket). */
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Resolves when the connection ends: the WebSocket close code and reason; for HTTP, the end of the body. */
  readonly ended: Promise<{ code?: number; reason?: string }>;
  /** Raw bytes as received (frames joined for WebSocket). */
  raw(): string;
  /** Resolves with the first push (at index `from` or later) that matches. */
  next(what: string, match: (p: Push) => boolean, ms?: number, from?: number): Promise<Push>;
  close(): void;
}

/** A config with all three transports on, tokens, anonymous connections and a few namespaces for the tests. */
export function uniConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { client, ...rest } = extra as { client?: Record<string, unknown> };
  return {
    client: { token: { hmac_secret_key: SECRET }, allow_anonymous_connect_without_token: true, ...client },
    channel: {
      without_namespace: openChannels(),
      namespaces: [
        { name: 'room', ...openChannels(), presence: true, join_leave: true, force_push_join_leave: true },
        { name: 'feed', ...openChannels(), history_size: 10, history_ttl: '60s', force_recovery: true },
        { name: 'closed' },
      ],
    },
    http_api: { insecure: true },
    uni_websocket: { enabled: true },
    uni_sse: { enabled: true },
    uni_http_stream: { enabled: true },
    ...rest,
  };
}

class Collector {
  readonly messages: Push[] = [];
  private waiters: Array<() => void> = [];
  text = '';

  add(p: Push): void {
    this.messages.push(p);
    for (const w of this.waiters.splice(0)) w();
  }

  next(what: string, match: (p: Push) => boolean, ms = 5000, from = 0): Promise<Push> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.messages.slice(from).find(match);
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(found);
          return true;
        }
        return false;
      };
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages).slice(0, 600)}`)),
        ms,
      );
      const wait = () => {
        if (!check()) this.waiters.push(wait);
      };
      wait();
    });
  }
}

export interface OpenOptions {
  /** uni_websocket: send the request in `cf_connect` instead of a first message. uni_sse: POST it instead. */
  alternate?: boolean;
  headers?: Record<string, string>;
  /** A body sent as is (HTTP transports), instead of the request's JSON. */
  rawBody?: string;
  /** uni_websocket: leave WebSocket pings unanswered. */
  noPong?: boolean;
}

/** Opens a connection of `kind` to the server at `base` (http://host:port) with a connect request. */
export async function openUni(
  kind: UniKind,
  base: string,
  connect: Record<string, unknown> | undefined,
  opts: OpenOptions = {},
): Promise<UniConn> {
  return kind === 'uni_websocket' ? openWebSocket(base, connect, opts) : openHttp(kind, base, connect, opts);
}

function openWebSocket(
  base: string,
  connect: Record<string, unknown> | undefined,
  opts: OpenOptions,
): Promise<UniConn> {
  const c = new Collector();
  let url = `${base.replace(/^http/, 'ws')}/connection/uni_websocket`;
  if (opts.alternate && connect !== undefined) url += `?cf_connect=${encodeURIComponent(JSON.stringify(connect))}`;
  const ws = new WebSocket(url, { headers: opts.headers, autoPong: !opts.noPong });
  const ended = new Promise<{ code?: number; reason?: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('error', () => {});
  ws.on('message', (data) => {
    const text = data.toString();
    c.text += text;
    for (const line of text.split('\n')) if (line.trim() !== '') c.add(JSON.parse(line) as Push);
  });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('open', () => {
      if (!opts.alternate && connect !== undefined) ws.send(JSON.stringify(connect));
      resolve({
        kind: 'uni_websocket',
        messages: c.messages,
        status: 101,
        headers: {},
        ended,
        raw: () => c.text,
        next: (what, match, ms, from) => c.next(what, match, ms, from),
        close: () => ws.terminate(),
      });
    });
  });
}

function openHttp(
  kind: 'uni_sse' | 'uni_http_stream',
  base: string,
  connect: Record<string, unknown> | undefined,
  opts: OpenOptions,
): Promise<UniConn> {
  const c = new Collector();
  const body = opts.rawBody ?? (connect === undefined ? '' : JSON.stringify(connect));
  const get = kind === 'uni_sse' && !opts.alternate && opts.rawBody === undefined;
  let path = `/connection/${kind}`;
  if (get && connect !== undefined) path += `?cf_connect=${encodeURIComponent(body)}`;
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, {
      method: get ? 'GET' : 'POST',
      headers: { ...(get ? {} : { 'content-type': 'application/json' }), ...opts.headers },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let pending = '';
      const ended = new Promise<{ code?: number; reason?: string }>((done) => {
        res.on('end', () => done({}));
        res.on('error', () => done({}));
        res.on('close', () => done({}));
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        c.text += chunk;
        if (res.statusCode !== 200) return;
        pending += chunk;
        const separator = kind === 'uni_sse' ? '\n\n' : '\n';
        let at = pending.indexOf(separator);
        while (at !== -1) {
          const unit = pending.slice(0, at);
          pending = pending.slice(at + separator.length);
          at = pending.indexOf(separator);
          const text = kind === 'uni_sse' ? sseData(unit) : unit.trim();
          if (text !== undefined && text !== '') c.add(JSON.parse(text) as Push);
        }
      });
      resolve({
        kind,
        messages: c.messages,
        status: res.statusCode ?? 0,
        headers: res.headers,
        ended,
        raw: () => c.text,
        next: (what, match, ms, from) => c.next(what, match, ms, from),
        close: () => req.destroy(),
      });
    });
    if (!get) req.end(body);
    else req.end();
  });
}

/** The data of one SSE event (its `data:` lines joined), or undefined for an event without data. */
function sseData(event: string): string | undefined {
  const lines = event.split(/\r\n|\r|\n/).filter((l) => l.startsWith('data:'));
  if (lines.length === 0) return undefined;
  return lines.map((l) => l.slice(5).replace(/^ /, '')).join('\n');
}

/** The connect push, asserted to be the connection's first message. */
export async function connected(conn: UniConn): Promise<Record<string, unknown>> {
  const first = await conn.next('the connect push', () => true);
  assert.ok(first.connect !== undefined, `first message is not a connect push: ${JSON.stringify(first)}`);
  return first.connect as Record<string, unknown>;
}

/** The disconnect push the connection got (it must be its last message). */
export async function disconnected(conn: UniConn): Promise<{ code: number; reason: string }> {
  const d = await conn.next('the disconnect push', (p) => p.disconnect !== undefined);
  return d.disconnect as { code: number; reason: string };
}

/** Publishes through the server API of a test server (http_api.insecure). */
export async function apiPublish(base: string, channel: string, data: unknown): Promise<void> {
  const res = await fetch(`${base}/api/publish`, { method: 'POST', body: JSON.stringify({ channel, data }) });
  const body = (await res.json()) as { error?: unknown };
  assert.equal(body.error, undefined, `publish failed: ${JSON.stringify(body)}`);
}
