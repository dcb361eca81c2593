/**
 * How encoded messages travel in a streamed HTTP response, one framing per transport and encoding, for the
 * bidirectional (http_stream, sse) and unidirectional (uni_http_stream, uni_sse) transports alike:
 *
 * - HTTP-streaming, JSON: each message followed by a newline (what centrifuge-js splits on; JSON messages never
 *   hold a raw line break, since payloads are kept on one line, see protocol/json-payload.ts).
 * - HTTP-streaming, Protobuf: the messages as they are (the codec already prefixes each with its varint length).
 * - SSE: each message as one `data:` event, `data: <json>\n\n`.
 *
 * A message the hub queues to many connections (a publication, a join) is framed once and the same bytes are
 * written to every stream; so is a batch of such messages, since the subscribers of one channel usually flush the
 * very same sequence (as the WebSocket transport's frames do).
 */
import { sharedFrames } from '../core/shared-frames.js';

export interface StreamFraming {
  /** The response's Content-Type. */
  readonly contentType: string;
  /** The wire bytes of one message. */
  one(message: Uint8Array): Buffer;
  /** The wire bytes of several messages, in one buffer. */
  many(messages: readonly Uint8Array[]): Buffer;
}

const NEWLINE = Buffer.from('\n');
const DATA = Buffer.from('data: ');
const EVENT_END = Buffer.from('\n\n');
/** What starts each further line of a message that contains a line break (SSE would end the field there). */
const DATA_CONTINUED = Buffer.from('\ndata: ');

/**
 * A framing from how one message is wrapped: `size` bytes, written by `write` at `at`. Shared messages and
 * batches of shared messages are cached.
 */
class CachingFraming implements StreamFraming {
  private readonly cache = new WeakMap<Uint8Array, Buffer>();
  private lastShared: Uint8Array | undefined;
  private lastSharedWire: Buffer | undefined;
  private lastBatch: readonly Uint8Array[] = [];
  private lastBatchWire: Buffer | undefined;

  constructor(
    readonly contentType: string,
    private readonly size: (m: Uint8Array) => number,
    private readonly write: (out: Buffer, at: number, m: Uint8Array) => number,
  ) {}

  one(message: Uint8Array): Buffer {
    if (message === this.lastShared) return this.lastSharedWire as Buffer;
    const shared = sharedFrames.has(message);
    let wire = shared ? this.cache.get(message) : undefined;
    if (wire === undefined) {
      wire = Buffer.allocUnsafe(this.size(message));
      this.write(wire, 0, message);
      if (shared) this.cache.set(message, wire);
    }
    if (shared) {
      this.lastShared = message;
      this.lastSharedWire = wire;
    }
    return wire;
  }

  many(messages: readonly Uint8Array[]): Buffer {
    if (this.lastBatchWire !== undefined && sameMessages(messages, this.lastBatch)) return this.lastBatchWire;
    let total = 0;
    let allShared = true;
    for (const m of messages) {
      total += this.size(m);
      if (allShared && !sharedFrames.has(m)) allShared = false;
    }
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (const m of messages) at = this.write(out, at, m);
    if (allShared) {
      this.lastBatch = messages;
      this.lastBatchWire = out;
    }
    return out;
  }
}

function sameMessages(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** HTTP-streaming with JSON: newline-delimited messages. */
export const ndjsonFraming: StreamFraming = new CachingFraming(
  'application/x-ndjson',
  (m) => m.length + 1,
  (out, at, m) => {
    out.set(m, at);
    out[at + m.length] = NEWLINE[0] as number;
    return at + m.length + 1;
  },
);

/** HTTP-streaming with Protobuf: the codec's varint-delimited messages, back to back. */
export const delimitedFraming: StreamFraming = new CachingFraming(
  'application/octet-stream',
  (m) => m.length,
  (out, at, m) => {
    out.set(m, at);
    return at + m.length;
  },
);

/** Line breaks (CR, LF) in a message: JSON never has them outside payloads, which are raw JSON as sent. */
function lineBreaks(m: Uint8Array): number {
  let n = 0;
  for (let i = m.indexOf(0x0a); i !== -1; i = m.indexOf(0x0a, i + 1)) n++;
  for (let i = m.indexOf(0x0d); i !== -1; i = m.indexOf(0x0d, i + 1)) n++;
  return n;
}

/**
 * SSE: one `data:` event per message. A payload sent as pretty-printed JSON carries line breaks, which would end
 * the field: each further line gets a `data:` field of its own (EventSource joins them back with "\n").
 */
export const sseFraming: StreamFraming = new CachingFraming(
  'text/event-stream; charset=utf-8',
  (m) => DATA.length + m.length + EVENT_END.length + lineBreaks(m) * (DATA_CONTINUED.length - 1),
  (out, at, m) => {
    out.set(DATA, at);
    let p = at + DATA.length;
    if (m.indexOf(0x0a) === -1 && m.indexOf(0x0d) === -1) {
      out.set(m, p);
      out.set(EVENT_END, p + m.length);
      return p + m.length + EVENT_END.length;
    }
    let start = 0;
    for (let i = 0; i < m.length; i++) {
      const c = m[i];
      if (c !== 0x0a && c !== 0x0d) continue;
      out.set(m.subarray(start, i), p);
      p += i - start;
      out.set(DATA_CONTINUED, p);
      p += DATA_CONTINUED.length;
      start = i + 1;
    }
    out.set(start === 0 ? m : m.subarray(start), p);
    p += m.length - start;
    out.set(EVENT_END, p);
    return p + EVENT_END.length;
  },
);
