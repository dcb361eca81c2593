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
    const find = () => this.messages.find((m) => m.id === id);
    await waitFor(() => find() !== undefined, ms, `reply ${id}`);
    return find() as Record<string, unknown>;
  }

  async connect(params: Record<string, unknown> = {}, ms = 5000): Promise<Record<string, unknown>> {
    this.send({ id: 1, connect: params });
    return this.reply(1, ms);
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

/**
 * A WebSocket client on a bare TCP socket that connects, subscribes, and then never reads: the server's
 * writes pile up as they would for a client on a stalled network.
 */
export async function stalledSubscriber(port: number, channel: string): Promise<import('node:net').Socket> {
  const net = await import('node:net');
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.write(
    'GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const frame = (text: string) => {
    const payload = Buffer.from(text);
    const mask = Buffer.from([9, 8, 7, 6]);
    const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
    return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
  };
  socket.write(frame(`{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":${JSON.stringify(channel)}}}`));
  socket.on('error', () => {});
  // Read the handshake and the replies once, then stop reading for good.
  await new Promise<void>((resolve) => {
    let seen = '';
    const onData = (d: Buffer) => {
      seen += d.toString('latin1');
      if (seen.includes('"id":2')) {
        socket.off('data', onData);
        socket.pause();
        resolve();
      }
    };
    socket.on('data', onData);
  });
  return socket;
}
