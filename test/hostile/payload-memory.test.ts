/**
 * History keeps a publication's payload, never the frame or request body it came in (issue 11, case 5): 500
 * publications of ~30 bytes sent in 60 KB WebSocket frames once kept 29.5 MB alive. Measured in a child process
 * with --expose-gc (test/hostile/scenarios/small-payloads.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MiB, runHeapScenario } from '../helpers/heap.js';

test('500 small publications in 60 KB frames, API bodies, batches and legacy bodies keep well under 1 MiB of heap each', async () => {
  const r = await runHeapScenario<{
    viaWebSocket: number;
    viaApi: number;
    viaBatch: number;
    viaLegacy: number;
    kept: number[];
  }>(new URL('./scenarios/small-payloads.ts', import.meta.url));
  assert.deepEqual(r.kept, [500, 500, 500, 500], 'every publication is in history');
  const kb = (n: number) => `${Math.round(n / 1024)} KiB`;
  assert.ok(r.viaWebSocket < MiB, `500 publications from 60 KB frames hold ${kb(r.viaWebSocket)}`);
  assert.ok(r.viaApi < MiB, `500 publications from 60 KB API bodies hold ${kb(r.viaApi)}`);
  assert.ok(r.viaBatch < MiB, `500 publications from 60 KB batch bodies hold ${kb(r.viaBatch)}`);
  assert.ok(r.viaLegacy < MiB, `500 publications from 60 KB legacy bodies hold ${kb(r.viaLegacy)}`);
});
