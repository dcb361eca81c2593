/**
 * What a client session needs from its connection. The session never touches a socket: the WebSocket handler
 * implements this, and tests use a fake, so protocol behaviour is testable without a network.
 */
export interface Transport {
  readonly name: string;
  /** Writes one frame (one or more newline-separated messages). */
  write(frame: string | Buffer): void;
  /**
   * Writes several messages at once, `perFrame` at most per frame (newline-separated), in as few system calls as
   * the transport can; returns the bytes written.
   */
  writeBatch(messages: ReadonlyArray<string | Buffer>, perFrame: number): number;
  /** Bytes accepted by write() but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /**
   * Closes with a protocol disconnect code. Frames written before are sent first; a peer that does not finish
   * the closing handshake in time is cut off.
   */
  close(code: number, reason: string): void;
  /** Drops the connection at once, without sending anything more (a reader too slow to be waited for). */
  terminate(): void;
  /** Stops delivering frames until resumeReading (backpressure on a client that pipelines many commands). */
  pauseReading?(): void;
  resumeReading?(): void;
}
