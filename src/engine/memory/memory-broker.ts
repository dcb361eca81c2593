/**
 * In-process broker with history streams. Delivery is synchronous inside `publish`, so a channel's
 * publications reach the node in offset order and the publish promise settles after local delivery.
 */

import type { ControlMessage } from '../../core/ports/control.js';
import type {
  Broker,
  BrokerEventHandler,
  HistoryQuery,
  HistoryResult,
  PublicationInput,
  PublishOptions,
  PublishResult,
} from '../../core/ports/engine.js';
import type { Publication } from '../../protocol/messages.js';
import { continuedEmptyEpochs, emptyStreamEpoch } from '../empty-epoch.js';
import { newEpoch } from '../epoch.js';
import { StreamStore } from './stream-store.js';

export { newEpoch };

/** Expiry runs at most this often (expiries due closer together are released together) … */
const EXPIRY_MIN_DELAY_MS = 1_000;
/** … and at least this often, whatever is scheduled (a timer cannot wait 30 days, and clocks jump). */
const EXPIRY_MAX_DELAY_MS = 60_000;

/**
 * What brokers on one in-process bus share: streams, dedup keys, and the brokers to deliver to. A bus with one
 * broker is the default single-process engine; several nodes in one process (tests of multi-node logic without
 * Redis) share one bus.
 */
export class MemoryBus {
  readonly store = new StreamStore();
  readonly brokers = new Set<MemoryBroker>();
  /** Salt of the empty-stream epochs: a new bus (a restarted process, whose streams are gone) reports new ones. */
  readonly salt = newEpoch();
  /** Revoked ids → until when (Unix ms): see MemoryRevocations. */
  readonly revoked = new Map<string, number>();
}

export class MemoryBroker implements Broker {
  private handler: BrokerEventHandler | undefined;
  private readonly subscribed = new Set<string>();
  private readonly store: StreamStore;
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiryTimerAt = 0;
  private running = false;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly bus: MemoryBus = new MemoryBus(),
  ) {
    this.store = bus.store;
    bus.brokers.add(this);
  }

  /** Streams held now (until their expiry releases them). */
  get numStreams(): number {
    return this.store.numStreams;
  }

  /** Channels this broker delivers to the node (those with local subscribers). */
  get numSubscribedChannels(): number {
    return this.subscribed.size;
  }

  /** Idempotency results held now (until their window passes). */
  get numIdempotencyKeys(): number {
    return this.store.numIdempotencyKeys;
  }

  /** Whether anything is stored for a channel's history: what tests of "a read stores nothing" look at. */
  hasStream(channel: string): boolean {
    return this.store.has(channel);
  }

  async start(handler: BrokerEventHandler): Promise<void> {
    this.handler = handler;
    this.running = true;
    this.scheduleExpiry();
  }

  async subscribe(channel: string): Promise<void> {
    this.subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.subscribed.delete(channel);
  }

  async publish(channel: string, input: PublicationInput, opts: PublishOptions): Promise<PublishResult> {
    const now = this.now();
    const idemKey = opts.idempotencyKey ? `${channel}\u0000${opts.idempotencyKey}` : undefined;
    if (idemKey !== undefined) {
      const prior = this.store.idempotent(idemKey, now);
      if (prior !== undefined) return { ...prior, suppressed: true };
    }
    let result: PublishResult = { offset: 0, epoch: '' };
    const pub: Publication = { data: input.data, info: input.info, tags: input.tags, offset: 0 };
    if (opts.historySize > 0 && opts.historyTtlMs > 0) {
      const s = this.store.get(channel, now) ?? this.store.create(channel, now, opts.historyMetaTtlMs);
      s.top += 1;
      pub.offset = s.top;
      pub.time = now;
      s.items.push(pub);
      if (s.items.length > opts.historySize) s.items.splice(0, s.items.length - opts.historySize);
      s.itemsExpireAt = now + opts.historyTtlMs;
      this.store.touch(channel, s, now, opts.historyMetaTtlMs);
      result = { offset: s.top, epoch: s.epoch };
    }
    if (idemKey !== undefined) {
      this.store.rememberIdempotent(idemKey, result, now + (opts.idempotencyTtlMs ?? 300_000));
    }
    this.scheduleExpiry();
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

  async publishControl(message: ControlMessage): Promise<void> {
    for (const b of this.bus.brokers) b.handler?.onControl(message);
  }

  async history(channel: string, q: HistoryQuery): Promise<HistoryResult> {
    const now = this.now();
    const salt = this.bus.salt;
    const metaTtl = q.historyMetaTtlMs;
    const s = this.store.get(channel, now);
    if (s === undefined) {
      // Nothing is created: the empty position is computed, so reading fresh names costs no memory.
      return {
        publications: [],
        position: { offset: 0, epoch: emptyStreamEpoch(salt, channel, metaTtl, now) },
        get emptyEpochs() {
          return continuedEmptyEpochs(salt, channel, metaTtl, now);
        },
      };
    }
    this.store.touch(channel, s, now, metaTtl);
    const createdAt = s.createdAt;
    const position = { offset: s.top, epoch: s.epoch };
    let pubs: Publication[] = [];
    if (q.limit !== 0) {
      if (!q.reverse) {
        const after = q.since?.offset ?? 0;
        pubs = s.items.filter((p) => p.offset > after);
      } else {
        const before = q.since !== undefined ? q.since.offset : Number.POSITIVE_INFINITY;
        pubs = s.items.filter((p) => p.offset < before).reverse();
      }
      if (q.limit > 0 && pubs.length > q.limit) pubs = pubs.slice(0, q.limit);
    }
    return {
      publications: pubs,
      position,
      get emptyEpochs() {
        return continuedEmptyEpochs(salt, channel, metaTtl, createdAt);
      },
    };
  }

  async removeHistory(channel: string): Promise<void> {
    this.store.clearItems(channel);
  }

  /** Releases what expired by now (the timer does this on its own; tests on a fake clock call it). */
  expire(): void {
    while (!this.store.expire(this.now())) {}
  }

  /** Arms the expiry timer for the earliest thing due (never sooner than 1 s from the last arming). */
  private scheduleExpiry(): void {
    if (!this.running) return;
    const now = this.now();
    const at = Math.max(this.store.nextExpiryAt, now + EXPIRY_MIN_DELAY_MS);
    if (this.expiryTimer !== undefined && this.expiryTimerAt <= at) return;
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    const delay = Math.min(at - now, EXPIRY_MAX_DELAY_MS);
    this.expiryTimerAt = now + delay;
    this.expiryTimer = setTimeout(() => this.runExpiry(), delay);
    this.expiryTimer.unref();
  }

  private runExpiry(): void {
    this.expiryTimer = undefined;
    if (!this.running) return;
    if (!this.store.expire(this.now())) {
      // More is due than one pass releases: continue after other work had its turn.
      this.expiryTimerAt = this.now();
      this.expiryTimer = setTimeout(() => this.runExpiry(), 0);
      this.expiryTimer.unref();
      return;
    }
    this.scheduleExpiry();
  }

  async close(): Promise<void> {
    this.running = false;
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.subscribed.clear();
    this.bus.brokers.delete(this);
    if (this.bus.brokers.size === 0) this.store.clear();
  }
}
