/**
 * What a JSON client (and any JSON answer: the server API, hooks' context) gets for a payload. Payloads are
 * bytes; the JSON encoding embeds them as they are when they are JSON text, which every payload from a JSON
 * client, from the API's `data` or from a hook's value is. Bytes that are not UTF-8 JSON (a Protobuf client's
 * binary data, the API's `b64data`) are embedded as a JSON string holding their base64 (standard alphabet, with
 * padding) — the same base64 the API's `b64data` takes — so a JSON client never receives a frame that is not JSON,
 * and an application that publishes binary can decode it in JSON clients too.
 *
 * The check is cheap where it matters: payloads that arrive as JSON are marked when they are decoded and never
 * checked again; any other payload is checked once, and the verdict (and the base64 form) is remembered for that
 * payload object. The JSON encoder caches a publication's bytes per publication, so a publication is checked once
 * per node, never once per subscriber.
 */
import { isUtf8 } from 'node:buffer';
import { nestedDeeperThan } from './json-depth.js';

const knownJson = new WeakSet<Uint8Array>();
/** Payloads embedded as something other than themselves: base64 strings, or JSON text put on one line. */
const otherForms = new WeakMap<Uint8Array, Uint8Array>();
/** Payloads that are not JSON text (their form is a base64 string). */
const notJson = new WeakSet<Uint8Array>();

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;

function hasLineBreak(p: Uint8Array): boolean {
  return p.indexOf(LF) >= 0 || p.indexOf(CR) >= 0;
}

/**
 * JSON text on one line. The JSON protocol separates messages with newlines (every SDK splits frames on them), so
 * a pretty-printed payload would break the frame it is in. In valid JSON a raw CR or LF can only be whitespace
 * (strings escape them), so each becomes a space: the same JSON value, on one line.
 */
function putOnOneLine(p: Uint8Array): void {
  for (let i = p.indexOf(LF); i >= 0; i = p.indexOf(LF, i + 1)) p[i] = SPACE;
  for (let i = p.indexOf(CR); i >= 0; i = p.indexOf(CR, i + 1)) p[i] = SPACE;
}

/**
 * Records that `payload` is JSON text (it came from a JSON source): it is embedded without a check. The bytes
 * must be the caller's own copy: line breaks in them are turned into spaces here, once, at the source.
 */
export function markJson<T extends Uint8Array>(payload: T): T {
  if (hasLineBreak(payload)) putOnOneLine(payload);
  knownJson.add(payload);
  return payload;
}

function view(p: Uint8Array): Buffer {
  return Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

function isJsonText(p: Uint8Array): boolean {
  if (p.length === 0 || !isUtf8(p)) return false;
  const text = view(p).toString('utf8');
  // JSON.parse slows down faster than linearly with depth; text nested deeper than the server API accepts goes
  // out as base64 rather than holding the event loop.
  if (nestedDeeperThan(text)) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    // Malformed, or nested too deeply for the parser: either way not embeddable as it is.
    return false;
  }
}

/** Whether `payload` is already known to be JSON text (never checks: for carrying the fact across nodes). */
export function isMarkedJson(payload: Uint8Array): boolean {
  return knownJson.has(payload);
}

/**
 * The bytes to embed in JSON for `payload`: itself when it is JSON text (a copy on one line if it has line
 * breaks: the sender's bytes are left as they are for Protobuf clients), otherwise its base64 as a JSON string.
 */
export function jsonForm(payload: Uint8Array): Uint8Array {
  if (knownJson.has(payload)) return payload;
  let form = otherForms.get(payload);
  if (form !== undefined) return form;
  if (isJsonText(payload)) {
    if (!hasLineBreak(payload)) {
      knownJson.add(payload);
      return payload;
    }
    form = markJson(Buffer.from(payload));
  } else {
    form = markJson(Buffer.from(`"${view(payload).toString('base64')}"`));
    notJson.add(payload);
  }
  otherForms.set(payload, form);
  return form;
}

/** Whether `payload` is JSON text, embedded as its value (true), or bytes embedded as a base64 string (false). */
export function isJsonPayload(payload: Uint8Array): boolean {
  jsonForm(payload);
  return !notJson.has(payload);
}
