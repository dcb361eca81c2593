/**
 * Encoding of replies and pushes as JSON. Pure: typed values in, bytes out. Payloads that are JSON text are
 * embedded as they are; bytes that are not JSON (binary from a Protobuf client or the API's `b64data`) become a
 * base64 JSON string (see ../json-payload.ts), so every frame is JSON. Fields at their zero value are omitted, as
 * Centrifugo does.
 */

import { jsonForm } from '../json-payload.js';
import type {
  ClientInfo,
  ConnectResult,
  HistoryResult,
  Publication,
  Push,
  RefreshResult,
  Reply,
  ReplyError,
  SubscribeResult,
} from '../messages.js';

const q = JSON.stringify;

/**
 * One message under construction: JSON text with payload bytes spliced in. Text accumulates in a string (cheap
 * concatenation) and becomes bytes once, when the message is finished.
 */
class JsonOut {
  private readonly parts: Array<string | Uint8Array> = [];
  private text = '';

  add(s: string): void {
    this.text += s;
  }

  raw(bytes: Uint8Array): void {
    if (this.text !== '') {
      this.parts.push(this.text);
      this.text = '';
    }
    this.parts.push(bytes);
  }

  finish(): Buffer {
    if (this.parts.length === 0) return Buffer.from(this.text);
    if (this.text !== '') this.parts.push(this.text);
    let size = 0;
    for (const p of this.parts) size += typeof p === 'string' ? Buffer.byteLength(p) : p.length;
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    for (const p of this.parts) {
      if (typeof p === 'string') at += out.write(p, at);
      else {
        out.set(p, at);
        at += p.length;
      }
    }
    return out;
  }
}

/** The protocol's uint32 (ttl, ping, codes): a longer one is clamped, not wrapped. */
const MAX_UINT32 = 0xffffffff;

/**
 * Every number a reply carries goes through here: a non-negative integer of at most `max`, never NaN or
 * Infinity (not JSON: `"ttl":Infinity` broke clients). Values are ours or validated, so this only ever clamps
 * what would otherwise be an invalid frame.
 */
function num(n: number, max = Number.MAX_SAFE_INTEGER): string {
  // NaN, negatives and -Infinity: 0.
  if (!(n > 0)) return '0';
  return String(n >= max ? max : Math.floor(n));
}

function u32(n: number): string {
  return num(n, MAX_UINT32);
}

function clientInfo(out: JsonOut, info: ClientInfo): void {
  out.add(`{"user":${q(info.user)},"client":${q(info.client)}`);
  if (info.connInfo !== undefined) {
    out.add(',"conn_info":');
    out.raw(jsonForm(info.connInfo));
  }
  if (info.chanInfo !== undefined) {
    out.add(',"chan_info":');
    out.raw(jsonForm(info.chanInfo));
  }
  out.add('}');
}

/** Encoded publications by identity: one replayed to many recovering clients is encoded once. */
const publicationCache = new WeakMap<Publication, Buffer>();

function publicationFields(o: JsonOut, pub: Publication): void {
  o.add('{"data":');
  o.raw(jsonForm(pub.data));
  if (pub.info !== undefined) {
    o.add(',"info":');
    clientInfo(o, pub.info);
  }
  if (pub.offset > 0) o.add(`,"offset":${num(pub.offset)}`);
  if (pub.tags !== undefined && Object.keys(pub.tags).length > 0) o.add(`,"tags":${q(pub.tags)}`);
  if (pub.time !== undefined && pub.time > 0) o.add(`,"time":${num(pub.time)}`);
  o.add('}');
}

/** A publication in a list (history, recovery): memoized, since the same one is replayed to many clients. */
function publication(out: JsonOut, pub: Publication): void {
  let bytes = publicationCache.get(pub);
  if (bytes === undefined) {
    const o = new JsonOut();
    publicationFields(o, pub);
    bytes = o.finish();
    publicationCache.set(pub, bytes);
  }
  out.raw(bytes);
}

function publications(out: JsonOut, key: string, pubs: readonly Publication[]): void {
  out.add(`${key}:[`);
  for (let i = 0; i < pubs.length; i++) {
    if (i > 0) out.add(',');
    publication(out, pubs[i] as Publication);
  }
  out.add(']');
}

/** Writes `,` before every field but the first of an object. */
class Fields {
  private first = true;
  constructor(private readonly out: JsonOut) {}

  next(): JsonOut {
    if (!this.first) this.out.add(',');
    this.first = false;
    return this.out;
  }
}

function subscribeResult(out: JsonOut, r: SubscribeResult): void {
  out.add('{');
  const f = new Fields(out);
  if (r.expires) f.next().add(`"expires":true,"ttl":${u32(r.ttl ?? 0)}`);
  if (r.recoverable) f.next().add('"recoverable":true');
  if (r.position !== undefined) {
    if (r.position.epoch !== '') f.next().add(`"epoch":${q(r.position.epoch)}`);
    if (r.position.offset > 0) f.next().add(`"offset":${num(r.position.offset)}`);
  }
  if (r.publications !== undefined && r.publications.length > 0)
    publications(f.next(), '"publications"', r.publications);
  if (r.recovered) f.next().add('"recovered":true');
  if (r.positioned) f.next().add('"positioned":true');
  if (r.data !== undefined) {
    f.next().add('"data":');
    out.raw(jsonForm(r.data));
  }
  if (r.wasRecovering) f.next().add('"was_recovering":true');
  out.add('}');
}

function connectResult(out: JsonOut, r: ConnectResult): void {
  out.add(`{"client":${q(r.client)},"version":${q(r.version)}`);
  if (r.expires) out.add(`,"expires":true,"ttl":${u32(r.ttl)}`);
  if (r.data !== undefined) {
    out.add(',"data":');
    out.raw(jsonForm(r.data));
  }
  if (r.subs !== undefined && r.subs.size > 0) {
    out.add(',"subs":{');
    let first = true;
    for (const [ch, res] of r.subs) {
      out.add(`${first ? '' : ','}${q(ch)}:`);
      first = false;
      subscribeResult(out, res);
    }
    out.add('}');
  }
  if (r.ping > 0) out.add(`,"ping":${u32(r.ping)}`);
  if (r.pong) out.add(',"pong":true');
  if (r.session) out.add(`,"session":${q(r.session)}`);
  if (r.node) out.add(`,"node":${q(r.node)}`);
  if (r.time) out.add(`,"time":${num(r.time)}`);
  out.add('}');
}

function refreshResult(out: JsonOut, r: RefreshResult): void {
  out.add(`{"client":${q(r.client)},"version":${q(r.version)}`);
  if (r.expires) out.add(`,"expires":true,"ttl":${u32(r.ttl)}`);
  out.add('}');
}

function historyResult(out: JsonOut, r: HistoryResult): void {
  out.add('{');
  const f = new Fields(out);
  if (r.publications.length > 0) publications(f.next(), '"publications"', r.publications);
  if (r.position.epoch !== '') f.next().add(`"epoch":${q(r.position.epoch)}`);
  if (r.position.offset > 0) f.next().add(`"offset":${num(r.position.offset)}`);
  out.add('}');
}

function errorBody(e: ReplyError): string {
  return `{"code":${u32(e.code)},"message":${q(e.message)}${e.temporary ? ',"temporary":true' : ''}}`;
}

function result(out: JsonOut, reply: Exclude<Reply, { method: 'error' }>): void {
  switch (reply.method) {
    case 'connect':
      connectResult(out, reply.result);
      return;
    case 'subscribe':
      subscribeResult(out, reply.result);
      return;
    case 'unsubscribe':
    case 'publish':
    case 'ping':
      out.add('{}');
      return;
    case 'presence': {
      out.add('{"presence":{');
      let first = true;
      for (const info of reply.result.presence) {
        out.add(`${first ? '' : ','}${q(info.client)}:`);
        first = false;
        clientInfo(out, info);
      }
      out.add('}}');
      return;
    }
    case 'presence_stats':
      out.add(`{"num_clients":${num(reply.result.numClients)},"num_users":${num(reply.result.numUsers)}}`);
      return;
    case 'history':
      historyResult(out, reply.result);
      return;
    case 'rpc':
      if (reply.result.data === undefined) {
        out.add('{}');
        return;
      }
      out.add('{"data":');
      out.raw(jsonForm(reply.result.data));
      out.add('}');
      return;
    case 'refresh':
      refreshResult(out, reply.result);
      return;
    case 'sub_refresh':
      out.add(reply.result.expires ? `{"expires":true,"ttl":${u32(reply.result.ttl)}}` : '{}');
      return;
  }
}

/** A successful reply's result object alone (the server API answers with the same JSON shapes). */
export function encodeResult(reply: Exclude<Reply, { method: 'error' }>): Buffer {
  const out = new JsonOut();
  result(out, reply);
  return out.finish();
}

export function encodeReply(reply: Reply): Buffer {
  const out = new JsonOut();
  if (reply.method === 'error') {
    out.add(`{"id":${num(reply.id)},"error":${errorBody(reply.error)}}`);
    return out.finish();
  }
  out.add(`{"id":${num(reply.id)},${q(reply.method)}:`);
  result(out, reply);
  out.add('}');
  return out.finish();
}

/** The push's fields, without braces: `"channel":"x","pub":{…}`. */
function pushFields(out: JsonOut, push: Push): void {
  switch (push.type) {
    case 'pub':
      out.add(`"channel":${q(push.channel)},"pub":`);
      // Encoded straight into the push: the hub encodes a live publication once per encoding already.
      publicationFields(out, push.pub);
      return;
    case 'join':
    case 'leave':
      out.add(`"channel":${q(push.channel)},${q(push.type)}:{"info":`);
      clientInfo(out, push.info);
      out.add('}');
      return;
    case 'unsubscribe':
      out.add(`"channel":${q(push.channel)},"unsubscribe":{"code":${u32(push.code)},"reason":${q(push.reason)}}`);
      return;
    case 'message':
      out.add('"message":{"data":');
      out.raw(jsonForm(push.data));
      out.add('}');
      return;
    case 'subscribe':
      out.add(`"channel":${q(push.channel)},"subscribe":`);
      subscribeResult(out, push.sub);
      return;
    case 'connect':
      out.add('"connect":');
      connectResult(out, push.connect);
      return;
    case 'disconnect':
      out.add(
        `"disconnect":{"code":${u32(push.code)},"reason":${q(push.reason)}${push.reconnect ? ',"reconnect":true' : ''}}`,
      );
      return;
    case 'refresh':
      out.add(push.expires ? `"refresh":{"expires":true,"ttl":${u32(push.ttl)}}` : '"refresh":{}');
      return;
  }
}

export function encodePush(push: Push): Buffer {
  const out = new JsonOut();
  out.add('{"push":{');
  pushFields(out, push);
  out.add('}}');
  return out.finish();
}

export function encodeBarePush(push: Push): Buffer {
  const out = new JsonOut();
  out.add('{');
  pushFields(out, push);
  out.add('}');
  return out.finish();
}
