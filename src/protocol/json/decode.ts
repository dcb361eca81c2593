/**
 * Decoding of JSON client frames. Pure: a frame in, typed commands out. Any malformed input throws a
 * DisconnectError with 3501 (bad request), which is what Centrifugo does for a frame it cannot decode. Unknown
 * fields are ignored, as protobuf-JSON decoding does; fields of the wrong type are bad requests.
 *
 * Payloads (`data`) are the raw JSON text of the value, byte for byte (big integers and formatting survive, and
 * deep nesting costs no recursion), copied out of the frame so a stored publication never keeps its frame alive.
 */
import { DEFAULT_MAX_COMMANDS_PER_FRAME } from '../codec.js';
import { DisconnectError, Disconnects } from '../codes.js';
import { markJson } from '../json-payload.js';
import type { Command, ConnectRequest, Payload } from '../messages.js';
import { rawValueAt } from '../raw-json.js';

const MAX_UINT32 = 0xffffffff;

function bad(what: string): never {
  throw new DisconnectError(Disconnects.badRequest, what);
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Obj, key: string): string {
  const v = o[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') bad(`${key} must be a string`);
  return v;
}

function bool(o: Obj, key: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') bad(`${key} must be a boolean`);
  return v;
}

/** A non-negative integer. Protobuf-JSON also accepts 64-bit integers as decimal strings. */
function uint(o: Obj, key: string, max = Number.MAX_SAFE_INTEGER, allowString = true): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  let n: number;
  if (typeof v === 'number') n = v;
  else if (allowString && typeof v === 'string' && /^\d{1,20}$/.test(v)) n = Number(v);
  else bad(`${key} must be a non-negative integer`);
  if (!Number.isInteger(n) || n < 0 || n > max) bad(`${key} out of range`);
  return n;
}

/**
 * A stream offset: a protocol uint64. Values beyond what a double holds exactly cannot be a real position here
 * (offsets grow by one per publication), so they are clamped: such a client simply cannot be recovered.
 */
function offset(o: Obj, key: string): number {
  const v = o[key];
  // As a JSON number, 2^64-1 parses to the double 2^64: accept up to that.
  if (typeof v === 'number' && Number.isInteger(v) && v > Number.MAX_SAFE_INTEGER && v <= 2 ** 64) {
    return Number.MAX_SAFE_INTEGER;
  }
  if (typeof v === 'string' && /^\d{1,20}$/.test(v) && BigInt(v) < 2n ** 64n) {
    return Math.min(Number(v), Number.MAX_SAFE_INTEGER);
  }
  return uint(o, key);
}

function int(o: Obj, key: string): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) > MAX_UINT32) bad(`${key} must be an integer`);
  return v;
}

/** The raw JSON text of `line[method][key]` (or `line[key]` when `method` is empty) as its own bytes. */
function rawData(o: Obj, key: string, line: string, method: string): Payload | undefined {
  if (o[key] === undefined) return undefined;
  const raw = rawValueAt(line, method === '' ? [key] : [method, key]);
  if (raw === undefined) bad(`cannot read ${key}`);
  // JSON text by construction: the JSON encoder embeds it without checking it again.
  return markJson(Buffer.from(raw));
}

function params(o: Obj, method: string): Obj {
  const p = o[method];
  if (p === null) return {};
  if (!isObj(p)) bad(`${method} must be an object`);
  return p;
}

function channel(p: Obj, method: string): string {
  const ch = str(p, 'channel');
  if (ch === '') bad(`channel required for ${method}`);
  return ch;
}

function stringMap(p: Obj, key: string): Record<string, string> | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) bad(`${key} must be an object`);
  const out: Record<string, string> = {};
  for (const k of Object.keys(v)) {
    const value = v[k];
    if (typeof value !== 'string') bad(`${key} values must be strings`);
    out[k] = value;
  }
  return out;
}

/** The fields of a connect request; `method` is where they sit in `line` ("connect", or "" at the top). */
function decodeConnect(p: Obj, line: string, method = 'connect'): ConnectRequest {
  const subs: ConnectRequest['subs'] = new Map();
  const rawSubs = p.subs;
  if (rawSubs !== undefined && rawSubs !== null) {
    if (!isObj(rawSubs)) bad('subs must be an object');
    for (const ch of Object.keys(rawSubs)) {
      const s = rawSubs[ch];
      if (!isObj(s)) bad('subs entries must be objects');
      subs.set(ch, { recover: bool(s, 'recover'), offset: offset(s, 'offset'), epoch: str(s, 'epoch') });
    }
  }
  return {
    token: str(p, 'token'),
    data: rawData(p, 'data', line, method),
    subs,
    name: str(p, 'name'),
    version: str(p, 'version'),
    headers: stringMap(p, 'headers'),
  };
}

const METHODS = [
  'connect',
  'subscribe',
  'unsubscribe',
  'publish',
  'presence',
  'presence_stats',
  'history',
  'ping',
  'send',
  'rpc',
  'refresh',
  'sub_refresh',
] as const;

/** Decodes one JSON command (one line of a frame). */
export function decodeCommand(line: string): Command {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch (e) {
    bad(e instanceof RangeError ? 'JSON nested too deeply' : 'malformed JSON');
  }
  if (!isObj(o)) bad('command must be a JSON object');
  const id = uint(o, 'id', MAX_UINT32, false);
  let method: (typeof METHODS)[number] | undefined;
  for (const m of METHODS) {
    if (o[m] !== undefined) {
      if (method !== undefined) bad('more than one method in a command');
      method = m;
    }
  }
  if (method === undefined) {
    if (id === 0) return { id: 0, method: 'pong', req: {} };
    return { id, method: 'unknown', req: {} };
  }
  const p = params(o, method);
  switch (method) {
    case 'connect':
      return { id, method, req: decodeConnect(p, line) };
    case 'subscribe':
      return {
        id,
        method,
        req: {
          channel: channel(p, method),
          token: str(p, 'token'),
          recover: bool(p, 'recover'),
          offset: offset(p, 'offset'),
          epoch: str(p, 'epoch'),
          data: rawData(p, 'data', line, method),
          positioned: bool(p, 'positioned'),
          recoverable: bool(p, 'recoverable'),
          joinLeave: bool(p, 'join_leave'),
          flag: int(p, 'flag'),
        },
      };
    case 'unsubscribe':
    case 'presence':
    case 'presence_stats':
      return { id, method, req: { channel: channel(p, method) } };
    case 'publish': {
      const ch = channel(p, method);
      const data = rawData(p, 'data', line, method);
      if (data === undefined) bad('data required for publish');
      return { id, method, req: { channel: ch, data } };
    }
    case 'history': {
      let since: { offset: number; epoch: string } | undefined;
      if (p.since !== undefined && p.since !== null) {
        if (!isObj(p.since)) bad('since must be an object');
        since = { offset: offset(p.since, 'offset'), epoch: str(p.since, 'epoch') };
      }
      return {
        id,
        method,
        req: { channel: channel(p, method), limit: int(p, 'limit'), since, reverse: bool(p, 'reverse') },
      };
    }
    case 'rpc':
      return { id, method, req: { method: str(p, 'method'), data: rawData(p, 'data', line, method) } };
    case 'send':
      return { id, method, req: { data: rawData(p, 'data', line, method) } };
    case 'refresh':
      return { id, method, req: { token: str(p, 'token') } };
    case 'sub_refresh':
      return { id, method, req: { channel: channel(p, method), token: str(p, 'token') } };
    case 'ping':
      return { id, method, req: {} };
  }
}

/**
 * The connect request of a unidirectional transport (the first WebSocket message, a POST body or the `cf_connect`
 * URL parameter): a ConnectRequest object on its own, not a command — `{"token","data","subs","name","version",
 * "headers"}`. A literal `null` is an empty request, as in Centrifugo. Anything else malformed throws a
 * DisconnectError with 3501 (bad request).
 */
export function decodeConnectRequest(input: Uint8Array | string): ConnectRequest {
  const source = typeof input === 'string' ? input : text(input);
  let o: unknown;
  try {
    o = JSON.parse(source);
  } catch (e) {
    bad(e instanceof RangeError ? 'JSON nested too deeply' : 'connect request is not valid JSON');
  }
  if (o === null) return { token: '', data: undefined, subs: new Map(), name: '', version: '' };
  if (!isObj(o)) bad('connect request must be a JSON object');
  return decodeConnect(o, source, '');
}

function text(frame: Uint8Array): string {
  const buf = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  return buf.toString('utf8');
}

/**
 * Splits a frame into commands: one JSON object per line. Blank lines (a trailing newline, CRLF) are skipped. At
 * most `maxCommands` per frame so one frame cannot queue unbounded work.
 */
export function decodeFrame(frame: Uint8Array | string, maxCommands = DEFAULT_MAX_COMMANDS_PER_FRAME): Command[] {
  const source = typeof frame === 'string' ? frame : text(frame);
  const commands: Command[] = [];
  let start = 0;
  while (start <= source.length) {
    let end = source.indexOf('\n', start);
    if (end === -1) end = source.length;
    const line = source.slice(start, end).trim();
    if (line !== '') {
      if (commands.length >= maxCommands) bad('too many commands in one frame');
      commands.push(decodeCommand(line));
    }
    start = end + 1;
  }
  return commands;
}
