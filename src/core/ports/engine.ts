/**
 * The engine port: the seam between this process's fan-out and everything that must be shared between nodes
 * (publications, join/leave, control messages, history streams, presence). The core owns the contract; memory
 * (src/engine/memory, the default) and Redis (src/engine/redis) implement it. Contracts every implementation keeps, checked by
 * the conformance suites in test/conformance:
 *
 * - Publish and history append are one atomic step per channel: a publication never reaches subscribers
 *   without its offset, offsets in a stream grow by exactly one per publication, and every node sees a
 *   channel's publications in offset order.
 * - A stream has an epoch. The epoch changes whenever the stream's continuity is lost (metadata expired,
 *   storage wiped); a client that kept an old epoch can then never be told "recovered".
 * - `subscribe(channel)` is called when the first local subscriber arrives and `unsubscribe` when the last one
 *   leaves (the hub reference-counts). After a broker reconnect an implementation resubscribes by itself and
 *   reports the gap through `onReconnect` so the node can signal clients that may have missed publications.
 * - Presence entries carry an expiry refreshed by the owning node every `client.presence_update_interval`, and
 *   the uid of that node. Nodes mark themselves alive with a short TTL (every heartbeat); an entry is listed only
 *   while its node's mark lasts, so the clients of a node that died (SIGKILL, lost machine) leave presence within
 *   that TTL, long before their own entries expire. A node never marked alive, or whose mark ran out, counts as
 *   dead.
 * - Reads store nothing: history, presence and presence stats of a channel that holds nothing answer the empty
 *   position (offset 0 and the epoch of src/engine/empty-epoch.ts) without creating a stream or any key, so
 *   reading fresh names costs no memory. A stream created later reports the empty epochs it continues
 *   (`HistoryResult.emptyEpochs`), so a subscriber that saw the channel empty still recovers.
 * - A stream lives until history_ttl (its publications) and history_meta_ttl (its position) pass after its last
 *   use, and then its memory is really released.
 */
import type { ClientInfo, Payload, Publication, StreamPosition } from '../../protocol/messages.js';
import type { ControlMessage } from './control.js';

export interface PublishOptions {
  /** Keep the publication in the channel's history stream (0: no history, offset 0). */
  historySize: number;
  historyTtlMs: number;
  /** How long the stream's position (offset, epoch) outlives its last publication. */
  historyMetaTtlMs: number;
  /** Publications with the same key within the dedup window are published once (HTTP API). */
  idempotencyKey?: string | undefined;
  idempotencyTtlMs?: number | undefined;
}

export interface PublishResult {
  /** 0 when the channel keeps no history. */
  offset: number;
  epoch: string;
  /** True when an idempotency key matched an earlier publication, which was not published again. */
  suppressed?: boolean;
}

export interface HistoryQuery {
  /** Return publications after this position (forward) or before it (reverse). */
  since?: StreamPosition | undefined;
  /** 0: only the stream position; -1: no limit. */
  limit: number;
  reverse: boolean;
  historyMetaTtlMs: number;
  /**
   * A hint: the caller cannot use more than about this many bytes of publications (their JSON). An
   * implementation may stop after the first publication that passes it, so a store need not ship what would be
   * thrown away; the caller checks what really fits, and a recovery that did not get up to the stream's top is
   * not a recovery.
   */
  maxBytes?: number | undefined;
}

export interface HistoryResult {
  publications: Publication[];
  position: StreamPosition;
  /**
   * Epochs reported by reads of this channel while it had no stream, shortly before `position.epoch` began (or,
   * for a channel still without a stream, shortly before now). A client holding one of them with some offset
   * holds a position of this stream: it saw the channel empty, then this stream from its start.
   */
  emptyEpochs?: readonly string[] | undefined;
}

/** Whether a client's epoch names the stream a history read found (its epoch, or an empty epoch it continues). */
export function isStreamEpoch(h: HistoryResult, epoch: string): boolean {
  return epoch === h.position.epoch || (h.emptyEpochs?.includes(epoch) ?? false);
}

export interface PublicationInput {
  data: Payload;
  info?: ClientInfo | undefined;
  tags?: Readonly<Record<string, string>> | undefined;
}

export interface BrokerEventHandler {
  /** A publication for a channel this node subscribed to. `pub.offset` is 0 without history. */
  onPublication(channel: string, pub: Publication, epoch: string): void;
  onJoin(channel: string, info: ClientInfo): void;
  onLeave(channel: string, info: ClientInfo): void;
  /** A node-to-node control message (routing of disconnect, send, subscribe … to the node holding a client). */
  onControl(message: ControlMessage): void;
  /**
   * The broker's link came back after an outage: publications may have been lost meanwhile. The node compares
   * its subscribers' positions with the streams and signals those who missed something.
   */
  onBrokerReconnect?(): void;
}

export interface Broker {
  start(handler: BrokerEventHandler): Promise<void>;
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  publish(channel: string, pub: PublicationInput, opts: PublishOptions): Promise<PublishResult>;
  publishJoin(channel: string, info: ClientInfo): Promise<void>;
  publishLeave(channel: string, info: ClientInfo): Promise<void>;
  publishControl(message: ControlMessage): Promise<void>;
  history(channel: string, query: HistoryQuery): Promise<HistoryResult>;
  removeHistory(channel: string): Promise<void>;
  close(): Promise<void>;
}

export interface PresenceStats {
  numClients: number;
  numUsers: number;
}

export interface PresenceManager {
  /** Adds or refreshes a client's entry for `ttlMs`; `node` is the uid of the node holding the connection. */
  addPresence(channel: string, clientId: string, info: ClientInfo, ttlMs: number, node: string): Promise<void>;
  removePresence(channel: string, clientId: string, user: string): Promise<void>;
  /** Live entries: not expired, and held by a node whose alive mark lasts. */
  presence(channel: string): Promise<Map<string, ClientInfo>>;
  presenceStats(channel: string): Promise<PresenceStats>;
  /** Marks a node alive for the next `ttlMs` (its heartbeat); its entries are listed only meanwhile. */
  markNodeAlive(node: string, ttlMs: number): Promise<void>;
  /** The node stopped: its entries are no longer listed. */
  markNodeGone(node: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Ids revoked until they expire, shared by every node of a cluster: a revocation made on one node holds on all
 * of them (an admin session ended by a logout).
 */
export interface RevocationList {
  /** Revokes `id` until `untilMs` (Unix ms), after which it may be forgotten. */
  revoke(id: string, untilMs: number): Promise<void>;
  isRevoked(id: string): Promise<boolean>;
}

export interface Engine {
  readonly name: string;
  readonly broker: Broker;
  readonly presence: PresenceManager;
  readonly revocations: RevocationList;
  /** Whether the engine can serve now (a shared store reachable); the memory engine always can. */
  ready(): boolean;
  /** Connects to what the engine needs; resolves even if a store is unreachable (it keeps retrying). */
  start?(): Promise<void>;
  close(): Promise<void>;
}
