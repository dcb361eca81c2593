/**
 * Wire helpers for the transports fuzz: the Protobuf bytes of valid and broken commands, and the checks of what
 * came back on a stream or a socket (JSON lines, SSE events, bare uni pushes, varint-delimited Protobuf replies).
 */
import protobuf from 'protobufjs';
import { Errors } from '../../../src/protocol/codes.js';
import { CommandType, ReplyType } from '../../../src/protocol/protobuf/schema.js';
import { channelName, type Rng } from '../hostile-inputs.js';
import { checkCloseCode, checkServerText, type Findings, REPLY_CODES } from '../live/checks.js';

// --- Protobuf ------------------------------------------------------------------------------------------------

export function varint(n: number | bigint): Buffer {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

export function key(field: number, wire: number): Buffer {
  return varint((field << 3) | wire);
}

/** A length-delimited field. */
export function lenField(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([key(field, 2), varint(bytes.length), bytes]);
}

/** A command, varint-length-prefixed as on the wire. */
export function pbCommand(obj: Record<string, unknown>): Buffer {
  return Buffer.from(CommandType.encodeDelimited(CommandType.fromObject(obj)).finish());
}

/** A command body without its length prefix. */
export function pbBody(obj: Record<string, unknown>): Buffer {
  return Buffer.from(CommandType.encode(CommandType.fromObject(obj)).finish());
}

export function delimit(body: Buffer): Buffer {
  return Buffer.concat([varint(body.length), body]);
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

/** A valid Protobuf command of a random method (what a correct client might send). */
export function validPbCommand(rng: Rng, id: number): Record<string, unknown> {
  const channel = channelName(rng);
  switch (rng.int(11)) {
    case 0:
      return {
        id,
        subscribe: { channel, recover: rng.chance(0.3), offset: rng.int(100), epoch: 'x', flag: rng.int(4) },
      };
    case 1:
      return { id, publish: { channel, data: json({ n: rng.int(1000) }) } };
    case 2:
      return { id, publish: { channel, data: Buffer.from([0, 1, 2, 0xff, rng.int(256)]) } };
    case 3:
      return { id, history: { channel, limit: rng.int(400) - 10, since: { offset: rng.int(100), epoch: 'e' } } };
    case 4:
      return { id, presence: { channel } };
    case 5:
      return { id, presence_stats: { channel } };
    case 6:
      return { id, unsubscribe: { channel } };
    case 7:
      return { id, rpc: { method: rng.pick(['chorus.send', 'm', '']), data: json({ user: 'u' }) } };
    case 8:
      return { id, sub_refresh: { channel, token: 'bad' } };
    case 9:
      return { id, refresh: { token: 'bad' } };
    default:
      return { id, ping: {} };
  }
}

/** One byte-level mutation: flip, insert, delete, truncate, duplicate a range. */
export function mutateBytes(b: Buffer, rng: Rng): Buffer {
  if (b.length === 0) return Buffer.from([rng.int(256)]);
  const at = rng.int(b.length);
  switch (rng.int(6)) {
    case 0: {
      const c = Buffer.from(b);
      c[at] = (c[at] as number) ^ (1 << rng.int(8));
      return c;
    }
    case 1:
      return Buffer.concat([
        b.subarray(0, at),
        Buffer.from([rng.pick([0x00, 0x7f, 0x80, 0xff, rng.int(256)])]),
        b.subarray(at),
      ]);
    case 2:
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + rng.int(4))]);
    case 3:
      return b.subarray(0, at);
    case 4: {
      const len = 1 + rng.int(8);
      return Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at)]);
    }
    default: {
      const c = Buffer.from(b);
      c[at] = rng.int(256);
      return c;
    }
  }
}

/** Fields of every wire type with numbers the schema does not know (skipped by the decoder). */
export function unknownFields(rng: Rng, n: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const field = rng.pick([2, 3, 16, 100, 999, 536870911]);
    switch (rng.int(4)) {
      case 0:
        parts.push(key(field, 0), varint(BigInt(rng.int(2 ** 30)) * BigInt(rng.int(2 ** 30))));
        break;
      case 1:
        parts.push(key(field, 1), Buffer.alloc(8, rng.int(256)));
        break;
      case 2:
        parts.push(lenField(field, Buffer.alloc(rng.size(64), 0x61)));
        break;
      default:
        parts.push(key(field, 5), Buffer.alloc(4, rng.int(256)));
    }
  }
  return Buffer.concat(parts);
}

export interface PbFrame {
  bytes: Buffer | string;
  kind: string;
}

/** One hostile frame for a Protobuf WebSocket session, by kind. */
export function pbFrame(rng: Rng, nextId: () => number, frameLimit: number): PbFrame {
  const r = rng.int(100);
  if (r < 22) {
    let b = pbCommand(validPbCommand(rng, nextId()));
    const n = 1 + rng.int(4);
    for (let i = 0; i < n; i++) b = mutateBytes(b, rng);
    return { bytes: b, kind: 'pb-mutated' };
  }
  if (r < 40) {
    const n = 1 + rng.int(8);
    return {
      bytes: Buffer.concat(Array.from({ length: n }, () => pbCommand(validPbCommand(rng, nextId())))),
      kind: 'pb-valid',
    };
  }
  if (r < 45) {
    // A varint longer than 10 bytes: as the length prefix, as the id, or as an unknown field's value.
    const over = Buffer.concat([Buffer.alloc(10 + rng.int(20), 0xff), Buffer.from([0x01])]);
    const where = rng.int(3);
    if (where === 0) return { bytes: over, kind: 'pb-varint-overflow' };
    const body = where === 1 ? Buffer.concat([key(1, 0), over]) : Buffer.concat([key(100, 0), over]);
    return { bytes: delimit(body), kind: 'pb-varint-overflow' };
  }
  if (r < 52) {
    // Lengths that lie: the prefix, or a field inside the command, claims more than there is (or absurdly much).
    const cmd = pbBody(validPbCommand(rng, nextId()));
    const claim = rng.pick([cmd.length + 1 + rng.int(100), 2 ** 31 - 1, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]);
    if (rng.chance(0.5)) return { bytes: Buffer.concat([varint(claim), cmd]), kind: 'pb-lying-length' };
    const inner = Buffer.concat([key(7, 2), varint(claim), Buffer.from('ab')]);
    return { bytes: delimit(Buffer.concat([key(1, 0), varint(nextId()), inner])), kind: 'pb-lying-length' };
  }
  if (r < 58) {
    // Known fields with the wrong wire type, and the invalid wire types 6 and 7.
    const field = rng.pick([1, 4, 5, 7, 10, 11, 12, 13]);
    const wire = rng.pick([0, 1, 2, 3, 4, 5, 6, 7]);
    let value: Buffer;
    if (wire === 0) value = varint(rng.int(2 ** 31));
    else if (wire === 1) value = Buffer.alloc(8, 1);
    else if (wire === 2) value = Buffer.concat([varint(3), Buffer.from([0x0a, 0x01, 0x61])]);
    else if (wire === 5) value = Buffer.alloc(4, 1);
    else value = Buffer.alloc(rng.int(4), 0x0b);
    return {
      bytes: delimit(Buffer.concat([key(1, 0), varint(nextId()), key(field, wire), value])),
      kind: 'pb-wrong-wire-type',
    };
  }
  if (r < 64) {
    const cmd = pbBody(validPbCommand(rng, nextId()));
    return { bytes: delimit(Buffer.concat([unknownFields(rng, 1 + rng.size(200)), cmd])), kind: 'pb-unknown-fields' };
  }
  if (r < 69) {
    // One field repeated thousands of times (proto3: the last wins, every one is read), up to the frame limit.
    const id = nextId();
    const channel = lenField(1, Buffer.from(`open${rng.int(5)}`));
    const n = Math.floor((frameLimit - 64) / channel.length);
    const repeated = rng.chance(0.5)
      ? Buffer.concat(Array.from({ length: n }, () => channel))
      : Buffer.concat(Array.from({ length: n }, (_, i) => lenField(3, lenField(1, Buffer.from(`c${i}`)))));
    return {
      bytes: delimit(Buffer.concat([key(1, 0), varint(id), lenField(rng.pick([8, 9, 6]), repeated)])),
      kind: 'pb-huge-repeated',
    };
  }
  if (r < 72) return { bytes: Buffer.alloc(0), kind: 'pb-empty-frame' };
  if (r < 75) return { bytes: Buffer.alloc(1 + rng.int(20), 0), kind: 'pb-zero-length-commands' };
  if (r < 79) return { bytes: rng.chance(0.5) ? '{"id":1,"ping":{}}' : 'x', kind: 'pb-text-frame' };
  if (r < 84) {
    // Many commands in one frame: 1,024 (the limit) or more.
    const n = rng.pick([1024, 1025, 5000]);
    const ping = (id: number) => pbCommand({ id, ping: {} });
    return { bytes: Buffer.concat(Array.from({ length: n }, () => ping(nextId()))), kind: `pb-${n}-commands` };
  }
  if (r < 88) {
    // Nesting: start-group tags of an unknown field, thousands deep (the skipper recurses), or nested messages.
    const depth = 1000 + rng.int(Math.floor(frameLimit / 2) - 1000);
    const body = rng.chance(0.5)
      ? Buffer.concat([key(1, 0), varint(nextId()), Buffer.alloc(depth, 0x13)])
      : Buffer.concat([key(1, 0), varint(nextId()), Buffer.alloc(depth, 0x13), Buffer.alloc(depth, 0x14)]);
    return { bytes: delimit(body), kind: 'pb-deep-groups' };
  }
  if (r < 91) {
    // A whole frame of nested length-delimited unknown fields, each holding the next.
    let inner: Buffer = Buffer.from('x');
    for (let i = 0; i < 200 + rng.int(2000) && inner.length < frameLimit - 16; i++) inner = lenField(100, inner);
    return { bytes: delimit(Buffer.concat([key(1, 0), varint(nextId()), inner])), kind: 'pb-deep-messages' };
  }
  if (r < 94) {
    const data = Buffer.alloc(frameLimit + rng.int(1000), 0x61);
    return { bytes: pbCommand({ id: nextId(), publish: { channel: 'open1', data } }), kind: 'pb-oversized' };
  }
  if (r < 97) {
    // A command without an id but with a method (only send may omit it), or several methods in one command.
    return rng.chance(0.5)
      ? { bytes: pbCommand({ publish: { channel: 'open1', data: json(1) } }), kind: 'pb-no-id' }
      : { bytes: pbCommand({ id: nextId(), ping: {}, presence: { channel: 'open1' } }), kind: 'pb-two-methods' };
  }
  const random = Buffer.alloc(1 + rng.size(4096));
  for (let i = 0; i < random.length; i++) random[i] = rng.int(256);
  return { bytes: random, kind: 'pb-random-bytes' };
}

/**
 * Checks the Protobuf replies and pushes in `bytes` (varint-delimited `Reply`s, or bare `Push`es): reply errors
 * documented and never 100, disconnect pushes with documented codes. Returns the disconnect code pushed, if any,
 * and whether the bytes ended inside a message (`rest`: bytes of an incomplete last message).
 */
export function checkPbReplies(
  bytes: Uint8Array,
  findings: Findings,
  where: string,
): { disconnect: number | undefined; ids: number[]; rest: Uint8Array } {
  const reader = protobuf.Reader.create(bytes);
  let disconnect: number | undefined;
  const ids: number[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    let m: Record<string, unknown>;
    try {
      m = ReplyType.toObject(ReplyType.decodeDelimited(reader)) as Record<string, unknown>;
    } catch (e) {
      // An incomplete message at the end of a chunk (streams): kept for the next one.
      if (/index out of range/.test((e as Error).message)) return { disconnect, ids, rest: bytes.slice(start) };
      findings.add(`${where}: a Protobuf reply that does not decode`, (e as Error).message);
      return { disconnect, ids, rest: new Uint8Array(0) };
    }
    if (typeof m.id === 'number' && m.id > 0) ids.push(m.id);
    const err = m.error as { code?: number } | undefined;
    if (err !== undefined) {
      const code = err.code ?? 0;
      if (!REPLY_CODES.has(code)) findings.add(`${where}: undocumented reply error ${code}`, JSON.stringify(m));
      else if (code === Errors.internal.code) findings.add(`${where}: reply error 100 (internal) for client input`, '');
    }
    const push = m.push as { disconnect?: { code?: number } } | undefined;
    if (push?.disconnect !== undefined) {
      disconnect = push.disconnect.code ?? 0;
      checkCloseCode(disconnect, findings, `${where} (disconnect push)`);
    }
  }
  return { disconnect, ids, rest: new Uint8Array(0) };
}

/**
 * Checks JSON messages of a bidirectional stream (replies and `{"push":…}`), one per line; returns the code of a
 * disconnect push, if any.
 */
export function checkJsonMessages(lines: string[], findings: Findings, where: string): number | undefined {
  let disconnect: number | undefined;
  for (const line of lines) {
    if (line.trim() === '') continue;
    checkServerText(line, findings, where);
    const code = disconnectCode(line);
    if (code !== undefined) {
      disconnect = code;
      checkCloseCode(code, findings, `${where} (disconnect push)`);
    }
  }
  return disconnect;
}

function disconnectCode(line: string): number | undefined {
  if (!line.includes('"disconnect"')) return undefined;
  try {
    const m = JSON.parse(line) as { push?: { disconnect?: { code?: number } }; disconnect?: { code?: number } };
    const d = m.push?.disconnect ?? m.disconnect;
    return d === undefined ? undefined : (d.code ?? 0);
  } catch {
    return undefined;
  }
}

/** Checks the bare pushes of a unidirectional stream; returns the code of a disconnect push, if any. */
export function checkUniPushes(lines: string[], findings: Findings, where: string): number | undefined {
  let disconnect: number | undefined;
  for (const line of lines) {
    if (line.trim() === '') continue;
    let m: unknown;
    try {
      m = JSON.parse(line);
    } catch {
      findings.add(`${where}: a push that is not JSON`, line.slice(0, 200));
      continue;
    }
    if (typeof m !== 'object' || m === null || Array.isArray(m)) {
      findings.add(`${where}: a push that is not a JSON object`, line.slice(0, 200));
      continue;
    }
    const o = m as Record<string, unknown>;
    if (o.id !== undefined || o.push !== undefined || o.error !== undefined) {
      findings.add(`${where}: a reply or wrapped push on a unidirectional stream`, line.slice(0, 200));
    }
    const code = disconnectCode(line);
    if (code !== undefined) {
      disconnect = code;
      checkCloseCode(code, findings, `${where} (disconnect push)`);
    }
  }
  return disconnect;
}

/** Splits a growing text into complete units (lines, or SSE events' data); keeps the incomplete rest. */
export class Splitter {
  private pending = '';
  constructor(private readonly sse: boolean) {}
  take(chunk: string): string[] {
    this.pending += chunk;
    const sep = this.sse ? /\r?\n\r?\n/ : /\n/;
    const parts = this.pending.split(sep);
    this.pending = parts.pop() ?? '';
    if (!this.sse) return parts;
    const out: string[] = [];
    for (const block of parts) {
      const data = block
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''));
      if (data.length > 0) out.push(data.join('\n'));
    }
    return out;
  }
  get rest(): string {
    return this.pending;
  }
}
