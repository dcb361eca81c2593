/**
 * Browser origins for the unidirectional HTTP endpoints, by the rule the WebSocket upgrade follows
 * (`client.allowed_origins`; same origin only when empty; no Origin header: not a browser, allowed). An allowed
 * cross-origin request gets CORS headers so the page can read the stream (Centrifugo's CORS middleware sets the
 * same ones); a request from an origin that is not allowed is refused before any session exists, so a foreign
 * page cannot open connections with the visitor's cookies (a connect proxy would see them).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { originAllowed } from '../origin.js';

/** Adds the CORS headers an allowed request needs; false when its origin is not allowed. */
export function applyCors(req: IncomingMessage, res: ServerResponse, origins: RegExp[]): boolean {
  const origin = req.headers.origin;
  if (!originAllowed(origin, req.headers.host, origins)) return false;
  if (origin === undefined || origin === '') return true;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('access-control-allow-credentials', 'true');
  res.setHeader('vary', 'Origin');
  const asked = req.headers['access-control-request-headers'];
  if (asked !== undefined && asked !== '' && asked !== 'null') res.setHeader('access-control-allow-headers', asked);
  return true;
}
