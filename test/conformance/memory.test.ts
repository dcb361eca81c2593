/** The engine conformance suite and the subscribe races against the memory engine, on a fake clock per engine. */
import { type MemoryBroker, MemoryBus } from '../../src/engine/memory/memory-broker.js';
import { createMemoryEngine } from '../../src/engine/memory/memory-engine.js';
import { MemoryPresence } from '../../src/engine/memory/memory-presence.js';
import { type EngineFactory, runEngineConformance } from './engine-suite.js';
import { runSubscribeRaces } from './subscribe-races.js';

let last: { bus: MemoryBus; presence: MemoryPresence; now: () => number } | undefined;

const factory: EngineFactory = {
  async create() {
    let t = Date.now();
    const now = () => t;
    last = { bus: new MemoryBus(), presence: new MemoryPresence(now), now };
    const engine = createMemoryEngine(now, { bus: last.bus, presence: last.presence });
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
  async createSibling() {
    if (last === undefined) throw new Error('create() first');
    return createMemoryEngine(last.now, { bus: last.bus, presence: last.presence });
  },
};

runEngineConformance('memory', factory);
runSubscribeRaces('memory', factory);
