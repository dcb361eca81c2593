/**
 * A client's channel commands besides subscribe: unsubscribe, publish, presence, presence_stats, history and
 * sub_refresh. The rules are those of channels/rules.ts, shared with the server API.
 */
import { DisconnectError, Disconnects, Errors, ReplyError } from '../../protocol/codes.js';
import type {
  ChannelRequest,
  HistoryRequest,
  Publication,
  PublishRequest,
  SubRefreshRequest,
} from '../../protocol/messages.js';
import { callHook, type PublishDecision } from '../hooks.js';
import type { ChannelSession } from './channel-session.js';
import { fitting } from './reply-budget.js';
import {
  type Asker,
  checkSince,
  mayHistory,
  mayPresence,
  mayPublish,
  refreshTokenError,
  requireHistory,
  requirePresence,
  resolveChannel,
} from './rules.js';

function asker(session: ChannelSession, channel: string): Asker {
  return {
    user: session.user,
    subscribed: session.channels.has(channel),
    insecure: session.node.config.client.insecure,
  };
}

export async function handleUnsubscribe(session: ChannelSession, id: number, req: ChannelRequest): Promise<void> {
  session.node.resolver.checkLength(req.channel);
  const sub = session.channels.get(req.channel);
  if (sub !== undefined) await session.channels.remove(sub);
  session.reply(id, 'unsubscribe', {});
}

export async function handlePublish(session: ChannelSession, id: number, req: PublishRequest): Promise<void> {
  const node = session.node;
  const r = resolveChannel(node, req.channel);
  const o = r.options;
  let data = req.data;
  let skipHistory = false;
  // Reserved channels (someone else's personal channel, the agents' channel) are decided before anything else.
  const verdict = node.access.publishVerdict(req.channel, session.user);
  if (verdict === false) throw new ReplyError(Errors.permissionDenied);
  let decision: PublishDecision | boolean | undefined = verdict;
  if (decision === undefined && node.hooks.onPublish) {
    decision = await callHook(node.log, () =>
      node.hooks.onPublish?.({ client: session.context, channel: req.channel, data: req.data, options: o }),
    );
  }
  if (decision === false) throw new ReplyError(Errors.permissionDenied);
  if (decision === undefined) {
    if (!mayPublish(o, asker(session, req.channel))) throw new ReplyError(Errors.permissionDenied);
  } else if (decision !== true) {
    if (decision.data !== undefined) data = decision.data;
    skipHistory = decision.skipHistory === true;
  }
  if (!session.isConnected) return;
  const sub = session.channels.get(req.channel);
  const info = { user: session.user, client: session.id, connInfo: session.connInfo, chanInfo: sub?.chanInfo };
  await node.publish(req.channel, o, { data, info }, { skipHistory });
  session.reply(id, 'publish', {});
}

export async function handlePresence(session: ChannelSession, id: number, req: ChannelRequest): Promise<void> {
  const node = session.node;
  const r = resolveChannel(node, req.channel);
  node.access.checkHave(req.channel, session.user);
  requirePresence(r.options);
  if (!mayPresence(r.options, asker(session, req.channel))) throw new ReplyError(Errors.permissionDenied);
  const entries = await node.engine.presence.presence(req.channel);
  session.reply(id, 'presence', { presence: entries.values() });
}

export async function handlePresenceStats(session: ChannelSession, id: number, req: ChannelRequest): Promise<void> {
  const node = session.node;
  const r = resolveChannel(node, req.channel);
  node.access.checkHave(req.channel, session.user);
  requirePresence(r.options);
  if (!mayPresence(r.options, asker(session, req.channel))) throw new ReplyError(Errors.permissionDenied);
  const s = await node.engine.presence.presenceStats(req.channel);
  session.reply(id, 'presence_stats', s);
}

export async function handleHistory(session: ChannelSession, id: number, req: HistoryRequest): Promise<void> {
  const node = session.node;
  const r = resolveChannel(node, req.channel);
  node.access.checkHave(req.channel, session.user);
  const o = r.options;
  requireHistory(o);
  if (!mayHistory(o, asker(session, req.channel))) throw new ReplyError(Errors.permissionDenied);
  const max = node.config.client.history_max_publication_limit;
  let limit = req.limit;
  if (limit < 0 || (max > 0 && limit > max)) limit = max > 0 ? max : -1;
  const budget = session.replyBudget();
  const h = await node.engine.broker.history(req.channel, {
    since: req.since,
    limit,
    reverse: req.reverse,
    historyMetaTtlMs: node.historyMetaTtl(o),
    maxBytes: budget,
  });
  checkSince(req.since, h, { reverse: req.reverse, limit });
  // A page that would not fit the client's queue is cut short at a publication boundary: the client continues
  // with `since` at the last offset it got (the reply's position tells it how far the stream goes).
  let pubs = h.publications;
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
  session.reply(id, 'history', { publications: pubs, position: h.position });
}

export async function handleSubRefresh(session: ChannelSession, id: number, req: SubRefreshRequest): Promise<void> {
  if (req.token === '') throw new DisconnectError(Disconnects.badRequest, 'sub_refresh without token');
  session.node.resolver.checkLength(req.channel);
  const sub = session.channels.get(req.channel);
  if (sub === undefined) throw new ReplyError(Errors.permissionDenied, 'not subscribed');
  let expireAt: number;
  try {
    const claims = await session.node.subscribeTokens.verifySubscribe(req.token);
    if (claims.channel !== req.channel || claims.user !== session.user) {
      throw new DisconnectError(Disconnects.invalidToken, 'subscription token does not match');
    }
    if (claims.client !== '' && claims.client !== session.id) {
      throw new DisconnectError(Disconnects.invalidToken, 'subscription token client mismatch');
    }
    expireAt = claims.expireAt;
  } catch (e) {
    throw refreshTokenError(e);
  }
  const nowSec = Math.floor(session.node.clock.now() / 1000);
  if (expireAt > 0 && expireAt <= nowSec) throw new ReplyError(Errors.expired);
  sub.expireAt = expireAt;
  session.channels.recountExpiring();
  session.expiryChanged();
  session.reply(id, 'sub_refresh', { expires: expireAt > 0, ttl: expireAt > 0 ? expireAt - nowSec : 0 });
}
