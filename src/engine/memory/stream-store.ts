/**
 * History streams and idempotency results of the memory engine, with their expiry. A stream's publications go
 * `history_ttl` after the last one, its position (offset, epoch) `history_meta_ttl` after its last use; then
 * the memory is released — not at the next scan of everything, but when an expiry queue says it is due, so a
 * node that saw a million one-off channel names gives that memory back on time and without a long pause.
 * Everything is also checked on access, so a read never sees what has expired even before the sweep runs.
 */
import type { PublishResult } from '../../core/ports/engine.js';
import type { Publication } from '../../protocol/messages.js';
import { newEpoch } from '../epoch.js';
import { ExpiryQueue } from './expiry-queue.js';

export interface Stream {
  epoch: string;
  top: number;
  /** Oldest first; trimmed to history_size. */
  items: Publication[];
  /** When the items expire (history_ttl after the last publication). */
  itemsExpireAt: number;
  /** When the position itself is forgotten (history_meta_ttl after the last use; Infinity: never). */
  metaExpireAt: number;
  /** When the stream was created: which empty-stream epochs it continues (see empty-epoch.ts). */
  createdAt: number;
  /** The time of this stream's entry in the expiry queue (Infinity: none). */
  dueAt: number;
}

interface IdempotentResult {
  result: PublishResult;
  expireAt: number;
}

/** Most expired entries released in one pass; the rest follow on the next turn of the event loop. */
const EXPIRE_BATCH = 5_000;

export class StreamStore {
  private readonly streams = new Map<string, Stream>();
  private readonly idempotency = new Map<string, IdempotentResult>();
  private readonly streamExpiry = new ExpiryQueue<string>();
  private readonly idempotencyExpiry = new ExpiryQueue<string>();

  get numStreams(): number {
    return this.streams.size;
  }

  get numIdempotencyKeys(): number {
    return this.idempotency.size;
  }

  /** The earliest moment something may expire (Infinity: nothing scheduled). */
  get nextExpiryAt(): number {
    return Math.min(this.streamExpiry.nextAt, this.idempotencyExpiry.nextAt);
  }

  /** Whether anything is stored for the channel (expired or not): what tests count. */
  has(channel: string): boolean {
    return this.streams.has(channel);
  }

  /** The live stream of a channel, its expired parts dropped; undefined when there is none. */
  get(channel: string, now: number): Stream | undefined {
    const s = this.streams.get(channel);
    if (s === undefined) return undefined;
    if (s.metaExpireAt <= now) {
      this.streams.delete(channel);
      return undefined;
    }
    if (s.items.length > 0 && s.itemsExpireAt <= now) s.items = [];
    return s;
  }

  /** A new stream whose position lives `metaTtlMs` (0: forever). The caller schedules it once filled. */
  create(channel: string, now: number, metaTtlMs: number): Stream {
    const s: Stream = {
      epoch: newEpoch(),
      top: 0,
      items: [],
      itemsExpireAt: 0,
      metaExpireAt: metaTtlMs > 0 ? now + metaTtlMs : Number.POSITIVE_INFINITY,
      createdAt: now,
      dueAt: Number.POSITIVE_INFINITY,
    };
    this.streams.set(channel, s);
    return s;
  }

  /** A use of the stream: its position lives at least `metaTtlMs` from now (0 changes nothing). */
  touch(channel: string, s: Stream, now: number, metaTtlMs: number): void {
    if (metaTtlMs > 0) s.metaExpireAt = Math.max(s.metaExpireAt, now + metaTtlMs);
    this.schedule(channel, s);
  }

  /** Makes sure the expiry queue holds an entry no later than the stream's next expiry. */
  schedule(channel: string, s: Stream): void {
    const next = nextExpiry(s);
    // An entry that fires early is cheap (it reschedules); one that fires late would keep memory too long.
    if (next < s.dueAt) {
      s.dueAt = next;
      this.streamExpiry.push(channel, next);
    }
  }

  clearItems(channel: string): void {
    const s = this.streams.get(channel);
    if (s !== undefined) s.items = [];
  }

  idempotent(key: string, now: number): PublishResult | undefined {
    const prior = this.idempotency.get(key);
    return prior !== undefined && prior.expireAt > now ? prior.result : undefined;
  }

  rememberIdempotent(key: string, result: PublishResult, expireAt: number): void {
    this.idempotency.set(key, { result, expireAt });
    this.idempotencyExpiry.push(key, expireAt);
  }

  /**
   * Releases what is due at `now`, at most `max` queue entries; returns false when more is due (the caller
   * continues on a later turn, so a mass expiry never blocks the event loop for long).
   */
  expire(now: number, max = EXPIRE_BATCH): boolean {
    let n = 0;
    for (let e = this.streamExpiry.popDue(now); e !== undefined; e = this.streamExpiry.popDue(now)) {
      const s = this.streams.get(e.key);
      // A stale entry: the stream is gone, or a newer entry stands for it.
      if (s !== undefined && s.dueAt === e.at) {
        s.dueAt = Number.POSITIVE_INFINITY;
        if (s.metaExpireAt <= now) this.streams.delete(e.key);
        else {
          if (s.items.length > 0 && s.itemsExpireAt <= now) s.items = [];
          this.schedule(e.key, s);
        }
      }
      if (++n >= max) return false;
    }
    for (let e = this.idempotencyExpiry.popDue(now); e !== undefined; e = this.idempotencyExpiry.popDue(now)) {
      const r = this.idempotency.get(e.key);
      if (r !== undefined && r.expireAt <= now) this.idempotency.delete(e.key);
      if (++n >= max) return false;
    }
    return true;
  }

  clear(): void {
    this.streams.clear();
    this.idempotency.clear();
    this.streamExpiry.clear();
    this.idempotencyExpiry.clear();
  }
}

function nextExpiry(s: Stream): number {
  return s.items.length > 0 ? Math.min(s.itemsExpireAt, s.metaExpireAt) : s.metaExpireAt;
}
