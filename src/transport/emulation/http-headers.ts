/**
 * Headers the emulated transports answer with: CORS for the origins `client.allowed_origins` lets in (a foreign
 * origin is refused with 403, as the WebSocket upgrade is), and the headers that keep proxies and caches from
 * buffering or transforming a stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLarge, readBodyBytes } from '../../http/body.js';
import { originAllowed } from '../origin.js';

/**
 * The CORS headers for a request, or undefined when its Origin is not allowed. Requests without an Origin (a
 * same-origin GET, a non-browser client) need none.
 */
export function corsHeaders(req: IncomingMessage, origins: RegExp[]): Record<string, string> | undefined {
  const origin = req.headers.origin;
  if (!originAllowed(origin, req.headers.host, origins)) return undefined;
  if (origin === undefined || origin === '') return {};
  return { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'Origin' };
}

/** Header names a preflight may ask for: a list of tokens (anything else is not echoed back). */
const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

/** Answers a CORS preflight (OPTIONS) of an allowed origin. */
export function answerPreflight(
  req: IncomingMessage,
  res: ServerResponse,
  cors: Record<string, string>,
  methods: string,
): void {
  const asked = req.headers['access-control-request-headers'];
  const headers: Record<string, string> = {
    ...cors,
    'access-control-allow-methods': methods,
    'access-control-max-age': '600',
    'content-length': '0',
  };
  if (typeof asked === 'string' && HEADER_LIST.test(asked)) headers['access-control-allow-headers'] = asked;
  req.resume();
  res.writeHead(204, headers).end();
}

/**
 * Headers of a streamed response. `X-Accel-Buffering: no` makes nginx pass each write on at once (without it
 * nginx fills its proxy buffer first); `no-transform` keeps compressing proxies from holding the stream back;
 * the rest keeps every cache out.
 */
export function streamHeaders(contentType: string, cors: Record<string, string>): Record<string, string> {
  return {
    'content-type': contentType,
    'cache-control': 'private, no-cache, no-store, no-transform, must-revalidate, max-age=0',
    pragma: 'no-cache',
    expires: '0',
    'x-accel-buffering': 'no',
    'x-content-type-options': 'nosniff',
    ...cors,
  };
}

/** A short plain-text answer (refusals): says what happened and what to do. */
export function answerText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

/**
 * The request body, at most `limit` bytes; past it answers 413 (with the CORS headers, so a browser client can
 * read why) and returns undefined. `key` is the config key of the limit.
 */
export async function readLimitedBody(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
  key: string,
  cors: Record<string, string>,
): Promise<Buffer | undefined> {
  try {
    return await readBodyBytes(req, res, limit);
  } catch (e) {
    if (!(e instanceof BodyTooLarge)) throw e;
    if (!res.headersSent) answerText(res, 413, `request body larger than ${key} (${limit} bytes)`, cors);
    return undefined;
  }
}
