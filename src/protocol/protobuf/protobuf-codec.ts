/**
 * The Protobuf encoding of the client protocol (WebSocket subprotocol `centrifuge-protobuf`): binary frames that
 * hold one or more varint-length-delimited `Command`s (client to server) or `Reply`s (server to client), as the
 * official SDKs write and read them. Decoding applies the same rules as the JSON codec: anything malformed is a
 * 3501 bad request, never another exception.
 */
import protobuf from 'protobufjs';
import { type ClientCodec, DEFAULT_MAX_COMMANDS_PER_FRAME } from '../codec.js';
import { DisconnectError, Disconnects } from '../codes.js';
import type {
  ClientInfo,
  Command,
  ConnectRequest,
  ConnectResult,
  Payload,
  Publication,
  Push,
  Reply,
  SubscribeResult,
} from '../messages.js';
import { CommandType, PushType, ReplyType } from './schema.js';

function bad(what: string): never {
  throw new DisconnectError(Disconnects.badRequest, what);
}

type Fields = Record<string, unknown>;

/** A 64-bit field as a number (protobufjs gives Long objects when the `long` package is present). */
function u64(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const long = v as { toNumber?: () => number; high?: number; unsigned?: boolean };
  if (typeof long.toNumber !== 'function') bad('malformed integer');
  const n = long.toNumber();
  // Offsets beyond what a double holds exactly cannot be a real position: clamp as the JSON codec does.
  return n > Number.MAX_SAFE_INTEGER || n < 0 ? Number.MAX_SAFE_INTEGER : n;
}

function i64(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const long = v as { toNumber?: () => number };
  if (typeof long.toNumber !== 'function') bad('malformed integer');
  const n = long.toNumber();
  if (Math.abs(n) > 0xffffffff) bad('flag out of range');
  return n;
}

/** Bytes of a field, copied out of the frame (a stored payload must not keep its frame alive). */
function payload(v: unknown): Payload | undefined {
  if (!(v instanceof Uint8Array) || v.length === 0) return undefined;
  return Buffer.from(v);
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function sub(m: Fields, key: string): Fields | undefined {
  const v = m[key];
  return v === undefined || v === null ? undefined : (v as Fields);
}

function channel(p: Fields, method: string): string {
  const ch = text(p.channel);
  if (ch === '') bad(`channel required for ${method}`);
  return ch;
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

function connectRequest(p: Fields): ConnectRequest {
  const subs: ConnectRequest['subs'] = new Map();
  const raw = (p.subs ?? {}) as Record<string, Fields>;
  for (const ch of Object.keys(raw)) {
    const s = raw[ch] as Fields;
    subs.set(ch, { recover: s.recover === true, offset: u64(s.offset), epoch: text(s.epoch) });
  }
  const headers = p.headers as Record<string, string> | undefined;
  return {
    token: text(p.token),
    data: payload(p.data),
    subs,
    name: text(p.name),
    version: text(p.version),
    headers: headers !== undefined && Object.keys(headers).length > 0 ? { ...headers } : undefined,
  };
}

function command(m: Fields): Command {
  const id = typeof m.id === 'number' ? m.id : 0;
  let method: (typeof METHODS)[number] | undefined;
  for (const name of METHODS) {
    if (sub(m, name) !== undefined) {
      if (method !== undefined) bad('more than one method in a command');
      method = name;
    }
  }
  if (method === undefined) return id === 0 ? { id: 0, method: 'pong', req: {} } : { id, method: 'unknown', req: {} };
  const p = sub(m, method) as Fields;
  switch (method) {
    case 'connect':
      return { id, method, req: connectRequest(p) };
    case 'subscribe':
      return {
        id,
        method,
        req: {
          channel: channel(p, method),
          token: text(p.token),
          recover: p.recover === true,
          offset: u64(p.offset),
          epoch: text(p.epoch),
          data: payload(p.data),
          positioned: p.positioned === true,
          recoverable: p.recoverable === true,
          joinLeave: p.join_leave === true,
          flag: i64(p.flag),
        },
      };
    case 'unsubscribe':
    case 'presence':
    case 'presence_stats':
      return { id, method, req: { channel: channel(p, method) } };
    case 'publish':
      // Empty bytes are a payload like any other (proto3 does not even send them), as in Centrifugo.
      return { id, method, req: { channel: channel(p, method), data: payload(p.data) ?? Buffer.alloc(0) } };
    case 'history': {
      const since = sub(p, 'since');
      return {
        id,
        method,
        req: {
          channel: channel(p, method),
          limit: typeof p.limit === 'number' ? p.limit : 0,
          since: since === undefined ? undefined : { offset: u64(since.offset), epoch: text(since.epoch) },
          reverse: p.reverse === true,
        },
      };
    }
    case 'rpc':
      return { id, method, req: { method: text(p.method), data: payload(p.data) } };
    case 'send':
      return { id, method, req: { data: payload(p.data) } };
    case 'refresh':
      return { id, method, req: { token: text(p.token) } };
    case 'sub_refresh':
      return { id, method, req: { channel: channel(p, method), token: text(p.token) } };
    case 'ping':
      return { id, method, req: {} };
  }
}

export function decodeCommands(frame: Uint8Array, maxCommands = DEFAULT_MAX_COMMANDS_PER_FRAME): Command[] {
  const reader = protobuf.Reader.create(frame);
  const commands: Command[] = [];
  while (reader.pos < reader.len) {
    if (commands.length >= maxCommands) bad('too many commands in one frame');
    let m: Fields;
    try {
      m = CommandType.decodeDelimited(reader) as unknown as Fields;
    } catch (e) {
      bad(`malformed protobuf command: ${(e as Error).message}`);
    }
    commands.push(command(m));
  }
  return commands;
}

// --- encoding ------------------------------------------------------------------------------------------------

/** A uint32 field (ttl, ping, codes, counts): clamped, never wrapped, never negative or fractional. */
function u32(n: number): number {
  return n > 0 ? Math.min(Math.floor(n), 0xffffffff) : 0;
}

/** A 64-bit field (offsets, times): a non-negative integer a double holds exactly. */
function n64(n: number): number {
  return n > 0 ? Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER) : 0;
}

// Fields at their zero value (false, 0, "", empty bytes) are left out, as Centrifugo's encoder does: the bytes
// are then exactly what the official definitions produce, and no frame carries what a reader would assume anyway.

function flag(b: boolean | undefined): true | undefined {
  return b === true ? true : undefined;
}

function str(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function bytes(b: Uint8Array | undefined): Uint8Array | undefined {
  return b === undefined || b.length === 0 ? undefined : b;
}

function positive(n: number | undefined, encode: (n: number) => number): number | undefined {
  return n !== undefined && n > 0 ? encode(n) : undefined;
}

function clientInfo(info: ClientInfo): Fields {
  return {
    user: str(info.user),
    client: str(info.client),
    conn_info: bytes(info.connInfo),
    chan_info: bytes(info.chanInfo),
  };
}

function publication(pub: Publication): Fields {
  return {
    data: bytes(pub.data),
    info: pub.info === undefined ? undefined : clientInfo(pub.info),
    offset: positive(pub.offset, n64),
    tags: pub.tags,
    time: positive(pub.time, n64),
  };
}

function subscribeResult(r: SubscribeResult): Fields {
  return {
    expires: flag(r.expires),
    ttl: r.expires === true ? positive(r.ttl, u32) : undefined,
    recoverable: flag(r.recoverable),
    epoch: str(r.position?.epoch),
    publications: r.publications?.map(publication),
    recovered: flag(r.recovered),
    offset: positive(r.position?.offset, n64),
    positioned: flag(r.positioned),
    data: bytes(r.data),
    was_recovering: flag(r.wasRecovering),
  };
}

function connectResult(r: ConnectResult): Fields {
  let subs: Record<string, Fields> | undefined;
  if (r.subs !== undefined && r.subs.size > 0) {
    subs = {};
    for (const [ch, res] of r.subs) subs[ch] = subscribeResult(res);
  }
  return {
    client: str(r.client),
    version: str(r.version),
    expires: flag(r.expires),
    ttl: r.expires ? positive(r.ttl, u32) : undefined,
    data: bytes(r.data),
    subs,
    ping: positive(r.ping, u32),
    pong: flag(r.pong),
    session: str(r.session),
    node: str(r.node),
    time: positive(r.time, n64),
  };
}

function result(reply: Exclude<Reply, { method: 'error' }>): Fields {
  switch (reply.method) {
    case 'connect':
      return connectResult(reply.result);
    case 'subscribe':
      return subscribeResult(reply.result);
    case 'unsubscribe':
    case 'publish':
    case 'ping':
      return {};
    case 'presence': {
      const presence: Record<string, Fields> = {};
      for (const info of reply.result.presence) presence[info.client] = clientInfo(info);
      return { presence };
    }
    case 'presence_stats':
      return {
        num_clients: positive(reply.result.numClients, u32),
        num_users: positive(reply.result.numUsers, u32),
      };
    case 'history':
      return {
        publications: reply.result.publications.map(publication),
        epoch: str(reply.result.position.epoch),
        offset: positive(reply.result.position.offset, n64),
      };
    case 'rpc':
      return { data: bytes(reply.result.data) };
    case 'refresh':
      return {
        client: str(reply.result.client),
        version: str(reply.result.version),
        expires: flag(reply.result.expires),
        ttl: reply.result.expires ? positive(reply.result.ttl, u32) : undefined,
      };
    case 'sub_refresh':
      return {
        expires: flag(reply.result.expires),
        ttl: reply.result.expires ? positive(reply.result.ttl, u32) : undefined,
      };
  }
}

function pushFields(push: Push): Fields {
  switch (push.type) {
    case 'pub':
      return { channel: str(push.channel), pub: publication(push.pub) };
    case 'join':
      return { channel: str(push.channel), join: { info: clientInfo(push.info) } };
    case 'leave':
      return { channel: str(push.channel), leave: { info: clientInfo(push.info) } };
    case 'unsubscribe':
      return {
        channel: str(push.channel),
        unsubscribe: { code: positive(push.code, u32), reason: str(push.reason) },
      };
    case 'message':
      return { message: { data: bytes(push.data) } };
    case 'subscribe':
      // Protobuf's Subscribe push has room for the position, flags and data only (see messages.ts).
      return {
        channel: str(push.channel),
        subscribe: {
          recoverable: flag(push.sub.recoverable),
          epoch: str(push.sub.position?.epoch),
          offset: positive(push.sub.position?.offset, n64),
          positioned: flag(push.sub.positioned),
          data: bytes(push.sub.data),
        },
      };
    case 'connect':
      return { connect: connectResult(push.connect) };
    case 'disconnect':
      return {
        disconnect: { code: positive(push.code, u32), reason: str(push.reason), reconnect: flag(push.reconnect) },
      };
    case 'refresh':
      return { refresh: { expires: flag(push.expires), ttl: push.expires ? positive(push.ttl, u32) : undefined } };
  }
}

function delimited(type: protobuf.Type, fields: Fields): Uint8Array {
  return type.encodeDelimited(fields as unknown as protobuf.Message).finish();
}

export function encodeReply(reply: Reply): Uint8Array {
  if (reply.method === 'error') {
    const e = reply.error;
    return delimited(ReplyType, {
      id: positive(reply.id, u32),
      error: { code: positive(e.code, u32), message: str(e.message), temporary: flag(e.temporary) },
    });
  }
  return delimited(ReplyType, { id: positive(reply.id, u32), [reply.method]: result(reply) });
}

export function encodePush(push: Push): Uint8Array {
  return delimited(ReplyType, { push: pushFields(push) });
}

export function encodeBarePush(push: Push): Uint8Array {
  return delimited(PushType, pushFields(push));
}

export const protobufCodec: ClientCodec = {
  name: 'protobuf',
  binary: true,
  separator: new Uint8Array(0),
  // An empty Reply: a zero length and no bytes.
  ping: Uint8Array.of(0),
  decodeCommands,
  encodeReply,
  encodePush,
  encodeBarePush,
};
