/**
 * One session's subscription to one channel, and the narrow view of a session that channel logic works through.
 */
import type { Disconnect } from '../../protocol/codes.js';
import type { ClientInfo, Payload, Push } from '../../protocol/messages.js';
import type { Node } from '../node.js';
import type { ChannelOptions } from '../options.js';
import type { OutKind } from '../ports/stats.js';
import type { PushEncoding } from '../push-encoding.js';
import type { ChannelSet } from './channel-set.js';

/**
 * What channel logic and the hub need from a client session — and nothing more, so they never reach back into
 * the session's state machine. The session implements it.
 */
export interface SubscriberSession {
  readonly id: string;
  readonly user: string;
  /** Connection info, as set at connect. */
  readonly connInfo: Payload | undefined;
  readonly node: Node;
  /** How this session's pushes are encoded: sessions sharing one get the same bytes from the hub. */
  readonly encoding: PushEncoding;
  readonly isConnected: boolean;
  /** The session's subscriptions. */
  readonly channels: ChannelSet;
  /** Queues a push already encoded with `encoding`. */
  enqueue(message: Uint8Array): void;
  /** Encodes and queues a push, counted as `kind`. */
  push(push: Push, kind: OutKind): void;
  close(d: Disconnect, detail?: string): void;
  /** A subscription with an expiry came or changed: the session reschedules its timer. */
  expiryChanged(): void;
  /** Bytes a reply the server builds for this session may take (channels/reply-budget.ts). */
  replyBudget(): number;
}

/** Flags of one session's subscription to one channel. */
export const SubFlag = {
  /** The client receives join/leave pushes. */
  pushJoinLeave: 1,
  /** The subscription is listed in presence. */
  emitPresence: 2,
  /** Subscribing and leaving publish join/leave events. */
  emitJoinLeave: 4,
  /** The stream position is tracked so that a gap is never silent. */
  positioned: 8,
  /** The subscription was made by the server (token claims, connect, server API), not by a subscribe command. */
  serverSide: 16,
  recoverable: 32,
} as const;

const ignore = () => {};

/** A publication that arrived while the subscribe reply was prepared. */
export interface BufferedPublication {
  frame: Uint8Array;
  offset: number;
  epoch: string;
}

/**
 * One session's subscription to one channel. Shared by the session's channel set and the hub (the channel's
 * subscriber map) so fan-out reads everything it needs from one object.
 *
 * It also owns what it announced to others — its hub entry (through which the node holds the channel's broker
 * subscription), its presence entry, its join event — and `end()` takes each of them back exactly once, whenever
 * the subscription ends: at any step of a subscribe, on unsubscribe, on disconnect. An announcement whose engine
 * write is still in flight is taken back once that write has settled, so a client that vanishes mid-subscribe
 * leaves no presence entry behind, and a leave never overtakes its join. Nothing is announced after `end()`.
 */
export class Subscription {
  flags = 0;
  /** Unix seconds at which a subscription token runs out (0: never). */
  expireAt = 0;
  chanInfo: Payload | undefined;
  /** Last stream position delivered, for positioned and recoverable subscriptions. */
  offset = 0;
  epoch = '';
  /**
   * While the subscribe reply is being prepared, live publications wait here instead of the session's queue;
   * they are released after the reply, without those the reply's recovered publications already carry.
   */
  buffer: BufferedPublication[] | undefined;

  // What end() must take back. Each promise settles (never rejects) when the engine write behind it has.
  private inHub = false;
  /** The node's broker subscribe this subscription waits for, while it is under way. */
  private hubEntry: Promise<void> | undefined;
  /** Every presence write made for this subscription (the first one and refreshes). */
  private presenceWrites: Promise<void> | undefined;
  /** The join event, once published: its leave is due. */
  private joinWrite: Promise<void> | undefined;
  private ending: Promise<void> | undefined;
  private isEnded = false;

  constructor(
    readonly session: SubscriberSession,
    readonly channel: string,
    readonly options: ChannelOptions,
  ) {}

  has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }

  /** Whether the subscription has ended (its announcements are being, or have been, taken back). */
  get ended(): boolean {
    return this.isEnded;
  }

  /** The subscriber as presence, join/leave and publications describe it. */
  clientInfo(): ClientInfo {
    const s = this.session;
    return { user: s.user, client: s.id, connInfo: s.connInfo, chanInfo: this.chanInfo };
  }

  /** Enters the node's hub (for the channel's first local subscriber, the node subscribes to the broker). */
  enterHub(): Promise<void> {
    if (this.ended) return Promise.resolve();
    this.inHub = true;
    const p = this.session.node.addSubscription(this);
    const settled = () => {
      this.hubEntry = undefined;
    };
    this.hubEntry = p.then(settled, settled);
    return p;
  }

  /** Writes (or refreshes) this subscription's presence entry; rejects when the engine write fails. */
  writePresence(ttlMs: number): Promise<void> {
    if (this.ended) return Promise.resolve();
    const s = this.session;
    const p = s.node.engine.presence.addPresence(this.channel, s.id, this.clientInfo(), ttlMs, s.node.uid);
    // A failed write may still have reached the store: it is taken back like one that succeeded.
    const written = p.then(ignore, ignore);
    const earlier = this.presenceWrites;
    this.presenceWrites = earlier === undefined ? written : Promise.all([earlier, written]).then(ignore);
    return p;
  }

  /** Publishes the join event (once). */
  announceJoin(): void {
    if (this.ended || this.joinWrite !== undefined) return;
    const node = this.session.node;
    this.joinWrite = node.engine.broker.publishJoin(this.channel, this.clientInfo()).catch((e) => {
      // It may have reached the broker all the same: the leave still follows, a stray leave is harmless.
      node.log.warn({ err: e, channel: this.channel }, 'join event not published');
    });
  }

  /**
   * Ends the subscription: leaves the hub at once, then removes the presence entry and publishes the leave once
   * the writes that announced them have settled. Idempotent: every call returns the same promise, which never
   * rejects (failures are logged).
   */
  end(): Promise<void> {
    if (this.ending === undefined) {
      this.isEnded = true;
      this.ending = this.takeBack();
    }
    return this.ending;
  }

  private async takeBack(): Promise<void> {
    const node = this.session.node;
    // Not buffered any more: nothing is released after the end.
    this.buffer = undefined;
    const results = await Promise.allSettled([this.leaveHub(), this.removePresence(), this.publishLeave()]);
    for (const r of results) {
      if (r.status === 'rejected')
        node.log.warn({ err: r.reason, channel: this.channel }, 'unsubscribe cleanup failed');
    }
  }

  private async leaveHub(): Promise<void> {
    if (!this.inHub) return;
    const node = this.session.node;
    const underWay = this.hubEntry;
    await node.removeSubscription(this);
    if (underWay === undefined) return;
    // The node keeps its broker subscription while a broker subscribe is under way; look again once it is done.
    await underWay;
    await node.removeSubscription(this);
  }

  private async removePresence(): Promise<void> {
    const writes = this.presenceWrites;
    if (writes === undefined) return;
    await writes;
    const s = this.session;
    await s.node.engine.presence.removePresence(this.channel, s.id, s.user);
  }

  private async publishLeave(): Promise<void> {
    const join = this.joinWrite;
    if (join === undefined) return;
    await join;
    await this.session.node.engine.broker.publishLeave(this.channel, this.clientInfo());
  }
}
