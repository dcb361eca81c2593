import type { Config } from '../../config/schema.js';
import type { Engine } from '../../core/ports/engine.js';
import type { Log } from '../../core/ports/log.js';
import { RedisBroker } from './redis-broker.js';
import { RedisPresence } from './redis-presence.js';
import { RedisRevocations } from './redis-revocations.js';
import { Shards } from './shards.js';

/** Several Chorus processes and machines acting as one, through Redis (engine.type: "redis"). */
export function createRedisEngine(cfg: Config['engine']['redis'], log: Log): Engine {
  const shards = new Shards(cfg, log);
  const broker = new RedisBroker(shards, cfg, log);
  const presence = new RedisPresence(shards, cfg);
  return {
    name: 'redis',
    broker,
    presence,
    revocations: new RedisRevocations(shards, cfg),
    ready: () => shards.ready,
    start: () => shards.connect(),
    async close() {
      await broker.close();
      await shards.close();
    },
  };
}
