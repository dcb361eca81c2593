/**
 * Messages between the nodes of a cluster, carried by the engine (`publishControl` / `onControl`): operations
 * routed to the node that holds a connection (disconnect, subscribe, send …), node heartbeats, and surveys every
 * node answers for its own connections. The memory engine hands them over as they are; a shared engine
 * serializes them in a format of its own.
 */
import type { Payload, StreamPosition } from '../../protocol/messages.js';
import type { SubscriptionOverride } from './tokens.js';

export interface SubscribeInput {
  user: string;
  channel: string;
  client?: string | undefined;
  info?: Payload | undefined;
  data?: Payload | undefined;
  override?: SubscriptionOverride | undefined;
  recoverSince?: StreamPosition | undefined;
  expireAt?: number | undefined;
}

export interface NodeInfo {
  uid: string;
  name: string;
  version: string;
  num_clients: number;
  num_users: number;
  num_channels: number;
  num_subs: number;
  uptime: number;
}

/** Built-in questions, and those other parts of Chorus add (the admin page's statistics). */
export type SurveyKind = 'channels' | 'online' | (string & {});

export type ControlMessage =
  | { op: 'subscribe'; input: SubscribeInput }
  | { op: 'unsubscribe'; user: string; channel: string; client?: string | undefined }
  | {
      op: 'disconnect';
      user?: string | undefined;
      client?: string | undefined;
      whitelist?: string[] | undefined;
      code: number;
      reason: string;
    }
  | {
      op: 'refresh';
      user: string;
      client?: string | undefined;
      expired?: boolean | undefined;
      expireAt?: number | undefined;
      info?: Payload | undefined;
    }
  | { op: 'send'; user?: string | undefined; client?: string | undefined; all?: boolean | undefined; data: Payload }
  /** Heartbeat of a node: feeds the registry behind `info`. */
  | { op: 'node'; info: NodeInfo }
  | { op: 'node_leave'; uid: string }
  /**
   * The commands of an emulation request (HTTP-streaming, SSE) that reached a node other than the one holding
   * the session: `node` applies them and answers `emulation_reply` to `from`. `data` is a frame in the session's
   * encoding; `session` is the secret id the connect result gave the client (never its client id).
   */
  | { op: 'emulation'; id: string; from: string; node: string; session: string; data: Payload }
  | { op: 'emulation_reply'; id: string; to: string }
  /** A question every node answers for its own connections (channels, who is online). */
  | { op: 'survey'; id: string; from: string; kind: SurveyKind; params: Record<string, unknown> }
  | { op: 'survey_reply'; id: string; to: string; uid: string; answer: unknown };
