/** The revocation list in Redis: one key per revoked id, expiring with it, so every node sees it. */
import type { Config } from '../../config/schema.js';
import type { RevocationList } from '../../core/ports/engine.js';
import type { Shards } from './shards.js';

export class RedisRevocations implements RevocationList {
  private readonly prefix: string;

  constructor(
    private readonly shards: Shards,
    cfg: Config['engine']['redis'],
  ) {
    this.prefix = cfg.prefix;
  }

  private key(id: string): string {
    return `${this.prefix}.revoked.${id}`;
  }

  async revoke(id: string, untilMs: number): Promise<void> {
    const ttl = Math.ceil(untilMs - Date.now());
    if (ttl <= 0) return;
    await this.shards.forChannel(id).cmd.set(this.key(id), '1', 'PX', ttl);
  }

  async isRevoked(id: string): Promise<boolean> {
    return (await this.shards.forChannel(id).cmd.exists(this.key(id))) === 1;
  }
}
