/**
 * One unidirectional HTTP stream (uni_sse, uni_http_stream) as the session's Transport: every write goes to the
 * response in the stream's framing (../stream-framing.ts), several messages in one write. The response head is sent
 * with the first write, so until then a refused connect can still be answered with an HTTP status instead
 * (`connect_code_to_http_response`). HTTP has no close frame: the session writes the disconnect as a push, then
 * the response ends; a peer that does not take the end in time is cut off.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Transport } from '../../core/ports/transport.js';
import { jsonCodec } from '../../protocol/json/json-codec.js';
import type { StreamFraming } from '../stream-framing.js';

/** Time a closing stream has to take its last bytes before the connection is destroyed. */
export const CLOSE_GRACE_MS = 1_000;

/** Headers that keep every cache and buffering proxy out of a stream (as Centrifugo sends them). */
const NO_CACHE: OutgoingHttpHeaders = {
  'cache-control': 'private, no-cache, no-store, must-revalidate, max-age=0',
  pragma: 'no-cache',
  expires: '0',
  'x-accel-buffering': 'no',
  'x-content-type-options': 'nosniff',
};

enum State {
  /** Nothing sent yet: a refusal can still be an HTTP status. */
  Pending = 0,
  Streaming = 1,
  Ended = 2,
}

export class HttpStreamTransport implements Transport {
  readonly unidirectional = true;
  readonly emulated = false;
  /** No close frame: the disconnect is written as a push before the response ends. */
  readonly closeAsPush = true;
  readonly codec = jsonCodec;
  private state = State.Pending;

  constructor(
    readonly name: string,
    private readonly res: ServerResponse,
    private readonly framing: StreamFraming,
    private readonly closeGraceMs = CLOSE_GRACE_MS,
  ) {}

  /** Sends the head once; false when nothing may be written any more. */
  private begin(): boolean {
    if (this.state === State.Ended || this.res.destroyed) return false;
    if (this.state === State.Pending) {
      this.res.writeHead(200, { ...NO_CACHE, 'content-type': this.framing.contentType });
      this.state = State.Streaming;
    }
    return true;
  }

  write(message: Uint8Array): void {
    if (this.begin()) this.res.write(this.framing.one(message));
  }

  writeMany(messages: readonly Uint8Array[]): number {
    if (!this.begin()) return 0;
    const chunk = this.framing.many(messages);
    this.res.write(chunk);
    return chunk.length;
  }

  /** What the response holds that the kernel has not taken yet (the session's slow-reader check adds it). */
  get bufferedAmount(): number {
    return this.res.writableLength;
  }

  close(): void {
    if (this.state === State.Ended) return;
    this.begin();
    this.state = State.Ended;
    const res = this.res;
    if (res.destroyed) return;
    res.end();
    const t = setTimeout(() => res.destroy(), this.closeGraceMs);
    t.unref();
    res.once('close', () => clearTimeout(t));
  }

  terminate(): void {
    this.state = State.Ended;
    this.res.destroy();
  }

  /**
   * Answers with an HTTP status and a plain-text body instead of a stream (a refused connect); false when the
   * stream has already begun.
   */
  refuse(status: number, body: string): boolean {
    if (this.state !== State.Pending || this.res.destroyed) return false;
    this.state = State.Ended;
    this.res.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    this.res.end(body);
    return true;
  }
}
