/** Clients for tests: the real `centrifuge` SDK, and a raw WebSocket for protocol-level checks. */
import { Centrifuge, type Options } from 'centrifuge';
import { SignJWT } from 'jose';
import WebSocket from 'ws';

export function sdk(url: string, opts: Partial<Options> = {}): Centrifuge {
  return new Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, ...opts });
}

/** Resolves with the first event's argument, or rejects after `ms`. */
export function once<T = unknown>(
  emitter: { once(event: string, cb: (arg: T) => void): unknown },
  event: string,
  ms = 5000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for "${event}"`)), ms);
    emitter.once(event, (arg: T) => {
      clearTimeout(t);
      resolve(arg);
    });
  });
}

export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const SECRET = 'test-secret-which-is-long-enough-for-hs256';

export async function hsToken(claims: Record<string, unknown>, secret = SECRET, alg = 'HS256'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));
}

/** A raw protocol client: send JSON commands, read every message, see the close code. */
export class RawClient {
  readonly messages: Record<string, unknown>[] = [];
  readonly frames: string[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private readonly closed: Promise<void>;
  readonly opened: Promise<void>;

  constructor(
    url: string,
    readonly ws: WebSocket = new WebSocket(url),
  ) {
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve();
      });
    });
    ws.on('error', () => {});
    ws.on('message', (data) => {
      const text = data.toString();
      this.frames.push(text);
      for (const line of text.split('\n')) if (line.trim() !== '') this.messages.push(JSON.parse(line));
    });
  }

  static async open(url: string): Promise<RawClient> {
    const c = new RawClient(url);
    await c.opened;
    return c;
  }

  send(...commands: unknown[]): void {
    this.ws.send(commands.map((c) => (typeof c === 'string' ? c : JSON.stringify(c))).join('\n'));
  }

  /** Waits for the reply with this id. */
  async reply(id: number, ms = 5000): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await waitFor(() => (found = this.messages.find((m) => m.id === id)) !== undefined, ms, `reply ${id}`);
    return found as Record<string, unknown>;
  }

  async connect(params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    this.send({ id: 1, connect: params });
    return this.reply(1);
  }

  async waitClose(ms = 5000): Promise<number | undefined> {
    await Promise.race([this.closed, new Promise((_, rej) => setTimeout(() => rej(new Error('not closed')), ms))]);
    return this.closeCode;
  }

  pushes(): Record<string, unknown>[] {
    return this.messages.filter((m) => m.push !== undefined).map((m) => m.push as Record<string, unknown>);
  }

  close(): void {
    this.ws.close();
  }
}
