/**
 * Typed commands, results and pushes of the Centrifugo client protocol v2. "Raw JSON" fields (`data`, `info`)
 * are kept as JSON text so that they are embedded in outgoing frames as-is, never re-parsed per subscriber.
 */

/** JSON text, already validated: embedded into frames without quoting. */
export type RawJSON = string;

export interface StreamPositionRequest {
  offset: number;
  epoch: string;
}

export interface ConnectRequest {
  token: string;
  data: RawJSON | undefined;
  subs: Map<string, { recover: boolean; offset: number; epoch: string }>;
  name: string;
  version: string;
}

export interface SubscribeRequest {
  channel: string;
  token: string;
  recover: boolean;
  offset: number;
  epoch: string;
  data: RawJSON | undefined;
  positioned: boolean;
  recoverable: boolean;
  joinLeave: boolean;
  flag: number;
}

export interface ChannelRequest {
  channel: string;
}

export interface PublishRequest {
  channel: string;
  data: RawJSON;
}

export interface HistoryRequest {
  channel: string;
  limit: number;
  since: StreamPositionRequest | undefined;
  reverse: boolean;
}

export interface RPCRequest {
  method: string;
  data: RawJSON | undefined;
}

export interface SendRequest {
  data: RawJSON | undefined;
}

export interface RefreshRequest {
  token: string;
}

export interface SubRefreshRequest {
  channel: string;
  token: string;
}

export type Command =
  | { id: number; method: 'connect'; req: ConnectRequest }
  | { id: number; method: 'subscribe'; req: SubscribeRequest }
  | { id: number; method: 'unsubscribe'; req: ChannelRequest }
  | { id: number; method: 'publish'; req: PublishRequest }
  | { id: number; method: 'presence'; req: ChannelRequest }
  | { id: number; method: 'presence_stats'; req: ChannelRequest }
  | { id: number; method: 'history'; req: HistoryRequest }
  | { id: number; method: 'rpc'; req: RPCRequest }
  | { id: number; method: 'send'; req: SendRequest }
  | { id: number; method: 'refresh'; req: RefreshRequest }
  | { id: number; method: 'sub_refresh'; req: SubRefreshRequest }
  | { id: number; method: 'ping'; req: Record<string, never> }
  /** An empty command `{}`: the client's pong. */
  | { id: 0; method: 'pong'; req: Record<string, never> }
  /** A command with an id but no method this server knows: answered with error 104. */
  | { id: number; method: 'unknown'; req: Record<string, never> };

export type Method = Command['method'];

export interface ClientInfo {
  user: string;
  client: string;
  connInfo?: RawJSON | undefined;
  chanInfo?: RawJSON | undefined;
}

export interface Publication {
  data: RawJSON;
  info?: ClientInfo | undefined;
  /** 0 when the channel keeps no history. */
  offset: number;
  tags?: Readonly<Record<string, string>> | undefined;
  /** Unix milliseconds, set when the channel keeps history. */
  time?: number | undefined;
  /**
   * The encoded JSON of this publication, memoised by the encoder: a publication replayed to a thousand
   * recovering clients, or fanned out live, is serialised once. Set only once the publication is final.
   */
  encoded?: string | undefined;
}

export interface StreamPosition {
  offset: number;
  epoch: string;
}
