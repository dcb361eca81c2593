/** The engine conformance suite against the memory engine, on a fake clock per engine. */
import { createMemoryEngine } from '../../src/engine/memory/memory-engine.js';
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
});
