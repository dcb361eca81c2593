/** In-process presence. Entries expire unless refreshed, like the shared implementations. */
import type { ClientInfo } from '../../protocol/types.js';
import type { PresenceManager, PresenceStats } from '../types.js';

interface Entry {
  info: ClientInfo;
  expireAt: number;
}

export class MemoryPresence implements PresenceManager {
  private readonly channels = new Map<string, Map<string, Entry>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Whether anything is stored for a channel's presence: what tests of "nothing stays behind" look at. */
  hasChannel(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** Channels with presence entries now. */
  get numChannels(): number {
    return this.channels.size;
  }

  async addPresence(channel: string, clientId: string, info: ClientInfo, ttlMs: number): Promise<void> {
    let m = this.channels.get(channel);
    if (m === undefined) {
      m = new Map();
      this.channels.set(channel, m);
    }
    m.set(clientId, { info, expireAt: this.now() + ttlMs });
  }

  async removePresence(channel: string, clientId: string): Promise<void> {
    const m = this.channels.get(channel);
    if (m === undefined) return;
    m.delete(clientId);
    if (m.size === 0) this.channels.delete(channel);
  }

  private live(channel: string): Map<string, Entry> | undefined {
    const m = this.channels.get(channel);
    if (m === undefined) return undefined;
    const now = this.now();
    for (const [id, e] of m) if (e.expireAt <= now) m.delete(id);
    if (m.size === 0) {
      this.channels.delete(channel);
      return undefined;
    }
    return m;
  }

  async presence(channel: string): Promise<Map<string, ClientInfo>> {
    const out = new Map<string, ClientInfo>();
    for (const [id, e] of this.live(channel) ?? []) out.set(id, e.info);
    return out;
  }

  async presenceStats(channel: string): Promise<PresenceStats> {
    const m = this.live(channel);
    if (m === undefined) return { numClients: 0, numUsers: 0 };
    const users = new Set<string>();
    for (const e of m.values()) users.add(e.info.user);
    return { numClients: m.size, numUsers: users.size };
  }

  async close(): Promise<void> {
    this.channels.clear();
  }
}
