/**
 * Which encoding a WebSocket connection speaks, from its handshake, as Centrifugo decides it: the subprotocol
 * `centrifuge-protobuf` (or `cf_protocol=protobuf` / `format=protobuf` in the URL) means Protobuf;
 * `centrifuge-json`, no subprotocol or an empty header (centrifuge-python sends one) mean JSON. Anything else is
 * refused with a reason that names what is supported.
 */
import type { ClientCodec, CodecName } from '../../protocol/codec.js';

const SUBPROTOCOLS: Record<string, CodecName> = {
  'centrifuge-json': 'json',
  'centrifuge-protobuf': 'protobuf',
};

export type Negotiation = { codec: ClientCodec; subprotocol: string | undefined } | { refused: string };

export function negotiateCodec(
  protocolHeader: string | undefined,
  query: string,
  codecs: ReadonlyMap<CodecName, ClientCodec>,
): Negotiation {
  const supported = [...codecs.keys()].map((n) => `centrifuge-${n}`).join(', ');
  const offered = (protocolHeader ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (offered.length > 0) {
    for (const p of offered) {
      const name = SUBPROTOCOLS[p];
      const codec = name === undefined ? undefined : codecs.get(name);
      if (codec !== undefined) return { codec, subprotocol: p };
    }
    return { refused: `unsupported WebSocket subprotocol "${offered.join(', ')}": this server speaks ${supported}` };
  }
  const params = new URLSearchParams(query);
  const asked = params.get('cf_protocol') ?? params.get('format');
  if (asked !== null && asked !== '') {
    const codec = codecs.get(asked as CodecName);
    if (codec === undefined) return { refused: `unsupported protocol "${asked}": this server speaks ${supported}` };
    return { codec, subprotocol: undefined };
  }
  return { codec: codecs.get('json') as ClientCodec, subprotocol: undefined };
}
