/**
 * Memory a hostile client can make the server hold must come back (issue 11, case 4): 45,000 publications to
 * one-off channel names once kept 63 MiB for good. A channel without history keeps nothing once its last
 * subscriber left; one with history keeps its stream until history_ttl / history_meta_ttl, and then the memory
 * engine really releases it. Measured in a child process with --expose-gc (test/hostile/scenarios).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MiB, runHeapScenario } from '../helpers/heap.js';

interface State {
  streams: number;
  hubChannels: number;
  brokerChannels: number;
  presenceChannels: number;
}

test('100,000 publications to distinct channel names: the heap comes back once the TTLs pass', async () => {
  const r = await runHeapScenario<{
    baseline: number;
    peak: number;
    after: number;
    peakState: State;
    afterState: State;
    releasedAfterMs: number;
  }>(new URL('./scenarios/one-off-channels.ts', import.meta.url));
  const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  // The scenario really made the server hold something, or the final figure would prove nothing.
  assert.ok(r.peakState.streams >= 100_000, `${r.peakState.streams} streams held before the TTLs passed`);
  assert.ok(r.peak - r.baseline > 20 * MiB, `peak ${mb(r.peak - r.baseline)} over the baseline`);
  // Without history nothing stays once the last subscriber left, even before any TTL.
  assert.deepEqual(
    { hub: r.peakState.hubChannels, broker: r.peakState.brokerChannels, presence: r.peakState.presenceChannels },
    { hub: 0, broker: 0, presence: 0 },
  );
  assert.deepEqual(r.afterState, { streams: 0, hubChannels: 0, brokerChannels: 0, presenceChannels: 0 });
  assert.ok(r.releasedAfterMs < 5_000, `released ${r.releasedAfterMs} ms after the publications (TTLs 1 s / 2 s)`);
  assert.ok(
    r.after - r.baseline < 3 * MiB,
    `heap back within 3 MiB of the baseline: ${mb(r.after - r.baseline)} (peak ${mb(r.peak - r.baseline)})`,
  );
});
