/**
 * Presence in Redis, shared by every node: per channel a hash (client id → info record, ../publication-format.ts) and a sorted set of expiry
 * times. The owning node refreshes its clients' entries every `client.presence_update_interval`; entries of a
 * node that died expire (after two intervals) and are swept on read, so no ghost stays.
 */
import type { Config } from '../../config/schema.js';
import type { PresenceManager, PresenceStats } from '../../core/ports/engine.js';
import type { ClientInfo } from '../../protocol/messages.js';
import { decodeStoredClientInfo, encodeStoredClientInfo } from '../publication-format.js';
import type { Shards } from './shards.js';

// KEYS: data hash, expire zset. ARGV: client id, info, expire-at ms, key ttl ms
const ADD = `
redis.call('zadd', KEYS[2], ARGV[3], ARGV[1])
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[4])
redis.call('pexpire', KEYS[2], ARGV[4])
return 1
`;

// KEYS: data hash, expire zset. ARGV: now ms. Drops expired entries, returns the rest.
const GET = `
local expired = redis.call('zrangebyscore', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(expired) do
  redis.call('hdel', KEYS[1], id)
  redis.call('zrem', KEYS[2], id)
end
return redis.call('hgetall', KEYS[1])
`;

type ScriptRedis = {
  chorusPresenceAdd(...args: (string | number | Buffer)[]): Promise<number>;
  chorusPresenceGetBuffer(...args: (string | number)[]): Promise<Buffer[]>;
};

export class RedisPresence implements PresenceManager {
  private readonly prefix: string;

  constructor(
    private readonly shards: Shards,
    cfg: Config['engine']['redis'],
  ) {
    this.prefix = cfg.prefix;
    for (const s of shards.list) {
      s.cmd.defineCommand('chorusPresenceAdd', { numberOfKeys: 2, lua: ADD });
      s.cmd.defineCommand('chorusPresenceGet', { numberOfKeys: 2, lua: GET });
    }
  }

  private keys(channel: string): [string, string] {
    return [`${this.prefix}.presence.data.{${channel}}`, `${this.prefix}.presence.expire.{${channel}}`];
  }

  private redis(channel: string): ScriptRedis & import('ioredis').Redis {
    return this.shards.forChannel(channel).cmd as unknown as ScriptRedis & import('ioredis').Redis;
  }

  async addPresence(channel: string, clientId: string, info: ClientInfo, ttlMs: number): Promise<void> {
    const [data, expire] = this.keys(channel);
    await this.redis(channel).chorusPresenceAdd(
      data,
      expire,
      clientId,
      encodeStoredClientInfo(info),
      Date.now() + ttlMs,
      ttlMs,
    );
  }

  async removePresence(channel: string, clientId: string): Promise<void> {
    const [data, expire] = this.keys(channel);
    await this.redis(channel).multi().hdel(data, clientId).zrem(expire, clientId).exec();
  }

  async presence(channel: string): Promise<Map<string, ClientInfo>> {
    const [data, expire] = this.keys(channel);
    const flat = await this.redis(channel).chorusPresenceGetBuffer(data, expire, Date.now());
    const out = new Map<string, ClientInfo>();
    for (let i = 0; i < flat.length; i += 2) {
      try {
        out.set((flat[i] as Buffer).toString(), decodeStoredClientInfo(flat[i + 1] as Buffer));
      } catch {
        // An entry no version can read (a foreign writer): not a client this node can describe.
      }
    }
    return out;
  }

  async presenceStats(channel: string): Promise<PresenceStats> {
    const entries = await this.presence(channel);
    const users = new Set<string>();
    for (const e of entries.values()) users.add(e.user);
    return { numClients: entries.size, numUsers: users.size };
  }

  async close(): Promise<void> {}
}
