/**
 * Connections to one or more Redis servers (shards). Channels are spread over the shards by a consistent hash of
 * the channel name, so every node agrees where a channel's stream, presence and pub/sub live. Each shard has a
 * command connection and a subscriber connection. Commands fail fast while a shard is unreachable (no offline
 * queue): callers get an error at once instead of waiting, and the node reports itself not ready.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../../config/schema.js';
import type { Log } from '../../core/ports/log.js';
import { redactUrlCredentials } from '../../log.js';

export interface Shard {
  readonly index: number;
  /** The shard's address for logs: credentials inside it are masked. */
  readonly address: string;
  readonly cmd: Redis;
  readonly sub: Redis;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Jump consistent hash (Lamping & Veach): moving from n to n+1 shards moves only 1/(n+1) of the channels. */
export function jumpHash(key: number, buckets: number): number {
  let b = -1;
  let j = 0;
  let k = BigInt(key);
  while (j < buckets) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & 0xffffffffffffffffn;
    j = Math.floor(((b + 1) * 2 ** 31) / Number((k >> 33n) + 1n));
  }
  return b;
}

function options(cfg: Config['engine']['redis']): RedisOptions {
  const o: RedisOptions = {
    connectTimeout: cfg.connect_timeout,
    commandTimeout: cfg.io_timeout,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    // Back off up to 2 s between reconnect attempts, forever: the node stays up while Redis is away.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  };
  if (cfg.user) o.username = cfg.user;
  if (cfg.password) o.password = cfg.password;
  if (cfg.db) o.db = cfg.db;
  if (cfg.tls.enabled) o.tls = { rejectUnauthorized: !cfg.tls.insecure_skip_verify };
  if (cfg.sentinel_address.length > 0) {
    o.sentinels = cfg.sentinel_address.map((a) => {
      const [host, port] = a.replace(/^redis:\/\//, '').split(':');
      return { host: host ?? '127.0.0.1', port: Number(port ?? 26379) };
    });
    o.name = cfg.sentinel_master_name;
    if (cfg.sentinel_password) o.sentinelPassword = cfg.sentinel_password;
  }
  return o;
}

/** How long a lost connection may wait for an error that names the cause before its line is logged. */
const CAUSE_WAIT_MS = 1000;

/**
 * Reachability of one Redis (its command and pub/sub connections together), logged as one line per change:
 * "unreachable" with the cause when the first connection drops or fails, "reachable again" with the outage's
 * length when both are ready again. ioredis's retries in between log nothing.
 */
class Reachability {
  private down = false;
  private reported = false;
  private since = 0;
  private cause = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly conns: Redis[] = [];
  closing = false;

  constructor(
    private readonly address: string,
    private readonly log: Log,
  ) {}

  watch(redis: Redis): void {
    this.conns.push(redis);
    redis.on('error', (e: Error) => this.lost(e.message || e.name));
    redis.on('close', () => this.lost(''));
    redis.on('ready', () => this.maybeBack());
  }

  /** A connection failed (with an error's message) or closed (without a cause yet). */
  lost(cause: string): void {
    if (this.closing) return;
    if (!this.down) {
      this.down = true;
      this.reported = false;
      this.since = Date.now();
      this.cause = '';
    }
    if (this.reported) return;
    if (cause !== '') {
      this.cause = cause;
      this.report();
    } else if (this.timer === undefined) {
      // A close says nothing of why; the reconnect attempt's error usually does, within milliseconds.
      this.timer = setTimeout(() => this.report(), CAUSE_WAIT_MS);
      this.timer.unref();
    }
  }

  private report(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.down || this.reported || this.closing) return;
    this.reported = true;
    this.log.warn(
      { redis: this.address, cause: this.cause || 'connection closed' },
      `redis ${this.address} unreachable (${this.cause || 'connection closed'}): what needs it fails (clients get error 100, /ready answers 503) until it is back; retrying every 2 s at most`,
    );
  }

  private maybeBack(): void {
    if (!this.down || this.closing || !this.conns.every((r) => r.status === 'ready')) return;
    if (!this.reported) {
      this.cause ||= 'connection closed';
      this.report();
    }
    const seconds = Math.round((Date.now() - this.since) / 100) / 10;
    this.down = false;
    this.log.info(
      { redis: this.address, downSeconds: seconds },
      `redis ${this.address} reachable again after ${seconds} s`,
    );
  }

  stop(): void {
    this.closing = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

function connect(cfg: Config['engine']['redis'], address: string): Redis {
  const url = /^rediss?:\/\//.test(address) ? address : `redis://${address}`;
  return cfg.sentinel_address.length > 0 ? new Redis(options(cfg)) : new Redis(url, options(cfg));
}

export class Shards {
  readonly list: Shard[];
  private readonly reachability: Reachability[];

  constructor(cfg: Config['engine']['redis'], log: Log) {
    const addresses =
      cfg.sentinel_address.length > 0
        ? [`sentinel ${cfg.sentinel_master_name} at ${cfg.sentinel_address.join(',')}`]
        : cfg.address;
    this.reachability = [];
    this.list = addresses.map((address, index) => {
      const shown = redactUrlCredentials(address);
      const shard = { index, address: shown, cmd: connect(cfg, address), sub: connect(cfg, address) };
      const r = new Reachability(shown, log);
      r.watch(shard.cmd);
      r.watch(shard.sub);
      this.reachability.push(r);
      return shard;
    });
  }

  /** Connects every shard; resolves when all answered once (an unreachable one is logged and retried). */
  async connect(): Promise<void> {
    await Promise.all(
      this.list.flatMap((s, i) =>
        [s.cmd, s.sub].map((r) => r.connect().catch((e: Error) => this.reachability[i]?.lost(e.message || e.name))),
      ),
    );
  }

  forChannel(channel: string): Shard {
    if (this.list.length === 1) return this.list[0] as Shard;
    return this.list[jumpHash(fnv1a(channel), this.list.length)] as Shard;
  }

  get ready(): boolean {
    return this.list.every((s) => s.cmd.status === 'ready' && s.sub.status === 'ready');
  }

  async close(): Promise<void> {
    for (const r of this.reachability) r.stop();
    await Promise.all(this.list.flatMap((s) => [s.cmd.quit().catch(() => {}), s.sub.quit().catch(() => {})]));
    for (const s of this.list) {
      s.cmd.disconnect();
      s.sub.disconnect();
    }
  }
}
