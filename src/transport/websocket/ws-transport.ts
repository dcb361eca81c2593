/** One WebSocket connection as the session's Transport: messages in the negotiated codec's frames. */
import type { WebSocket } from 'ws';
import type { Transport } from '../../core/ports/transport.js';
import type { ClientCodec } from '../../protocol/codec.js';
import { batchWire, joinMessages, sharedWire, wireSender } from './frames.js';

export class WebSocketTransport implements Transport {
  readonly unidirectional = false;
  readonly emulated = false;
  /** The close frame carries the disconnect code and reason. */
  readonly closeAsPush = false;

  constructor(
    private readonly ws: WebSocket,
    readonly codec: ClientCodec,
    private readonly closeGraceMs: number,
    /** permessage-deflate on: frames are per socket, so the shared-frame path is off. */
    private readonly compression: boolean,
    readonly name = 'websocket',
  ) {}

  write(message: Uint8Array): void {
    if (this.ws.readyState !== 1) return;
    const binary = this.codec.binary;
    if (!this.compression) {
      const sender = wireSender(this.ws);
      // The same publication goes to many sockets: frame it once, one write per socket (as Socket.IO does).
      const wire = sender === undefined ? undefined : sharedWire(message, binary);
      if (wire !== undefined) {
        (sender as NonNullable<typeof sender>).sendFrame(wire);
        return;
      }
    }
    this.ws.send(message, { binary });
  }

  writeMany(messages: readonly Uint8Array[], perFrame: number): number {
    if (this.ws.readyState !== 1) return 0;
    const { separator, binary } = this.codec;
    const sender = this.compression ? undefined : wireSender(this.ws);
    if (sender === undefined) {
      // permessage-deflate compresses per socket: ws frames (and compresses) each joined payload.
      let bytes = 0;
      for (let i = 0; i < messages.length; i += perFrame) {
        const payload = joinMessages(messages, i, Math.min(messages.length, i + perFrame), separator);
        this.ws.send(payload, { binary });
        bytes += payload.length;
      }
      return bytes;
    }
    const wire = batchWire(messages, perFrame, separator, binary);
    sender.sendFrame([wire]);
    return wire.length;
  }

  /** Looks whether this socket offers the fast path's internals (the result lands in `fastPath`). */
  probeFastPath(): void {
    wireSender(this.ws);
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
