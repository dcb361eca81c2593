/**
 * What the HTTP-streaming and SSE endpoints share: admitting a new stream (origin, shutdown, the connection
 * limits WebSocket upgrades have too) and opening it — the response's headers, a session on a StreamTransport
 * registered under a fresh secret session id, and the connect command handed to it. Every error of the request
 * and the response is handled: a client that goes away only ends its session.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../../config/schema.js';
import type { Node } from '../../core/node.js';
import { Client } from '../../core/session/client.js';
import type { ClientCodec } from '../../protocol/codec.js';
import { ClientAddresses } from '../client-address.js';
import type { ConnectionLimits, Verdict } from '../connection-limits.js';
import { compileOrigins } from '../origin.js';
import type { StreamFraming } from '../stream-framing.js';
import { answerText, corsHeaders, streamHeaders } from './http-headers.js';
import type { EmulatedSessions } from './sessions.js';
import { StreamTransport, type StreamTransportName } from './stream-transport.js';

/** A stream allowed to open: where it comes from and the CORS headers its answer carries. */
export interface Admitted {
  address: string;
  cors: Record<string, string>;
}

function ignore(): void {}

export class StreamOpener {
  readonly origins: RegExp[];
  private readonly addresses: ClientAddresses;
  private readonly closeGraceMs: number;
  /** Refusals not logged yet: one line per few seconds however hard a client pushes. */
  private refusalsUnlogged = 0;
  private lastRefusalLog = 0;

  constructor(
    private readonly node: Node,
    config: Readonly<Config>,
    private readonly sessions: EmulatedSessions,
    private readonly limits: ConnectionLimits,
  ) {
    this.origins = compileOrigins(config.client.allowed_origins);
    this.addresses = new ClientAddresses(config.http_server.trusted_proxies);
    this.closeGraceMs = Math.max(1000, config.websocket.write_timeout);
  }

  /** The CORS headers for an allowed origin; otherwise answers 403 and returns undefined. */
  cors(req: IncomingMessage, res: ServerResponse, name: string): Record<string, string> | undefined {
    const cors = corsHeaders(req, this.origins);
    if (cors !== undefined) return cors;
    this.node.log.info({ origin: req.headers.origin, transport: name }, `${name} refused: origin not allowed`);
    req.resume();
    answerText(res, 403, 'request origin is not allowed (see client.allowed_origins)');
    return undefined;
  }

  /**
   * Checks that a new stream may open (the node is not stopping, the connection limits allow it); answers the
   * refusal and returns undefined otherwise. An admitted stream holds its limit slot until its response closes.
   */
  admit(req: IncomingMessage, res: ServerResponse, cors: Record<string, string>, name: string): Admitted | undefined {
    if (this.node.isClosing) {
      req.resume();
      answerText(res, 503, 'server is shutting down', { ...cors, 'retry-after': '1' });
      return undefined;
    }
    const address = this.addresses.of(req);
    if (this.limits.enabled) {
      const verdict = this.limits.admit(address);
      if (verdict !== undefined) {
        this.refuse(req, res, address, verdict, cors, name);
        return undefined;
      }
      res.once('close', () => this.limits.release(address));
    }
    return { address, cors };
  }

  private refuse(
    req: IncomingMessage,
    res: ServerResponse,
    address: string,
    v: Verdict,
    cors: Record<string, string>,
    name: string,
  ): void {
    this.node.stats.connectionRefused(v.refused);
    this.refusalsUnlogged++;
    const now = Date.now();
    if (now - this.lastRefusalLog >= 5000) {
      this.node.log.warn(
        { address, reason: v.refused, refused: this.refusalsUnlogged, transport: name },
        `${name} connection refused: ${v.message} (logged at most every 5 s; see chorus_connections_refused_total)`,
      );
      this.lastRefusalLog = now;
      this.refusalsUnlogged = 0;
    }
    req.resume();
    answerText(res, v.status, v.message, { ...cors, 'retry-after': String(v.retryAfter) });
  }

  /**
   * Starts the stream: status 200 and the headers (written at once, so the client sees its transport open),
   * `preamble` if any, then a session whose first frame is `connect`.
   */
  open(
    req: IncomingMessage,
    res: ServerResponse,
    admitted: Admitted,
    t: {
      name: StreamTransportName;
      codec: ClientCodec;
      framing: StreamFraming;
      connect: Uint8Array;
      preamble?: string;
    },
  ): void {
    const node = this.node;
    // The client went away while its request was read: there is nobody to open a session for.
    if (res.destroyed || req.socket.destroyed) return;
    const session = randomUUID();
    let client: Client | undefined;
    const transport = new StreamTransport(res, t.codec, t.framing, t.name, this.closeGraceMs, () => {
      this.sessions.remove(session);
      client?.handleTransportClosed();
    });
    // The peer resetting the connection surfaces here; the 'close' that follows ends the session.
    req.on('error', ignore);
    res.on('error', (err: Error) => node.log.debug({ err: err.message, transport: t.name }, 'stream write error'));
    client = new Client(node, transport, {
      remote: admitted.address,
      transport: t.name,
      headers: node.hooks.onConnecting || node.forwardedHeaders.length > 0 ? req.headers : undefined,
      session,
    });
    this.sessions.add(session, client, transport);
    res.writeHead(200, streamHeaders(t.framing.contentType, admitted.cors));
    if (t.preamble !== undefined) res.write(t.preamble);
    else res.flushHeaders();
    client.handleFrame(t.connect);
  }
}
