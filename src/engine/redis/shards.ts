/**
 * Connections to one or more Redis servers (shards). Channels are spread over the shards by a consistent hash of
 * the channel name, so every node agrees where a channel's stream, presence and pub/sub live. Each shard has a
 * command connection and a subscriber connection. Commands fail fast while a shard is unreachable (no offline
 * queue): callers get an error at once instead of waiting, and the node reports itself not ready.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../../config/schema.js';
import type { Log } from '../../core/node.js';
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

function connect(cfg: Config['engine']['redis'], address: string, role: string, log: Log): Redis {
  const url = /^rediss?:\/\//.test(address) ? address : `redis://${address}`;
  const redis = cfg.sentinel_address.length > 0 ? new Redis(options(cfg)) : new Redis(url, options(cfg));
  let down = false;
  // The address may carry a password (redis://:pass@host): logs get it masked whatever logger the app gave.
  const shown = redactUrlCredentials(address);
  redis.on('error', (e: Error) => {
    if (!down) log.warn({ address: shown, role, err: e.message }, 'redis connection error; reconnecting');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info({ address: shown, role }, 'redis connection restored');
    down = false;
  });
  return redis;
}

export class Shards {
  readonly list: Shard[];

  constructor(
    cfg: Config['engine']['redis'],
    private readonly log: Log,
  ) {
    const addresses = cfg.sentinel_address.length > 0 ? ['sentinel'] : cfg.address;
    this.list = addresses.map((address, index) => ({
      index,
      address: redactUrlCredentials(address),
      cmd: connect(cfg, address, 'commands', log),
      sub: connect(cfg, address, 'pubsub', log),
    }));
  }

  /** Connects every shard; resolves when all answered once (the node then starts ready). */
  async connect(): Promise<void> {
    await Promise.all(
      this.list
        .flatMap((s) => [s.cmd, s.sub])
        .map((r) =>
          r.connect().catch((e: Error) => {
            this.log.warn({ err: e.message }, 'redis not reachable at start; will keep trying');
          }),
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
    await Promise.all(this.list.flatMap((s) => [s.cmd.quit().catch(() => {}), s.sub.quit().catch(() => {})]));
    for (const s of this.list) {
      s.cmd.disconnect();
      s.sub.disconnect();
    }
  }
}
