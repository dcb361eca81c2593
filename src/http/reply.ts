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
  res.writeHead(status, jsonHeaders(Buffer.byteLength(text), headers));
  res.end(text);
}

function jsonHeaders(length: number, headers: Readonly<Record<string, string>>): Record<string, string> {
  return {
    'content-type': 'application/json',
    'content-length': String(length),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  };
}

/** Answers longer than this are encoded by `sendJSONInSteps` as a step of their own. */
const STEP_CHARS = 64 * 1024;

/**
 * `sendJSON` for JSON text that may be large (a 100,000-channel broadcast's answer is 4 MB, a legacy body's of
 * several broadcasts three times that): encoded to bytes as one step of `stepper` (see api/pacer.ts), so that
 * encoding it is neither part of another step's turn nor left to the socket, which encoded a string chunk as it
 * wrote it (a legacy answer of 13 MB: 100 ms in one go).
 */
export async function sendJSONInSteps(
  res: ServerResponse,
  status: number,
  text: string,
  stepper: { step<T>(fn: () => T): Promise<T> },
): Promise<void> {
  if (text.length <= STEP_CHARS) {
    sendJSON(res, status, text);
    return;
  }
  const bytes = await stepper.step(() => Buffer.from(text));
  res.writeHead(status, jsonHeaders(bytes.length, {}));
  res.end(bytes);
}

export function sendError(res: ServerResponse, e: HttpError): void {
  sendJSON(res, e.status, { error: e.error }, e.headers);
}

/** 400 with error 107 (bad request), as Centrifugo's API answers malformed input. */
export function badRequest(message: string): HttpError {
  return new HttpError(400, { code: 107, message: `bad request: ${message}` });
}
