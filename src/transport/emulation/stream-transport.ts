/**
 * One HTTP-streaming or SSE connection as the session's Transport: the streamed response carries replies and
 * pushes, framed once per shared message (framing.ts), written as the session flushes them (one write per flush,
 * as on WebSocket). There is no close frame: the session writes the disconnect as a push, then the response ends.
 * Commands after connect come from emulation requests; while the session has too many waiting, `whenReading`
 * holds those requests' answers (the only backpressure an HTTP client gets).
 */
import type { ServerResponse } from 'node:http';
import type { Transport } from '../../core/ports/transport.js';
import type { ClientCodec } from '../../protocol/codec.js';
import type { StreamFraming } from '../stream-framing.js';

export type StreamTransportName = 'http_stream' | 'sse';

export class StreamTransport implements Transport {
  readonly unidirectional = false;
  readonly emulated = true;
  readonly closeAsPush = true;
  private ended = false;
  private paused = false;
  private readers: Array<() => void> | undefined;

  constructor(
    private readonly res: ServerResponse,
    readonly codec: ClientCodec,
    private readonly framing: StreamFraming,
    readonly name: StreamTransportName,
    /** How long an ended response may take to drain before its connection is cut. */
    private readonly closeGraceMs: number,
    /** Called once, when the stream ends for any reason. */
    private readonly onEnd: () => void,
  ) {
    res.once('close', () => this.finish());
  }

  write(message: Uint8Array): void {
    if (this.ended) return;
    this.res.write(this.framing.one(message));
  }

  writeMany(messages: readonly Uint8Array[], _perFrame: number): number {
    if (this.ended) return 0;
    // A stream has no frames: everything queued goes out in one write.
    const wire = this.framing.many(messages);
    this.res.write(wire);
    return wire.length;
  }

  /** Bytes written to the response but not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.res.writableLength;
  }

  /** Ends the response after what was written (the session wrote the disconnect push before). */
  close(_code: number, _reason: string): void {
    if (this.ended) return;
    const res = this.res;
    this.finish();
    if (res.destroyed) return;
    // A reader that stopped reading would keep the connection (and its buffers) forever: cut it after the grace.
    const cut = setTimeout(() => res.destroy(), this.closeGraceMs);
    cut.unref();
    res.once('close', () => clearTimeout(cut));
    res.end();
  }

  terminate(): void {
    this.finish();
    this.res.destroy();
  }

  pauseReading(): void {
    this.paused = true;
  }

  resumeReading(): void {
    this.paused = false;
    this.wakeReaders();
  }

  /** Resolves when the session takes commands again: at once unless it has too many waiting, or when it ends. */
  whenReading(): Promise<void> {
    if (!this.paused || this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      this.readers ??= [];
      this.readers.push(resolve);
    });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.wakeReaders();
    this.onEnd();
  }

  private wakeReaders(): void {
    const readers = this.readers;
    this.readers = undefined;
    if (readers !== undefined) for (const r of readers) r();
  }
}
