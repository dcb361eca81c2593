/**
 * In-process broker with history streams. Delivery is synchronous inside `publish`, so a channel's
 * publications reach the node in offset order and the publish promise settles after local delivery.
 */
import { randomBytes } from 'node:crypto';
import type { Publication } from '../../protocol/types.js';
import type {
  Broker,
  BrokerEventHandler,
  HistoryQuery,
  HistoryResult,
  PublicationInput,
  PublishOptions,
  PublishResult,
} from '../types.js';

interface Stream {
  epoch: string;
  top: number;
  /** Oldest first; trimmed to history_size. */
  items: Publication[];
  /** When the items expire (history_ttl after the last publication). */
  itemsExpireAt: number;
  /** When the position itself is forgotten (history_meta_ttl after the last use). */
  metaExpireAt: number;
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/**
 * What brokers on one in-process bus share: streams, dedup keys, and the brokers to deliver to. A bus with one
 * broker is the default single-process engine; several nodes in one process (tests of multi-node logic without
 * Redis) share one bus.
 */
export class MemoryBus {
  readonly streams = new Map<string, Stream>();
  readonly idempotency = new Map<string, { result: PublishResult; expireAt: number }>();
  readonly brokers = new Set<MemoryBroker>();
  /** Revoked ids → until when (Unix ms): see MemoryRevocations. */
  readonly revoked = new Map<string, number>();
}

export class MemoryBroker implements Broker {
  private handler: BrokerEventHandler | undefined;
  private readonly subscribed = new Set<string>();
  private readonly streams: Map<string, Stream>;
  private readonly idempotency: Map<string, { result: PublishResult; expireAt: number }>;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly bus: MemoryBus = new MemoryBus(),
  ) {
    this.streams = bus.streams;
    this.idempotency = bus.idempotency;
    bus.brokers.add(this);
  }

  async start(handler: BrokerEventHandler): Promise<void> {
    this.handler = handler;
    // Expired streams and dedup keys are dropped lazily on access and by this sweep, so memory stays bounded.
    this.sweepTimer = setInterval(() => this.sweep(), 60_000);
    this.sweepTimer.unref();
  }

  async subscribe(channel: string): Promise<void> {
    this.subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.subscribed.delete(channel);
  }

  private stream(channel: string, metaTtlMs: number, create: boolean): Stream | undefined {
    const now = this.now();
    let s = this.streams.get(channel);
    if (s !== undefined && s.metaExpireAt <= now) {
      this.streams.delete(channel);
      s = undefined;
    }
    if (s === undefined) {
      if (!create) return undefined;
      // A meta TTL of 0 means the position never expires (as in Redis, where 0 sets no expiry).
      const metaExpireAt = metaTtlMs > 0 ? now + metaTtlMs : Number.POSITIVE_INFINITY;
      s = { epoch: newEpoch(), top: 0, items: [], itemsExpireAt: 0, metaExpireAt };
      this.streams.set(channel, s);
    } else if (metaTtlMs > 0) {
      s.metaExpireAt = Math.max(s.metaExpireAt, now + metaTtlMs);
    }
    if (s.items.length > 0 && s.itemsExpireAt <= now) s.items = [];
    return s;
  }

  async publish(channel: string, input: PublicationInput, opts: PublishOptions): Promise<PublishResult> {
    const now = this.now();
    if (opts.idempotencyKey) {
      const key = `${channel}\u0000${opts.idempotencyKey}`;
      const prior = this.idempotency.get(key);
      if (prior !== undefined && prior.expireAt > now) return { ...prior.result, suppressed: true };
    }
    let result: PublishResult = { offset: 0, epoch: '' };
    const pub: Publication = { data: input.data, info: input.info, tags: input.tags, offset: 0 };
    if (opts.historySize > 0 && opts.historyTtlMs > 0) {
      const s = this.stream(channel, opts.historyMetaTtlMs, true) as Stream;
      s.top += 1;
      pub.offset = s.top;
      pub.time = now;
      s.items.push(pub);
      if (s.items.length > opts.historySize) s.items.splice(0, s.items.length - opts.historySize);
      s.itemsExpireAt = now + opts.historyTtlMs;
      result = { offset: s.top, epoch: s.epoch };
    }
    if (opts.idempotencyKey) {
      const key = `${channel}\u0000${opts.idempotencyKey}`;
      this.idempotency.set(key, { result, expireAt: now + (opts.idempotencyTtlMs ?? 300_000) });
    }
    for (const b of this.bus.brokers)
      if (b.subscribed.has(channel)) b.handler?.onPublication(channel, pub, result.epoch);
    return result;
  }

  async publishJoin(channel: string, info: Publication['info'] & object): Promise<void> {
    for (const b of this.bus.brokers) if (b.subscribed.has(channel)) b.handler?.onJoin(channel, info);
  }

  async publishLeave(channel: string, info: Publication['info'] & object): Promise<void> {
    for (const b of this.bus.brokers) if (b.subscribed.has(channel)) b.handler?.onLeave(channel, info);
  }

  async publishControl(payload: string): Promise<void> {
    for (const b of this.bus.brokers) b.handler?.onControl(payload);
  }

  async history(channel: string, q: HistoryQuery): Promise<HistoryResult> {
    const s = this.stream(channel, q.historyMetaTtlMs, true) as Stream;
    const position = { offset: s.top, epoch: s.epoch };
    if (q.limit === 0) return { publications: [], position };
    let pubs: Publication[];
    if (!q.reverse) {
      const after = q.since?.offset ?? 0;
      pubs = s.items.filter((p) => p.offset > after);
      if (q.limit > 0 && pubs.length > q.limit) pubs = pubs.slice(0, q.limit);
    } else {
      const before = q.since !== undefined ? q.since.offset : Number.POSITIVE_INFINITY;
      pubs = s.items.filter((p) => p.offset < before).reverse();
      if (q.limit > 0 && pubs.length > q.limit) pubs = pubs.slice(0, q.limit);
    }
    return { publications: pubs, position };
  }

  async removeHistory(channel: string): Promise<void> {
    const s = this.streams.get(channel);
    if (s !== undefined) s.items = [];
  }

  private sweep(): void {
    const now = this.now();
    for (const [ch, s] of this.streams) {
      if (s.metaExpireAt <= now) this.streams.delete(ch);
      else if (s.items.length > 0 && s.itemsExpireAt <= now) s.items = [];
    }
    for (const [k, v] of this.idempotency) if (v.expireAt <= now) this.idempotency.delete(k);
  }

  async close(): Promise<void> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.subscribed.clear();
    this.bus.brokers.delete(this);
  }
}
