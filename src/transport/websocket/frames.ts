/**
 * WebSocket frames built by hand for the fan-out fast path: a shared message (the hub queues the same bytes to
 * many sockets) is framed once, and a batch of messages (several per frame, joined by the codec's separator) is
 * framed into one buffer — the same batch for every subscriber of a channel is framed once.
 *
 * The frames are written with ws's internal `Sender.frame` / `sender.sendFrame`, the path Socket.IO uses for its
 * pre-encoded broadcasts. They are not part of ws's typed API, so `fastPath` checks they exist; without them
 * every write takes ws's public `send` (slower, never broken) and Chorus says so at start.
 */

import type { WebSocket } from 'ws';
import * as wsLib from 'ws';
import { sharedFrames } from '../../core/shared-frames.js';

/** ws's sender: `sendFrame` writes already framed bytes. */
export interface WireSender {
  sendFrame(list: Buffer[], cb?: () => void): void;
}

type FrameBuilder = (data: Buffer, options: object) => Buffer[];

const frameBuilder: FrameBuilder | undefined = (() => {
  const Sender = (wsLib as unknown as { Sender?: { frame?: FrameBuilder } }).Sender;
  return typeof Sender?.frame === 'function' ? Sender.frame.bind(Sender) : undefined;
})();

/** Whether the fast path is in use, and why not when it is not (checked on the first socket). */
export const fastPath: { inUse: boolean | undefined; missing: string } = {
  inUse: frameBuilder === undefined ? false : undefined,
  missing: frameBuilder === undefined ? 'ws.Sender.frame' : '',
};

/** The socket's sender when the fast path can be used on it. */
export function wireSender(ws: WebSocket): WireSender | undefined {
  const sender = (ws as unknown as { _sender?: Partial<WireSender> })._sender;
  if (frameBuilder === undefined || typeof sender?.sendFrame !== 'function') {
    if (fastPath.inUse === undefined) {
      fastPath.inUse = false;
      fastPath.missing = 'websocket._sender.sendFrame';
    }
    return undefined;
  }
  fastPath.inUse ??= true;
  return sender as WireSender;
}

const TEXT = 0x1;
const BINARY = 0x2;

/** Framed bytes per shared message and opcode, built by the first socket that writes it. */
const wireFrames = [new WeakMap<Uint8Array, Buffer[]>(), new WeakMap<Uint8Array, Buffer[]>()];
/**
 * The last shared message framed per opcode (text, binary): a channel whose subscribers mix JSON and Protobuf
 * alternates between the two encodings of one publication, and each finds its own without a WeakMap lookup.
 */
const lastShared: Array<Uint8Array | undefined> = [undefined, undefined];
const lastSharedWire: Array<Buffer[] | undefined> = [undefined, undefined];

/** The frame of a shared message (undefined for one that is not shared: the caller sends it normally). */
export function sharedWire(message: Uint8Array, binary: boolean): Buffer[] | undefined {
  const slot = binary ? 1 : 0;
  if (message === lastShared[slot]) return lastSharedWire[slot];
  const cache = wireFrames[slot] as WeakMap<Uint8Array, Buffer[]>;
  let wire = cache.get(message);
  if (wire === undefined) {
    if (!sharedFrames.has(message)) return undefined;
    const opts = { fin: true, rsv1: false, opcode: binary ? BINARY : TEXT, mask: false, readOnly: false };
    wire = [Buffer.concat((frameBuilder as FrameBuilder)(asBuffer(message), opts))];
    cache.set(message, wire);
  }
  lastShared[slot] = message;
  lastSharedWire[slot] = wire;
  return wire;
}

function asBuffer(m: Uint8Array): Buffer {
  return Buffer.isBuffer(m) ? m : Buffer.from(m.buffer, m.byteOffset, m.byteLength);
}

/**
 * The last batch built only of shared messages, and its wire bytes, per opcode: subscribers of the same channels
 * usually flush the very same sequence of publications, so the frames are built once and written to each of
 * them — also when JSON and Protobuf subscribers alternate.
 */
interface BuiltBatch {
  messages: readonly Uint8Array[];
  perFrame: number;
  separator: Uint8Array | undefined;
  wire: Buffer | undefined;
}
const lastBatches: BuiltBatch[] = [0, 1].map(() => ({
  messages: [],
  perFrame: 0,
  separator: undefined,
  wire: undefined,
}));

/** Frames (header and separator-joined messages each) for `messages`, `perFrame` per frame, in one buffer. */
export function batchWire(
  messages: readonly Uint8Array[],
  perFrame: number,
  separator: Uint8Array,
  binary: boolean,
): Buffer {
  const last = lastBatches[binary ? 1 : 0] as BuiltBatch;
  if (
    last.wire !== undefined &&
    perFrame === last.perFrame &&
    separator === last.separator &&
    sameMessages(messages, last.messages)
  ) {
    return last.wire;
  }
  const n = messages.length;
  const sep = separator.length;
  let allShared = true;
  let total = 0;
  for (let i = 0; i < n; i += perFrame) {
    const end = Math.min(n, i + perFrame);
    let len = (end - i - 1) * sep;
    for (let j = i; j < end; j++) {
      const m = messages[j] as Uint8Array;
      if (!sharedFrames.has(m)) allShared = false;
      len += m.length;
    }
    total += headerSize(len) + len;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < n; i += perFrame) {
    const end = Math.min(n, i + perFrame);
    let len = (end - i - 1) * sep;
    for (let j = i; j < end; j++) len += (messages[j] as Uint8Array).length;
    at = writeHeader(out, at, len, binary);
    for (let j = i; j < end; j++) {
      if (j > i && sep > 0) {
        out.set(separator, at);
        at += sep;
      }
      const m = messages[j] as Uint8Array;
      out.set(m, at);
      at += m.length;
    }
  }
  if (allShared) {
    last.messages = messages;
    last.perFrame = perFrame;
    last.separator = separator;
    last.wire = out;
  }
  return out;
}

/** Messages [from, to) joined by the separator: one frame's payload, for ws's own framing. */
export function joinMessages(messages: readonly Uint8Array[], from: number, to: number, separator: Uint8Array): Buffer {
  const parts: Uint8Array[] = [];
  for (let i = from; i < to; i++) {
    if (i > from && separator.length > 0) parts.push(separator);
    parts.push(messages[i] as Uint8Array);
  }
  return Buffer.concat(parts);
}

function sameMessages(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function headerSize(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/** A final, unmasked frame header for a payload of `len` bytes, at `at`; returns where the payload starts. */
function writeHeader(out: Buffer, at: number, len: number, binary: boolean): number {
  out[at] = 0x80 | (binary ? BINARY : TEXT);
  if (len < 126) {
    out[at + 1] = len;
    return at + 2;
  }
  if (len < 65536) {
    out[at + 1] = 126;
    out.writeUInt16BE(len, at + 2);
    return at + 4;
  }
  out[at + 1] = 127;
  out.writeUInt32BE(Math.floor(len / 2 ** 32), at + 2);
  out.writeUInt32BE(len >>> 0, at + 6);
  return at + 10;
}
