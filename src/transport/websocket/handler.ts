/**
 * The WebSocket endpoint (`/connection/websocket`) on top of `ws`: checks the Origin at the upgrade (HTTP 403 when
 * not allowed), applies the per-address connection limits, negotiates the encoding (JSON or Protobuf), enforces
 * `websocket.message_size_limit` (ws closes with 1009, which the SDKs treat as terminal), and hands frames to the
 * client session. Listeners are module-level functions shared by every socket rather than closures per connection.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { Config } from '../../config/schema.js';
import type { Node } from '../../core/node.js';
import { Client } from '../../core/session/client.js';
import type { ClientCodec, CodecName } from '../../protocol/codec.js';
import { ClientAddresses } from '../client-address.js';
import type { TransportKind } from '../client-transports.js';
import { ConnectionLimits, type Verdict } from '../connection-limits.js';
import { openFileLimit, RESERVED_DESCRIPTORS } from '../open-files.js';
import { compileOrigins, originAllowed } from '../origin.js';
import { guardSocket, refuseUpgrade } from '../refuse-upgrade.js';
import { fastPath } from './frames.js';
import { negotiateCodec } from './negotiate.js';
import { WebSocketTransport } from './ws-transport.js';

const kClient = Symbol('chorus.client');

type ChorusSocket = WebSocket & { [kClient]?: Client };

/** The subprotocol a request negotiated, for ws's handleProtocols (which runs inside handleUpgrade). */
const chosenSubprotocol = new WeakMap<IncomingMessage, string>();

function onMessage(this: ChorusSocket, data: RawData, isBinary: boolean): void {
  const client = this[kClient];
  if (client === undefined) return;
  if (isBinary !== client.codec.binary) {
    client.close({
      code: 3501,
      reason: isBinary ? 'binary frame on a JSON connection' : 'text frame on a Protobuf connection',
    });
    return;
  }
  client.handleFrame(Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]));
}

function onClose(this: ChorusSocket): void {
  const client = this[kClient];
  this[kClient] = undefined;
  client?.handleTransportClosed();
}

function onError(this: ChorusSocket, err: Error): void {
  const client = this[kClient];
  client?.node.log.debug({ client: client.id, err: err.message }, 'websocket error');
}

let fastPathReported = false;

export class WebSocketHandler {
  private readonly wss: WebSocketServer;
  private readonly origins: RegExp[];
  /** Connections this process can hold before the open-file limit refuses new ones (Infinity: unknown). */
  private readonly connectionCapacity: number;
  private lastCapacityWarning = 0;
  private readonly addresses: ClientAddresses;
  private readonly limits: ConnectionLimits;
  /** Refusals not logged yet: one log line per few seconds however hard a client pushes. */
  private refusalsUnlogged = 0;
  private lastRefusalLog = 0;

  constructor(
    private readonly node: Node,
    private readonly config: Readonly<Config>,
    private readonly codecs: ReadonlyMap<CodecName, ClientCodec>,
    readonly path = '/connection/websocket',
    /** Shared with the other transports, so an address's connections are counted over all of them. */
    limits = new ConnectionLimits(config.client),
  ) {
    this.origins = compileOrigins(config.client.allowed_origins);
    this.addresses = new ClientAddresses(config.http_server.trusted_proxies);
    this.limits = limits;
    const files = openFileLimit();
    this.connectionCapacity =
      files === undefined ? Number.POSITIVE_INFINITY : Math.max(1, files - RESERVED_DESCRIPTORS);
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: config.websocket.message_size_limit > 0 ? config.websocket.message_size_limit : 100 * 1024 * 1024,
      perMessageDeflate: config.websocket.compression,
      handleProtocols: (_offered, req) => chosenSubprotocol.get(req) ?? false,
    });
  }

  /** Handles an HTTP upgrade if it is for this endpoint; returns false otherwise (the caller answers 404). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if ((q === -1 ? url : url.slice(0, q)) !== this.path) return false;
    guardSocket(socket);
    if (!originAllowed(req.headers.origin, req.headers.host, this.origins)) {
      this.node.log.info(
        { origin: req.headers.origin },
        'websocket upgrade refused: origin not allowed (client.allowed_origins)',
      );
      refuseUpgrade(socket, 403, 'Forbidden', 'request origin is not allowed (see client.allowed_origins)');
      return true;
    }
    if (this.node.isClosing) {
      refuseUpgrade(socket, 503, 'Service Unavailable', 'server is shutting down');
      return true;
    }
    const negotiation = negotiateCodec(
      req.headers['sec-websocket-protocol'],
      q === -1 ? '' : url.slice(q + 1),
      this.codecs,
    );
    if ('refused' in negotiation) {
      refuseUpgrade(socket, 400, 'Bad Request', negotiation.refused);
      return true;
    }
    // An empty header (centrifuge-python) would make ws refuse the upgrade: no subprotocol was asked for.
    if (negotiation.subprotocol === undefined) delete req.headers['sec-websocket-protocol'];
    else chosenSubprotocol.set(req, negotiation.subprotocol);
    const address = this.addresses.of(req);
    if (this.limits.enabled) {
      const verdict = this.limits.admit(address);
      if (verdict !== undefined) {
        this.refuse(socket, address, verdict);
        return true;
      }
      // The raw socket closes however the connection ends (handshake failure included): release it then.
      socket.once('close', () => this.limits.release(address));
    }
    const codec = negotiation.codec;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws as ChorusSocket, req, address, codec));
    return true;
  }

  private refuse(socket: Duplex, address: string, v: Verdict): void {
    this.node.stats.connectionRefused(v.refused);
    this.refusalsUnlogged++;
    const now = Date.now();
    if (now - this.lastRefusalLog >= 5000) {
      this.node.log.warn(
        { address, reason: v.refused, refused: this.refusalsUnlogged },
        `websocket upgrade refused: ${v.message} (logged at most every 5 s; see chorus_connections_refused_total)`,
      );
      this.lastRefusalLog = now;
      this.refusalsUnlogged = 0;
    }
    const text = v.status === 429 ? 'Too Many Requests' : 'Service Unavailable';
    refuseUpgrade(socket, v.status, text, v.message, { 'Retry-After': String(v.retryAfter) });
  }

  private accept(ws: ChorusSocket, req: IncomingMessage, address: string, codec: ClientCodec): void {
    const grace = Math.max(1000, this.config.websocket.write_timeout);
    const transport = new WebSocketTransport(ws, codec, grace, this.config.websocket.compression);
    const client = new Client(this.node, transport, {
      remote: address,
      transport: 'websocket',
      headers: this.node.hooks.onConnecting || this.node.forwardedHeaders.length > 0 ? req.headers : undefined,
    });
    ws[kClient] = client;
    if (this.node.sessions.size >= this.connectionCapacity * 0.9) this.warnCapacity();
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.on('error', onError);
    this.reportFastPath(transport);
  }

  /** Once: whether fan-out frames are built once per message (ws internals present) or per socket. */
  private reportFastPath(transport: WebSocketTransport): void {
    if (fastPathReported || this.config.websocket.compression) return;
    transport.probeFastPath();
    if (fastPath.inUse === undefined) return;
    fastPathReported = true;
    if (!fastPath.inUse) {
      this.node.log.warn(
        { missing: fastPath.missing },
        'ws no longer has the internals the fan-out fast path uses: every message is framed per socket (slower); pin ws to a version that has them or report it',
      );
    }
  }

  close(): void {
    this.wss.close();
    this.limits.close();
  }

  /** Near the open-file limit new connections are dropped by the kernel, unseen: say so, at most once a minute. */
  private warnCapacity(): void {
    const now = Date.now();
    if (now - this.lastCapacityWarning < 60_000) return;
    this.lastCapacityWarning = now;
    this.node.log.warn(
      { connections: this.node.sessions.size, openFileLimit: this.connectionCapacity + RESERVED_DESCRIPTORS },
      'connections are near the open-file limit: new ones will be refused; raise it (ulimit -n, systemd LimitNOFILE)',
    );
  }
}

/** The bidirectional WebSocket endpoint, as the composition root lists transports. */
export const websocketTransport: TransportKind = {
  name: 'websocket',
  create: ({ node, config, codecs, limits, websocketPath }) => {
    const h = new WebSocketHandler(node, config, codecs, websocketPath, limits);
    return {
      handleUpgrade: (req, socket, head) => h.handleUpgrade(req, socket, head),
      served: [`websocket ${h.path}`],
      close: () => h.close(),
    };
  },
};
