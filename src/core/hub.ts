/**
 * Local fan-out: which of this node's sessions are subscribed to which channel. Each event is encoded once per
 * push encoding present among the channel's subscribers (JSON, Protobuf; wrapped or bare) and the same bytes are
 * queued to every subscriber of that encoding; a subscriber whose stream position shows a gap is told
 * (insufficient state) rather than left with a silent hole.
 */
import type { ClientInfo, Publication, Push } from '../protocol/messages.js';
import { deliverPublication } from './channels/delivery.js';
import { SubFlag, type Subscription } from './channels/subscription.js';
import type { PushEncoding } from './push-encoding.js';
import { sharedFrames } from './shared-frames.js';

/**
 * One event's encoded pushes, by PushEncoding key (a handful of encodings at most: a small array, filled as
 * subscribers of each encoding are met).
 */
class FrameCache {
  private readonly frames: Array<Uint8Array | undefined> = [];
  /** The last encoding asked for: subscribers of one channel usually share it. */
  private lastEncoding: PushEncoding | undefined;
  private lastFrame: Uint8Array | undefined;

  constructor(private readonly push: Push) {}

  frameFor(sub: Subscription): Uint8Array {
    const enc = sub.session.encoding;
    if (enc === this.lastEncoding) return this.lastFrame as Uint8Array;
    let frame = this.frames[enc.key];
    if (frame === undefined) {
      frame = enc.encode(this.push);
      sharedFrames.add(frame);
      this.frames[enc.key] = frame;
    }
    this.lastEncoding = enc;
    this.lastFrame = frame;
    return frame;
  }
}

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
    if (!subs.has(sub.session.id)) this.subscriptionCount++;
    subs.set(sub.session.id, sub);
    return first;
  }

  /** Returns true when the channel has no local subscriber left. */
  remove(sub: Subscription): boolean {
    const subs = this.channels.get(sub.channel);
    if (subs === undefined) return true;
    if (subs.get(sub.session.id) === sub) {
      subs.delete(sub.session.id);
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
    const frames = new FrameCache({ type: 'pub', channel, pub });
    const offset = pub.offset;
    let n = 0;
    for (const sub of subs.values()) {
      if (deliverPublication(sub, frames.frameFor(sub), offset, epoch)) n++;
    }
    return n;
  }

  /** Join or leave, to the subscribers that receive them. Returns how many it was queued for. */
  broadcastPresenceEvent(type: 'join' | 'leave', channel: string, info: ClientInfo): number {
    const subs = this.channels.get(channel);
    if (subs === undefined) return 0;
    let frames: FrameCache | undefined;
    let n = 0;
    for (const sub of subs.values()) {
      if ((sub.flags & SubFlag.pushJoinLeave) === 0) continue;
      frames ??= new FrameCache({ type, channel, info });
      sub.session.enqueue(frames.frameFor(sub));
      n++;
    }
    return n;
  }
}
