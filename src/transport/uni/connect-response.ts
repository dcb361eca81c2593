/**
 * `connect_code_to_http_response` of uni_sse and uni_http_stream, as Centrifugo applies it: a refused connect is
 * answered with the HTTP status of the transform whose `code` is the connect error's code (109, 101 …) or the
 * disconnect's (3500 …), with its body — or, when the body is empty, the error's message. A refusal no transform
 * names (and an unexpected failure) is 500.
 */
import type { ConnectRefusal } from '../../core/session/client.js';

export interface ConnectCodeTransform {
  readonly code: number;
  readonly to: { readonly status_code: number; readonly body: string };
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export function connectRefusalAnswer(refusal: ConnectRefusal, transforms: readonly ConnectCodeTransform[]): HttpAnswer {
  if (refusal.code > 0) {
    const t = transforms.find((x) => x.code === refusal.code);
    if (t !== undefined) return { status: t.to.status_code, body: t.to.body === '' ? refusal.message : t.to.body };
  }
  return { status: 500, body: 'Internal Server Error' };
}
