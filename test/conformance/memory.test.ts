/** The engine conformance suite against the memory engine, on a fake clock per engine. */
import type { MemoryBroker } from '../../src/engine/memory/memory-broker.js';
import { createMemoryEngine } from '../../src/engine/memory/memory-engine.js';
import type { MemoryPresence } from '../../src/engine/memory/memory-presence.js';
import { runEngineConformance } from './engine-suite.js';

runEngineConformance('memory', {
  async create() {
    let t = Date.now();
    const engine = createMemoryEngine(() => t);
    return {
      engine,
      advance: (ms: number) => {
        t += ms;
      },
    };
  },
  async storedFor(engine, channel) {
    const broker = engine.broker as MemoryBroker;
    const presence = engine.presence as MemoryPresence;
    return Number(broker.hasStream(channel)) + Number(presence.hasChannel(channel));
  },
});
