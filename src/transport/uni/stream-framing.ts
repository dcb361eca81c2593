/**
 * How unidirectional HTTP streams frame JSON pushes: Server-Sent Events (`data: <push>\n\n`, uni_sse) or
 * newline-delimited JSON (`<push>\n`, uni_http_stream). Both are line-based, while payloads are embedded as the
 * publisher wrote them and may hold line breaks (pretty-printed JSON published through the API): outside strings
 * a raw CR or LF in JSON can only be whitespace, so each becomes a space and the push stays one line meaning the
 * same. A push the hub shares between many connections is framed once.
 */
import { sharedFrames } from '../../core/shared-frames.js';

export type StreamFormat = 'sse' | 'ndjson';

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const SSE_PREFIX = Buffer.from('data: ');
const SSE_SUFFIX = Buffer.from('\n\n');
const NEWLINE = Buffer.from('\n');

function asBuffer(m: Uint8Array): Buffer {
  return Buffer.isBuffer(m) ? m : Buffer.from(m.buffer, m.byteOffset, m.byteLength);
}

/** The message on one line: CR and LF (JSON whitespace) replaced by spaces; the same bytes when it has none. */
export function oneLine(message: Uint8Array): Buffer {
  const b = asBuffer(message);
  if (b.indexOf(LF) === -1 && b.indexOf(CR) === -1) return b;
  const copy = Buffer.from(b);
  for (let i = 0; i < copy.length; i++) {
    const c = copy[i];
    if (c === LF || c === CR) copy[i] = SPACE;
  }
  return copy;
}

function build(message: Uint8Array, format: StreamFormat): Buffer {
  const line = oneLine(message);
  return format === 'sse' ? Buffer.concat([SSE_PREFIX, line, SSE_SUFFIX]) : Buffer.concat([line, NEWLINE]);
}

const framedShared: Record<StreamFormat, WeakMap<Uint8Array, Buffer>> = { sse: new WeakMap(), ndjson: new WeakMap() };

/** One message framed for the stream. */
export function frameMessage(message: Uint8Array, format: StreamFormat): Buffer {
  if (!sharedFrames.has(message)) return build(message, format);
  const cache = framedShared[format];
  let framed = cache.get(message);
  if (framed === undefined) {
    framed = build(message, format);
    cache.set(message, framed);
  }
  return framed;
}

/** Several messages framed into one buffer (one write). */
export function frameMessages(messages: readonly Uint8Array[], format: StreamFormat): Buffer {
  if (messages.length === 1) return frameMessage(messages[0] as Uint8Array, format);
  return Buffer.concat(messages.map((m) => frameMessage(m, format)));
}
