/**
 * Request bodies, read one way for every route: at most `limit` bytes (0: no limit). Past it the rest is not read:
 * a 413 goes out (the route answers `BodyTooLarge`) and the connection closes once it is written — destroying the
 * request here would reset the connection before the client could read why.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

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
    const tooLarge = () => {
      res.setHeader('connection', 'close');
      req.off('data', onData);
      req.pause();
      reject(new BodyTooLarge(limit));
    };
    if (limit > 0 && Number(req.headers['content-length'] ?? 0) > limit) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    function onData(chunk: Buffer): void {
      size += chunk.length;
      if (limit > 0 && size > limit) tooLarge();
      else chunks.push(chunk);
    }
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
