/**
 * The control plane's timers never throw into the void: a heartbeat that cannot be built (this node failing to
 * describe itself) is logged, and the process has no unhandled rejection for it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryEngine } from '../../src/engine/memory/memory-engine.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { flushed, testNode } from '../helpers/session.js';

test('a heartbeat that fails to build is logged, never an unhandled rejection', async () => {
  const clock = new ManualClock();
  const node = await testNode({}, { clock, engine: createMemoryEngine(() => clock.now()) });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const hub = node.hub;
  Object.defineProperty(hub, 'numChannels', {
    configurable: true,
    get() {
      throw new Error('injected failure');
    },
  });
  try {
    await node.ops.beat();
    clock.advance(3_000);
    await flushed();
    await flushed();
    assert.deepEqual(unhandled, [], 'no unhandled rejection from the heartbeat timer');
  } finally {
    delete (hub as unknown as Record<string, unknown>).numChannels;
    process.off('unhandledRejection', onUnhandled);
    await node.shutdown();
  }
});
