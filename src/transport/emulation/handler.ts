/**
 * The emulation endpoint (`emulation.handler_prefix`, `POST /emulation`): HTTP-streaming and SSE clients send
 * their commands after connect here, as `{"session", "node", "data"}` (JSON, `data` the newline-joined commands
 * as a string) or a Protobuf `EmulationRequest` (`Content-Type: application/octet-stream`). The request may
 * reach any node: the node named in it applies the commands, and another node routes them there through the
 * engine (server-ops), so a round-robin balancer needs no sticky sessions. Answers, as Centrifugo's:
 *
 *   204  the commands were handed to the session (or the session is gone: its stream has ended, the client
 *        learns from that); held back while the session has too many commands waiting
 *   400  not an emulation request · 403 foreign origin · 413 body over `emulation.max_request_body_size`
 *   404  no live node has that id (restarted, or gone): the SDK reconnects
 *   503  the engine is unreachable, or too many routed requests wait · 504 the session's node did not answer
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../../config/schema.js';
import { handlerPath } from '../../config/schema.js';
import type { Node } from '../../core/node.js';
import type { EmulationOutcome } from '../../core/server-ops.js';
import type { Route } from '../../http/router.js';
import { ReplyError } from '../../protocol/codes.js';
import { EmulationRequestType } from '../../protocol/protobuf/schema.js';
import { answerPreflight, answerText, corsHeaders, readLimitedBody } from './http-headers.js';

const KEY = 'emulation.max_request_body_size';

export interface EmulationRequest {
  node: string;
  session: string;
  /** The commands, a frame in the session's encoding. */
  data: Uint8Array;
}

/** An emulation request from a JSON body, or a message saying what is wrong with it. */
export function parseJsonRequest(body: Buffer): EmulationRequest | string {
  let o: unknown;
  try {
    o = JSON.parse(body.toString('utf8'));
  } catch {
    return 'malformed JSON';
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return 'expected a JSON object';
  const { node, session, data } = o as Record<string, unknown>;
  if (typeof node !== 'string' || node === '') return '"node" must be the node id of the connect result';
  if (typeof session !== 'string' || session === '') return '"session" must be the session id of the connect result';
  if (typeof data !== 'string') return '"data" must be a string of newline-separated commands';
  return { node, session, data: Buffer.from(data) };
}

/** An emulation request from a Protobuf body, or a message saying what is wrong with it. */
export function parseProtobufRequest(body: Buffer): EmulationRequest | string {
  let m: { node?: unknown; session?: unknown; data?: unknown };
  try {
    m = EmulationRequestType.decode(body) as typeof m;
  } catch {
    return 'malformed Protobuf EmulationRequest';
  }
  if (typeof m.node !== 'string' || m.node === '') return 'node must be the node id of the connect result';
  if (typeof m.session !== 'string' || m.session === '') return 'session must be the session id of the connect result';
  return { node: m.node, session: m.session, data: m.data instanceof Uint8Array ? m.data : new Uint8Array(0) };
}

const STATUS: Record<EmulationOutcome, { status: number; text?: string; headers?: Record<string, string> }> = {
  delivered: { status: 204 },
  unknown_node: { status: 404, text: 'no live node has this id: connect again' },
  timeout: { status: 504, text: "the session's node did not answer in time: connect again" },
  busy: { status: 503, text: 'too many emulation requests waiting: retry', headers: { 'retry-after': '1' } },
};

export class EmulationHandler {
  readonly path: string;
  private readonly limit: number;

  constructor(
    private readonly node: Node,
    config: Readonly<Config>,
    private readonly origins: RegExp[],
  ) {
    this.path = handlerPath(config.emulation.handler_prefix);
    this.limit = config.emulation.max_request_body_size;
  }

  readonly route: Route = async (req, res, path) => {
    if (path !== this.path) return false;
    await this.serve(req, res);
    return true;
  };

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cors = corsHeaders(req, this.origins);
    if (cors === undefined) {
      req.resume();
      answerText(res, 403, 'request origin is not allowed (see client.allowed_origins)');
      return;
    }
    if (req.method === 'OPTIONS') {
      answerPreflight(req, res, cors, 'POST');
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      answerText(res, 405, 'emulation requests are POSTed', { ...cors, allow: 'POST, OPTIONS' });
      return;
    }
    const body = await readLimitedBody(req, res, this.limit, KEY, cors);
    if (body === undefined) return;
    const binary = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase() === 'application/octet-stream';
    const parsed = binary ? parseProtobufRequest(body) : parseJsonRequest(body);
    if (typeof parsed === 'string') {
      this.node.log.debug({ err: parsed }, 'emulation request refused');
      answerText(res, 400, `bad emulation request: ${parsed}`, cors);
      return;
    }
    let outcome: EmulationOutcome;
    try {
      outcome = await this.node.ops.emulate(parsed.node, parsed.session, parsed.data);
    } catch (e) {
      if (!(e instanceof ReplyError)) throw e;
      // The engine could not carry it to the session's node (logged by the control plane).
      answerText(res, 503, 'the engine is unreachable: retry', { ...cors, 'retry-after': '1' });
      return;
    }
    const a = STATUS[outcome];
    if (a.status === 204) res.writeHead(204, cors).end();
    else answerText(res, a.status, a.text ?? '', { ...cors, ...a.headers });
  }
}
