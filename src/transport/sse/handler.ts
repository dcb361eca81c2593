/**
 * Server-Sent Events with bidirectional emulation (`sse.enabled`, `/connection/sse`), as Centrifugo serves it to
 * centrifuge-js: an EventSource GET carries the connect command in the `cf_connect` URL parameter (a POST may
 * carry it as its body), and every reply and push is one `data:` event of JSON. Commands after connect arrive
 * by emulation requests (../emulation/).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../../config/schema.js';
import { handlerPath } from '../../config/schema.js';
import type { Route } from '../../http/router.js';
import type { ClientCodec, CodecName } from '../../protocol/codec.js';
import { answerPreflight, answerText, readLimitedBody } from '../emulation/http-headers.js';
import type { StreamOpener } from '../emulation/stream-opener.js';
import { sseFraming } from '../stream-framing.js';

/** The URL parameter holding the connect command (Centrifugo's name). */
const CONNECT_PARAM = 'cf_connect';

/**
 * Written first: an empty line (no event) that puts the response on the wire at once, so EventSource reports
 * the stream open and a proxy sees it moving (Centrifugo writes the same).
 */
const PREAMBLE = '\r\n';

const KEY = 'sse.max_request_body_size';

export class SseHandler {
  readonly path: string;
  private readonly json: ClientCodec;

  constructor(
    private readonly opener: StreamOpener,
    private readonly config: Readonly<Config>,
    codecs: ReadonlyMap<CodecName, ClientCodec>,
  ) {
    this.path = handlerPath(config.sse.handler_prefix);
    this.json = codecs.get('json') as ClientCodec;
  }

  readonly route: Route = async (req, res, path) => {
    if (path !== this.path) return false;
    await this.serve(req, res);
    return true;
  };

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cors = this.opener.cors(req, res, 'sse');
    if (cors === undefined) return;
    if (req.method === 'OPTIONS') {
      answerPreflight(req, res, cors, 'GET, POST');
      return;
    }
    let connect: Uint8Array;
    if (req.method === 'GET') {
      const q = (req.url ?? '').indexOf('?');
      const param = q === -1 ? null : new URLSearchParams((req.url ?? '').slice(q + 1)).get(CONNECT_PARAM);
      if (param === null || param === '') {
        answerText(res, 400, `the connect command goes in the ${CONNECT_PARAM} URL parameter`, cors);
        return;
      }
      connect = Buffer.from(param);
    } else if (req.method !== 'POST') {
      req.resume();
      answerText(res, 405, `SSE connects with GET (?${CONNECT_PARAM}=…) or POST`, {
        ...cors,
        allow: 'GET, POST, OPTIONS',
      });
      return;
    } else connect = new Uint8Array(0);
    const admitted = this.opener.admit(req, res, cors, 'sse');
    if (admitted === undefined) return;
    if (req.method === 'POST') {
      const body = await readLimitedBody(req, res, this.config.sse.max_request_body_size, KEY, cors);
      if (body === undefined) return;
      connect = body;
    }
    this.opener.open(req, res, admitted, {
      name: 'sse',
      codec: this.json,
      framing: sseFraming,
      connect,
      preamble: PREAMBLE,
    });
  }
}
