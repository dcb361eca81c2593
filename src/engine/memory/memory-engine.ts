import type { Engine } from '../types.js';
import { MemoryBroker } from './memory-broker.js';
import { MemoryPresence } from './memory-presence.js';

/** The default engine: everything in this process. */
export function createMemoryEngine(now: () => number = Date.now): Engine {
  const broker = new MemoryBroker(now);
  const presence = new MemoryPresence(now);
  return {
    name: 'memory',
    broker,
    presence,
    ready: () => true,
    async close() {
      await broker.close();
      await presence.close();
    },
  };
}
