/**
 * The unidirectional WebSocket endpoint (`uni_websocket`, `/connection/uni_websocket`), as Centrifugo serves it:
 * the client's first message is its connect request — or, since Centrifugo 6.3, the `cf_connect` URL parameter
 * carries it and the client sends nothing — then only pushes flow, JSON only. Messages after the connect request
 * are read and dropped. The upgrade is checked as the bidirectional one is: origin (403), shutdown (503), the
 * connection limits (429/503), and a `cf_connect` that is not a connect request (400).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { Config } from '../../config/schema.js';
import type { Node } from '../../core/node.js';
import { Client } from '../../core/session/client.js';
import { DisconnectError, Disconnects } from '../../protocol/codes.js';
import { decodeConnectRequest } from '../../protocol/json/decode.js';
import type { ConnectRequest } from '../../protocol/messages.js';
import type { ClientAddresses } from '../client-address.js';
import type { ConnectionLimits } from '../connection-limits.js';
import { originAllowed } from '../origin.js';
import { guardSocket, refuseUpgrade } from '../refuse-upgrade.js';
import { DEFAULT_FRAME_PING_MS, DEFAULT_FRAME_PONG_MS, UniWebSocketTransport } from './uni-websocket-transport.js';

const kClient = Symbol('chorus.uniClient');
const kTransport = Symbol('chorus.uniTransport');
/** Whether the connect request has arrived (or came in the URL): later messages are dropped. */
const kAsked = Symbol('chorus.uniAsked');

type UniSocket = WebSocket & { [kClient]?: Client; [kTransport]?: UniWebSocketTransport; [kAsked]?: boolean };

function onMessage(this: UniSocket, data: RawData): void {
  this[kTransport]?.heard();
  const client = this[kClient];
  if (client === undefined || this[kAsked]) return;
  this[kAsked] = true;
  const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
  client.node.stats.frameIn(bytes.length);
  let req: ConnectRequest;
  try {
    req = decodeConnectRequest(bytes);
  } catch (e) {
    if (e instanceof DisconnectError) client.close(e.disconnect, e.detail);
    else client.close(Disconnects.serverError);
    return;
  }
  void client.connectUnidirectional(req);
}

function onPong(this: UniSocket): void {
  this[kTransport]?.heard();
}

function onClose(this: UniSocket): void {
  const client = this[kClient];
  this[kClient] = undefined;
  this[kTransport]?.stopPings();
  client?.handleTransportClosed();
}

function onError(this: UniSocket, err: Error): void {
  const client = this[kClient];
  client?.node.log.debug({ client: client.id, err: err.message }, 'uni_websocket error');
}

export class UniWebSocketHandler {
  private readonly wss: WebSocketServer;
  readonly path: string;

  constructor(
    private readonly node: Node,
    private readonly config: Readonly<Config>,
    private readonly origins: RegExp[],
    private readonly addresses: ClientAddresses,
    private readonly limits: ConnectionLimits,
  ) {
    const o = config.uni_websocket;
    this.path = o.handler_prefix;
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: o.message_size_limit > 0 ? o.message_size_limit : 100 * 1024 * 1024,
      perMessageDeflate: false,
      // JSON only, as in Centrifugo: no subprotocol is ever chosen (ws would otherwise pick the first offered).
      handleProtocols: () => false,
    });
  }

  /** Handles an upgrade for this endpoint; false when it is for another path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if ((q === -1 ? url : url.slice(0, q)) !== this.path) return false;
    guardSocket(socket);
    if (!originAllowed(req.headers.origin, req.headers.host, this.origins)) {
      this.node.log.info({ origin: req.headers.origin }, 'uni_websocket upgrade refused: origin not allowed');
      refuseUpgrade(socket, 403, 'Forbidden', 'request origin is not allowed (see client.allowed_origins)');
      return true;
    }
    if (this.node.isClosing) {
      refuseUpgrade(socket, 503, 'Service Unavailable', 'server is shutting down');
      return true;
    }
    let inUrl: ConnectRequest | undefined;
    const param = q === -1 ? null : new URLSearchParams(url.slice(q + 1)).get('cf_connect');
    if (param !== null && param !== '') {
      try {
        inUrl = decodeConnectRequest(param);
      } catch (e) {
        const why = e instanceof DisconnectError ? (e.detail ?? e.message) : 'unreadable';
        refuseUpgrade(socket, 400, 'Bad Request', `invalid connect request in cf_connect: ${why}`);
        return true;
      }
    }
    const address = this.addresses.of(req);
    if (this.limits.enabled) {
      const verdict = this.limits.admit(address);
      if (verdict !== undefined) {
        this.node.stats.connectionRefused(verdict.refused);
        const text = verdict.status === 429 ? 'Too Many Requests' : 'Service Unavailable';
        refuseUpgrade(socket, verdict.status, text, verdict.message, { 'Retry-After': String(verdict.retryAfter) });
        return true;
      }
      socket.once('close', () => this.limits.release(address));
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws as UniSocket, req, address, inUrl));
    return true;
  }

  private accept(ws: UniSocket, req: IncomingMessage, address: string, inUrl: ConnectRequest | undefined): void {
    const node = this.node;
    const o = this.config.uni_websocket;
    const c = this.config.client;
    const transport = new UniWebSocketTransport(ws, node, {
      joinMessages: o.join_push_messages,
      disconnectPush: !o.disable_disconnect_push,
      closingHandshake: !o.disable_closing_handshake,
      closeGraceMs: Math.max(1000, o.write_timeout),
      pingIntervalMs: c.ping_interval > 0 ? c.ping_interval : DEFAULT_FRAME_PING_MS,
      pongTimeoutMs: c.pong_timeout > 0 ? c.pong_timeout : DEFAULT_FRAME_PONG_MS,
    });
    const client = new Client(node, transport, {
      remote: address,
      transport: 'uni_websocket',
      headers: node.hooks.onConnecting || node.forwardedHeaders.length > 0 ? req.headers : undefined,
    });
    transport.onNoPong = () => client.close(Disconnects.noPong, 'no answer to a WebSocket ping');
    ws[kClient] = client;
    ws[kTransport] = transport;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('close', onClose);
    ws.on('error', onError);
    transport.startPings();
    if (inUrl !== undefined) {
      ws[kAsked] = true;
      void client.connectUnidirectional(inUrl);
    }
  }

  close(): void {
    this.wss.close();
  }
}
