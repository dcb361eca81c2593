/**
 * Limits on new WebSocket connections, checked at the upgrade before any work is done for them:
 *
 * - `client.connection_rate_limit` (Centrifugo's): new connections per second this node accepts (HTTP 503, as
 *   Centrifugo answers).
 * - `client.address_connection_limit` and `client.address_connection_rate_limit`/`_burst` (Chorus extensions):
 *   open connections, and new connections per second, per client address (IPv6: per /64). Off by default: many
 *   users share an address behind NAT. Refused with HTTP 429.
 *
 * The refusals are HTTP statuses rather than a WebSocket close with 3504 (connection limit): the SDKs treat a
 * failed upgrade as a transport error and reconnect with backoff, so a user turned away while their address was
 * busy gets in once it is not, while 3504 is terminal (centrifuge-js stops for good until the page reloads).
 * A refused upgrade also costs the server nothing beyond the request line.
 */
import type { Config } from '../config/schema.js';
import type { ConnectionRefusal } from '../core/ports/stats.js';
import { TokenBucket } from '../core/rate-limiter.js';
import { limitKey } from './client-address.js';

export interface Verdict {
  refused: ConnectionRefusal;
  status: number;
  /** Seconds after which trying again may succeed. */
  retryAfter: number;
  message: string;
}

interface AddressEntry {
  open: number;
  /** New connections this address may open now (undefined without a rate limit). */
  bucket: TokenBucket | undefined;
}

/** Entries of addresses with no open connection are dropped once their bucket is full again: sweep this often. */
const SWEEP_MS = 30_000;

export class ConnectionLimits {
  private readonly perAddress = new Map<string, AddressEntry>();
  private readonly maxOpen: number;
  private readonly rate: number;
  private readonly burst: number;
  private readonly nodeRate: number;
  private readonly nodeBucket: TokenBucket | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(cfg: Readonly<Config['client']>) {
    this.maxOpen = cfg.address_connection_limit;
    this.rate = cfg.address_connection_rate_limit;
    this.burst = Math.max(1, cfg.address_connection_rate_burst);
    this.nodeRate = cfg.connection_rate_limit;
    this.nodeBucket = this.nodeRate > 0 ? new TokenBucket(this.nodeRate, this.nodeRate, Date.now()) : undefined;
  }

  get enabled(): boolean {
    return this.maxOpen > 0 || this.rate > 0 || this.nodeRate > 0;
  }

  /**
   * Admits a new connection from `address`, or says why not. An admitted connection must be released (once)
   * when its socket closes.
   */
  admit(address: string, now = Date.now()): Verdict | undefined {
    if (this.nodeBucket !== undefined) {
      if (this.nodeBucket.available(now) < 1) {
        return {
          refused: 'node_rate',
          status: 503,
          retryAfter: 1,
          message: `client.connection_rate_limit ${this.nodeRate}/s reached on this node`,
        };
      }
    }
    if (this.maxOpen > 0 || this.rate > 0) {
      const key = limitKey(address);
      let e = this.perAddress.get(key);
      if (e === undefined) {
        e = { open: 0, bucket: this.rate > 0 ? new TokenBucket(this.rate, this.burst, now) : undefined };
        this.perAddress.set(key, e);
        this.startSweeping();
      }
      if (this.maxOpen > 0 && e.open >= this.maxOpen) {
        return {
          refused: 'address_limit',
          status: 429,
          retryAfter: 10,
          message: `client.address_connection_limit ${this.maxOpen} reached for this address`,
        };
      }
      if (e.bucket !== undefined) {
        if (e.bucket.available(now) < 1) {
          return {
            refused: 'address_rate',
            status: 429,
            retryAfter: e.bucket.secondsToNextToken(now),
            message: `client.address_connection_rate_limit ${this.rate}/s (burst ${this.burst}) reached for this address`,
          };
        }
        e.bucket.spend();
      }
      e.open++;
    }
    this.nodeBucket?.spend();
    return undefined;
  }

  /** A connection admitted for `address` is gone. */
  release(address: string): void {
    if (this.maxOpen === 0 && this.rate === 0) return;
    const key = limitKey(address);
    const e = this.perAddress.get(key);
    if (e === undefined) return;
    e.open = Math.max(0, e.open - 1);
    if (e.open === 0 && this.rate === 0) this.perAddress.delete(key);
  }

  /** Addresses tracked (open connections, or a bucket still refilling). */
  get trackedAddresses(): number {
    return this.perAddress.size;
  }

  private startSweeping(): void {
    if (this.sweeper !== undefined || this.rate === 0) return;
    this.sweeper = setInterval(() => this.sweep(Date.now()), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Forgets addresses with nothing open whose bucket has refilled: memory follows the active addresses only. */
  sweep(now: number): void {
    for (const [key, e] of this.perAddress) {
      if (e.open === 0 && (e.bucket === undefined || e.bucket.available(now) >= this.burst))
        this.perAddress.delete(key);
    }
    if (this.perAddress.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  close(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
