/**
 * How a shared engine stores publications and presence entries (Redis history lists, pub/sub messages, presence
 * hashes): a format of the engine's own, not the client protocol's, so history written by one Chorus version or
 * for one client encoding is readable by another. Each record starts with a version byte; version 1 is a
 * Protobuf message of the schema below (unknown fields are skipped, so fields can be added without a new
 * version). Records written before versioning (the client protocol's JSON, starting with `{`) are still read.
 *
 * The offset is not part of the record: the store assigns it atomically and keeps it beside the record.
 */
import protobuf from 'protobufjs';
import { isMarkedJson, markJson } from '../protocol/json-payload.js';
import type { ClientInfo, Payload, Publication } from '../protocol/messages.js';
import { rawValueAt } from '../protocol/raw-json.js';

const VERSION_1 = 1;
const LEGACY_JSON = 0x7b; // '{'

const root = protobuf.parse(
  `syntax = "proto3";
   package chorus.store;
   message Info { string user = 1; string client = 2; bytes conn_info = 3; bytes chan_info = 4;
                  bool has_conn_info = 5; bool has_chan_info = 6; bool conn_info_json = 7; bool chan_info_json = 8; }
   message Pub { bytes data = 1; Info info = 2; map<string, string> tags = 3; int64 time = 4; bool data_json = 5; }`,
  { keepCase: true },
).root;
const PubType = root.lookupType('chorus.store.Pub');
const InfoType = root.lookupType('chorus.store.Info');

type Fields = Record<string, unknown>;

/**
 * Whether a payload is known to be JSON text (it came from a JSON client, the API's `data`, a hook), carried in
 * the record so that nodes reading it embed it for JSON clients without checking it again. Absent (not false)
 * otherwise, to keep records small.
 */
function knownJson(p: Payload | undefined): true | undefined {
  return p !== undefined && isMarkedJson(p) ? true : undefined;
}

function infoFields(info: ClientInfo): Fields {
  // proto3 cannot tell an empty bytes field from an absent one: say which are present.
  return {
    user: info.user,
    client: info.client,
    conn_info: info.connInfo,
    chan_info: info.chanInfo,
    has_conn_info: info.connInfo !== undefined,
    has_chan_info: info.chanInfo !== undefined,
    conn_info_json: knownJson(info.connInfo),
    chan_info_json: knownJson(info.chanInfo),
  };
}

/** Payload bytes of their own, marked as JSON text when the record says they are. */
function copy(v: unknown, json = false): Payload {
  const p = v instanceof Uint8Array ? Buffer.from(v) : Buffer.alloc(0);
  return json ? markJson(p) : p;
}

function infoFrom(m: Fields): ClientInfo {
  return {
    user: typeof m.user === 'string' ? m.user : '',
    client: typeof m.client === 'string' ? m.client : '',
    connInfo: m.has_conn_info === true ? copy(m.conn_info, m.conn_info_json === true) : undefined,
    chanInfo: m.has_chan_info === true ? copy(m.chan_info, m.chan_info_json === true) : undefined,
  };
}

function withVersion(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = VERSION_1;
  out.set(body, 1);
  return out;
}

/** A publication's record, without its offset. */
export function encodeStoredPublication(pub: Omit<Publication, 'offset'>): Buffer {
  const fields: Fields = { data: pub.data, data_json: knownJson(pub.data) };
  if (pub.info !== undefined) fields.info = infoFields(pub.info);
  if (pub.tags !== undefined && Object.keys(pub.tags).length > 0) fields.tags = pub.tags;
  if (pub.time !== undefined && pub.time > 0) fields.time = pub.time;
  return withVersion(PubType.encode(fields as unknown as protobuf.Message).finish());
}

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  const long = v as { toNumber?: () => number } | null | undefined;
  return typeof long?.toNumber === 'function' ? long.toNumber() : 0;
}

/** A record read back, with the offset the store kept beside it. Throws on a record it cannot read. */
export function decodeStoredPublication(record: Uint8Array, offset: number): Publication {
  if (record[0] === LEGACY_JSON) return legacyPublication(Buffer.from(record).toString('utf8'), offset);
  if (record[0] !== VERSION_1) throw new Error(`unknown publication record version ${record[0]}`);
  const m = PubType.decode(record.subarray(1)) as unknown as Fields;
  const tags = m.tags as Record<string, string> | undefined;
  const time = num(m.time);
  return {
    data: copy(m.data, m.data_json === true),
    info: m.info === undefined || m.info === null ? undefined : infoFrom(m.info as Fields),
    offset,
    tags: tags !== undefined && Object.keys(tags).length > 0 ? { ...tags } : undefined,
    time: time > 0 ? time : undefined,
  };
}

export function encodeStoredClientInfo(info: ClientInfo): Buffer {
  return withVersion(InfoType.encode(infoFields(info) as unknown as protobuf.Message).finish());
}

export function decodeStoredClientInfo(record: Uint8Array): ClientInfo {
  if (record[0] === LEGACY_JSON) return legacyClientInfo(Buffer.from(record).toString('utf8'));
  if (record[0] !== VERSION_1) throw new Error(`unknown client info record version ${record[0]}`);
  return infoFrom(InfoType.decode(record.subarray(1)) as unknown as Fields);
}

// --- records written before versioning: the client protocol's JSON --------------------------------------------

function rawBytes(json: string, path: string[]): Payload | undefined {
  const raw = rawValueAt(json, path);
  return raw === undefined ? undefined : markJson(Buffer.from(raw));
}

function legacyClientInfo(json: string, path: string[] = []): ClientInfo {
  const o = (path.length === 0 ? JSON.parse(json) : JSON.parse(json)[path[0] as string]) as {
    user?: string;
    client?: string;
  };
  return {
    user: o.user ?? '',
    client: o.client ?? '',
    connInfo: rawBytes(json, [...path, 'conn_info']),
    chanInfo: rawBytes(json, [...path, 'chan_info']),
  };
}

function legacyPublication(json: string, offset: number): Publication {
  const o = JSON.parse(json) as { info?: unknown; tags?: Record<string, string>; time?: number };
  return {
    data: rawBytes(json, ['data']) ?? Buffer.from('null'),
    info: o.info === undefined ? undefined : legacyClientInfo(json, ['info']),
    offset,
    tags: o.tags,
    time: o.time,
  };
}
