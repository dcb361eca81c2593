/**
 * Request bodies, read one way for every route: at most `limit` bytes (0: no limit). Past it the rest is read and
 * dropped (up to LINGER_BYTES more, for at most LINGER_MS), then a 413 goes out (the route answers `BodyTooLarge`)
 * and the connection closes once it is written. Answering at once would lose the answer: a socket closed with
 * unread data in its receive buffer sends a reset, and the client's kernel drops the 413 it had not read yet (a
 * 4 MiB body to a 4 MiB limit lost its answer about one time in three on loopback).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** How much more than the limit is read (and dropped) before the 413, and for how long at most. */
const LINGER_BYTES = 16 * 1024 * 1024;
const LINGER_MS = 2000;

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`body larger than ${limit} bytes`);
  }
}

export async function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<string> {
  return (await readBodyBytes(req, res, limit)).toString('utf8');
}

/** The body as bytes (binary bodies: Protobuf). */
export function readBodyBytes(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer> {
  // Mounted after a body parser (express.json() …), the stream is already consumed: use what it parsed.
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (req.readableEnded || (parsed !== undefined && req.complete)) {
    if (typeof parsed === 'string') return Promise.resolve(Buffer.from(parsed));
    if (Buffer.isBuffer(parsed)) return Promise.resolve(parsed);
    return Promise.resolve(Buffer.from(parsed === undefined ? '' : JSON.stringify(parsed)));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let over = false;
    /** Answers 413 now (the rest of the body unread), or once the rest was read and dropped, within bounds. */
    const tooLarge = (linger: boolean) => {
      over = true;
      res.setHeader('connection', 'close');
      req.off('data', onData);
      chunks.length = 0;
      const answer = () => {
        clearTimeout(timer);
        req.off('data', drop);
        req.off('end', answer);
        req.pause();
        reject(new BodyTooLarge(limit));
      };
      let dropped = 0;
      const drop = (chunk: Buffer) => {
        dropped += chunk.length;
        if (dropped > LINGER_BYTES) answer();
      };
      const timer = linger ? setTimeout(answer, LINGER_MS) : undefined;
      if (!linger || req.readableEnded) {
        answer();
        return;
      }
      req.on('data', drop);
      req.once('end', answer);
      req.resume();
    };
    const announced = Number(req.headers['content-length'] ?? 0);
    if (limit > 0 && announced > limit) {
      tooLarge(announced - limit <= LINGER_BYTES);
      return;
    }
    let size = 0;
    function onData(chunk: Buffer): void {
      size += chunk.length;
      if (limit > 0 && size > limit) tooLarge(true);
      else chunks.push(chunk);
    }
    req.on('data', onData);
    req.once('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.once('error', reject);
  });
}

/**
 * Reads and drops the rest of a request's body (up to LINGER_BYTES, for at most LINGER_MS), for a route that
 * answers without it (401, 405, 404 …): answered at once, the connection closed with the body unread, and the
 * reset that sends made the client's kernel drop the answer (a 4 MB body to the server API with a wrong key lost
 * its 401 that way 15 times in the million-input fuzz).
 */
export function discardBody(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.complete || req.destroyed) {
    req.resume();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    let dropped = 0;
    const done = () => {
      clearTimeout(timer);
      req.off('data', drop);
      req.off('end', done);
      req.off('close', done);
      req.off('error', done);
      resolve();
    };
    const drop = (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > LINGER_BYTES) done();
    };
    const timer = setTimeout(done, LINGER_MS);
    req.on('data', drop);
    req.once('end', done);
    req.once('close', done);
    req.once('error', done);
    req.resume();
  });
}
