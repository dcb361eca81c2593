/**
 * The HTTP server API, Centrifugo v6 compatible: `POST /api/<method>` with a JSON body, and the legacy
 * `POST /api` with newline-separated `{"method","params"}` commands (what cent.js's pipeline sends).
 *
 * - Authorised by `http_api.key` in `X-API-Key`, `Authorization: apikey <key>` or `?api_key=`, compared in
 *   constant time; no key or a wrong one → 401. Without a configured key (and not `http_api.insecure`) every
 *   request is refused: the API is never open by accident.
 * - HTTP 200 with `{"result":…}` or `{"error":{"code","message"}}`. In transport error mode
 *   (`X-Centrifugo-Error-Mode: transport` or `http_api.error_mode`) errors map to HTTP statuses as Centrifugo
 *   does (100 → 500, 102/104 → 404, 107/108 → 400, 112 → 416, 113 → 409).
 * - A body that is not JSON → 400 with error 107; over `http_api.max_body_size` → 413.
 * - A batch or legacy body holds at most `http_api.max_batch_commands` commands; long requests run paced
 *   (pacer.ts), so one request never holds the event loop for long.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema.js';
import type { Node } from '../core/node.js';
import { BodyTooLarge, discardBody, readBodyBytes } from '../http/body.js';
import { sendJSON, sendJSONInSteps } from '../http/reply.js';
import { Errors, type ProtocolError, ReplyError } from '../protocol/codes.js';
import { nestedDeeperThan, TOO_DEEP_MESSAGE } from '../protocol/json-depth.js';
import { ApiExecutor, type ApiReply, errorJSON } from './executor.js';
import { Pacer } from './pacer.js';

const HTTP_STATUS: Record<number, number> = { 100: 500, 102: 404, 104: 404, 107: 400, 108: 400, 112: 416, 113: 409 };

/** Constant time for keys of the configured length; only the length can leak (as Go's ConstantTimeCompare). */
function sameKey(given: string, key: Buffer): boolean {
  const g = Buffer.from(given);
  return g.length === key.length && timingSafeEqual(g, key);
}

export class HttpApi {
  readonly prefix: string;
  private readonly executor: ApiExecutor;
  private readonly key: Buffer | undefined;

  constructor(
    node: Node,
    private readonly config: Readonly<Config>,
  ) {
    const cfg = config.http_api;
    this.prefix = cfg.handler_prefix.replace(/\/+$/, '') || '/api';
    this.executor = new ApiExecutor(node, cfg.max_batch_commands);
    this.key = cfg.key !== '' ? Buffer.from(cfg.key) : undefined;
  }

  get enabled(): boolean {
    return !this.config.http_api.disabled;
  }

  /** Whether the request's path belongs to the API. */
  matches(path: string): boolean {
    return this.enabled && (path === this.prefix || path.startsWith(`${this.prefix}/`));
  }

  private authorised(req: IncomingMessage, query: string): boolean {
    if (this.config.http_api.insecure) return true;
    if (this.key === undefined) return false;
    let given = req.headers['x-api-key'];
    if (typeof given !== 'string') {
      const auth = req.headers.authorization;
      const m = typeof auth === 'string' ? /^apikey\s+(.+)$/i.exec(auth) : null;
      given = m?.[1] ?? (query === '' ? undefined : (new URLSearchParams(query).get('api_key') ?? undefined));
    }
    if (typeof given !== 'string' || given === '') return false;
    return sameKey(given, this.key);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const query = q === -1 ? '' : target.slice(q + 1);
    if (req.method !== 'POST') {
      await discardBody(req);
      sendJSON(
        res,
        405,
        { error: { code: 107, message: 'bad request: the API takes POST requests' } },
        { allow: 'POST' },
      );
      return;
    }
    if (!this.authorised(req, query)) {
      const why = this.key === undefined ? 'set http_api.key to use the server API' : 'missing or wrong API key';
      await discardBody(req);
      sendJSON(res, 401, { error: { code: 401, message: `unauthorized: ${why}` } });
      return;
    }
    let body: string;
    try {
      const bytes = await readBodyBytes(req, res, this.config.http_api.max_body_size);
      // Decoding 4 MiB of UTF-8 takes milliseconds: a step of its own, within a slice.
      body = await new Pacer().step(() => bytes.toString('utf8'));
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        const limit = this.config.http_api.max_body_size;
        this.error(res, 413, {
          ...Errors.badRequest,
          message: `bad request: body over ${limit} bytes (http_api.max_body_size)`,
        });
      } else if (!res.headersSent) {
        res.destroy();
      }
      return;
    }
    const transportMode =
      this.config.http_api.error_mode === 'transport' || req.headers['x-centrifugo-error-mode'] === 'transport';
    // The path as sent (percent-escapes kept): method names are plain ASCII.
    const path = q === -1 ? target : target.slice(0, q);
    if (path === this.prefix || path === `${this.prefix}/`) {
      await this.legacy(body, res);
      return;
    }
    const method = path.slice(this.prefix.length + 1);
    const pacer = new Pacer();
    let params: unknown = {};
    // Scanning and parsing a large body are steps that cannot be split: each runs within a slice (pacer.ts).
    if (await pacer.step(() => nestedDeeperThan(body))) {
      this.error(res, 400, { ...Errors.badRequest, message: TOO_DEEP_MESSAGE });
      return;
    }
    if (body.trim() !== '') {
      try {
        params = await pacer.step(() => JSON.parse(body));
      } catch {
        this.error(res, 400, { ...Errors.badRequest, message: 'bad request: body is not valid JSON' });
        return;
      }
    }
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      this.error(res, 400, { ...Errors.badRequest, message: 'bad request: body must be a JSON object' });
      return;
    }
    const reply = await this.executor.execute(method, params, { text: body, path: [] }, pacer);
    if ('error' in reply && (transportMode || reply.error.code === Errors.methodNotFound.code)) {
      this.error(res, HTTP_STATUS[reply.error.code] ?? 500, reply.error);
      return;
    }
    await sendJSONInSteps(res, 200, replyJSON(reply), pacer);
  }

  /**
   * Legacy endpoint: one `{"method","params"}` command per line; one reply per line, in order. At most
   * `http_api.max_batch_commands` lines, run paced as a batch is.
   */
  private async legacy(body: string, res: ServerResponse): Promise<void> {
    const pacer = new Pacer();
    const lines = body.split('\n').filter((l) => l.trim() !== '');
    try {
      this.executor.checkCommandCount(lines.length, 'lines: ');
    } catch (e) {
      if (!(e instanceof ReplyError)) throw e;
      this.error(res, 400, e.error); // the request as a whole is refused, as a body that is not JSON is
      return;
    }
    const out = await pacer.map(lines.length, false, async (i) => {
      const line = lines[i] as string;
      if (nestedDeeperThan(line)) return `{"error":${errorJSON({ ...Errors.badRequest, message: TOO_DEEP_MESSAGE })}}`;
      let cmd: { method?: unknown; params?: unknown };
      try {
        cmd = JSON.parse(line);
      } catch {
        return `{"error":${errorJSON({ ...Errors.badRequest, message: 'bad request: command is not valid JSON' })}}`;
      }
      if (typeof cmd !== 'object' || cmd === null || Array.isArray(cmd)) {
        return `{"error":${errorJSON({ ...Errors.badRequest, message: 'bad request: command must be a JSON object' })}}`;
      }
      const method = typeof cmd.method === 'string' ? cmd.method.toLowerCase() : '';
      const source = { text: line, path: ['params'], sourceLength: body.length };
      const reply = await this.executor.execute(method, cmd.params ?? {}, source, pacer);
      return replyJSON(reply);
    });
    await sendJSONInSteps(res, 200, out.join('\n'), pacer);
  }

  private error(res: ServerResponse, status: number, e: ProtocolError): void {
    this.send(res, status, `{"error":${errorJSON(e)}}`);
  }

  private send(res: ServerResponse, status: number, text: string): void {
    sendJSON(res, status, text);
  }
}

function replyJSON(r: ApiReply): string {
  return 'result' in r ? `{"result":${r.result}}` : `{"error":${errorJSON(r.error)}}`;
}
