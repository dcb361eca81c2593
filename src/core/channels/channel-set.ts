/**
 * A session's channels: its subscriptions, the subscribes under way and the ended subscriptions still being taken
 * back. All of a session's subscription state lives here, in one place (sets and maps exist only while used:
 * memory per connection).
 */
import type { Subscription } from './subscription.js';

export class ChannelSet {
  private readonly subs = new Map<string, Subscription>();
  /** Channels with a subscribe in progress. */
  private subscribing: Set<string> | undefined;
  /** Channels whose ended subscription is still being taken back. */
  private ending: Map<string, Promise<void>> | undefined;
  /** Subscriptions with a token expiry (the session's timer looks at them only while there are some). */
  expiring = 0;

  get size(): number {
    return this.subs.size;
  }

  has(channel: string): boolean {
    return this.subs.has(channel);
  }

  get(channel: string): Subscription | undefined {
    return this.subs.get(channel);
  }

  values(): IterableIterator<Subscription> {
    return this.subs.values();
  }

  keys(): IterableIterator<string> {
    return this.subs.keys();
  }

  /** Subscribed, or a subscribe is under way. */
  isTaken(channel: string): boolean {
    return this.subs.has(channel) || this.subscribing?.has(channel) === true;
  }

  /** Subscriptions and subscribes under way, for client.channel_limit. */
  get count(): number {
    return this.subs.size + (this.subscribing?.size ?? 0);
  }

  startSubscribing(channel: string): void {
    this.subscribing ??= new Set();
    this.subscribing.add(channel);
  }

  doneSubscribing(channel: string): void {
    this.subscribing?.delete(channel);
    if (this.subscribing?.size === 0) this.subscribing = undefined;
  }

  add(sub: Subscription): void {
    this.subs.set(sub.channel, sub);
    if (sub.expireAt > 0) this.expiring++;
  }

  /** Whether `sub` is the session's current subscription to its channel. */
  holds(sub: Subscription): boolean {
    return this.subs.get(sub.channel) === sub;
  }

  /**
   * Ends a subscription: it leaves the set at once, and what it announced (hub entry, presence, join) is taken
   * back — after any engine write still in flight for it. Resolves when done.
   */
  remove(sub: Subscription): Promise<void> {
    if (!this.holds(sub)) return sub.end();
    this.subs.delete(sub.channel);
    if (sub.expireAt > 0) this.expiring--;
    const ending = sub.end();
    // A new subscription to the channel announces itself only after this one has been taken back.
    const ch = sub.channel;
    this.ending ??= new Map();
    this.ending.set(ch, ending);
    void ending.then(() => {
      if (this.ending?.get(ch) !== ending) return;
      this.ending.delete(ch);
      if (this.ending.size === 0) this.ending = undefined;
    });
    return ending;
  }

  /** The cleanup of an ended subscription to this channel, while it runs. */
  endingOf(channel: string): Promise<void> | undefined {
    return this.ending?.get(channel);
  }

  /** Ends every subscription (the session closed). */
  removeAll(): void {
    for (const sub of [...this.subs.values()]) void this.remove(sub);
  }

  /** Recounts subscriptions with an expiry (after a sub_refresh changed one). */
  recountExpiring(): void {
    let n = 0;
    for (const s of this.subs.values()) if (s.expireAt > 0) n++;
    this.expiring = n;
  }
}
