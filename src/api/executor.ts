/**
 * Executes server API commands against the node: validated params in, a JSON result (text, so raw payloads are
 * embedded as they came) or a protocol error out. Shared by the HTTP endpoints, the legacy endpoint and batch.
 */

import type { Node } from '../core/node.js';
import { decodeBase64 } from '../protocol/base64.js';
import { type Disconnect, Errors, type ProtocolError, ReplyError } from '../protocol/codes.js';
import { encodeResult } from '../protocol/json/encode.js';
import { markJson } from '../protocol/json-payload.js';
import type { Payload } from '../protocol/messages.js';
import { rawElementsAt, rawValueAt } from '../protocol/raw-json.js';
import { Pacer } from './pacer.js';
import { isMethod, type Method, type Params, schemas } from './schemas.js';

export type ApiReply = { result: string } | { error: ProtocolError };

/** Where the raw JSON text of the params sits, so payloads are taken byte for byte. */
export interface RawSource {
  text: string;
  path: (string | number)[];
  /**
   * Length of the whole request body when `text` is a piece of it (a batch command): V8 substrings point into
   * that body, so whether a payload needs a copy of its own depends on the body's size, not the piece's.
   */
  sourceLength?: number;
}

const q = JSON.stringify;

function fail(error: ProtocolError, detail?: string): never {
  throw new ReplyError(detail ? { ...error, message: `${error.message}: ${detail}` } : error);
}

/**
 * The payload of a command: `data` taken raw (JSON text), or `b64data` decoded (any bytes: Protobuf clients get
 * them as they are, JSON clients as a base64 string, see src/protocol/json-payload.ts).
 */
function payload(p: object, raw: RawSource, key: 'data' | 'info' = 'data'): Payload | undefined {
  const b64 = (p as Record<string, unknown>)[`b64${key}`] as string | undefined;
  if (b64 !== undefined && b64 !== '') {
    const bytes = decodeBase64(b64);
    if (bytes === undefined) fail(Errors.badRequest, `b64${key}: must be base64`);
    return bytes;
  }
  const value = (p as Record<string, unknown>)[key];
  if (value === undefined) return undefined;
  const text = rawValueAt(raw.text, [...raw.path, key]);
  // Bytes of its own: a publication kept in history never keeps the request body it came in.
  return markJson(Buffer.from(text === undefined ? q(value) : text));
}

function boolOverride(v: boolean | { value: boolean } | undefined): boolean | undefined {
  return typeof v === 'object' ? v.value : v;
}

export class ApiExecutor {
  constructor(
    private readonly node: Node,
    /** `http_api.max_batch_commands` (0: no limit). */
    private readonly maxBatchCommands: number,
  ) {}

  /**
   * Validates and runs one command. Never throws: failures become error replies. `pacer` spreads the work of a
   * long request over event-loop turns (one per HTTP request).
   */
  async execute(method: string, params: unknown, raw: RawSource, pacer = new Pacer()): Promise<ApiReply> {
    try {
      if (!isMethod(method)) fail(Errors.methodNotFound, `unknown method "${method}"`);
      // Before validation, which would itself walk every command of an oversized batch.
      if (method === 'batch') this.checkBatchSize(params);
      // 100,000 channels of a broadcast take 10–40 ms to validate: one step.
      const parsed = await pacer.step(() => schemas[method].safeParse(params ?? {}));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const field = issue?.path.join('.') || '(params)';
        fail(Errors.badRequest, `${field}: ${issue?.message ?? 'invalid'}`);
      }
      await pacer.turn();
      return { result: await this.run(method, parsed.data as Params<Method>, raw, pacer) };
    } catch (e) {
      if (e instanceof ReplyError) return { error: e.error };
      this.node.log.error({ err: e, method }, 'server API command failed');
      return { error: Errors.internal };
    }
  }

  /** Error 107 for a batch over `http_api.max_batch_commands`, naming the key. */
  private checkBatchSize(params: unknown): void {
    const commands = (params as { commands?: unknown } | null)?.commands;
    this.checkCommandCount(Array.isArray(commands) ? commands.length : 0, 'commands: ');
  }

  /** Error 107 when one request carries more commands than `http_api.max_batch_commands` (0: no limit). */
  checkCommandCount(n: number, field = ''): void {
    const max = this.maxBatchCommands;
    if (max > 0 && n > max) {
      fail(Errors.badRequest, `${field}${n} commands in one request, at most ${max} (http_api.max_batch_commands)`);
    }
  }

  private async run(method: Method, p: Params<Method>, raw: RawSource, pacer: Pacer): Promise<string> {
    const ops = this.node.ops;
    switch (method) {
      case 'publish': {
        const x = p as Params<'publish'>;
        const data = payload(x, raw);
        if (data === undefined) fail(Errors.badRequest, 'data: required');
        const r = await ops.publish({
          channel: x.channel,
          data,
          skipHistory: x.skip_history,
          tags: x.tags,
          idempotencyKey: x.idempotency_key,
        });
        return positionJSON(r);
      }
      case 'broadcast': {
        const x = p as Params<'broadcast'>;
        // Finding the raw `data` may cross 100,000 channel names first (20–35 ms): one step.
        const data = await pacer.step(() => payload(x, raw));
        if (data === undefined) fail(Errors.badRequest, 'data: required');
        const replies = await pacer.map(x.channels.length, true, async (i) => {
          const channel = x.channels[i] as string;
          try {
            const r = await ops.publish({
              channel,
              data,
              skipHistory: x.skip_history,
              tags: x.tags,
              idempotencyKey: x.idempotency_key,
            });
            return `{"result":${positionJSON(r)}}`;
          } catch (e) {
            if (e instanceof ReplyError) return `{"error":${errorJSON(e.error)}}`;
            throw e;
          }
        });
        return pacer.step(() => `{"responses":[${replies.join(',')}]}`);
      }
      case 'subscribe': {
        const x = p as Params<'subscribe'>;
        await ops.subscribe({
          user: x.user,
          channel: x.channel,
          client: x.client,
          info: payload(x, raw, 'info'),
          data: payload(x, raw),
          expireAt: x.expire_at,
          recoverSince: x.recover_since,
          override: x.override && {
            presence: boolOverride(x.override.presence),
            join_leave: boolOverride(x.override.join_leave),
            force_push_join_leave: boolOverride(x.override.force_push_join_leave),
            force_recovery: boolOverride(x.override.force_recovery),
            force_positioning: boolOverride(x.override.force_positioning),
          },
        });
        return '{}';
      }
      case 'unsubscribe': {
        const x = p as Params<'unsubscribe'>;
        await ops.unsubscribe(x.user, x.channel, x.client);
        return '{}';
      }
      case 'disconnect': {
        const x = p as Params<'disconnect'>;
        if (x.user === '' && (x.client === undefined || x.client === '')) fail(Errors.badRequest, 'user: required');
        const d: Disconnect | undefined = x.disconnect && { code: x.disconnect.code, reason: x.disconnect.reason };
        await ops.disconnect({ user: x.user || undefined, client: x.client, whitelist: x.whitelist, disconnect: d });
        return '{}';
      }
      case 'refresh': {
        const x = p as Params<'refresh'>;
        await ops.refresh({
          user: x.user,
          client: x.client,
          expired: x.expired,
          expireAt: x.expire_at,
          info: payload(x, raw, 'info'),
        });
        return '{}';
      }
      case 'presence': {
        const entries = await ops.presence((p as Params<'presence'>).channel);
        return encodeResult({ id: 0, method: 'presence', result: { presence: entries.values() } }).toString();
      }
      case 'presence_stats': {
        const s = await ops.presenceStats((p as Params<'presence_stats'>).channel);
        return `{"num_clients":${s.numClients},"num_users":${s.numUsers}}`;
      }
      case 'history': {
        const x = p as Params<'history'>;
        const h = await ops.history(x.channel, {
          limit: x.limit === undefined ? 0 : x.limit,
          since: x.since,
          reverse: x.reverse ?? false,
        });
        return encodeResult({ id: 0, method: 'history', result: h }).toString();
      }
      case 'history_remove':
        await ops.historyRemove((p as Params<'history_remove'>).channel);
        return '{}';
      case 'channels': {
        const chans = await ops.channels((p as Params<'channels'>).pattern);
        const parts = [...chans].map(([ch, n]) => `${q(ch)}:{"num_clients":${n}}`);
        return `{"channels":{${parts.join(',')}}}`;
      }
      case 'info':
        return `{"nodes":${q(ops.info())}}`;
      case 'send': {
        const x = p as Params<'send'>;
        const data = payload(x, raw);
        if (data === undefined) fail(Errors.badRequest, 'data: required');
        await ops.send({ client: x.client, user: x.user, all: x.all, data });
        return '{}';
      }
      case 'batch':
        return this.batch(p as Params<'batch'>, raw, pacer);
    }
  }

  /**
   * `{commands: [{"publish": {...}}, ...], parallel}` → `{replies: [{"publish": {...}} | {"error": {...}}]}`.
   * Each command's raw text is located once, in one pass over the body, and the commands run paced.
   */
  private async batch(p: Params<'batch'>, raw: RawSource, pacer: Pacer): Promise<string> {
    const texts = rawElementsAt(raw.text, [...raw.path, 'commands']);
    /** Texts are taken in order; commands start in order too (one at a time, or a window at a time). */
    let taken = 0;
    const textOf = (i: number): string | undefined => {
      let text: string | undefined;
      while (texts !== undefined && taken <= i) {
        const next = texts.next();
        if (next.done) break;
        taken++;
        text = next.value;
      }
      return taken === i + 1 ? text : undefined;
    };
    const one = async (i: number): Promise<string> => {
      const text = textOf(i);
      const cmd = p.commands[i];
      const keys = isObject(cmd) ? Object.keys(cmd) : [];
      if (keys.length !== 1)
        return `{"error":${errorJSON({ ...Errors.badRequest, message: 'bad request: one method per command' })}}`;
      const method = keys[0] as string;
      if (method === 'batch')
        return `{"error":${errorJSON({ ...Errors.badRequest, message: 'bad request: nested batch' })}}`;
      const params = (cmd as Record<string, unknown>)[method];
      const source = { text: text ?? JSON.stringify(cmd), path: [method], sourceLength: raw.text.length };
      const r = await this.execute(method, params, source, pacer);
      return 'result' in r ? `{${q(method)}:${r.result}}` : `{"error":${errorJSON(r.error)}}`;
    };
    const replies = await pacer.map(p.commands.length, p.parallel === true, one);
    return pacer.step(() => `{"replies":[${replies.join(',')}]}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positionJSON(r: { offset: number; epoch: string }): string {
  const parts: string[] = [];
  if (r.offset > 0) parts.push(`"offset":${r.offset}`);
  if (r.epoch !== '') parts.push(`"epoch":${q(r.epoch)}`);
  return `{${parts.join(',')}}`;
}

export function errorJSON(e: ProtocolError): string {
  return `{"code":${e.code},"message":${q(e.message)}}`;
}
