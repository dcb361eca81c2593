/**
 * A WebSocket client on a bare TCP socket that sends whatever it is told — any upgrade request, masked or
 * unmasked frames, reserved opcodes and bits, fragments, invalid UTF-8, resets at any byte — and records exactly
 * what the server answers: the HTTP status of the upgrade, every text frame, and the close code.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface FrameOptions {
  opcode?: number;
  fin?: boolean;
  mask?: boolean;
  rsv?: number;
  /** Declared payload length, when it should lie. */
  declaredLength?: bigint;
}

/** A client frame; masked with a random key unless told otherwise. */
export function frame(payload: Buffer | string, o: FrameOptions = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const n = o.declaredLength ?? BigInt(data.length);
  const mask = o.mask ?? true;
  const ext = n < 126n ? 0 : n < 65536n ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = ((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | (o.opcode ?? 1);
  const m = mask ? 0x80 : 0;
  if (ext === 0) head[1] = m | Number(n);
  else if (ext === 2) {
    head[1] = m | 126;
    head.writeUInt16BE(Number(n), 2);
  } else {
    head[1] = m | 127;
    head.writeBigUInt64BE(n, 2);
  }
  if (!mask) return Buffer.concat([head, data]);
  const key = randomBytes(4);
  key.copy(head, 2 + ext);
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] as number) ^ (key[i & 3] as number);
  return Buffer.concat([head, out]);
}

export function upgradeRequest(path = '/connection/websocket', headers: Record<string, string> = {}): string {
  const h: Record<string, string> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = Object.entries(h)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

export class RawWs {
  /** HTTP status of the answer to the request (0 until one came). */
  status = 0;
  head = '';
  /** Text frames received. */
  texts = 0;
  /** Close code the server sent (0: none), and whether the TCP connection has ended. */
  closeCode = 0;
  ended = false;
  /** Bytes after the HTTP answer that were not a complete frame when the connection ended. */
  private pending: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private readonly endedPromise: Promise<void>;
  private readonly headPromise: Promise<void>;
  onText: ((text: string) => void) | undefined;

  private constructor(readonly socket: Socket) {
    let resolveHead!: () => void;
    this.headPromise = new Promise((r) => {
      resolveHead = r;
    });
    this.endedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        resolveHead();
        resolve();
      });
    });
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (this.status !== 0) {
        this.receive(chunk);
        return;
      }
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = buf.subarray(0, end).toString('latin1');
      this.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(this.head)?.[1] ?? -1);
      resolveHead();
      if (this.status === 101 && buf.length > end + 4) this.receive(buf.subarray(end + 4));
    });
  }

  /** Opens a TCP connection to 127.0.0.1:port and writes `request` (nothing when empty). */
  static connect(port: number, request = ''): Promise<RawWs> {
    return new Promise((resolve) => {
      const socket = connect({ port, host: '127.0.0.1', noDelay: true });
      const c = new RawWs(socket);
      socket.once('connect', () => {
        if (request !== '') socket.write(request);
        resolve(c);
      });
      socket.once('error', () => resolve(c));
    });
  }

  /** Waits for the HTTP answer (or the end of the connection) for up to `ms`; false when neither came. */
  async answered(ms: number): Promise<boolean> {
    return race(this.headPromise, ms);
  }

  /** Waits for the server to end the connection for up to `ms`; false when it did not. */
  async closed(ms: number): Promise<boolean> {
    return race(this.endedPromise, ms);
  }

  write(bytes: Buffer | string): void {
    if (!this.ended && !this.socket.destroyed) this.socket.write(bytes);
  }

  sendText(text: string | Buffer): void {
    this.write(frame(text));
  }

  /** Waits until the socket's own buffer drained (the server is reading). */
  async drained(ms: number): Promise<boolean> {
    if (this.socket.writableLength < 256 * 1024 || this.ended) return true;
    return race(
      new Promise<void>((r) => {
        this.socket.once('drain', () => r());
      }),
      ms,
    );
  }

  /** A clean close: close frame with `code`, then wait for the server's. */
  async close(code = 1000, ms = 2000): Promise<void> {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code);
    this.write(frame(p, { opcode: 8 }));
    if (!(await this.closed(ms))) this.reset();
  }

  /** An abrupt end: TCP reset. */
  reset(): void {
    if (!this.socket.destroyed) this.socket.resetAndDestroy();
  }

  private receive(chunk: Buffer): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      if (buf.length < 2) break;
      const b0 = buf[0] as number;
      let n = (buf[1] as number) & 0x7f;
      let hdr = 2;
      if (n === 126) {
        if (buf.length < 4) break;
        n = buf.readUInt16BE(2);
        hdr = 4;
      } else if (n === 127) {
        if (buf.length < 10) break;
        n = Number(buf.readBigUInt64BE(2));
        hdr = 10;
      }
      if (buf.length < hdr + n) break;
      const payload = buf.subarray(hdr, hdr + n);
      buf = buf.subarray(hdr + n);
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 8) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      else if (opcode === 9) this.write(frame(payload, { opcode: 10 }));
      else if (opcode === 1 || opcode === 0 || opcode === 2) {
        this.fragments.push(Buffer.from(payload));
        if (fin) {
          const text = Buffer.concat(this.fragments).toString('utf8');
          this.fragments = [];
          this.texts++;
          this.onText?.(text);
        }
      }
    }
    this.pending = Buffer.from(buf);
  }
}

async function race(p: Promise<void>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => {
    t = setTimeout(() => r(false), ms);
  });
  const done = await Promise.race([p.then(() => true), timeout]);
  clearTimeout(t);
  return done;
}
