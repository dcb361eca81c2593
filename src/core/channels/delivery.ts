/**
 * Delivering a channel's publications to one subscription: stream positions are tracked for recoverable and
 * positioned subscriptions, so a duplicate is dropped and a gap is never silent (the client is told its state is
 * insufficient and recovers from history); publications that arrive while a subscribe reply is prepared wait in
 * the subscription's buffer.
 */
import { Disconnects, UnsubscribeCodes } from '../../protocol/codes.js';
import { SubFlag, type Subscription } from './subscription.js';

/** Publications a subscription may hold back while its subscribe reply is prepared. */
const MAX_BUFFERED = 10_000;

const TRACKED = SubFlag.positioned | SubFlag.recoverable;

/**
 * Moves a tracked subscription's position forward. False when the publication must not be delivered: a duplicate,
 * or a gap (the client is then told to recover).
 */
export function advancePosition(sub: Subscription, offset: number, epoch: string): boolean {
  // Offset 1 of another epoch for a subscriber still at 0 is the first publication of a stream created after
  // it saw the channel empty (src/engine/empty-epoch.ts): nothing was missed, and it follows the new stream.
  if (sub.epoch !== '' && epoch !== '' && epoch !== sub.epoch && !(sub.offset === 0 && offset === 1)) {
    insufficientState(sub, 'stream epoch changed');
    return false;
  }
  if (offset <= sub.offset) return false;
  // The position is known once the subscription has an epoch (set at subscribe, even at offset 0).
  if (sub.epoch !== '' && offset !== sub.offset + 1) {
    insufficientState(sub, `publication gap: at ${sub.offset}, got ${offset}`);
    return false;
  }
  sub.offset = offset;
  if (epoch !== '') sub.epoch = epoch;
  return true;
}

/**
 * Queues (or buffers) a publication's encoded push for one subscriber; false when it was not (a duplicate or a
 * gap). `frame` is the push in the subscriber's encoding.
 */
export function deliverPublication(sub: Subscription, frame: Uint8Array, offset: number, epoch: string): boolean {
  const buffer = sub.buffer;
  if (buffer !== undefined) {
    // A subscribe waiting on a slow engine cannot hold publications without bound.
    if (buffer.length >= MAX_BUFFERED) sub.session.close(Disconnects.slow, 'too many publications during subscribe');
    else buffer.push({ frame, offset, epoch });
    return true;
  }
  if (offset > 0 && (sub.flags & TRACKED) !== 0 && !advancePosition(sub, offset, epoch)) return false;
  sub.session.enqueue(frame);
  return true;
}

/** The client's position cannot be trusted: it must resubscribe (or reconnect) and recover. */
export function insufficientState(sub: Subscription, why: string): void {
  const session = sub.session;
  session.node.log.info({ client: session.id, channel: sub.channel, why }, 'insufficient state: client must recover');
  if (sub.has(SubFlag.serverSide)) {
    session.close(Disconnects.insufficientState, why);
    return;
  }
  const u = UnsubscribeCodes.insufficientState;
  session.push({ type: 'unsubscribe', channel: sub.channel, code: u.code, reason: u.reason }, 'unsubscribe');
  void session.channels.remove(sub);
}

/** Queues what arrived for a subscription while its reply was prepared, skipping what the reply carried. */
export function releaseBuffered(sub: Subscription): void {
  const buffered = sub.buffer;
  if (buffered === undefined) return;
  sub.buffer = undefined;
  const session = sub.session;
  const tracked = (sub.flags & TRACKED) !== 0;
  for (const b of buffered) {
    if (!session.isConnected || !session.channels.holds(sub)) return;
    if (tracked && b.offset > 0 && !advancePosition(sub, b.offset, b.epoch)) continue;
    session.enqueue(b.frame);
  }
}
