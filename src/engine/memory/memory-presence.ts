/**
 * In-process presence. Entries expire unless refreshed, and are listed only while the node holding them is
 * marked alive, like the shared implementations (nodes sharing one MemoryPresence act as a cluster in tests).
 */
import type { PresenceManager, PresenceStats } from '../../core/ports/engine.js';
import type { ClientInfo } from '../../protocol/messages.js';

interface Entry {
  info: ClientInfo;
  expireAt: number;
  node: string;
}

export class MemoryPresence implements PresenceManager {
  private readonly channels = new Map<string, Map<string, Entry>>();
  /** Node uid → when its alive mark runs out. */
  private readonly nodes = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Whether anything is stored for a channel's presence: what tests of "nothing stays behind" look at. */
  hasChannel(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** Channels with presence entries now. */
  get numChannels(): number {
    return this.channels.size;
  }

  async addPresence(channel: string, clientId: string, info: ClientInfo, ttlMs: number, node: string): Promise<void> {
    let m = this.channels.get(channel);
    if (m === undefined) {
      m = new Map();
      this.channels.set(channel, m);
    }
    m.set(clientId, { info, expireAt: this.now() + ttlMs, node });
  }

  async removePresence(channel: string, clientId: string): Promise<void> {
    const m = this.channels.get(channel);
    if (m === undefined) return;
    m.delete(clientId);
    if (m.size === 0) this.channels.delete(channel);
  }

  async markNodeAlive(node: string, ttlMs: number): Promise<void> {
    const now = this.now();
    for (const [uid, until] of this.nodes) if (until <= now) this.nodes.delete(uid);
    this.nodes.set(node, now + ttlMs);
  }

  async markNodeGone(node: string): Promise<void> {
    this.nodes.delete(node);
  }

  /** Drops expired entries; returns the entries of live nodes (a stalled node's come back with its next mark). */
  private live(channel: string): Array<[string, Entry]> {
    const m = this.channels.get(channel);
    if (m === undefined) return [];
    const now = this.now();
    for (const [id, e] of m) if (e.expireAt <= now) m.delete(id);
    if (m.size === 0) {
      this.channels.delete(channel);
      return [];
    }
    return [...m].filter(([, e]) => (this.nodes.get(e.node) ?? 0) > now);
  }

  async presence(channel: string): Promise<Map<string, ClientInfo>> {
    const out = new Map<string, ClientInfo>();
    for (const [id, e] of this.live(channel)) out.set(id, e.info);
    return out;
  }

  async presenceStats(channel: string): Promise<PresenceStats> {
    const entries = this.live(channel);
    const users = new Set<string>();
    for (const [, e] of entries) users.add(e.info.user);
    return { numClients: entries.length, numUsers: users.size };
  }

  async close(): Promise<void> {
    this.channels.clear();
    this.nodes.clear();
  }
}
