/**
 * The WebSocket transport (`/connection/websocket`, JSON protocol) on top of `ws`. Checks the Origin at the
 * upgrade (HTTP 403 when not allowed), enforces `websocket.message_size_limit` (ws closes with 1009, which the
 * SDKs treat as terminal), and hands text frames to the client session. Listeners are module-level functions
 * shared by every socket rather than closures per connection.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import * as wsLib from 'ws';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { Client } from '../core/client.js';
import type { Node } from '../core/node.js';
import { sharedFrames } from '../core/shared-frames.js';
import { ClientAddresses } from './client-address.js';
import { ConnectionLimits, type Verdict } from './connection-limits.js';
import { openFileLimit, RESERVED_DESCRIPTORS } from './open-files.js';
import { compileOrigins, originAllowed } from './origin.js';
import { guardSocket, refuseUpgrade } from './refuse-upgrade.js';
import type { Transport } from './transport.js';

const kClient = Symbol('chorus.client');

/** ws's sender: `sendFrame` writes already framed bytes (the API Socket.IO uses for pre-encoded broadcasts). */
interface WireSender {
  sendFrame(list: Buffer[], cb?: () => void): void;
}

/** ws's frame builder (exported by ws, missing from its type definitions). */
const Sender = (wsLib as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }).Sender;

/** A server text frame: final, unmasked, uncompressed. */
const FRAME_OPTIONS = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false } as const;
/** Framed bytes per shared payload, built by the first socket that writes it, collected with the payload. */
const WIRE_FRAMES = new WeakMap<Buffer, Buffer[]>();
let lastShared: Buffer | undefined;
let lastSharedWire: Buffer[] | undefined;

type ChorusSocket = WebSocket & { [kClient]?: Client };

/**
 * The last batch built only of shared payloads, and its wire bytes: subscribers of the same channels usually
 * flush the very same sequence of publications, so the frames are built once and written to each of them.
 */
let lastBatch: ReadonlyArray<string | Buffer> = [];
let lastPerFrame = 0;
let lastWire: Buffer | undefined;

/** Frames (header and newline-joined payload each) for `messages`, `perFrame` per frame, in one buffer. */
function batchWire(messages: ReadonlyArray<string | Buffer>, perFrame: number): Buffer {
  if (lastWire !== undefined && perFrame === lastPerFrame && sameMessages(messages, lastBatch)) return lastWire;
  const n = messages.length;
  const sizes = new Array<number>(n);
  let allShared = true;
  let total = 0;
  for (let i = 0; i < n; i += perFrame) {
    const end = Math.min(n, i + perFrame);
    let len = end - i - 1;
    for (let j = i; j < end; j++) {
      const m = messages[j] as string | Buffer;
      const size = typeof m === 'string' ? Buffer.byteLength(m) : m.length;
      if (typeof m === 'string' || !sharedFrames.has(m)) allShared = false;
      sizes[j] = size;
      len += size;
    }
    total += headerSize(len) + len;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < n; i += perFrame) {
    const end = Math.min(n, i + perFrame);
    let len = end - i - 1;
    for (let j = i; j < end; j++) len += sizes[j] as number;
    at = writeHeader(out, at, len);
    for (let j = i; j < end; j++) {
      if (j > i) out[at++] = 0x0a;
      const m = messages[j] as string | Buffer;
      at += typeof m === 'string' ? out.write(m, at) : m.copy(out, at);
    }
  }
  if (allShared) {
    lastBatch = messages;
    lastPerFrame = perFrame;
    lastWire = out;
  }
  return out;
}

function sameMessages(a: ReadonlyArray<string | Buffer>, b: ReadonlyArray<string | Buffer>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function headerSize(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/** A final, unmasked text frame header for a payload of `len` bytes, at `at`; returns where the payload starts. */
function writeHeader(out: Buffer, at: number, len: number): number {
  out[at] = 0x81;
  if (len < 126) {
    out[at + 1] = len;
    return at + 2;
  }
  if (len < 65536) {
    out[at + 1] = 126;
    out.writeUInt16BE(len, at + 2);
    return at + 4;
  }
  out[at + 1] = 127;
  out.writeUInt32BE(Math.floor(len / 2 ** 32), at + 2);
  out.writeUInt32BE(len >>> 0, at + 6);
  return at + 10;
}

/** Messages [from, to) joined by newlines. */
function joinMessages(messages: ReadonlyArray<string | Buffer>, from: number, to: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = from; i < to; i++) {
    if (i > from) parts.push(NEWLINE);
    const m = messages[i] as string | Buffer;
    parts.push(typeof m === 'string' ? Buffer.from(m) : m);
  }
  return Buffer.concat(parts);
}

const NEWLINE = Buffer.from('\n');

class WebSocketTransport implements Transport {
  readonly name = 'websocket';
  constructor(
    private readonly ws: WebSocket,
    private readonly closeGraceMs: number,
    /** permessage-deflate on: frames are per socket, so the shared-frame path is off. */
    private readonly compression: boolean,
  ) {}

  write(frame: string | Buffer): void {
    if (this.ws.readyState !== 1) return;
    const sender = (this.ws as unknown as { _sender?: WireSender })._sender;
    if (!this.compression && typeof frame !== 'string' && sender?.sendFrame) {
      // The same publication goes to many sockets: frame it once, one write per socket (as Socket.IO does).
      // The flush pass writes one publication to its subscribers one after another: remember the last one.
      let wire = frame === lastShared ? lastSharedWire : WIRE_FRAMES.get(frame);
      if (wire === undefined && sharedFrames.has(frame)) {
        wire = [Buffer.concat(Sender.frame(frame, FRAME_OPTIONS))];
        WIRE_FRAMES.set(frame, wire);
      }
      if (wire !== undefined) {
        lastShared = frame;
        lastSharedWire = wire;
      }
      if (wire !== undefined) {
        sender.sendFrame(wire);
        return;
      }
    }
    this.ws.send(frame, { binary: false });
  }

  writeBatch(messages: ReadonlyArray<string | Buffer>, perFrame: number): number {
    if (this.ws.readyState !== 1) return 0;
    const sender = (this.ws as unknown as { _sender?: WireSender })._sender;
    if (this.compression || !sender?.sendFrame) {
      // permessage-deflate compresses per socket: ws frames (and compresses) each joined payload.
      let bytes = 0;
      for (let i = 0; i < messages.length; i += perFrame) {
        const payload = joinMessages(messages, i, Math.min(messages.length, i + perFrame));
        this.ws.send(payload, { binary: false });
        bytes += payload.length;
      }
      return bytes;
    }
    const wire = batchWire(messages, perFrame);
    sender.sendFrame([wire]);
    return wire.length;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  close(code: number, reason: string): void {
    const ws = this.ws;
    if (ws.readyState === 2 || ws.readyState === 3) return;
    try {
      ws.close(validCloseCode(code), closeReason(reason));
    } catch {
      // A close that cannot be sent (socket already gone): drop the connection.
      ws.terminate();
      return;
    }
    // A peer that never answers the close frame is cut off after the grace period.
    const t = setTimeout(() => ws.terminate(), this.closeGraceMs);
    t.unref();
    ws.once('close', () => clearTimeout(t));
  }

  terminate(): void {
    this.ws.terminate();
  }

  pauseReading(): void {
    if (this.ws.readyState === 1) this.ws.pause();
  }

  resumeReading(): void {
    if (this.ws.readyState === 1) this.ws.resume();
  }
}

/** WebSocket close codes an application may send: 1000, 3000–4999. Anything else (a hook's typo) becomes 3004. */
function validCloseCode(code: number): number {
  return code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999) ? code : 3004;
}

/** A close reason is at most 123 bytes of UTF-8; longer ones are cut at a character boundary. */
function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

function onMessage(this: ChorusSocket, data: RawData, isBinary: boolean): void {
  const client = this[kClient];
  if (client === undefined) return;
  if (isBinary) {
    client.handleBinaryFrame();
    return;
  }
  const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
  client.handleFrame(buf.toString('utf8'), buf.length);
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
    readonly path = '/connection/websocket',
  ) {
    const cfg = node.config;
    this.origins = compileOrigins(cfg.client.allowed_origins);
    this.addresses = new ClientAddresses(cfg.http_server.trusted_proxies);
    this.limits = new ConnectionLimits(cfg.client);
    const files = openFileLimit();
    this.connectionCapacity =
      files === undefined ? Number.POSITIVE_INFINITY : Math.max(1, files - RESERVED_DESCRIPTORS);
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: cfg.websocket.message_size_limit > 0 ? cfg.websocket.message_size_limit : 100 * 1024 * 1024,
      perMessageDeflate: cfg.websocket.compression,
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
    // centrifuge-python sends an empty `Sec-WebSocket-Protocol:` header, which ws refuses with 400: like
    // Centrifugo, treat a blank header as no subprotocol asked for.
    const protocols = req.headers['sec-websocket-protocol'];
    if (protocols !== undefined && protocols.trim() === '') delete req.headers['sec-websocket-protocol'];
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
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws as ChorusSocket, req, address));
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

  private accept(ws: ChorusSocket, req: IncomingMessage, address: string): void {
    const grace = Math.max(1000, this.node.config.websocket.write_timeout);
    const client = new Client(this.node, new WebSocketTransport(ws, grace, this.node.config.websocket.compression), {
      remote: address,
      transport: 'websocket',
      headers: this.node.hooks.onConnecting || this.node.forwardedHeaders.length > 0 ? req.headers : undefined,
    });
    ws[kClient] = client;
    if (this.node.sessions.size >= this.connectionCapacity * 0.9) this.warnCapacity();
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.on('error', onError);
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
