/**
 * Centrifugo's HTTP proxies for standalone deployments: connect, subscribe, publish and RPC decisions made by the
 * application's backend. Each is a hook (see core/hooks.ts) that POSTs Centrifugo's proxy request JSON to the
 * configured endpoint and maps the answer:
 *
 *   {"result": {...}}                 → accepted (with the result's user, info, data, channels …)
 *   {"error": {"code","message"}}     → the client's command fails with that error
 *   {"disconnect": {"code","reason"}} → the connection is closed with that code
 *
 * A timeout, a network failure, a non-200 status or an unreadable answer is an internal error (100, temporary:
 * the SDK retries), logged with the endpoint. Headers listed in `http_headers` are forwarded from the client's
 * connection request (e.g. Cookie, Authorization).
 *
 * The backend is trusted to decide, not to be well-behaved: an answer past `max_response_size` is not read
 * further (memory does not grow with it) and fails the hook; a redirect is never followed (the target of a
 * redirect would decide who the user is) and fails the hook with a log line saying to fix the endpoint.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config/schema.js';
import type { Log } from '../core/ports/log.js';
import type { ConnectingContext, Hooks, PublishContext, SubscribeContext } from '../embedding/app-hooks.js';
import { decodeBase64 } from '../protocol/base64.js';
import { DisconnectError, Errors, type ProtocolError, ReplyError } from '../protocol/codes.js';

interface ProxyConfig {
  endpoint: string;
  timeout: number;
  http_headers: readonly string[];
  max_response_size: number;
}

/** Where each proxy is configured, for log lines that say what to change. */
const CONFIG_KEYS: Record<string, string> = {
  connect: 'client.proxy.connect',
  subscribe: 'channel.proxy.subscribe',
  publish: 'channel.proxy.publish',
  rpc: 'rpc.proxy',
};

/** A failed proxy call: what went wrong and what to do, for the log. */
class ProxyFailure extends Error {}

/** The answer's text, read no further than `limit` bytes (0: no limit). */
async function readCapped(res: Response, limit: number, key: string): Promise<string> {
  const tooLarge = (size: string) =>
    new ProxyFailure(
      `answer of ${size} bytes, over ${key}.max_response_size (${limit}): answer less, or raise the limit`,
    );
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (limit > 0 && declared > limit) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge(String(declared));
  }
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (limit > 0 && size > limit) {
      // Cancelling closes the connection: nothing more of the answer is read or kept.
      await reader.cancel().catch(() => {});
      throw tooLarge(`more than ${limit}`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

interface ProxyAnswer {
  result?: Record<string, unknown>;
  error?: { code: number; message?: string; temporary?: boolean };
  disconnect?: { code: number; reason?: string };
}

function pickHeaders(headers: IncomingHttpHeaders | undefined, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  for (const name of allowed) {
    const v = headers[name.toLowerCase()];
    if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** Decodes the answer's `b64data` / `b64info` into bytes, in place; a field that is not base64 fails the call. */
function decodeBase64Fields(result: Record<string, unknown>): void {
  for (const key of ['b64data', 'b64info']) {
    const b64 = result[key];
    if (b64 === undefined || b64 === '') continue;
    const bytes = typeof b64 === 'string' ? decodeBase64(b64) : undefined;
    if (bytes === undefined) throw new ProxyFailure(`result.${key} is not base64: answer standard base64`);
    result[key] = bytes;
  }
}

/**
 * `x` or its base64 twin `b64x` from a proxy result: `x` is a JSON value, `b64x` any bytes (a Uint8Array, which
 * the hooks send as they are: Protobuf clients get the bytes, JSON clients a base64 string).
 */
function field(result: Record<string, unknown>, key: string): unknown {
  if (result[key] !== undefined) return result[key];
  const bytes = result[`b64${key}`];
  return bytes instanceof Uint8Array ? bytes : undefined;
}

/**
 * A payload in a proxy request, as Centrifugo's proxy protocol carries it: JSON as `data`, binary (a Protobuf
 * client's bytes that are not JSON) as `b64data`, with `encoding` saying which.
 */
function payloadFields(data: unknown): Record<string, unknown> {
  if (data instanceof Uint8Array) return { encoding: 'binary', b64data: Buffer.from(data).toString('base64') };
  return { encoding: 'json', data };
}

async function call(
  kind: string,
  proxy: ProxyConfig,
  body: Record<string, unknown>,
  headers: IncomingHttpHeaders | undefined,
  log: Log,
): Promise<Record<string, unknown>> {
  let answer: ProxyAnswer;
  const key = CONFIG_KEYS[kind] ?? kind;
  try {
    const res = await fetch(proxy.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...pickHeaders(headers, proxy.http_headers) },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(proxy.timeout > 0 ? proxy.timeout : 1000),
    });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => {});
      const location = res.headers.get('location');
      throw new ProxyFailure(
        `answered a redirect (HTTP ${res.status}${location ? ` to ${location}` : ''}): proxies never follow ` +
          `redirects; set ${key}.endpoint to the URL that answers`,
      );
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw new ProxyFailure(`HTTP ${res.status}`);
    }
    answer = JSON.parse(await readCapped(res, proxy.max_response_size, key)) as ProxyAnswer;
    if (typeof answer !== 'object' || answer === null) throw new ProxyFailure('answer is not a JSON object');
    if (typeof answer.result === 'object' && answer.result !== null) decodeBase64Fields(answer.result);
  } catch (e) {
    log.error({ err: (e as Error).message, endpoint: proxy.endpoint, proxy: kind }, 'proxy request failed');
    throw new ReplyError(Errors.internal);
  }
  if (answer.disconnect) {
    throw new DisconnectError(
      { code: answer.disconnect.code, reason: answer.disconnect.reason ?? '' },
      `${kind} proxy`,
    );
  }
  if (answer.error) {
    const e: ProtocolError = {
      code: answer.error.code,
      message: answer.error.message ?? '',
      ...(answer.error.temporary ? { temporary: true } : {}),
    };
    throw new ReplyError(e);
  }
  return answer.result ?? {};
}

const base = (transport: string, protocol: string) => ({ transport, protocol });

/** The subscribe and publish proxies send the same request: who asks, about which channel, with what data. */
function callForChannel(
  kind: string,
  proxy: ProxyConfig,
  ctx: SubscribeContext | PublishContext,
  log: Log,
): Promise<Record<string, unknown>> {
  const c = ctx.client;
  const body = {
    client: c.client,
    ...base(c.meta.transport, c.protocol),
    user: c.user,
    channel: ctx.channel,
    ...payloadFields(ctx.data),
  };
  return call(kind, proxy, body, c.meta.headers, log);
}

/** Hooks that call the configured proxies; empty when none is configured. */
export function proxyHooks(config: Readonly<Config>, log: Log): Partial<Hooks> {
  const hooks: Partial<Hooks> = {};
  const connect = config.client.proxy.connect;
  if (connect.enabled) {
    hooks.onConnecting = async (ctx: ConnectingContext) => {
      const r = await call(
        'connect',
        connect,
        {
          client: ctx.client,
          ...base(ctx.transport, ctx.protocol),
          name: ctx.name,
          version: ctx.version,
          ...payloadFields(ctx.data),
        },
        ctx.headers,
        log,
      );
      if (typeof r.user !== 'string') throw new ReplyError(Errors.internal, 'connect proxy result without user');
      return {
        user: r.user,
        info: field(r, 'info'),
        data: field(r, 'data'),
        expireAt: typeof r.expire_at === 'number' ? r.expire_at : 0,
        channels: Array.isArray(r.channels) ? (r.channels as string[]) : [],
      };
    };
  }
  const subscribe = config.channel.proxy.subscribe;
  if (subscribe.endpoint !== '') {
    hooks.onSubscribe = async (ctx: SubscribeContext) => {
      if (!ctx.options.subscribe_proxy_enabled) return undefined;
      const r = await callForChannel('subscribe', subscribe, ctx, log);
      return {
        info: field(r, 'info'),
        data: field(r, 'data'),
        expireAt: typeof r.expire_at === 'number' ? r.expire_at : 0,
      };
    };
  }
  const publish = config.channel.proxy.publish;
  if (publish.endpoint !== '') {
    hooks.onPublish = async (ctx: PublishContext) => {
      if (!ctx.options.publish_proxy_enabled) return undefined;
      const r = await callForChannel('publish', publish, ctx, log);
      return { data: field(r, 'data'), skipHistory: r.skip_history === true };
    };
  }
  const rpc = config.rpc;
  if (rpc.proxy.endpoint !== '') {
    const enabled = (method: string): boolean => {
      const i = rpc.namespace_boundary === '' ? -1 : method.indexOf(rpc.namespace_boundary);
      if (i === -1) return rpc.without_namespace.proxy_enabled;
      return rpc.namespaces.find((ns) => ns.name === method.slice(0, i))?.proxy_enabled ?? false;
    };
    hooks.onUnknownRPC = async (ctx, method, data) => {
      if (!enabled(method)) return undefined;
      const r = await call(
        'rpc',
        rpc.proxy,
        {
          client: ctx.client,
          ...base(ctx.meta.transport, ctx.protocol),
          user: ctx.user,
          method,
          ...payloadFields(data),
        },
        ctx.meta.headers,
        log,
      );
      return { data: field(r, 'data') };
    };
  }
  return hooks;
}

/** Lower-cased names of the headers some proxy forwards: the only ones a connection needs to keep. */
export function forwardedHeaders(config: Readonly<Config>): string[] {
  const names = [
    ...config.client.proxy.connect.http_headers,
    ...config.channel.proxy.subscribe.http_headers,
    ...config.channel.proxy.publish.http_headers,
    ...config.rpc.proxy.http_headers,
  ];
  return [...new Set(names.map((n) => n.toLowerCase()))];
}
