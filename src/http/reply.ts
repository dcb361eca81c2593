/**
 * Answers in JSON, one way for every route (the server API, the admin API, health, errors): a body of known
 * length, never cached, never sniffed. `HttpError` is what a route throws to answer with a status and an error.
 */
import type { ServerResponse } from 'node:http';

export interface ErrorBody {
  code: number;
  message: string;
}

/** A failure a route answers with: an HTTP status and `{"error": {code, message}}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: ErrorBody,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(error.message);
  }
}

/** Writes `body` as JSON (`text` when it is JSON text already). */
export function sendJSON(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, e: HttpError): void {
  sendJSON(res, e.status, { error: e.error }, e.headers);
}

/** 400 with error 107 (bad request), as Centrifugo's API answers malformed input. */
export function badRequest(message: string): HttpError {
  return new HttpError(400, { code: 107, message: `bad request: ${message}` });
}
