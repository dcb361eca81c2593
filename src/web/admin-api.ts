/**
 * The admin page's API under /admin/api: JSON over HTTP.
 *
 * - `POST /admin/api/login {password}` → `{token}`: the password is compared in constant time with
 *   `admin.password`. A wrong password answers 401 after a delay; past `admin.login_failure_limit` failures from
 *   one client address within `admin.login_failure_window`, that address gets 429 with `Retry-After` (even with
 *   the right password) until the window passes. Failures are logged with the address.
 * - Sessions are stateless, so they work on every node of a cluster: the token is an HS256 JWT valid for
 *   `admin.session_ttl`, signed with a key derived from both `admin.secret` and `admin.password` (changing
 *   either ends every session). Logout revokes the token's id in the engine's revocation list, which every node
 *   checks (memory: the process; Redis: the cluster).
 * - Every other endpoint needs `Authorization: Bearer <token>` (401 otherwise) unless `admin.insecure`:
 *   `GET state` (nodes, totals, busiest channels, message rates), `GET series` (the last 5 minutes, one sample a
 *   second), `POST publish {channel, data}`, `POST disconnect {user, client?}`, `POST logout` (revokes the token).
 * - Errors are `{error: {code, message}}` with the API's codes (107 bad request, 102 unknown channel …); bodies
 *   are capped at 64 KiB.
 *
 * Figures are the whole cluster's, whichever node answers (src/web/admin-stats.ts): every node samples itself
 * every second, and the node asked sums the live nodes' samples, so the page does not jump between nodes
 * behind a load balancer. Each node's own figures come with its uid and name.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jwtVerify, SignJWT } from 'jose';
import type { Config } from '../config/schema.js';
import type { Node } from '../core/node.js';
import type { NodeInfo } from '../core/server-ops.js';
import { BodyTooLarge, readBody as readLimitedBody } from '../http/body.js';
import { HttpError, sendJSON as send } from '../http/reply.js';
import { Errors, ReplyError } from '../protocol/codes.js';
import { rawValueAt } from '../protocol/raw-json.js';
import { ClientAddresses } from '../transport/client-address.js';
import { type AdminActivity, clusterSeries } from './admin-stats.js';
import { LoginThrottle } from './login-throttle.js';

export interface AdminApi {
  /** Handles /admin/api/* requests; false when the path is not the admin API's. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

export interface AdminApiOptions {
  /** The clock of the login throttle (tests). */
  now?: () => number;
}

const PREFIX = '/admin/api/';
const MAX_BODY = 64 * 1024;
const AUDIENCE = 'chorus-admin';
const SUBJECT = 'admin';
/** How long a wrong password waits before its 401. */
const LOGIN_FAILURE_DELAY_MS = 400;
/** The busiest channels the state lists. */
const TOP_CHANNELS = 100;

/** A verified admin token: its id and expiry (unix seconds). */
interface Session {
  jti: string;
  exp: number;
}

/** An error answer: HTTP status with the API's `{error: {code, message}}`. */
const badRequest = (detail: string) => new HttpError(400, { code: Errors.badRequest.code, message: detail });
const unauthorized = (message = 'unauthorized') => new HttpError(401, { code: 401, message });

function tooLarge(): HttpError {
  return new HttpError(413, { code: Errors.badRequest.code, message: `body larger than ${MAX_BODY} bytes` });
}

/** The body's text, at most MAX_BODY bytes (413 past it, with the connection closed after the answer). */
async function readBody(req: IncomingMessage, res: ServerResponse): Promise<string> {
  try {
    return await readLimitedBody(req, res, MAX_BODY);
  } catch (e) {
    throw e instanceof BodyTooLarge ? tooLarge() : e;
  }
}

/** A JSON object body of at most MAX_BODY bytes, and its text (payloads are taken from it as sent). */
async function readJSON(
  req: IncomingMessage,
  res: ServerResponse,
): Promise<{ body: Record<string, unknown>; text: string }> {
  const text = await readBody(req, res);
  if (text.trim() === '') throw badRequest('body required: a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest('body must be a JSON object');
  }
  return { body: value as Record<string, unknown>, text };
}

function stringField(body: Record<string, unknown>, key: string, opts: { required: boolean; max?: number }) {
  const v = body[key];
  if (v === undefined || v === null || v === '') {
    if (opts.required) throw badRequest(`${key}: required`);
    return undefined;
  }
  if (typeof v !== 'string') throw badRequest(`${key}: must be a string`);
  if (v.length > (opts.max ?? 1024)) throw badRequest(`${key}: longer than ${opts.max ?? 1024} characters`);
  return v;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time comparison (both sides hashed first, so their lengths leak nothing either). */
function samePassword(given: string, expected: string): boolean {
  if (expected === '') return false;
  return timingSafeEqual(digest(given), digest(expected));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The key admin sessions are signed with: derived from the secret and the password, so that changing either
 * invalidates every session issued before, on every node, without any state.
 */
function sessionKey(secret: string, password: string): Uint8Array {
  return createHmac('sha256', secret).update('chorus admin session\u0000').update(password, 'utf8').digest();
}

function tooManyAttempts(waitMs: number): HttpError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new HttpError(
    429,
    {
      code: Errors.tooManyRequests.code,
      message: `too many failed logins from your address: try again in ${seconds} s`,
    },
    { 'retry-after': String(seconds) },
  );
}

export function createAdminApi(
  node: Node,
  config: Readonly<Config>,
  activity: AdminActivity,
  opts: AdminApiOptions = {},
): AdminApi {
  const cfg = config.admin;
  activity.attach(node);
  // Without a secret (insecure mode only) a random one keeps the signing code path sound.
  const key = sessionKey(cfg.secret !== '' ? cfg.secret : randomBytes(32).toString('hex'), cfg.password);
  const ttlSeconds = Math.max(1, Math.floor(cfg.session_ttl / 1000));
  const throttle = new LoginThrottle(cfg.login_failure_limit, cfg.login_failure_window, opts.now);

  async function issueToken(): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(SUBJECT)
      .setAudience(AUDIENCE)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(key);
  }

  /** The verified token's id and expiry; throws 401. */
  async function authenticate(req: IncomingMessage): Promise<Session | undefined> {
    if (cfg.insecure) return undefined;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m === null) throw unauthorized('log in first: Authorization: Bearer <token> required');
    let session: Session;
    try {
      const { payload } = await jwtVerify(m[1] as string, key, {
        algorithms: ['HS256'],
        audience: AUDIENCE,
        subject: SUBJECT,
      });
      if (typeof payload.jti !== 'string' || payload.jti === '') throw new Error('no jti');
      session = { jti: payload.jti, exp: payload.exp ?? 0 };
    } catch {
      throw unauthorized('session expired or invalid: log in again');
    }
    let revoked: boolean;
    try {
      revoked = await node.engine.revocations.isRevoked(session.jti);
    } catch (e) {
      node.log.warn({ err: (e as Error).message }, 'admin session check failed: the engine is unreachable');
      throw new HttpError(503, { code: Errors.internal.code, message: 'cannot check the session now: try again' });
    }
    if (revoked) throw unauthorized('session ended (logged out): log in again');
    return session;
  }

  /**
   * The client's address as the throttle counts it: the socket's, or behind a proxy listed in
   * http_server.trusted_proxies the one that proxy forwards (never a header from anyone else).
   */
  const addresses = new ClientAddresses(config.http_server.trusted_proxies);
  const clientAddress = (req: IncomingMessage) => addresses.of(req) || 'unknown';

  async function login(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const address = clientAddress(req);
    const early = cfg.insecure ? 0 : throttle.retryAfter(address);
    if (early > 0) {
      req.resume();
      throw tooManyAttempts(early);
    }
    const { body } = await readJSON(req, res);
    const password = body.password;
    if (typeof password !== 'string') throw badRequest('password: required, a string');
    if (cfg.insecure) return { token: await issueToken(), insecure: true };
    // Checked again after the body: concurrent guesses all pass the first check while their bodies arrive.
    // From here to throttle.fail nothing awaits, so no more than the limit are ever compared.
    const wait = throttle.retryAfter(address);
    if (wait > 0) throw tooManyAttempts(wait);
    if (!samePassword(password, cfg.password)) {
      const blocked = throttle.fail(address);
      node.log.warn({ address }, 'admin login failed: wrong password');
      if (blocked) {
        node.log.warn(
          { address, retryAfterSeconds: Math.ceil(throttle.retryAfter(address) / 1000) },
          `admin login: ${cfg.login_failure_limit} failed attempts from this address; its logins are refused (429) until the window passes, without further log lines`,
        );
      }
      await sleep(LOGIN_FAILURE_DELAY_MS + Math.floor(Math.random() * 100));
      throw unauthorized('wrong password');
    }
    throttle.succeed(address);
    return { token: await issueToken(), expires_in: ttlSeconds };
  }

  async function state(): Promise<unknown> {
    const [channels, series] = await Promise.all([node.ops.channels(''), clusterSeries(node)]);
    const last = series.t.length - 1;
    const nodes = node.ops.info().map((n: NodeInfo) => {
      // The node's figures of the series' last second when it answered (totals, rows and chart then agree);
      // otherwise those of its last heartbeat (up to 3 s old), without rates.
      const s = series.nodes.find((x) => x.uid === n.uid);
      if (s === undefined || last < 0) return n;
      return {
        ...n,
        num_clients: s.connections[last] as number,
        num_users: s.users[last] as number,
        num_channels: s.channels[last] as number,
        num_subs: s.subscriptions[last] as number,
        rate_in: s.in[last] as number,
        rate_out: s.out[last] as number,
      };
    });
    const top = [...channels]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, TOP_CHANNELS)
      .map(([channel, subscribers]) => ({ channel, subscribers }));
    const sum = (k: keyof NodeInfo) => nodes.reduce((acc, n) => acc + Number(n[k]), 0);
    return {
      insecure: cfg.insecure,
      node: { uid: node.uid, name: node.name, version: node.version },
      time: Date.now(),
      nodes,
      totals: {
        nodes: nodes.length,
        connections: sum('num_clients'),
        // Summed over nodes: a user connected to two nodes counts twice.
        users: sum('num_users'),
        channels: channels.size,
        subscriptions: sum('num_subs'),
      },
      channels: { total: channels.size, top },
      // The whole cluster's messages per second in the last complete second.
      rates: { in: series.in[last] ?? 0, out: series.out[last] ?? 0 },
    };
  }

  async function publish(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const { body, text } = await readJSON(req, res);
    const channel = stringField(body, 'channel', { required: true, max: 1024 }) as string;
    if (!('data' in body) || body.data === undefined) throw badRequest('data: required (any JSON value)');
    // The data as sent, byte for byte (as the server API does): re-serialising it would also fail on deep nesting.
    const data = rawValueAt(text, ['data']) ?? JSON.stringify(body.data);
    const r = await node.ops.publish({ channel, data: Buffer.from(data) });
    return { result: r.offset > 0 ? { offset: r.offset, epoch: r.epoch } : {} };
  }

  async function disconnect(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const { body } = await readJSON(req, res);
    const user = stringField(body, 'user', { required: true }) as string;
    const client = stringField(body, 'client', { required: false });
    const online = await node.ops.isOnline({ user, client });
    await node.ops.disconnect({ user, client });
    return { result: { online } };
  }

  async function logout(_req: IncomingMessage, _res: ServerResponse, session: Session | undefined): Promise<unknown> {
    if (session !== undefined) await node.engine.revocations.revoke(session.jti, session.exp * 1000);
    return { result: {} };
  }

  type Route = {
    method: 'GET' | 'POST';
    auth: boolean;
    run: (req: IncomingMessage, res: ServerResponse, session: Session | undefined) => Promise<unknown>;
  };
  const routes: Record<string, Route> = {
    login: { method: 'POST', auth: false, run: login },
    state: { method: 'GET', auth: true, run: state },
    series: { method: 'GET', auth: true, run: () => clusterSeries(node) },
    publish: { method: 'POST', auth: true, run: publish },
    disconnect: { method: 'POST', auth: true, run: disconnect },
    logout: { method: 'POST', auth: true, run: logout },
  };

  return {
    async handle(req, res) {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (!path.startsWith(PREFIX)) return false;
      const route = Object.hasOwn(routes, path.slice(PREFIX.length)) ? routes[path.slice(PREFIX.length)] : undefined;
      if (route === undefined) return false;
      try {
        const method = req.method === 'HEAD' ? 'GET' : req.method;
        if (method !== route.method) {
          req.resume();
          send(res, 405, { error: { code: 405, message: `use ${route.method}` } }, { allow: route.method });
          return true;
        }
        const session = route.auth
          ? await authenticate(req).catch((e) => {
              req.resume();
              throw e;
            })
          : undefined;
        const result = await route.run(req, res, session);
        send(res, 200, result);
      } catch (e) {
        if (e instanceof HttpError) send(res, e.status, { error: e.error }, e.headers);
        else if (e instanceof ReplyError) {
          const error = { code: e.error.code, message: e.message };
          send(res, e.error.code === Errors.internal.code ? 500 : 400, { error });
        } else {
          // Every request gets an answer, including one whose body was read (and its stream ended) before the
          // failure: checking req.destroyed here once left such requests unanswered.
          node.log.error({ err: e, path }, 'admin API request failed');
          if (res.headersSent) res.destroy();
          else send(res, 500, { error: Errors.internal });
        }
      }
      return true;
    },
  };
}
