/**
 * One router for every HTTP route of a listener: routes are tried in order, the first that takes a request answers
 * it. Whatever a route does, the request is answered: a malformed URL gets 400, a route's HttpError its status, an
 * unexpected failure 500 (logged; if the response had already begun, the connection is cut so the client sees it
 * incomplete), and no route 404. Routes are plain functions of (req, res, path), so they are tested without a
 * socket by injecting requests (light-my-request).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Log } from '../core/ports/log.js';
import { BodyTooLarge, discardBody } from './body.js';
import { badRequest, HttpError, sendError, sendJSON } from './reply.js';

/** Answers the request and returns true, or returns false to let the next route try. */
export type Route = (req: IncomingMessage, res: ServerResponse, path: string) => boolean | Promise<boolean>;

/** Whether every `%` of the path starts a valid escape of UTF-8 (what decodeURIComponent accepts). */
function wellFormedPath(path: string): boolean {
  if (!path.includes('%')) return true;
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

export class Router {
  constructor(
    private readonly routes: readonly Route[],
    private readonly log: Log,
  ) {}

  /** The listener's request handler. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.dispatch(req, res).catch((err) => this.fail(req, res, err));
  };

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!wellFormedPath(path)) {
      // As Go's server does (and so Centrifugo): a request whose path is not valid percent-encoding is refused.
      this.log.debug({ url: (req.url ?? '').slice(0, 200) }, 'malformed URL (bad percent-encoding): answered 400');
      await discardBody(req);
      sendError(res, badRequest('malformed URL (invalid percent-encoding)'));
      return;
    }
    for (const route of this.routes) {
      if (await route(req, res, path)) return;
    }
    sendJSON(res, 404, { error: 'not found' });
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (err instanceof BodyTooLarge) {
      if (!res.headersSent) sendError(res, new HttpError(413, { code: 107, message: `bad request: ${err.message}` }));
      return;
    }
    if (err instanceof HttpError) {
      if (!res.headersSent) sendError(res, err);
      return;
    }
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET' && req.destroyed) {
      // The client went away while its request was read (a reset, an aborted upload): nothing failed here, and
      // there is nobody to answer.
      this.log.debug({ path: (req.url ?? '').split('?')[0] }, 'request aborted by the client');
      res.destroy();
      return;
    }
    this.log.error({ err, path: (req.url ?? '').split('?')[0] }, 'request failed');
    // Every request gets an answer: a 500 if nothing was sent yet, else the connection is cut so the client sees
    // the response is incomplete rather than waiting for the rest.
    if (!res.headersSent) sendError(res, new HttpError(500, { code: 100, message: 'internal server error' }));
    else res.destroy();
  }
}
