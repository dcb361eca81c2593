/**
 * What the core reports for metrics and the admin page. The composition root hands the node an implementation
 * (src/metrics, the admin sampler, both through `combineStats`), so the core knows nothing of Prometheus and
 * nothing outside it patches core objects to count. These are called on hot paths (per command, per
 * flushed frame, per broadcast): implementations must only bump numbers — no allocation, no label lookups.
 */
import type { Method } from '../../protocol/messages.js';

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
  /** This node published one publication into the engine (from a client or the server API). */
  published(): void;
  /** A new connection was refused at the upgrade by a connection limit. */
  connectionRefused(reason: ConnectionRefusal): void;
}

export const noStats: NodeStats = {
  commandDone() {},
  disconnected() {},
  frameIn() {},
  frameOut() {},
  queued() {},
  published() {},
  connectionRefused() {},
};

/** Reports to several implementations (metrics and the admin sampler). */
export function combineStats(...all: NodeStats[]): NodeStats {
  const list = all.filter((s) => s !== noStats);
  if (list.length === 0) return noStats;
  if (list.length === 1) return list[0] as NodeStats;
  return {
    commandDone(method, ms, errorCode) {
      for (const s of list) s.commandDone(method, ms, errorCode);
    },
    disconnected(code) {
      for (const s of list) s.disconnected(code);
    },
    frameIn(bytes) {
      for (const s of list) s.frameIn(bytes);
    },
    frameOut(bytes, messages) {
      for (const s of list) s.frameOut(bytes, messages);
    },
    queued(kind, count) {
      for (const s of list) s.queued(kind, count);
    },
    published() {
      for (const s of list) s.published();
    },
    connectionRefused(reason) {
      for (const s of list) s.connectionRefused(reason);
    },
  };
}
