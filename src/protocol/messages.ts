/**
 * The Centrifugo client protocol v2 as typed values: commands a client sends, replies and pushes the server
 * sends. Independent of any encoding: a codec (src/protocol/json, src/protocol/protobuf) turns frames into these
 * and these into frames.
 *
 * Payloads (`data`, `info`) are bytes and pass through untouched: a JSON client's payload is the UTF-8 text of
 * the JSON value it sent (never re-serialised), a Protobuf client's is whatever bytes it sent.
 */

/** Payload bytes. Owned by the message: never a view into a larger frame or request body that it would keep alive. */
export type Payload = Uint8Array;

export interface StreamPosition {
  offset: number;
  epoch: string;
}

export interface ClientInfo {
  user: string;
  client: string;
  connInfo?: Payload | undefined;
  chanInfo?: Payload | undefined;
}

export interface Publication {
  data: Payload;
  info?: ClientInfo | undefined;
  /** 0 when the channel keeps no history. */
  offset: number;
  tags?: Readonly<Record<string, string>> | undefined;
  /** Unix milliseconds, set when the channel keeps history. */
  time?: number | undefined;
}

// --- commands ------------------------------------------------------------------------------------------------

export interface RecoveryPosition {
  recover: boolean;
  offset: number;
  epoch: string;
}

export interface ConnectRequest {
  token: string;
  data: Payload | undefined;
  subs: Map<string, RecoveryPosition>;
  name: string;
  version: string;
  /** Emulated headers (transports that cannot send real ones). */
  headers?: Record<string, string> | undefined;
}

export interface SubscribeRequest {
  channel: string;
  token: string;
  recover: boolean;
  offset: number;
  epoch: string;
  data: Payload | undefined;
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
  data: Payload;
}

export interface HistoryRequest {
  channel: string;
  limit: number;
  since: StreamPosition | undefined;
  reverse: boolean;
}

export interface RPCRequest {
  method: string;
  data: Payload | undefined;
}

export interface SendRequest {
  data: Payload | undefined;
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
  /** An empty command: the client's pong. */
  | { id: 0; method: 'pong'; req: Record<string, never> }
  /** A command with an id but no method this server knows: answered with error 104. */
  | { id: number; method: 'unknown'; req: Record<string, never> };

export type Method = Command['method'];

// --- results -------------------------------------------------------------------------------------------------

export interface SubscribeResult {
  expires?: boolean | undefined;
  ttl?: number | undefined;
  recoverable?: boolean | undefined;
  position?: StreamPosition | undefined;
  publications?: Publication[] | undefined;
  recovered?: boolean | undefined;
  wasRecovering?: boolean | undefined;
  positioned?: boolean | undefined;
  data?: Payload | undefined;
}

export interface ConnectResult {
  client: string;
  version: string;
  expires: boolean;
  ttl: number;
  data?: Payload | undefined;
  subs?: ReadonlyMap<string, SubscribeResult> | undefined;
  /** Seconds between server pings (0: none). */
  ping: number;
  pong: boolean;
  session?: string | undefined;
  node?: string | undefined;
  time?: number | undefined;
}

export interface RefreshResult {
  client: string;
  version: string;
  expires: boolean;
  ttl: number;
}

export interface SubRefreshResult {
  expires: boolean;
  ttl: number;
}

export interface HistoryResult {
  publications: readonly Publication[];
  position: StreamPosition;
}

export interface PresenceResult {
  /** Entries by client id. */
  presence: Iterable<ClientInfo>;
}

export interface PresenceStatsResult {
  numClients: number;
  numUsers: number;
}

export interface RPCResult {
  data?: Payload | undefined;
}

export type Empty = Record<string, never>;

/** What a command's successful reply carries, by method. */
export interface ResultOf {
  connect: ConnectResult;
  subscribe: SubscribeResult;
  unsubscribe: Empty;
  publish: Empty;
  presence: PresenceResult;
  presence_stats: PresenceStatsResult;
  history: HistoryResult;
  ping: Empty;
  rpc: RPCResult;
  refresh: RefreshResult;
  sub_refresh: SubRefreshResult;
}

export type ReplyMethod = keyof ResultOf;

export interface ReplyError {
  code: number;
  message: string;
  temporary?: boolean | undefined;
}

/** A reply to a command: its result, or an error. */
export type Reply =
  | { [M in ReplyMethod]: { id: number; method: M; result: ResultOf[M] } }[ReplyMethod]
  | { id: number; method: 'error'; error: ReplyError };

// --- pushes --------------------------------------------------------------------------------------------------

export type Push =
  | { type: 'pub'; channel: string; pub: Publication }
  | { type: 'join'; channel: string; info: ClientInfo }
  | { type: 'leave'; channel: string; info: ClientInfo }
  | { type: 'unsubscribe'; channel: string; code: number; reason: string }
  | { type: 'message'; data: Payload }
  /**
   * A server-side subscription added at runtime. JSON clients get the whole result (publications of a recovery
   * included); Protobuf's Subscribe message has room for the position, flags and data only.
   */
  | { type: 'subscribe'; channel: string; sub: SubscribeResult }
  /** The connect result, for unidirectional transports (which have no reply to carry it). */
  | { type: 'connect'; connect: ConnectResult }
  /** For transports without a close frame of their own (emulated and unidirectional ones). */
  | { type: 'disconnect'; code: number; reason: string; reconnect: boolean }
  /** A new connection expiry, for unidirectional transports. */
  | { type: 'refresh'; expires: boolean; ttl: number };

export type PushType = Push['type'];
