/**
 * What a client session needs from its connection. The session never touches a socket: transports (WebSocket
 * today; HTTP-streaming, SSE and unidirectional ones next) implement this, and tests use a fake, so protocol
 * behaviour is testable without a network.
 *
 * A transport describes itself and the session adapts: a unidirectional client gets bare pushes and its connect
 * result as a push; a transport without a close frame of its own gets the disconnect as a push before it closes.
 */
import type { ClientCodec } from '../../protocol/codec.js';

export interface TransportInfo {
  /** "websocket", "http_stream", "sse", "uni_websocket" … (logs, metrics, hooks). */
  readonly name: string;
  /** The client only receives: no replies, pushes without the reply wrapper, the connect result as a push. */
  readonly unidirectional: boolean;
  /** Bidirectional over separate HTTP requests: commands after connect arrive by emulation requests. */
  readonly emulated: boolean;
  /** No close frame carries a code (HTTP streams): the disconnect is written as a push before closing. */
  readonly closeAsPush: boolean;
}

export interface Transport extends TransportInfo {
  /** The encoding negotiated when the connection opened. */
  readonly codec: ClientCodec;
  /** Writes one encoded message as one frame. */
  write(message: Uint8Array): void;
  /**
   * Writes several encoded messages at once, at most `perFrame` per frame, in as few system calls as the
   * transport can; returns the bytes written.
   */
  writeMany(messages: readonly Uint8Array[], perFrame: number): number;
  /** Bytes accepted by write() but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /**
   * Closes with a protocol disconnect code. Messages written before are sent first; a peer that does not finish
   * the closing handshake in time is cut off.
   */
  close(code: number, reason: string): void;
  /** Drops the connection at once, without sending anything more (a reader too slow to be waited for). */
  terminate(): void;
  /** Stops delivering frames until resumeReading (backpressure on a client that pipelines many commands). */
  pauseReading?(): void;
  resumeReading?(): void;
}
