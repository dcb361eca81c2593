/** The JSON encoding of the client protocol: text frames, messages separated by newlines. */
import type { ClientCodec } from '../codec.js';
import { decodeFrame } from './decode.js';
import { encodeBarePush, encodePush, encodeReply } from './encode.js';

export const jsonCodec: ClientCodec = {
  name: 'json',
  binary: false,
  separator: Buffer.from('\n'),
  // The server's heartbeat is an empty object (an empty reply); the client answers with an empty command.
  ping: Buffer.from('{}'),
  decodeCommands: decodeFrame,
  encodeReply,
  encodePush,
  encodeBarePush,
};
