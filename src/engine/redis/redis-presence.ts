/**
 * Presence in Redis, shared by every node: per channel a hash (client id → `<node uid>:<info record>`, ../publication-format.ts) and a sorted
 * set of expiry times, plus one sorted set of live nodes per Redis (node uid → when its alive mark runs out, in
 * Redis's own clock so the machines' clocks do not matter).
 *
 * The owning node refreshes its clients' entries every `client.presence_update_interval` (they expire after two
 * intervals and are swept on read) and its alive mark every heartbeat. A read lists an entry only while its
 * node's mark lasts: the clients of a node that died leave presence as soon as its mark runs out (seconds), not
 * when their entries expire. An entry without a node uid (written by an older Chorus) only expires.
 */
import type { Config } from '../../config/schema.js';
import type { PresenceManager, PresenceStats } from '../../core/ports/engine.js';
import type { ClientInfo } from '../../protocol/messages.js';
import { decodeStoredClientInfo, encodeStoredClientInfo } from '../publication-format.js';
import type { Shards } from './shards.js';

// Redis time in ms (scripts may write after reading TIME: effects replication, the rule since Redis 5).
const NOW = `
redis.replicate_commands()
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

// KEYS: data hash, expire zset. ARGV: client id, node uid .. ':' .. info, expire-at ms, key ttl ms
const ADD = `
redis.call('zadd', KEYS[2], ARGV[3], ARGV[1])
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[4])
redis.call('pexpire', KEYS[2], ARGV[4])
return 1
`;

// KEYS: data hash, expire zset, nodes zset. ARGV: now ms (the nodes' clock, as ADD's expiry).
// Drops expired entries; returns the rest whose node is alive, without the node prefix.
const GET = `${NOW}
local expired = redis.call('zrangebyscore', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(expired) do
  redis.call('hdel', KEYS[1], id)
  redis.call('zrem', KEYS[2], id)
end
local flat = redis.call('hgetall', KEYS[1])
local alive = {}
local out = {}
for i = 1, #flat, 2 do
  local v = flat[i + 1]
  local keep = true
  if string.sub(v, 1, 1) ~= '{' then
    local sep = string.find(v, ':', 1, true)
    local node = string.sub(v, 1, sep - 1)
    if alive[node] == nil then
      local until_ms = redis.call('zscore', KEYS[3], node)
      alive[node] = until_ms ~= false and tonumber(until_ms) > now
    end
    keep = alive[node]
    v = string.sub(v, sep + 1)
  end
  if keep then
    out[#out + 1] = flat[i]
    out[#out + 1] = v
  end
end
return out
`;

// KEYS: nodes zset. ARGV: node uid, ttl ms. Forgets nodes whose mark ran out (unknown counts as dead).
const ALIVE = `${NOW}
local ttl = tonumber(ARGV[2])
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
redis.call('zadd', KEYS[1], now + ttl, ARGV[1])
local last = redis.call('zrange', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('pexpireat', KEYS[1], tonumber(last[2]))
return 1
`;

type ScriptRedis = {
  chorusPresenceAdd(...args: (string | number | Buffer)[]): Promise<number>;
  chorusPresenceGetBuffer(...args: (string | number)[]): Promise<Buffer[]>;
  chorusNodeAlive(...args: (string | number)[]): Promise<number>;
};

export class RedisPresence implements PresenceManager {
  private readonly prefix: string;
  private readonly nodesKey: string;

  constructor(
    private readonly shards: Shards,
    cfg: Config['engine']['redis'],
  ) {
    this.prefix = cfg.prefix;
    this.nodesKey = `${this.prefix}.presence.nodes`;
    for (const s of shards.list) {
      s.cmd.defineCommand('chorusPresenceAdd', { numberOfKeys: 2, lua: ADD });
      s.cmd.defineCommand('chorusPresenceGet', { numberOfKeys: 3, lua: GET });
      s.cmd.defineCommand('chorusNodeAlive', { numberOfKeys: 1, lua: ALIVE });
    }
  }

  private keys(channel: string): [string, string] {
    return [`${this.prefix}.presence.data.{${channel}}`, `${this.prefix}.presence.expire.{${channel}}`];
  }

  private redis(channel: string): ScriptRedis & import('ioredis').Redis {
    return this.shards.forChannel(channel).cmd as unknown as ScriptRedis & import('ioredis').Redis;
  }

  async addPresence(channel: string, clientId: string, info: ClientInfo, ttlMs: number, node: string): Promise<void> {
    const [data, expire] = this.keys(channel);
    await this.redis(channel).chorusPresenceAdd(
      data,
      expire,
      clientId,
      Buffer.concat([Buffer.from(`${node}:`), encodeStoredClientInfo(info)]),
      Date.now() + ttlMs,
      ttlMs,
    );
  }

  async removePresence(channel: string, clientId: string): Promise<void> {
    const [data, expire] = this.keys(channel);
    await this.redis(channel).multi().hdel(data, clientId).zrem(expire, clientId).exec();
  }

  /** On every Redis: a channel's entries live on the Redis of its shard, which checks its own mark. */
  async markNodeAlive(node: string, ttlMs: number): Promise<void> {
    await Promise.all(
      this.shards.list.map((s) => (s.cmd as unknown as ScriptRedis).chorusNodeAlive(this.nodesKey, node, ttlMs)),
    );
  }

  async markNodeGone(node: string): Promise<void> {
    await Promise.all(this.shards.list.map((s) => s.cmd.zrem(this.nodesKey, node)));
  }

  async presence(channel: string): Promise<Map<string, ClientInfo>> {
    const [data, expire] = this.keys(channel);
    const flat = await this.redis(channel).chorusPresenceGetBuffer(data, expire, this.nodesKey, Date.now());
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
