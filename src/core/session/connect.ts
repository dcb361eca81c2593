/**
 * The connect and refresh commands: who the client is (an onConnecting hook, a connection token, or anonymous
 * where allowed), the connection limits, and the server-side subscriptions the connect result carries.
 */
import { randomUUID } from 'node:crypto';
import { DisconnectError, Disconnects, Errors, ReplyError } from '../../protocol/codes.js';
import type { ConnectRequest, ConnectResult, Payload, SubscribeResult } from '../../protocol/messages.js';
import { refreshTokenError, resolveChannel } from '../channels/rules.js';
import { afterSubscribed, type SubscriptionGrant, subscribeServerSide } from '../channels/subscribe.js';
import { callHook } from '../hooks.js';
import { TokenError } from '../ports/tokens.js';
import { VERSION } from '../version.js';
import type { Client } from './client.js';

interface Identity {
  user: string;
  expireAt: number;
  info: Payload | undefined;
  grants: Map<string, SubscriptionGrant>;
  data: Payload | undefined;
}

async function identify(client: Client, req: ConnectRequest): Promise<Identity> {
  const node = client.node;
  const cfg = node.config.client;
  const decided = node.hooks.onConnecting
    ? await callHook(node.log, () =>
        node.hooks.onConnecting?.({
          client: client.id,
          transport: client.transportName,
          protocol: client.protocol,
          headers: client.meta.headers ?? {},
          token: req.token,
          data: req.data,
          name: req.name,
          version: req.version,
        }),
      )
    : undefined;
  if (decided !== undefined) {
    if (typeof decided !== 'object' || decided === null || typeof decided.user !== 'string') {
      node.log.error({ client: client.id }, 'onConnecting must return {user, …} or undefined');
      throw new ReplyError(Errors.internal);
    }
    const grants = new Map<string, SubscriptionGrant>();
    for (const ch of decided.channels ?? []) grants.set(ch, {});
    return { user: decided.user, expireAt: decided.expireAt ?? 0, info: decided.info, grants, data: decided.data };
  }
  if (req.token !== '') {
    let identity: Identity;
    try {
      const claims = await node.connectTokens.verifyConnect(req.token);
      identity = {
        user: claims.user,
        expireAt: cfg.insecure ? 0 : claims.expireAt,
        info: claims.info,
        grants: claims.subs,
        data: undefined,
      };
    } catch (e) {
      if (e instanceof TokenError && e.kind === 'expired') throw new ReplyError(Errors.tokenExpired);
      if (e instanceof TokenError) throw new DisconnectError(Disconnects.invalidToken, e.message);
      throw e;
    }
    if (identity.user === '' && cfg.disallow_anonymous_connection_tokens) {
      throw new DisconnectError(Disconnects.permissionDenied, 'anonymous connection tokens are disallowed');
    }
    return identity;
  }
  if (!cfg.insecure && !cfg.allow_anonymous_connect_without_token) {
    throw new DisconnectError(
      Disconnects.badRequest,
      'connection without token: send a token, or enable client.allow_anonymous_connect_without_token',
    );
  }
  return { user: '', expireAt: 0, info: undefined, grants: new Map(), data: undefined };
}

/** Centrifugo's rule for channels a connect request asks for: what the client could subscribe to itself. */
function mayAutoSubscribe(client: Client, channel: string, user: string): boolean {
  const node = client.node;
  // When the application decides subscriptions (hook or subscribe proxy), connect.subs cannot go around it.
  if (node.hooks.onSubscribe) return false;
  if (!node.access.mayHave(channel, user)) return false;
  const r = node.resolver.resolve(channel);
  if (r === undefined || r.isPrivate || !node.resolver.validName(channel, r)) return false;
  if (r.isUserLimited) return user !== '' && node.resolver.userAllowed(channel, user);
  if (r.options.allow_subscribe_for_client && (user !== '' || r.options.allow_subscribe_for_anonymous)) return true;
  return node.config.client.insecure;
}

export async function connect(client: Client, id: number, req: ConnectRequest): Promise<void> {
  const node = client.node;
  const cfg = node.config.client;
  const { user, expireAt, info, grants, data } = await identify(client, req);
  if (!client.isConnecting) return;
  if (node.isClosing) throw new DisconnectError(Disconnects.shutdown);
  if (cfg.connection_limit > 0 && node.clients.size >= cfg.connection_limit) {
    throw new DisconnectError(Disconnects.connectionLimit, `client.connection_limit ${cfg.connection_limit} reached`);
  }
  if (cfg.user_connection_limit > 0 && user !== '' && node.userConnections(user) >= cfg.user_connection_limit) {
    throw new DisconnectError(
      Disconnects.connectionLimit,
      `client.user_connection_limit ${cfg.user_connection_limit} reached for user`,
    );
  }
  const nowSec = Math.floor(node.clock.now() / 1000);
  if (expireAt > 0 && expireAt <= nowSec) throw new ReplyError(Errors.expired);

  // Channels the client asks to be subscribed to server-side (connect.subs) join the token's grants when the
  // client could subscribe to them itself; the token's grants need no further check — but no name, wherever
  // it comes from, may be longer than channel.max_length.
  for (const ch of grants.keys()) node.resolver.checkLength(ch);
  for (const ch of req.subs.keys()) node.resolver.checkLength(ch);
  const wanted = new Map(grants);
  for (const ch of wanted.keys()) {
    // A token or hook granting someone else's personal channel is refused: it is only ever its owner's.
    if (node.access.mayHave(ch, user)) continue;
    wanted.delete(ch);
    node.log.warn(
      { client: client.id, user, channel: ch },
      "server-side subscription to another user's personal channel refused",
    );
  }
  for (const ch of req.subs.keys()) {
    if (!wanted.has(ch) && mayAutoSubscribe(client, ch, user)) wanted.set(ch, {});
  }
  const personal = cfg.subscribe_to_user_personal_channel;
  if (personal.enabled && user !== '') {
    const ch = node.personalChannel(user);
    if (!wanted.has(ch)) wanted.set(ch, {});
    if (personal.single_connection) {
      // One connection per user: the newest wins, the others are told why (3504, no reconnect).
      await node.ops.disconnect({ user, whitelist: [client.id], disconnect: Disconnects.connectionLimit });
      if (!client.isConnecting) return;
    }
  }
  if (cfg.channel_limit > 0 && wanted.size > cfg.channel_limit) {
    throw new DisconnectError(Disconnects.channelLimit, 'more than client.channel_limit server-side channels');
  }

  client.becomeConnected(user, info, expireAt);

  const subs = new Map<string, SubscribeResult>();
  // One reply carries every server-side subscription's recovered publications: they share one budget.
  const budget = { bytes: client.replyBudget() };
  for (const [ch, grant] of wanted) {
    let options: ReturnType<typeof resolveChannel>['options'];
    try {
      options = resolveChannel(node, ch).options;
    } catch (e) {
      node.log.warn({ client: client.id, user, channel: ch, err: (e as Error).message }, 'server-side channel skipped');
      continue;
    }
    const result = await subscribeServerSide(client, ch, options, grant, req.subs.get(ch), budget);
    if (!client.isConnected) return;
    // Undefined: the server API unsubscribed it meanwhile.
    if (result !== undefined) subs.set(ch, result);
  }
  const pingMs = cfg.ping_interval;
  const result: ConnectResult = {
    client: client.id,
    version: VERSION,
    expires: expireAt > 0,
    ttl: expireAt > 0 ? expireAt - nowSec : 0,
    subs,
    ping: Math.round(pingMs / 1000),
    pong: pingMs > 0 && !client.isUnidirectional,
    data,
    time: cfg.connect_include_server_time ? node.clock.now() : undefined,
    // As Centrifugo: a unidirectional client is told a session id (it has no other handle on its connection); an
    // emulated one names its session and this node in every later request (any node routes it here).
    session: client.meta.session ?? (client.isUnidirectional ? randomUUID() : undefined),
    node: client.isEmulated ? node.uid : undefined,
  };
  if (client.isUnidirectional) client.push({ type: 'connect', connect: result }, 'reply');
  else client.reply(id, 'connect', result);
  for (const ch of subs.keys()) afterSubscribed(client.channels.get(ch));
  client.startTimers();
  node.log.debug({ client: client.id, user, transport: client.transportName }, 'client connected');
}

export async function refresh(client: Client, id: number, token: string): Promise<void> {
  if (token === '') throw new DisconnectError(Disconnects.badRequest, 'refresh without token');
  const node = client.node;
  let expireAt = 0;
  let info: Payload | undefined;
  try {
    const claims = await node.connectTokens.verifyConnect(token);
    if (claims.user !== client.user) throw new DisconnectError(Disconnects.invalidToken, 'refresh token user mismatch');
    expireAt = node.config.client.insecure ? 0 : claims.expireAt;
    info = claims.info;
  } catch (e) {
    if (e instanceof TokenError && e.kind === 'expired') throw new DisconnectError(Disconnects.expired);
    throw refreshTokenError(e);
  }
  const nowSec = Math.floor(node.clock.now() / 1000);
  if (expireAt > 0 && expireAt <= nowSec) throw new ReplyError(Errors.expired);
  client.applyRefresh(expireAt, info);
  const ttl = expireAt > 0 ? expireAt - nowSec : 0;
  client.reply(id, 'refresh', { client: client.id, version: VERSION, expires: expireAt > 0, ttl });
}
