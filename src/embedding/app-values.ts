/**
 * Values the embedding API hands back (presence, history) as applications read them: payloads as JSON text, as
 * they were before payloads became bytes in the core. A payload that is not UTF-8 JSON text still comes back as
 * the text its bytes decode to.
 */
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
  return p === undefined ? undefined : Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('utf8');
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
