/**
 * The unidirectional HTTP endpoints, as Centrifugo serves them:
 *
 * - `uni_sse` (`/connection/uni_sse`): GET with the connect request in the `cf_connect` URL parameter (none: an
 *   empty request), which is what `EventSource` can do, or POST with it as the body; pushes as `data:` events.
 * - `uni_http_stream` (`/connection/uni_http_stream`): POST with the connect request as the body; pushes as
 *   newline-delimited JSON.
 *
 * Before a session exists a request is checked: the browser origin (refused: 403), the method (405), shutdown
 * (503), the connection limits (429/503 with Retry-After, as the WebSocket upgrade), the body size (413) and the
 * connect request itself (400). Then the session connects; a refused connect is a `disconnect` push in a 200
 * stream, or with `connect_code_to_http_response` an HTTP status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../../config/schema.js';
import type { Node } from '../../core/node.js';
import { Client } from '../../core/session/client.js';
import { readBody } from '../../http/body.js';
import { badRequest, HttpError } from '../../http/reply.js';
import { DisconnectError } from '../../protocol/codes.js';
import { decodeConnectRequest } from '../../protocol/json/decode.js';
import type { ConnectRequest } from '../../protocol/messages.js';
import type { ClientAddresses } from '../client-address.js';
import type { ConnectionLimits } from '../connection-limits.js';
import { ndjsonFraming, type StreamFraming, sseFraming } from '../stream-framing.js';
import { connectRefusalAnswer } from './connect-response.js';
import { applyCors } from './cors.js';
import { HttpStreamTransport } from './http-stream-transport.js';

export type UniHttpKind = 'uni_sse' | 'uni_http_stream';

interface Endpoint {
  kind: UniHttpKind;
  framing: StreamFraming;
  methods: readonly string[];
  options: Config['uni_sse'];
}

/** Refusals before a session exists are counted and logged at most every few seconds, as at the upgrade. */
const REFUSAL_LOG_MS = 5_000;

export class UniHttpEndpoints {
  private readonly byPath = new Map<string, Endpoint>();
  private refusalsUnlogged = 0;
  private lastRefusalLog = 0;

  constructor(
    private readonly node: Node,
    config: Readonly<Config>,
    private readonly origins: RegExp[],
    private readonly addresses: ClientAddresses,
    private readonly limits: ConnectionLimits,
  ) {
    if (config.uni_sse.enabled) {
      this.byPath.set(config.uni_sse.handler_prefix, {
        kind: 'uni_sse',
        framing: sseFraming,
        methods: ['GET', 'POST'],
        options: config.uni_sse,
      });
    }
    if (config.uni_http_stream.enabled) {
      this.byPath.set(config.uni_http_stream.handler_prefix, {
        kind: 'uni_http_stream',
        framing: ndjsonFraming,
        methods: ['POST'],
        options: config.uni_http_stream,
      });
    }
  }

  get enabled(): boolean {
    return this.byPath.size > 0;
  }

  /** The router's route: takes the requests for these endpoints, leaves the others. */
  readonly route = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    const endpoint = this.byPath.get(path);
    if (endpoint === undefined) return false;
    await this.serve(endpoint, req, res);
    return true;
  };

  private async serve(endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const node = this.node;
    if (!applyCors(req, res, this.origins)) {
      node.log.info({ origin: req.headers.origin, transport: endpoint.kind }, 'refused: origin not allowed');
      throw new HttpError(403, { code: 103, message: 'request origin is not allowed (see client.allowed_origins)' });
    }
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      req.resume();
      res.writeHead(204, {
        'access-control-allow-methods': `${endpoint.methods.join(', ')}, OPTIONS`,
        'access-control-max-age': '300',
      });
      res.end();
      return;
    }
    if (!endpoint.methods.includes(method)) {
      req.resume();
      throw new HttpError(
        405,
        { code: 107, message: `${endpoint.kind} accepts ${endpoint.methods.join(' and ')}` },
        { allow: `${endpoint.methods.join(', ')}, OPTIONS` },
      );
    }
    if (node.isClosing) {
      req.resume();
      throw new HttpError(503, { code: 100, message: 'server is shutting down' }, { 'retry-after': '1' });
    }
    const address = this.addresses.of(req);
    if (this.limits.enabled) {
      const verdict = this.limits.admit(address);
      if (verdict !== undefined) {
        req.resume();
        this.logRefusal(address, endpoint.kind, verdict.refused, verdict.message);
        node.stats.connectionRefused(verdict.refused);
        throw new HttpError(
          verdict.status,
          { code: 100, message: verdict.message },
          { 'retry-after': String(verdict.retryAfter) },
        );
      }
      // However the request ends (refused below, streamed, reset), the address gets its place back once.
      res.once('close', () => this.limits.release(address));
    }
    const request = await this.connectRequest(endpoint, req, res);
    if (res.destroyed) return;
    const transport = new HttpStreamTransport(endpoint.kind, res, endpoint.framing);
    const client = new Client(node, transport, {
      remote: address,
      transport: endpoint.kind,
      headers: node.hooks.onConnecting || node.forwardedHeaders.length > 0 ? req.headers : undefined,
    });
    // The peer went away (or the stream ended): the session ends with it.
    res.once('close', () => client.handleTransportClosed());
    res.on('error', (err) => node.log.debug({ client: client.id, err: err.message }, `${endpoint.kind} write error`));
    const mapping = endpoint.options.connect_code_to_http_response;
    await client.connectUnidirectional(
      request,
      mapping.enabled
        ? (refusal) => {
            const answer = connectRefusalAnswer(refusal, mapping.transforms);
            transport.refuse(answer.status, answer.body);
          }
        : undefined,
    );
  }

  /** The connect request: the `cf_connect` parameter of a GET (none: empty), or the body of a POST. */
  private async connectRequest(endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): Promise<ConnectRequest> {
    let text: string;
    if (req.method === 'GET') {
      req.resume();
      const q = (req.url ?? '').indexOf('?');
      const param = q === -1 ? null : new URLSearchParams((req.url ?? '').slice(q + 1)).get('cf_connect');
      if (param === null || param === '') return { token: '', data: undefined, subs: new Map(), name: '', version: '' };
      text = param;
    } else {
      text = await readBody(req, res, endpoint.options.max_request_body_size);
    }
    try {
      return decodeConnectRequest(text);
    } catch (e) {
      if (e instanceof DisconnectError) throw badRequest(`invalid connect request: ${e.detail ?? e.message}`);
      throw e;
    }
  }

  private logRefusal(address: string, kind: string, reason: string, message: string): void {
    this.refusalsUnlogged++;
    const now = Date.now();
    if (now - this.lastRefusalLog < REFUSAL_LOG_MS) return;
    this.node.log.warn(
      { address, transport: kind, reason, refused: this.refusalsUnlogged },
      `connection refused: ${message} (logged at most every 5 s; see chorus_connections_refused_total)`,
    );
    this.lastRefusalLog = now;
    this.refusalsUnlogged = 0;
  }
}
