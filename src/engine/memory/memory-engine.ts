import type { Engine } from '../types.js';
import { MemoryBroker, type MemoryBus } from './memory-broker.js';
import { MemoryPresence } from './memory-presence.js';

/**
 * The default engine: everything in this process. Nodes given the same bus (and presence) act as one cluster
 * inside one process — how multi-node logic is tested without Redis.
 */
export function createMemoryEngine(
  now: () => number = Date.now,
  shared?: { bus: MemoryBus; presence: MemoryPresence },
): Engine {
  const broker = new MemoryBroker(now, shared?.bus);
  const presence = shared?.presence ?? new MemoryPresence(now);
  return {
    name: 'memory',
    broker,
    presence,
    ready: () => true,
    async close() {
      await broker.close();
      if (shared === undefined) await presence.close();
    },
  };
}
