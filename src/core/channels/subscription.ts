import type { ChannelOptions } from '../config/schema.js';
import type { RawJSON } from '../protocol/types.js';
import type { Client } from './client.js';

/** Flags of one client's subscription to one channel. */
export const SubFlag = {
  /** The client receives join/leave pushes. */
  pushJoinLeave: 1,
  /** The subscription is listed in presence. */
  emitPresence: 2,
  /** Subscribing and leaving publish join/leave events. */
  emitJoinLeave: 4,
  /** The stream position is tracked so that a gap is never silent. */
  positioned: 8,
  /** The subscription was made by the server (token claims, connect), not by a subscribe command. */
  serverSide: 16,
  recoverable: 32,
} as const;

/**
 * One client's subscription to one channel. Shared by the client (its channel map) and the hub (the channel's
 * subscriber map) so fan-out reads everything it needs from one object.
 */
export class Subscription {
  flags = 0;
  /** Unix seconds at which a subscription token runs out (0: never). */
  expireAt = 0;
  chanInfo: RawJSON | undefined;
  /** Last stream position delivered, for positioned and recoverable subscriptions. */
  offset = 0;
  epoch = '';
  /**
   * While the subscribe reply is being prepared, live publications wait here instead of the client's queue;
   * they are released after the reply, without those the reply's recovered publications already carry.
   */
  buffer: Array<{ frame: Buffer; offset: number; epoch: string }> | undefined;
  /** Whether this subscription's presence entry was added (and must be removed). */
  inPresence = false;
  /** Whether a join was published for it (and a leave is due). */
  joined = false;

  constructor(
    readonly client: Client,
    readonly channel: string,
    readonly options: ChannelOptions,
  ) {}

  has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }
}
