/**
 * How a group of sessions receives pushes: one codec, with pushes wrapped in a reply (bidirectional transports)
 * or bare (unidirectional ones). Sessions that share a PushEncoding receive the very same bytes, so the hub
 * encodes each publication once per PushEncoding present among a channel's subscribers, not once per subscriber
 * (as centrifuge's hub caches per protocol type).
 */
import type { ClientCodec } from '../protocol/codec.js';
import type { Push } from '../protocol/messages.js';

let nextKey = 0;

export class PushEncoding {
  /** A small integer, unique per encoding: the hub's frame cache is an array indexed by it. */
  readonly key = nextKey++;

  constructor(
    readonly codec: ClientCodec,
    readonly bare: boolean,
  ) {}

  encode(push: Push): Uint8Array {
    return this.bare ? this.codec.encodeBarePush(push) : this.codec.encodePush(push);
  }
}

const byCodec = new WeakMap<ClientCodec, { wrapped: PushEncoding; bare: PushEncoding }>();

/** The one PushEncoding for a codec and a push form. */
export function pushEncodingFor(codec: ClientCodec, bare: boolean): PushEncoding {
  let pair = byCodec.get(codec);
  if (pair === undefined) {
    pair = { wrapped: new PushEncoding(codec, false), bare: new PushEncoding(codec, true) };
    byCodec.set(codec, pair);
  }
  return bare ? pair.bare : pair.wrapped;
}
