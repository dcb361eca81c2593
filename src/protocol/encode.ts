/**
 * Encoding of replies and pushes (Centrifugo protocol v2, JSON). Pure: typed values in, JSON text out. Raw JSON
 * fields are embedded without re-serialising them. Fields at their zero value are omitted, as Centrifugo does.
 * Publications are encoded once per channel event by the hub, never per subscriber.
 */
import type { ProtocolError } from './codes.js';
import type { ClientInfo, Publication, RawJSON, StreamPosition } from './types.js';

const q = JSON.stringify;

/** The protocol's uint32 (ttl): a longer one is clamped, not wrapped. */
const MAX_UINT32 = 0xffffffff;

/**
 * Every number a reply carries goes through here: a non-negative integer of at most `max`, never NaN or
 * Infinity (not JSON: `"ttl":Infinity` broke clients). Values are ours or validated, so this only ever clamps
 * what would otherwise be an invalid frame.
 */
function uint(n: number, max = Number.MAX_SAFE_INTEGER): number {
  // NaN, negatives and -Infinity: 0.
  if (!(n > 0)) return 0;
  return n >= max ? max : Math.floor(n);
}

export function encodeClientInfo(info: ClientInfo): string {
  let s = `{"user":${q(info.user)},"client":${q(info.client)}`;
  if (info.connInfo !== undefined) s += `,"conn_info":${info.connInfo}`;
  if (info.chanInfo !== undefined) s += `,"chan_info":${info.chanInfo}`;
  return `${s}}`;
}

/**
 * A publication's JSON in two parts around its offset, so a shared store can insert the offset it assigns
 * atomically (Redis's publish script) without decoding anything: head + `,"offset":N` + tail.
 */
export function encodePublicationParts(pub: Omit<Publication, 'offset'>): [head: string, tail: string] {
  let head = `{"data":${pub.data}`;
  if (pub.info !== undefined) head += `,"info":${encodeClientInfo(pub.info)}`;
  let tail = '';
  if (pub.tags !== undefined && Object.keys(pub.tags).length > 0) tail += `,"tags":${q(pub.tags)}`;
  if (pub.time !== undefined && pub.time > 0) tail += `,"time":${uint(pub.time)}`;
  return [head, `${tail}}`];
}

export function encodePublication(pub: Publication): string {
  if (pub.encoded !== undefined) return pub.encoded;
  const [head, tail] = encodePublicationParts(pub);
  const s = pub.offset > 0 ? `${head},"offset":${uint(pub.offset)}${tail}` : head + tail;
  pub.encoded = s;
  return s;
}

export function encodePublicationPush(channel: string, pub: Publication): string {
  return `{"push":{"channel":${q(channel)},"pub":${encodePublication(pub)}}}`;
}

export function encodeJoinPush(channel: string, info: ClientInfo): string {
  return `{"push":{"channel":${q(channel)},"join":{"info":${encodeClientInfo(info)}}}}`;
}

export function encodeLeavePush(channel: string, info: ClientInfo): string {
  return `{"push":{"channel":${q(channel)},"leave":{"info":${encodeClientInfo(info)}}}}`;
}

export function encodeUnsubscribePush(channel: string, code: number, reason: string): string {
  return `{"push":{"channel":${q(channel)},"unsubscribe":{"code":${uint(code)},"reason":${q(reason)}}}}`;
}

export function encodeMessagePush(data: RawJSON): string {
  return `{"push":{"message":{"data":${data}}}}`;
}

export function encodeSubscribePush(channel: string, result: SubscribeResult): string {
  return `{"push":{"channel":${q(channel)},"subscribe":${encodeSubscribeResult(result)}}}`;
}

export function encodeReply(id: number, method: string, result: string): string {
  return `{"id":${uint(id)},${q(method)}:${result}}`;
}

export function encodeErrorReply(id: number, error: ProtocolError): string {
  const temporary = error.temporary ? ',"temporary":true' : '';
  return `{"id":${uint(id)},"error":{"code":${uint(error.code)},"message":${q(error.message)}${temporary}}}`;
}

/** The server's heartbeat: an empty command. */
export const PING_FRAME = '{}';

export interface SubscribeResult {
  expires?: boolean;
  ttl?: number;
  recoverable?: boolean;
  position?: StreamPosition | undefined;
  publications?: Publication[];
  recovered?: boolean;
  wasRecovering?: boolean;
  positioned?: boolean;
  data?: RawJSON | undefined;
}

export function encodeSubscribeResult(r: SubscribeResult): string {
  const parts: string[] = [];
  if (r.expires) parts.push(`"expires":true,"ttl":${uint(r.ttl ?? 0, MAX_UINT32)}`);
  if (r.recoverable) parts.push('"recoverable":true');
  if (r.position !== undefined) {
    if (r.position.epoch !== '') parts.push(`"epoch":${q(r.position.epoch)}`);
    if (r.position.offset > 0) parts.push(`"offset":${uint(r.position.offset)}`);
  }
  if (r.publications !== undefined && r.publications.length > 0) {
    parts.push(`"publications":[${r.publications.map(encodePublication).join(',')}]`);
  }
  if (r.recovered) parts.push('"recovered":true');
  if (r.positioned) parts.push('"positioned":true');
  if (r.data !== undefined) parts.push(`"data":${r.data}`);
  if (r.wasRecovering) parts.push('"was_recovering":true');
  return `{${parts.join(',')}}`;
}

export interface ConnectResult {
  client: string;
  version: string;
  expires: boolean;
  ttl: number;
  data?: RawJSON | undefined;
  subs?: Map<string, SubscribeResult>;
  ping: number;
  pong: boolean;
  node?: string;
  time?: number;
}

export function encodeConnectResult(r: ConnectResult): string {
  let s = `{"client":${q(r.client)},"version":${q(r.version)}`;
  if (r.expires) s += `,"expires":true,"ttl":${uint(r.ttl, MAX_UINT32)}`;
  if (r.data !== undefined) s += `,"data":${r.data}`;
  if (r.subs !== undefined && r.subs.size > 0) {
    const subs: string[] = [];
    for (const [ch, res] of r.subs) subs.push(`${q(ch)}:${encodeSubscribeResult(res)}`);
    s += `,"subs":{${subs.join(',')}}`;
  }
  if (r.ping > 0) s += `,"ping":${uint(r.ping, MAX_UINT32)}`;
  if (r.pong) s += ',"pong":true';
  if (r.node) s += `,"node":${q(r.node)}`;
  if (r.time) s += `,"time":${uint(r.time)}`;
  return `${s}}`;
}

export function encodeRefreshResult(r: { client: string; version: string; expires: boolean; ttl: number }): string {
  let s = `{"client":${q(r.client)},"version":${q(r.version)}`;
  if (r.expires) s += `,"expires":true,"ttl":${uint(r.ttl, MAX_UINT32)}`;
  return `${s}}`;
}

export function encodeSubRefreshResult(expires: boolean, ttl: number): string {
  return expires ? `{"expires":true,"ttl":${uint(ttl, MAX_UINT32)}}` : '{}';
}

export function encodeHistoryResult(pubs: Publication[], position: StreamPosition): string {
  const parts: string[] = [];
  if (pubs.length > 0) parts.push(`"publications":[${pubs.map(encodePublication).join(',')}]`);
  if (position.epoch !== '') parts.push(`"epoch":${q(position.epoch)}`);
  if (position.offset > 0) parts.push(`"offset":${uint(position.offset)}`);
  return `{${parts.join(',')}}`;
}

export function encodePresenceResult(entries: Iterable<ClientInfo>): string {
  const parts: string[] = [];
  for (const info of entries) parts.push(`${q(info.client)}:${encodeClientInfo(info)}`);
  return `{"presence":{${parts.join(',')}}}`;
}

export function encodePresenceStatsResult(numClients: number, numUsers: number): string {
  return `{"num_clients":${uint(numClients)},"num_users":${uint(numUsers)}}`;
}
