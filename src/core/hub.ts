/**
 * Local fan-out: which of this node's clients are subscribed to which channel. Each event is encoded once and
 * the same bytes are queued to every subscriber; a subscriber whose stream position shows a gap is told
 * (insufficient state) rather than left with a silent hole.
 */

import { Disconnects } from '../protocol/codes.js';
import { encodeJoinPush, encodeLeavePush, encodePublicationPush } from '../protocol/encode.js';
import type { ClientInfo, Publication } from '../protocol/types.js';
import { sharedFrames } from './shared-frames.js';
import { SubFlag, type Subscription } from './subscription.js';

/** Publications a subscription may hold back while its subscribe reply is prepared. */
const MAX_BUFFERED = 10_000;

export class Hub {
  private readonly channels = new Map<string, Map<string, Subscription>>();
  private subscriptionCount = 0;

  /** Returns true when this is the channel's first local subscriber. */
  add(sub: Subscription): boolean {
    let subs = this.channels.get(sub.channel);
    const first = subs === undefined;
    if (subs === undefined) {
      subs = new Map();
      this.channels.set(sub.channel, subs);
    }
    if (!subs.has(sub.client.id)) this.subscriptionCount++;
    subs.set(sub.client.id, sub);
    return first;
  }

  /** Returns true when the channel has no local subscriber left. */
  remove(sub: Subscription): boolean {
    const subs = this.channels.get(sub.channel);
    if (subs === undefined) return true;
    if (subs.get(sub.client.id) === sub) {
      subs.delete(sub.client.id);
      this.subscriptionCount--;
    }
    if (subs.size === 0) {
      this.channels.delete(sub.channel);
      return true;
    }
    return false;
  }

  hasSubscribers(channel: string): boolean {
    return this.channels.has(channel);
  }

  subscribers(channel: string): Iterable<Subscription> {
    return this.channels.get(channel)?.values() ?? [];
  }

  get numChannels(): number {
    return this.channels.size;
  }

  get numSubscriptions(): number {
    return this.subscriptionCount;
  }

  channelNames(): IterableIterator<string> {
    return this.channels.keys();
  }

  numSubscribers(channel: string): number {
    return this.channels.get(channel)?.size ?? 0;
  }

  /** Returns how many subscribers it was queued (or buffered) for. */
  broadcastPublication(channel: string, pub: Publication, epoch: string): number {
    const subs = this.channels.get(channel);
    if (subs === undefined) return 0;
    const frame = Buffer.from(encodePublicationPush(channel, pub));
    sharedFrames.add(frame);
    const offset = pub.offset;
    let n = 0;
    for (const sub of subs.values()) {
      if (sub.buffer !== undefined) {
        // A subscribe waiting on a slow engine cannot hold publications without bound.
        if (sub.buffer.length >= MAX_BUFFERED)
          sub.client.close(Disconnects.slow, 'too many publications during subscribe');
        else sub.buffer.push({ frame, offset, epoch });
        n++;
        continue;
      }
      if (offset > 0 && (sub.flags & (SubFlag.positioned | SubFlag.recoverable)) !== 0) {
        if (!sub.client.advancePosition(sub, offset, epoch)) continue;
      }
      sub.client.enqueue(frame);
      n++;
    }
    return n;
  }

  /** Returns how many subscribers it was queued for. */
  broadcastJoin(channel: string, info: ClientInfo): number {
    return this.broadcastPresenceEvent(channel, encodeJoinPush(channel, info));
  }

  /** Returns how many subscribers it was queued for. */
  broadcastLeave(channel: string, info: ClientInfo): number {
    return this.broadcastPresenceEvent(channel, encodeLeavePush(channel, info));
  }

  private broadcastPresenceEvent(channel: string, text: string): number {
    const subs = this.channels.get(channel);
    if (subs === undefined) return 0;
    let frame: Buffer | undefined;
    let n = 0;
    for (const sub of subs.values()) {
      if ((sub.flags & SubFlag.pushJoinLeave) === 0) continue;
      if (frame === undefined) {
        frame = Buffer.from(text);
        sharedFrames.add(frame);
      }
      sub.client.enqueue(frame);
      n++;
    }
    return n;
  }
}
