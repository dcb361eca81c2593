/**
 * A raw HTTP client for the transports fuzz: any method, headers and body over its own TCP connection (no agent,
 * no pooling), the answer's body handed over chunk by chunk while it streams, and a client that can stop reading,
 * abort, or reset the connection at any moment.
 */
import { type ClientRequest, type IncomingHttpHeaders, request } from 'node:http';

export interface RequestSpec {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export class HttpClient {
  /** 0 until the answer's head came (and if it never does). */
  status = 0;
  headers: IncomingHttpHeaders = {};
  readonly chunks: Buffer[] = [];
  /** The server ended the response (its end, not the client's). */
  endedByServer = false;
  /** The exchange is over, whoever ended it. */
  over = false;
  error: string | undefined;
  onChunk: ((chunk: Buffer) => void) | undefined;
  private readonly req: ClientRequest;
  private readonly headPromise: Promise<void>;
  private readonly overPromise: Promise<void>;

  constructor(port: number, spec: RequestSpec) {
    let head!: () => void;
    let over!: () => void;
    this.headPromise = new Promise((r) => {
      head = r;
    });
    this.overPromise = new Promise((r) => {
      over = r;
    });
    const finish = () => {
      if (this.over) return;
      this.over = true;
      head();
      over();
    };
    const headers = { ...spec.headers };
    // Node sends the body of these methods without a length unless told: the server would read it as the next
    // request. The fuzz means to send a body, so it says how long it is.
    if (spec.body !== undefined && spec.body.length > 0 && headers['content-length'] === undefined) {
      if (['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'].includes(spec.method)) {
        headers['content-length'] = String(Buffer.byteLength(spec.body));
      }
    }
    this.req = request({ host: '127.0.0.1', port, method: spec.method, path: spec.path, headers, agent: false });
    this.req.on('error', (e) => {
      this.error = e.message;
      finish();
    });
    this.req.on('close', finish);
    this.req.on('response', (res) => {
      this.status = res.statusCode ?? 0;
      this.headers = res.headers;
      head();
      res.on('data', (chunk: Buffer) => {
        this.chunks.push(chunk);
        this.onChunk?.(chunk);
      });
      res.on('end', () => {
        this.endedByServer = true;
        finish();
      });
      res.on('error', finish);
      res.on('close', finish);
    });
    this.req.end(spec.body);
  }

  /** Waits for the answer's head (or the end of the exchange); false when neither came in `ms`. */
  answered(ms: number): Promise<boolean> {
    return race(this.headPromise, ms);
  }

  /** Waits for the exchange to end; false when it had not after `ms`. */
  ended(ms: number): Promise<boolean> {
    return race(this.overPromise, ms);
  }

  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Stops reading: what the server writes piles up in its buffers. */
  pause(): void {
    this.req.socket?.pause();
  }

  /** Ends the exchange from the client side (the connection is closed). */
  abort(): void {
    this.req.destroy();
  }

  /** Resets the TCP connection. */
  reset(): void {
    const s = this.req.socket;
    if (s !== null && s !== undefined && !s.destroyed) s.resetAndDestroy();
    else this.req.destroy();
  }
}

/** One request, its whole answer read (at most `ms`; a stream still open then is aborted). */
export async function exchange(port: number, spec: RequestSpec, ms = 5000): Promise<HttpClient> {
  const c = new HttpClient(port, spec);
  if (!(await c.ended(ms))) c.abort();
  return c;
}

export async function race(p: Promise<void>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => {
    t = setTimeout(() => r(false), ms);
  });
  const done = await Promise.race([p.then(() => true), timeout]);
  clearTimeout(t);
  return done;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
