/**
 * The engine conformance suite and the subscribe races against the Redis engine (the shared Redis at
 * 127.0.0.1:6379, own key prefix).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config/load.js';
import { silentLog } from '../../src/core/ports/log.js';
import { createRedisEngine } from '../../src/engine/redis/redis-engine.js';
import { needRedis, REDIS_URL } from '../helpers/services.js';
import { type EngineFactory, runEngineConformance } from './engine-suite.js';
import { runSubscribeRaces } from './subscribe-races.js';

const skip = await needRedis();
const prefix = `chorus-test-${randomUUID().slice(0, 8)}`;
let probe: Redis | undefined;

async function redisEngine() {
  const { config } = loadConfig({ base: { engine: { type: 'redis', redis: { address: REDIS_URL, prefix } } } });
  const engine = createRedisEngine(config.engine.redis, silentLog);
  await engine.start?.();
  return engine;
}

const factory: EngineFactory = {
  async create() {
    return { engine: await redisEngine() };
  },
  createSibling: redisEngine,
  async storedFor(_engine, channel) {
    probe ??= new Redis(REDIS_URL);
    // Every key Chorus writes for a channel carries its name in a {…} hash tag.
    const keys = await probe.keys(`${prefix}.*{${channel.replace(/[*?[\]\\]/g, '\\$&')}}*`);
    return keys.length;
  },
  async cleanup() {
    // The shared Redis keeps nothing of this run.
    probe ??= new Redis(REDIS_URL);
    const keys = await probe.keys(`${prefix}.*`);
    if (keys.length > 0) await probe.del(...keys);
    probe.disconnect();
  },
};

runEngineConformance('redis', factory, skip);
runSubscribeRaces('redis', factory, skip);
