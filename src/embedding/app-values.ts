/**
 * Values the embedding API hands back (presence, history) as applications read them: payloads as JSON text, as
 * they were before payloads became bytes in the core. A payload that is not JSON (binary, from a Protobuf client or
 * the API's `b64data`) comes back as JSON clients see it: a JSON string holding its base64.
 */
import { jsonForm } from '../protocol/json-payload.js';
import type { ClientInfo, Payload, Publication } from '../protocol/messages.js';

export interface AppClientInfo {
  user: string;
  client: string;
  /** JSON text. */
  connInfo?: string | undefined;
  /** JSON text. */
  chanInfo?: string | undefined;
}

export interface AppPublication {
  /** JSON text. */
  data: string;
  info?: AppClientInfo | undefined;
  offset: number;
  tags?: Readonly<Record<string, string>> | undefined;
  time?: number | undefined;
}

function text(p: Payload | undefined): string | undefined {
  if (p === undefined) return undefined;
  const json = jsonForm(p);
  return Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
}

export function appClientInfo(info: ClientInfo): AppClientInfo {
  return { user: info.user, client: info.client, connInfo: text(info.connInfo), chanInfo: text(info.chanInfo) };
}

export function appPublication(pub: Publication): AppPublication {
  return {
    data: text(pub.data) ?? 'null',
    info: pub.info === undefined ? undefined : appClientInfo(pub.info),
    offset: pub.offset,
    tags: pub.tags,
    time: pub.time,
  };
}
