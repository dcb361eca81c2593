/** The revocation list of in-process nodes: a map on their shared bus, expired entries swept as it grows. */
import type { RevocationList } from '../../core/ports/engine.js';
import type { MemoryBus } from './memory-broker.js';

/** Entries past their expiry are swept when the map has grown by this many since the last sweep. */
const SWEEP_EVERY = 256;

export class MemoryRevocations implements RevocationList {
  private sizeAtSweep = 0;

  constructor(
    private readonly bus: MemoryBus,
    private readonly now: () => number = Date.now,
  ) {}

  async revoke(id: string, untilMs: number): Promise<void> {
    const revoked = this.bus.revoked;
    if (untilMs <= this.now()) return;
    revoked.set(id, Math.max(untilMs, revoked.get(id) ?? 0));
    if (revoked.size >= this.sizeAtSweep + SWEEP_EVERY) {
      const now = this.now();
      for (const [k, until] of revoked) if (until <= now) revoked.delete(k);
      this.sizeAtSweep = revoked.size;
    }
  }

  async isRevoked(id: string): Promise<boolean> {
    const until = this.bus.revoked.get(id);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.bus.revoked.delete(id);
    return false;
  }
}
