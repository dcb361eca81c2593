/**
 * A client codec: one encoding of the client protocol (JSON, Protobuf). Pure: bytes in, typed commands out;
 * typed replies and pushes in, bytes out. A codec is chosen per connection when it opens (WebSocket subprotocol,
 * URL parameter, content type) and the session speaks only through it, so the core never sees an encoding.
 *
 * Encoded messages are complete as they are: joined with `separator` they make a frame the client can read
 * (JSON separates messages with a newline; Protobuf messages carry their own varint length and need nothing).
 */
import type { Command, Push, Reply } from './messages.js';

export type CodecName = 'json' | 'protobuf';

export interface ClientCodec {
  readonly name: CodecName;
  /** Frames are binary (WebSocket binary frames, application/octet-stream) rather than UTF-8 text. */
  readonly binary: boolean;
  /** Bytes between two messages of one frame; empty when messages delimit themselves. */
  readonly separator: Uint8Array;
  /** The server's heartbeat message. */
  readonly ping: Uint8Array;
  /**
   * The commands of one frame, in order. At most `maxCommands` of them; malformed input of any kind throws a
   * DisconnectError with 3501 (bad request), never anything else.
   */
  decodeCommands(frame: Uint8Array, maxCommands?: number): Command[];
  encodeReply(reply: Reply): Uint8Array;
  /** A push as a bidirectional client receives it: wrapped in a reply without id. */
  encodePush(push: Push): Uint8Array;
  /** A push as a unidirectional client receives it: the push alone. */
  encodeBarePush(push: Push): Uint8Array;
}

/** Commands per frame unless the caller says otherwise: one frame cannot queue unbounded work. */
export const DEFAULT_MAX_COMMANDS_PER_FRAME = 1024;
