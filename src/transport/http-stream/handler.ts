/**
 * HTTP-streaming with bidirectional emulation (`http_stream.enabled`, `POST /connection/http_stream`), as
 * Centrifugo serves it to centrifuge-js: the request body is the connect command, the response a stream of the
 * session's replies and pushes — newline-framed JSON, or with `Content-Type: application/octet-stream` the
 * varint-delimited Protobuf messages. Commands after connect arrive by emulation requests (../emulation/).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../../config/schema.js';
import { handlerPath } from '../../config/schema.js';
import type { Route } from '../../http/router.js';
import type { ClientCodec, CodecName } from '../../protocol/codec.js';
import { answerPreflight, answerText, readLimitedBody } from '../emulation/http-headers.js';
import type { StreamOpener } from '../emulation/stream-opener.js';
import { delimitedFraming, ndjsonFraming } from '../stream-framing.js';

const KEY = 'http_stream.max_request_body_size';

export class HttpStreamHandler {
  readonly path: string;
  private readonly json: ClientCodec;
  private readonly protobuf: ClientCodec | undefined;

  constructor(
    private readonly opener: StreamOpener,
    private readonly config: Readonly<Config>,
    codecs: ReadonlyMap<CodecName, ClientCodec>,
  ) {
    this.path = handlerPath(config.http_stream.handler_prefix);
    this.json = codecs.get('json') as ClientCodec;
    this.protobuf = codecs.get('protobuf');
  }

  readonly route: Route = async (req, res, path) => {
    if (path !== this.path) return false;
    await this.serve(req, res);
    return true;
  };

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cors = this.opener.cors(req, res, 'http_stream');
    if (cors === undefined) return;
    if (req.method === 'OPTIONS') {
      answerPreflight(req, res, cors, 'POST');
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      answerText(res, 405, 'HTTP-streaming connects with POST (the body is the connect command)', {
        ...cors,
        allow: 'POST, OPTIONS',
      });
      return;
    }
    // As Centrifugo: Protobuf when the client says its body is binary, JSON otherwise.
    const binary = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase() === 'application/octet-stream';
    const codec = binary ? this.protobuf : this.json;
    if (codec === undefined) {
      req.resume();
      answerText(res, 415, 'Protobuf is not available on this server', cors);
      return;
    }
    const admitted = this.opener.admit(req, res, cors, 'http_stream');
    if (admitted === undefined) return;
    const connect = await readLimitedBody(req, res, this.config.http_stream.max_request_body_size, KEY, cors);
    if (connect === undefined) return;
    this.opener.open(req, res, admitted, {
      name: 'http_stream',
      codec,
      framing: binary ? delimitedFraming : ndjsonFraming,
      connect,
    });
  }
}
