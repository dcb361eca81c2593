/**
 * Throttles failed admin logins per client address: at most `limit` failures in any `windowMs`; past that, the
 * address's logins are refused (right password or not) until the oldest of those failures leaves the window.
 * IPv6 addresses count per /64 (one host usually holds a whole /64), IPv4-mapped ones as IPv4. The table is
 * bounded: expired entries are swept, and past `maxAddresses` the oldest entry is dropped.
 */
import { isIPv6 } from 'node:net';

export class LoginThrottle {
  /** Address → times of its recent failures, oldest first (at most `limit`). */
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxAddresses = 10_000,
  ) {}

  /** Milliseconds before `address` may try again; 0 when it may try now. */
  retryAfter(address: string): number {
    if (this.limit === 0) return 0;
    const times = this.failures.get(addressKey(address));
    if (times === undefined || times.length < this.limit) return 0;
    return Math.max(0, (times[0] as number) + this.windowMs - this.now());
  }

  /** Records a failed login; returns true when this failure starts a block (worth one log line). */
  fail(address: string): boolean {
    if (this.limit === 0) return false;
    const key = addressKey(address);
    const now = this.now();
    let times = this.failures.get(key);
    if (times === undefined) {
      if (this.failures.size >= this.maxAddresses) this.makeRoom(now);
      times = [];
      this.failures.set(key, times);
    }
    while (times.length > 0 && (times[0] as number) + this.windowMs <= now) times.shift();
    times.push(now);
    if (times.length > this.limit) times.shift();
    return times.length === this.limit;
  }

  /** A successful login clears the address's failures. */
  succeed(address: string): void {
    this.failures.delete(addressKey(address));
  }

  get size(): number {
    return this.failures.size;
  }

  private makeRoom(now: number): void {
    for (const [key, times] of this.failures) {
      if ((times[times.length - 1] ?? 0) + this.windowMs <= now) this.failures.delete(key);
    }
    while (this.failures.size >= this.maxAddresses) {
      const oldest = this.failures.keys().next().value as string;
      this.failures.delete(oldest);
    }
  }
}

/** The unit an address is throttled by: IPv4 as is, IPv6 by its /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1] as string;
  if (!isIPv6(address)) return address;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (zone dropped, "::" expanded). */
function expandIPv6(address: string): string[] {
  const plain = address.split('%')[0] as string;
  const [head, tail] = plain.includes('::') ? plain.split('::') : [plain, undefined];
  const left = head === '' || head === undefined ? [] : head.split(':');
  if (tail === undefined) return left.map(normalizeGroup);
  const right = tail === '' ? [] : tail.split(':');
  const zeros = Array.from({ length: Math.max(0, 8 - left.length - right.length) }, () => '0');
  return [...left, ...zeros, ...right].map(normalizeGroup);
}

const normalizeGroup = (g: string) => (g.includes('.') ? g : Number.parseInt(g, 16).toString(16));
