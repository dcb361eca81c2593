import type { Engine } from '../../core/ports/engine.js';
import { MemoryBroker, MemoryBus } from './memory-broker.js';
import { MemoryPresence } from './memory-presence.js';
import { MemoryRevocations } from './memory-revocations.js';

/**
 * The default engine: everything in this process. Nodes given the same bus (and presence) act as one cluster
 * inside one process — how multi-node logic is tested without Redis.
 */
export function createMemoryEngine(
  now: () => number = Date.now,
  shared?: { bus: MemoryBus; presence: MemoryPresence },
): Engine {
  const bus = shared?.bus ?? new MemoryBus();
  const broker = new MemoryBroker(now, bus);
  const presence = shared?.presence ?? new MemoryPresence(now);
  return {
    name: 'memory',
    broker,
    presence,
    revocations: new MemoryRevocations(bus, now),
    ready: () => true,
    async close() {
      await broker.close();
      if (shared === undefined) await presence.close();
    },
  };
}
