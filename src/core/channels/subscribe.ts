/**
 * Subscribing: a client's subscribe command (decided by a subscription token, a hook or the namespace's
 * permissions) and the server's own subscriptions (token `channels`/`subs`, allowed `connect.subs`, the server
 * API) share one activation: the subscription enters the hub, its stream position and any recovery are worked
 * out, its presence is written, and live publications wait in its buffer until the reply is queued.
 */
import { DisconnectError, Disconnects, Errors, ReplyError } from '../../protocol/codes.js';
import type { Payload, RecoveryPosition, SubscribeRequest, SubscribeResult } from '../../protocol/messages.js';
import type { ResolvedChannel } from '../channel-resolver.js';
import { callHook, type SubscribeDecision } from '../hooks.js';
import type { ChannelOptions } from '../options.js';
import { isStreamEpoch } from '../ports/engine.js';
import type { SubscriptionOverride } from '../ports/tokens.js';
import type { ChannelSession } from './channel-session.js';
import { releaseBuffered } from './delivery.js';
import { fitting, type ReplyBudget } from './reply-budget.js';
import { maySubscribe, resolveChannel, subscribeTokenError, subscriptionFlags, withOverride } from './rules.js';
import { SubFlag, type SubscriberSession, Subscription } from './subscription.js';

/** SDK 5.7+: subscribe flag asking for error 112 instead of `recovered: false`. */
const FLAG_REJECT_UNRECOVERED = 2;

/** What the server grants a subscription beyond the namespace's options. */
export interface SubscriptionGrant {
  /** Becomes `chan_info`. */
  info?: Payload | undefined;
  /** Returned to the client with the subscribe result. */
  data?: Payload | undefined;
  override?: SubscriptionOverride | undefined;
  /** Unix seconds (0: never). */
  expireAt?: number | undefined;
}

function insecure(session: SubscriberSession): boolean {
  return session.node.config.client.insecure;
}

export function handleSubscribe(session: ChannelSession, id: number, req: SubscribeRequest): void | Promise<void> {
  const node = session.node;
  const ch = req.channel;
  const r = resolveChannel(node, ch);
  if (session.channels.isTaken(ch)) throw new ReplyError(Errors.alreadySubscribed);
  const limit = node.config.client.channel_limit;
  if (limit > 0 && session.channels.count >= limit) {
    throw new ReplyError(Errors.limitExceeded, `client.channel_limit ${limit} reached`);
  }
  // Someone else's personal channel: refused before tokens, hooks, permissions and insecure mode are consulted.
  node.access.checkHave(ch, session.user);
  if (r.isPrivate && req.token === '') throw new ReplyError(Errors.permissionDenied, 'private channel needs a token');
  if (req.token !== '') return subscribeWithToken(session, id, req, r);
  if (node.hooks.onSubscribe) return subscribeWithHook(session, id, req, r);
  return subscribeByPermissions(session, id, req, r);
}

function subscribeByPermissions(session: ChannelSession, id: number, req: SubscribeRequest, r: ResolvedChannel) {
  if (!maySubscribe(session.node, req.channel, r, session.user, insecure(session))) {
    throw new ReplyError(Errors.permissionDenied);
  }
  return subscribeClientSide(session, id, req, r, {});
}

/** The application decides (embedding hook or subscribe proxy); `undefined` falls back to the permissions. */
async function subscribeWithHook(session: ChannelSession, id: number, req: SubscribeRequest, r: ResolvedChannel) {
  const node = session.node;
  const channels = session.channels;
  channels.startSubscribing(req.channel);
  let decision: SubscribeDecision | boolean | undefined;
  try {
    decision = await callHook(node.log, () =>
      node.hooks.onSubscribe?.({ client: session.context, channel: req.channel, data: req.data, options: r.options }),
    );
  } finally {
    channels.doneSubscribing(req.channel);
  }
  if (!session.isConnected) return;
  if (decision === undefined) return subscribeByPermissions(session, id, req, r);
  if (decision === false) throw new ReplyError(Errors.permissionDenied);
  if (channels.has(req.channel)) throw new ReplyError(Errors.alreadySubscribed);
  const d = decision === true ? {} : decision;
  return subscribeClientSide(session, id, req, r, {
    info: d.info,
    data: d.data,
    expireAt: d.expireAt ?? 0,
    override: d.override,
  });
}

async function subscribeWithToken(session: ChannelSession, id: number, req: SubscribeRequest, r: ResolvedChannel) {
  const channels = session.channels;
  channels.startSubscribing(req.channel);
  let grant: SubscriptionGrant;
  try {
    const claims = await session.node.subscribeTokens.verifySubscribe(req.token);
    if (claims.channel !== req.channel) {
      throw new DisconnectError(Disconnects.invalidToken, 'subscription token channel mismatch');
    }
    if (claims.user !== session.user) {
      throw new DisconnectError(Disconnects.invalidToken, 'subscription token user mismatch');
    }
    if (claims.client !== '' && claims.client !== session.id) {
      throw new DisconnectError(Disconnects.invalidToken, 'subscription token client mismatch');
    }
    grant = { info: claims.info, data: claims.data, expireAt: claims.expireAt };
  } catch (e) {
    throw subscribeTokenError(e);
  } finally {
    channels.doneSubscribing(req.channel);
  }
  if (!session.isConnected) return;
  if (channels.has(req.channel)) throw new ReplyError(Errors.alreadySubscribed);
  await subscribeClientSide(session, id, req, r, grant);
}

async function subscribeClientSide(
  session: ChannelSession,
  id: number,
  req: SubscribeRequest,
  r: ResolvedChannel,
  grant: SubscriptionGrant,
): Promise<void> {
  const o = withOverride(r.options, grant.override);
  const sub = new Subscription(session, req.channel, r.options);
  sub.chanInfo = grant.info;
  sub.expireAt = grant.expireAt ?? 0;
  sub.flags = subscriptionFlags(o, req, { user: session.user, subscribed: true, insecure: insecure(session) });
  const result = await activate(session, sub, {
    recover: req.recover,
    offset: req.offset,
    epoch: req.epoch,
    rejectUnrecovered: (req.flag & FLAG_REJECT_UNRECOVERED) !== 0,
  });
  if (result === undefined) {
    // Ended while under way: by a disconnect (nobody to answer), or by the server API (the client was told).
    if (session.isConnected) throw new ReplyError(Errors.internal, 'unsubscribed while subscribing');
    return;
  }
  result.data = grant.data;
  session.reply(id, 'subscribe', result);
  afterSubscribed(sub);
}

/**
 * A subscription the server makes: at connect (token `channels`/`subs`, allowed `connect.subs`) or by the API.
 * Undefined when it ended before it was in place (the client left, or the server API unsubscribed it). The
 * caller writes the result (connect reply, subscribe push), then calls afterSubscribed.
 */
export async function subscribeServerSide(
  session: ChannelSession,
  channel: string,
  o: ChannelOptions,
  grant: SubscriptionGrant,
  recover: RecoveryPosition | undefined,
  budget?: ReplyBudget,
): Promise<SubscribeResult | undefined> {
  const sub = new Subscription(session, channel, o);
  sub.chanInfo = grant.info;
  sub.expireAt = grant.expireAt ?? 0;
  sub.flags = subscriptionFlags(withOverride(o, grant.override), undefined, {
    user: session.user,
    subscribed: true,
    insecure: insecure(session),
  });
  const result = await activate(session, sub, {
    recover: recover?.recover ?? false,
    offset: recover?.offset ?? 0,
    epoch: recover?.epoch ?? '',
    rejectUnrecovered: false,
    budget,
  });
  if (result === undefined) return undefined;
  result.data = grant.data;
  return result;
}

interface RecoveryRequest {
  recover: boolean;
  offset: number;
  epoch: string;
  rejectUnrecovered: boolean;
  /** What the reply may still carry (shared by the subscriptions of one connect reply). */
  budget?: ReplyBudget | undefined;
}

/**
 * Puts the subscription in place and works out its stream position and recovery. Live publications are
 * buffered from the moment the node delivers them to this subscription until the reply is written, so none
 * is lost between the history read and the reply, and none is delivered twice.
 *
 * The subscription is in the session's channel set from the start, so a disconnect or an unsubscribe at any step
 * ends it (Subscription.end takes back whatever it announced, also a write still in flight); each step after an
 * await checks whether that happened. Undefined: it ended before it was in place.
 */
async function activate(
  session: SubscriberSession,
  sub: Subscription,
  rec: RecoveryRequest,
): Promise<SubscribeResult | undefined> {
  const node = session.node;
  const channels = session.channels;
  const ch = sub.channel;
  // A closed session's channel set is never cleaned up again: nothing may enter it.
  if (!session.isConnected) return undefined;
  sub.buffer = [];
  channels.startSubscribing(ch);
  channels.add(sub);
  try {
    // An earlier subscription to this channel still taking back its presence and join goes first: its leave
    // must not follow this one's join.
    const earlier = channels.endingOf(ch);
    if (earlier !== undefined) await earlier;
    await sub.enterHub();
  } catch (e) {
    await channels.remove(sub);
    node.log.error({ err: e, channel: ch }, 'broker subscribe failed');
    throw new ReplyError(Errors.internal);
  } finally {
    channels.doneSubscribing(ch);
  }
  if (!stillHere(session, sub)) return undefined;
  const result: SubscribeResult = {};
  if (sub.expireAt > 0) {
    result.expires = true;
    result.ttl = Math.max(0, sub.expireAt - Math.floor(node.clock.now() / 1000));
    session.expiryChanged();
  }
  const tracked = (sub.flags & (SubFlag.recoverable | SubFlag.positioned)) !== 0;
  try {
    if (tracked) await recoverInto(session, sub, rec, result);
    if (sub.has(SubFlag.emitPresence) && stillHere(session, sub)) await sub.writePresence(presenceTtl(session));
  } catch (e) {
    // Nothing half-done stays behind: no hub entry, no buffer growing, no presence entry.
    await channels.remove(sub);
    if (e instanceof ReplyError) throw e;
    node.log.error({ err: e, channel: ch }, 'subscribe failed in the engine');
    throw new ReplyError(Errors.internal);
  }
  if (!stillHere(session, sub)) return undefined;
  return result;
}

/** Entries outlive two refresh intervals, so one late refresh does not drop a live client. */
export function presenceTtl(session: SubscriberSession): number {
  return session.node.config.client.presence_update_interval * 2 + 6_000;
}

async function recoverInto(
  session: SubscriberSession,
  sub: Subscription,
  rec: RecoveryRequest,
  result: SubscribeResult,
) {
  const node = session.node;
  const metaTtl = node.historyMetaTtl(sub.options);
  const max = node.config.client.recovery_max_publication_limit;
  if (sub.has(SubFlag.recoverable)) result.recoverable = true;
  if (sub.has(SubFlag.positioned)) result.positioned = true;
  if (rec.recover && sub.has(SubFlag.recoverable)) {
    const budget = rec.budget ?? { bytes: session.replyBudget() };
    const h = await node.engine.broker.history(sub.channel, {
      since: { offset: rec.offset, epoch: rec.epoch },
      limit: max > 0 ? max + 1 : -1,
      reverse: false,
      historyMetaTtlMs: metaTtl,
      maxBytes: budget.bytes,
    });
    const top = h.position;
    const epochOk = rec.epoch === '' || isStreamEpoch(h, rec.epoch);
    let pubs = h.publications;
    let recovered: boolean;
    if (max > 0 && pubs.length > max) recovered = false;
    else if (pubs.length === 0) recovered = epochOk && top.offset === rec.offset;
    else {
      // Every publication from the client's offset up to the stream's top, with nothing missing at either end.
      recovered =
        epochOk && (pubs[0]?.offset ?? 0) === rec.offset + 1 && (pubs[pubs.length - 1]?.offset ?? 0) === top.offset;
    }
    if (recovered && pubs.length > 0) {
      // Missed publications that do not fit the client's queue are not sent: a reply the server chose to build
      // must never get its requester closed as slow (3008). The client is told it did not recover.
      const fit = fitting(pubs, budget.bytes);
      if (fit.count < pubs.length) {
        recovered = false;
        node.log.info(
          { client: session.id, channel: sub.channel, missed: pubs.length, budget: budget.bytes },
          'missed publications exceed what the client queue can take (client.queue_max_size): not recovered',
        );
      } else budget.bytes -= fit.bytes;
    }
    if (!recovered) {
      if (rec.rejectUnrecovered) throw new ReplyError(Errors.unrecoverablePosition);
      pubs = [];
    }
    result.wasRecovering = true;
    result.recovered = recovered;
    result.publications = pubs;
    result.position = top;
    sub.offset = top.offset;
    sub.epoch = top.epoch;
    return;
  }
  const h = await node.engine.broker.history(sub.channel, { limit: 0, reverse: false, historyMetaTtlMs: metaTtl });
  result.position = h.position;
  sub.offset = h.position.offset;
  sub.epoch = h.position.epoch;
}

function stillHere(session: SubscriberSession, sub: Subscription): boolean {
  return session.isConnected && !sub.ended;
}

/** After the reply (or push) carrying the result is queued: release buffered publications, announce the join. */
export function afterSubscribed(sub: Subscription | undefined): void {
  if (sub === undefined) return;
  releaseBuffered(sub);
  if (sub.has(SubFlag.emitJoinLeave)) sub.announceJoin();
}
