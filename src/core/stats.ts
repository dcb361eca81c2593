/**
 * What the core reports for metrics. The node holds a no-op by default; the metrics module (src/metrics) installs
 * an implementation, so the core knows nothing of Prometheus. These are called on hot paths (per command, per
 * flushed frame, per broadcast): implementations must only bump numbers — no allocation, no label lookups.
 */
import type { Method } from '../protocol/types.js';

/** Why a new connection was turned away before it was one (transport/connection-limits.ts). */
export type ConnectionRefusal = 'node_rate' | 'address_limit' | 'address_rate';

/** What is queued to clients: replies to commands, and pushes by type. */
export type OutKind = 'reply' | 'publication' | 'join' | 'leave' | 'unsubscribe' | 'subscribe' | 'message' | 'ping';

export interface NodeStats {
  /** A client command finished after `ms` milliseconds; `errorCode` is its error's code, 0 when it succeeded. */
  commandDone(method: Method, ms: number, errorCode: number): void;
  /** A client session ended with this disconnect code. */
  disconnected(code: number): void;
  /** One frame of `bytes` bytes read from a client. */
  frameIn(bytes: number): void;
  /** One frame of `bytes` bytes carrying `messages` messages written to a client. */
  frameOut(bytes: number, messages: number): void;
  /** `count` messages of one kind queued to clients. */
  queued(kind: OutKind, count: number): void;
  /** A new connection was refused at the upgrade by a connection limit. */
  connectionRefused(reason: ConnectionRefusal): void;
}

export const noStats: NodeStats = {
  commandDone() {},
  disconnected() {},
  frameIn() {},
  frameOut() {},
  queued() {},
  connectionRefused() {},
};
