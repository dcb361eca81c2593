/**
 * One unidirectional WebSocket connection as the session's Transport. Writes go through the bidirectional
 * transport's frames (the fan-out fast path included), one push per frame unless `join_push_messages`. Closing
 * writes a close frame with the code (the session writes a `disconnect` push first unless
 * `disable_disconnect_push`), or with `disable_closing_handshake` drops the connection as Centrifugo did before
 * 6.5.1.
 *
 * Besides the session's `{}` pings, the connection gets WebSocket pings, as Centrifugo sends them: every
 * `client.ping_interval` (25 s when 0), and a peer that answers nothing within `client.pong_timeout` (10 s when
 * 0) is closed with 3012. They run on the node's timer wheel, not on a timer per connection.
 */
import type { WebSocket } from 'ws';
import type { Node } from '../../core/node.js';
import type { Transport } from '../../core/ports/transport.js';
import type { WheelItem } from '../../core/timer-wheel.js';
import { jsonCodec } from '../../protocol/json/json-codec.js';
import { WebSocketTransport } from '../websocket/ws-transport.js';

export interface UniWebSocketOptions {
  joinMessages: boolean;
  disconnectPush: boolean;
  closingHandshake: boolean;
  closeGraceMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
}

/** Centrifugo's WebSocket ping defaults for uni_websocket when the client's ping settings are 0. */
export const DEFAULT_FRAME_PING_MS = 25_000;
export const DEFAULT_FRAME_PONG_MS = 10_000;

export class UniWebSocketTransport implements Transport, WheelItem {
  readonly name = 'uni_websocket';
  readonly unidirectional = true;
  readonly emulated = false;
  readonly closeAsPush: boolean;
  readonly codec = jsonCodec;
  wheelSlot = -1;
  private readonly frames: WebSocketTransport;
  private nextPingAt = 0;
  private pongDeadline = 0;
  /** Called when the peer let a WebSocket ping go unanswered (the handler closes the session with 3012). */
  onNoPong: (() => void) | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly node: Node,
    private readonly opts: UniWebSocketOptions,
  ) {
    this.closeAsPush = opts.disconnectPush;
    this.frames = new WebSocketTransport(ws, jsonCodec, opts.closeGraceMs, false, 'uni_websocket');
  }

  write(message: Uint8Array): void {
    this.frames.write(message);
  }

  writeMany(messages: readonly Uint8Array[], perFrame: number): number {
    // JSON messages never hold a raw line break (payloads are kept on one line), so joining them is safe.
    if (this.opts.joinMessages) return this.frames.writeMany(messages, perFrame);
    let bytes = 0;
    for (const m of messages) {
      this.frames.write(m);
      bytes += m.length;
    }
    return bytes;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  close(code: number, reason: string): void {
    this.stopPings();
    if (this.opts.closingHandshake) this.frames.close(code, reason);
    else this.ws.terminate();
  }

  terminate(): void {
    this.stopPings();
    this.ws.terminate();
  }

  // --- WebSocket pings ---------------------------------------------------------------------------------------

  startPings(): void {
    this.nextPingAt = this.node.clock.now() + this.opts.pingIntervalMs;
    this.node.wheel.schedule(this, this.nextPingAt);
  }

  stopPings(): void {
    this.node.wheel.cancel(this);
  }

  /** The peer answered (a pong, or any frame): it is alive. */
  heard(): void {
    this.pongDeadline = 0;
  }

  onTimer(now: number): void {
    if (this.ws.readyState !== 1) return;
    if (this.pongDeadline > 0 && now >= this.pongDeadline) {
      this.onNoPong?.();
      return;
    }
    if (now >= this.nextPingAt) {
      this.ws.ping();
      if (this.pongDeadline === 0) this.pongDeadline = now + this.opts.pongTimeoutMs;
      this.nextPingAt = now + this.opts.pingIntervalMs;
    }
    this.node.wheel.schedule(
      this,
      this.pongDeadline > 0 ? Math.min(this.pongDeadline, this.nextPingAt) : this.nextPingAt,
    );
  }
}
