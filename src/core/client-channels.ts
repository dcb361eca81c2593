/**
 * Channel commands of a client session: subscribe (with tokens, recovery and positioning), unsubscribe,
 * publish, presence, presence_stats, history and sub_refresh. Permission rules are Centrifugo's (its
 * client handler's OnSubscribe / OnPublish / OnPresence / OnHistory), documented in docs/protocol.md.
 */
import { TokenError } from '../auth/token-verifier.js';
import type { ChannelOptions } from '../config/schema.js';
import { isStreamEpoch } from '../engine/types.js';
import { DisconnectError, Disconnects, Errors, ReplyError } from '../protocol/codes.js';
import {
  encodeHistoryResult,
  encodePresenceResult,
  encodePresenceStatsResult,
  encodePublication,
  encodeSubRefreshResult,
  encodeSubscribeResult,
  type SubscribeResult,
} from '../protocol/encode.js';
import type {
  ChannelRequest,
  HistoryRequest,
  Publication,
  PublishRequest,
  RawJSON,
  SubRefreshRequest,
  SubscribeRequest,
} from '../protocol/types.js';
import type { ResolvedChannel } from './channel-resolver.js';
import { type Client, callHook } from './client.js';
import { SubFlag, Subscription } from './subscription.js';

/** SDK 5.7+: subscribe flag asking for error 112 instead of `recovered: false`. */
const FLAG_REJECT_UNRECOVERED = 2;

function resolveOrFail(client: Client, channel: string): ResolvedChannel {
  client.node.resolver.checkLength(channel);
  const r = client.node.resolver.resolve(channel);
  if (r === undefined) throw new ReplyError(Errors.unknownChannel, `no namespace for channel "${channel}"`);
  if (!client.node.resolver.validName(channel, r)) throw new ReplyError(Errors.badRequest, 'invalid channel name');
  return r;
}

function isInsecure(client: Client): boolean {
  return client.node.config.client.insecure;
}

function hasPresenceAccess(client: Client, channel: string, o: ChannelOptions, subscribed: boolean): boolean {
  const userOk = client.user !== '' || o.allow_presence_for_anonymous;
  if (o.allow_presence_for_client && userOk) return true;
  if (o.allow_presence_for_subscriber && (subscribed || client.subs.has(channel)) && userOk) return true;
  return isInsecure(client);
}

function hasHistoryAccess(client: Client, channel: string, o: ChannelOptions, subscribed: boolean): boolean {
  const userOk = client.user !== '' || o.allow_history_for_anonymous;
  if (o.allow_history_for_client && userOk) return true;
  if (o.allow_history_for_subscriber && (subscribed || client.subs.has(channel)) && userOk) return true;
  return isInsecure(client);
}

// --- subscribe ---------------------------------------------------------------------------------------------

export function handleSubscribe(client: Client, id: number, req: SubscribeRequest): void | Promise<void> {
  const node = client.node;
  const ch = req.channel;
  node.resolver.checkLength(ch);
  if (client.subs.has(ch) || client.isSubscribing(ch)) throw new ReplyError(Errors.alreadySubscribed);
  const limit = node.config.client.channel_limit;
  if (limit > 0 && client.subs.size + client.subscribingCount >= limit) {
    throw new ReplyError(Errors.limitExceeded, `client.channel_limit ${limit} reached`);
  }
  const r = resolveOrFail(client, ch);
  // Someone else's personal channel: refused before tokens, hooks, permissions and insecure mode are consulted.
  node.access.checkHave(ch, client.user);
  if (r.isPrivate && req.token === '') throw new ReplyError(Errors.permissionDenied, 'private channel needs a token');
  if (req.token !== '') return subscribeWithToken(client, id, req, r);
  if (node.hooks.onSubscribe) return subscribeWithHook(client, id, req, r);
  return subscribeByPermissions(client, id, req, r);
}

function subscribeByPermissions(client: Client, id: number, req: SubscribeRequest, r: ResolvedChannel) {
  const node = client.node;
  const ch = req.channel;
  const o = r.options;
  const allowed =
    (r.isUserLimited && client.user !== '' && node.resolver.userAllowed(ch, client.user)) ||
    (!r.isUserLimited && o.allow_subscribe_for_client && (client.user !== '' || o.allow_subscribe_for_anonymous)) ||
    isInsecure(client);
  if (!allowed) throw new ReplyError(Errors.permissionDenied);
  return subscribeClientSide(client, id, req, r, {});
}

/** The application decides (embedding hook or subscribe proxy); `undefined` falls back to the permissions. */
async function subscribeWithHook(client: Client, id: number, req: SubscribeRequest, r: ResolvedChannel) {
  const node = client.node;
  client.startSubscribing(req.channel);
  let decision: Awaited<ReturnType<NonNullable<typeof node.hooks.onSubscribe>>>;
  try {
    decision = await callHook(node, () =>
      node.hooks.onSubscribe?.({
        client,
        channel: req.channel,
        data: req.data === undefined ? undefined : JSON.parse(req.data),
        options: r.options,
      }),
    );
  } finally {
    client.doneSubscribing(req.channel);
  }
  if (!client.isConnected) return;
  if (decision === undefined) return subscribeByPermissions(client, id, req, r);
  if (decision === false) throw new ReplyError(Errors.permissionDenied);
  if (client.subs.has(req.channel)) throw new ReplyError(Errors.alreadySubscribed);
  const d = decision === true ? {} : decision;
  const grant = {
    info: d.info === undefined ? undefined : JSON.stringify(d.info),
    data: d.data === undefined ? undefined : JSON.stringify(d.data),
    expireAt: d.expireAt ?? 0,
    override: d.override,
  };
  return subscribeClientSide(client, id, req, r, grant);
}

async function subscribeWithToken(client: Client, id: number, req: SubscribeRequest, r: ResolvedChannel) {
  client.startSubscribing(req.channel);
  let grant: { info?: RawJSON | undefined; data?: RawJSON | undefined; expireAt: number };
  try {
    const claims = await client.node.subscribeTokens.verifySubscribe(req.token);
    if (claims.channel !== req.channel) {
      throw new DisconnectError(Disconnects.invalidToken, 'subscription token channel mismatch');
    }
    if (claims.user !== client.user)
      throw new DisconnectError(Disconnects.invalidToken, 'subscription token user mismatch');
    if (claims.client !== '' && claims.client !== client.id) {
      throw new DisconnectError(Disconnects.invalidToken, 'subscription token client mismatch');
    }
    grant = { info: claims.info, data: claims.data, expireAt: claims.expireAt };
  } catch (e) {
    if (e instanceof TokenError) {
      throw new ReplyError(e.kind === 'expired' ? Errors.tokenExpired : Errors.permissionDenied, e.message);
    }
    throw e;
  } finally {
    client.doneSubscribing(req.channel);
  }
  if (!client.isConnected) return;
  if (client.subs.has(req.channel)) throw new ReplyError(Errors.alreadySubscribed);
  await subscribeClientSide(client, id, req, r, grant);
}

async function subscribeClientSide(
  client: Client,
  id: number,
  req: SubscribeRequest,
  r: ResolvedChannel,
  grant: ServerSideGrant,
): Promise<void> {
  const ov = grant.override ?? {};
  const o: ChannelOptions = {
    ...r.options,
    presence: ov.presence ?? r.options.presence,
    join_leave: ov.join_leave ?? r.options.join_leave,
    force_push_join_leave: ov.force_push_join_leave ?? r.options.force_push_join_leave,
    force_recovery: ov.force_recovery ?? r.options.force_recovery,
    force_positioning: ov.force_positioning ?? r.options.force_positioning,
  };
  const sub = new Subscription(client, req.channel, r.options);
  sub.chanInfo = grant.info;
  sub.expireAt = grant.expireAt ?? 0;
  let flags = 0;
  if (o.presence) flags |= SubFlag.emitPresence;
  if (o.join_leave) flags |= SubFlag.emitJoinLeave;
  if (o.force_push_join_leave || (req.joinLeave && o.join_leave && hasPresenceAccess(client, req.channel, o, true))) {
    flags |= SubFlag.pushJoinLeave;
  }
  const historyAccess = hasHistoryAccess(client, req.channel, o, true);
  if (o.force_recovery || (req.recoverable && (o.allow_recovery || historyAccess))) flags |= SubFlag.recoverable;
  if (o.force_positioning || (req.positioned && (o.allow_positioning || historyAccess))) flags |= SubFlag.positioned;
  sub.flags = flags;
  const result = await activate(client, sub, {
    recover: req.recover,
    offset: req.offset,
    epoch: req.epoch,
    rejectUnrecovered: (req.flag & FLAG_REJECT_UNRECOVERED) !== 0,
  });
  if (result === undefined) {
    // Ended while under way: by a disconnect (nobody to answer), or by the server API (the client was told).
    if (client.isConnected) throw new ReplyError(Errors.internal, 'unsubscribed while subscribing');
    return;
  }
  result.data = grant.data;
  client.reply(id, 'subscribe', encodeSubscribeResult(result));
  afterSubscribed(client, sub);
}

/** Per-subscription overrides of namespace options (token `subs` claims, server API subscribe). */
export interface SubscriptionOverride {
  presence?: boolean | undefined;
  join_leave?: boolean | undefined;
  force_push_join_leave?: boolean | undefined;
  force_recovery?: boolean | undefined;
  force_positioning?: boolean | undefined;
}

export interface ServerSideGrant {
  info?: RawJSON | undefined;
  data?: RawJSON | undefined;
  override?: SubscriptionOverride | undefined;
  /** Unix seconds (0: never). */
  expireAt?: number | undefined;
}

/**
 * A subscription the server makes: at connect (token `channels`/`subs`, allowed `connect.subs`) or by the API.
 * Undefined when it ended before it was in place (the client left, or the server API unsubscribed it).
 */
export async function subscribeServerSide(
  client: Client,
  channel: string,
  o: ChannelOptions,
  grant: ServerSideGrant,
  recover: { recover: boolean; offset: number; epoch: string } | undefined,
  budget?: ReplyBudget,
): Promise<SubscribeResult | undefined> {
  const sub = new Subscription(client, channel, o);
  sub.chanInfo = grant.info;
  sub.expireAt = grant.expireAt ?? 0;
  const ov = grant.override ?? {};
  let flags = SubFlag.serverSide;
  if (ov.presence ?? o.presence) flags |= SubFlag.emitPresence;
  if (ov.join_leave ?? o.join_leave) flags |= SubFlag.emitJoinLeave;
  if (ov.force_push_join_leave ?? o.force_push_join_leave) flags |= SubFlag.pushJoinLeave;
  if (ov.force_recovery ?? o.force_recovery) flags |= SubFlag.recoverable;
  if (ov.force_positioning ?? o.force_positioning) flags |= SubFlag.positioned;
  sub.flags = flags;
  const result = await activate(client, sub, {
    recover: recover?.recover ?? false,
    offset: recover?.offset ?? 0,
    epoch: recover?.epoch ?? '',
    rejectUnrecovered: false,
    budget,
  });
  // The connect reply carries it; the caller releases buffered publications after writing that reply.
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

/** Bytes of publications a reply the server builds may still take (see Client.replyBudget). */
export interface ReplyBudget {
  bytes: number;
}

/** How many of `pubs`, from the first, fit in `budget` bytes of a reply. */
function fitting(pubs: readonly Publication[], budget: number): { count: number; bytes: number } {
  let bytes = 0;
  for (let i = 0; i < pubs.length; i++) {
    // The publication's JSON and the comma before it.
    const size = encodePublication(pubs[i] as Publication).length + 1;
    if (bytes + size > budget) return { count: i, bytes };
    bytes += size;
  }
  return { count: pubs.length, bytes };
}

/**
 * Puts the subscription in place and works out its stream position and recovery. Live publications are
 * buffered from the moment the node delivers them to this subscription until the reply is written, so none
 * is lost between the history read and the reply, and none is delivered twice.
 *
 * The subscription is in the client's map from the start, so a disconnect or an unsubscribe at any step ends it
 * (Subscription.end takes back whatever it announced, also a write still in flight); each step after an await
 * checks whether that happened. Undefined: it ended before it was in place.
 */
async function activate(client: Client, sub: Subscription, rec: RecoveryRequest): Promise<SubscribeResult | undefined> {
  const node = client.node;
  const ch = sub.channel;
  // A closed client's channel map is never cleaned up again: nothing may enter it.
  if (!client.isConnected) return undefined;
  sub.buffer = [];
  client.startSubscribing(ch);
  client.subs.set(ch, sub);
  try {
    // An earlier subscription to this channel still taking back its presence and join goes first: its leave
    // must not follow this one's join.
    const earlier = client.endingOf(ch);
    if (earlier !== undefined) await earlier;
    await sub.enterHub();
  } catch (e) {
    await client.removeSubscription(sub);
    node.log.error({ err: e, channel: ch }, 'broker subscribe failed');
    throw new ReplyError(Errors.internal);
  } finally {
    client.doneSubscribing(ch);
  }
  if (!stillHere(client, sub)) return undefined;
  const result: SubscribeResult = {};
  if (sub.expireAt > 0) {
    result.expires = true;
    result.ttl = Math.max(0, sub.expireAt - Math.floor(Date.now() / 1000));
    client.trackSubscriptionExpiry();
  }
  const tracked = (sub.flags & (SubFlag.recoverable | SubFlag.positioned)) !== 0;
  try {
    if (tracked) await recoverInto(client, sub, rec, result);
    if (sub.has(SubFlag.emitPresence) && stillHere(client, sub)) await sub.writePresence(presenceTtl(client));
  } catch (e) {
    // Nothing half-done stays behind: no hub entry, no buffer growing, no presence entry.
    await client.removeSubscription(sub);
    if (e instanceof ReplyError) throw e;
    node.log.error({ err: e, channel: ch }, 'subscribe failed in the engine');
    throw new ReplyError(Errors.internal);
  }
  if (!stillHere(client, sub)) return undefined;
  return result;
}

/** Entries outlive two refresh intervals, so one late refresh does not drop a live client. */
export function presenceTtl(client: Client): number {
  return client.node.config.client.presence_update_interval * 2 + 6_000;
}

async function recoverInto(client: Client, sub: Subscription, rec: RecoveryRequest, result: SubscribeResult) {
  const node = client.node;
  const metaTtl = node.historyMetaTtl(sub.options);
  const max = node.config.client.recovery_max_publication_limit;
  if (sub.has(SubFlag.recoverable)) result.recoverable = true;
  if (sub.has(SubFlag.positioned)) result.positioned = true;
  if (rec.recover && sub.has(SubFlag.recoverable)) {
    const budget = rec.budget ?? { bytes: client.replyBudget() };
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
        client.node.log.info(
          { client: client.id, channel: sub.channel, missed: pubs.length, budget: budget.bytes },
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
  const h = await node.engine.broker.history(sub.channel, {
    limit: 0,
    reverse: false,
    historyMetaTtlMs: metaTtl,
  });
  result.position = h.position;
  sub.offset = h.position.offset;
  sub.epoch = h.position.epoch;
}

function stillHere(client: Client, sub: Subscription): boolean {
  return client.isConnected && !sub.ended;
}

/** After the reply is queued: release buffered publications, then announce the join. */
export function afterSubscribed(client: Client, sub: Subscription | undefined): void {
  if (sub === undefined) return;
  client.releaseBuffered(sub);
  if (sub.has(SubFlag.emitJoinLeave)) sub.announceJoin();
}

// --- other channel commands --------------------------------------------------------------------------------

export async function handleUnsubscribe(client: Client, id: number, req: ChannelRequest): Promise<void> {
  client.node.resolver.checkLength(req.channel);
  const sub = client.subs.get(req.channel);
  if (sub !== undefined) await client.removeSubscription(sub);
  client.reply(id, 'unsubscribe', '{}');
}

export async function handlePublish(client: Client, id: number, req: PublishRequest): Promise<void> {
  const node = client.node;
  const r = resolveOrFail(client, req.channel);
  const o = r.options;
  let data = req.data;
  let skipHistory = false;
  // Reserved channels (someone else's personal channel, the agents' channel) are decided before anything else.
  const verdict = node.access.publishVerdict(req.channel, client.user);
  if (verdict === false) throw new ReplyError(Errors.permissionDenied);
  const decision =
    verdict === true
      ? true
      : node.hooks.onPublish
        ? await callHook(node, () =>
            node.hooks.onPublish?.({ client, channel: req.channel, data: JSON.parse(req.data), options: o }),
          )
        : undefined;
  if (decision === false) throw new ReplyError(Errors.permissionDenied);
  if (decision === undefined) {
    const userOk = client.user !== '' || o.allow_publish_for_anonymous;
    const allowed =
      (o.allow_publish_for_client && userOk) ||
      (o.allow_publish_for_subscriber && client.subs.has(req.channel) && userOk) ||
      isInsecure(client);
    if (!allowed) throw new ReplyError(Errors.permissionDenied);
  } else if (decision !== true) {
    if (decision.data !== undefined) data = JSON.stringify(decision.data);
    skipHistory = decision.skipHistory === true;
  }
  if (!client.isConnected) return;
  const sub = client.subs.get(req.channel);
  const history = node.publicationOptions(o);
  if (skipHistory) history.historySize = 0;
  try {
    await node.engine.broker.publish(req.channel, { data, info: client.clientInfo(sub?.chanInfo) }, history);
  } catch (e) {
    node.log.error({ err: e, channel: req.channel, client: client.id }, 'publish failed in the engine');
    throw new ReplyError(Errors.internal);
  }
  client.reply(id, 'publish', '{}');
}

export async function handlePresence(client: Client, id: number, req: ChannelRequest): Promise<void> {
  const r = resolveOrFail(client, req.channel);
  client.node.access.checkHave(req.channel, client.user);
  if (!r.options.presence) throw new ReplyError(Errors.notAvailable, 'presence is off for this namespace');
  if (!hasPresenceAccess(client, req.channel, r.options, false)) throw new ReplyError(Errors.permissionDenied);
  const entries = await client.node.engine.presence.presence(req.channel);
  client.reply(id, 'presence', encodePresenceResult(entries.values()));
}

export async function handlePresenceStats(client: Client, id: number, req: ChannelRequest): Promise<void> {
  const r = resolveOrFail(client, req.channel);
  client.node.access.checkHave(req.channel, client.user);
  if (!r.options.presence) throw new ReplyError(Errors.notAvailable, 'presence is off for this namespace');
  if (!hasPresenceAccess(client, req.channel, r.options, false)) throw new ReplyError(Errors.permissionDenied);
  const s = await client.node.engine.presence.presenceStats(req.channel);
  client.reply(id, 'presence_stats', encodePresenceStatsResult(s.numClients, s.numUsers));
}

export async function handleHistory(client: Client, id: number, req: HistoryRequest): Promise<void> {
  const node = client.node;
  const r = resolveOrFail(client, req.channel);
  node.access.checkHave(req.channel, client.user);
  const o = r.options;
  if (o.history_size <= 0 || o.history_ttl <= 0) throw new ReplyError(Errors.notAvailable, 'history is off');
  if (!hasHistoryAccess(client, req.channel, o, false)) throw new ReplyError(Errors.permissionDenied);
  const max = node.config.client.history_max_publication_limit;
  let limit = req.limit;
  if (limit < 0 || (max > 0 && limit > max)) limit = max > 0 ? max : -1;
  const budget = client.replyBudget();
  const h = await node.engine.broker.history(req.channel, {
    since: req.since,
    limit,
    reverse: req.reverse,
    historyMetaTtlMs: node.historyMetaTtl(o),
    maxBytes: budget,
  });
  let pubs = h.publications;
  if (req.since !== undefined) {
    const { offset, epoch } = req.since;
    if (epoch !== '' && !isStreamEpoch(h, epoch)) {
      throw new ReplyError(Errors.unrecoverablePosition, 'epoch does not match the stream');
    }
    if (offset > h.position.offset) throw new ReplyError(Errors.unrecoverablePosition, 'offset is ahead of the stream');
    if (!req.reverse && limit !== 0 && offset < h.position.offset) {
      const first = h.publications[0]?.offset ?? h.position.offset + 1;
      if (first > offset + 1)
        throw new ReplyError(Errors.unrecoverablePosition, 'history was trimmed past that offset');
    }
  }
  // A page that would not fit the client's queue is cut short at a publication boundary: the client continues
  // with `since` at the last offset it got (the reply's position tells it how far the stream goes).
  const fit = fitting(pubs, budget);
  if (fit.count < pubs.length) {
    const first = pubs[0] as Publication;
    if (fit.count === 0) {
      throw new ReplyError({
        ...Errors.limitExceeded,
        message: `limit exceeded: the publication at offset ${first.offset} is larger than this connection's queue allows (client.queue_max_size)`,
      });
    }
    pubs = pubs.slice(0, fit.count);
  }
  client.reply(id, 'history', encodeHistoryResult(pubs, h.position));
}

export async function handleSubRefresh(client: Client, id: number, req: SubRefreshRequest): Promise<void> {
  if (req.token === '') throw new DisconnectError(Disconnects.badRequest, 'sub_refresh without token');
  client.node.resolver.checkLength(req.channel);
  const sub = client.subs.get(req.channel);
  if (sub === undefined) throw new ReplyError(Errors.permissionDenied, 'not subscribed');
  let expireAt: number;
  try {
    const claims = await client.node.subscribeTokens.verifySubscribe(req.token);
    if (claims.channel !== req.channel || claims.user !== client.user) {
      throw new DisconnectError(Disconnects.invalidToken, 'subscription token does not match');
    }
    if (claims.client !== '' && claims.client !== client.id) {
      throw new DisconnectError(Disconnects.invalidToken, 'subscription token client mismatch');
    }
    expireAt = claims.expireAt;
  } catch (e) {
    if (e instanceof TokenError && e.kind === 'expired') throw new ReplyError(Errors.tokenExpired);
    if (e instanceof TokenError) throw new DisconnectError(Disconnects.invalidToken, e.message);
    throw e;
  }
  const nowSec = Math.floor(Date.now() / 1000);
  if (expireAt > 0 && expireAt <= nowSec) throw new ReplyError(Errors.expired);
  sub.expireAt = expireAt;
  client.trackSubscriptionExpiry();
  client.reply(id, 'sub_refresh', encodeSubRefreshResult(expireAt > 0, expireAt - nowSec));
}
