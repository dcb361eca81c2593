/**
 * A WebSocket client on a bare TCP socket for load generation: the handshake, masked text frames out, and a frame
 * walker in that hands each received frame to a callback as (buffer, start, end) — no copy, no string, no event
 * per message — so a benchmark can count thousands of messages a second per process without becoming the
 * bottleneck, and decode only the few connections it samples. Server frames are never fragmented by the targets
 * benchmarked here (small messages), so continuation frames are not reassembled.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** Called for every complete text or binary frame; the payload is buf[start, end). */
export type FrameHandler = (buf: Buffer, start: number, end: number) => void;

const ZERO_MASK = Buffer.alloc(4);

/** A client frame: masked (as the protocol requires) with an all-zero key, so the payload goes out unchanged. */
export function clientFrame(payload: Buffer | string, opcode = 1): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const n = data.length;
  const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const head = Buffer.allocUnsafe(2 + ext + 4);
  head[0] = 0x80 | opcode;
  if (ext === 0) head[1] = 0x80 | n;
  else if (ext === 2) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  ZERO_MASK.copy(head, 2 + ext);
  return Buffer.concat([head, data]);
}

/** A server frame (unmasked, FIN, text): what a broadcast writes to every socket. */
export function serverFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const out = Buffer.allocUnsafe(2 + ext + n);
  out[0] = 0x81;
  if (ext === 0) out[1] = n;
  else if (ext === 2) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(out, 2 + ext);
  return out;
}

export class WireConn {
  private socket!: Socket;
  private pending: Buffer | undefined;
  /** Receives every data frame once the handshake is done. */
  onFrame: FrameHandler = () => {};
  /** Set when the server closed the connection or it failed. */
  closed = false;

  /** Connects and upgrades (asking for `subprotocol` when given); resolves once the server answered 101. */
  open(url: string, localAddress?: string, subprotocol?: string): Promise<void> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const key = randomBytes(16).toString('base64');
      const socket = connect({ host: u.hostname, port: Number(u.port), localAddress, noDelay: true });
      this.socket = socket;
      let head: Buffer = Buffer.alloc(0);
      let upgraded = false;
      socket.once('connect', () => {
        socket.write(
          `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
            (subprotocol === undefined ? '' : `Sec-WebSocket-Protocol: ${subprotocol}\r\n`) +
            '\r\n',
        );
      });
      socket.on('data', (chunk: Buffer) => {
        if (upgraded) {
          this.receive(chunk);
          return;
        }
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
        if (!/^HTTP\/1\.1 101/.test(status)) {
          socket.destroy();
          reject(new Error(`upgrade refused: ${status}`));
          return;
        }
        upgraded = true;
        resolve();
        if (head.length > end + 4) this.receive(head.subarray(end + 4));
      });
      socket.on('error', (err) => {
        this.closed = true;
        if (!upgraded) reject(err);
      });
      socket.on('close', () => {
        this.closed = true;
      });
    });
  }

  /** A text frame, or a binary one (`binary`: the Protobuf protocol). */
  send(payload: string | Buffer | Uint8Array, binary = false): void {
    if (this.closed) return;
    const data =
      typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    this.socket.write(clientFrame(data, binary ? 2 : 1));
  }

  /** Resolves with the first frame (a copy of its payload) that `match` accepts, or rejects after `ms`. */
  nextFrame(match: (frame: Buffer) => boolean, ms = 10_000): Promise<Buffer> {
    const previous = this.onFrame;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.onFrame = previous;
        reject(new Error('no answer in time'));
      }, ms);
      this.onFrame = (buf, start, end) => {
        const frame = Buffer.from(buf.subarray(start, end));
        if (!match(frame)) return;
        clearTimeout(t);
        this.onFrame = previous;
        resolve(frame);
      };
    });
  }

  /** Resolves with the first frame (as text) that `match` accepts, or rejects after `ms`. */
  next(match: (text: string) => boolean, ms = 10_000): Promise<string> {
    const previous = this.onFrame;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.onFrame = previous;
        reject(new Error('no answer in time'));
      }, ms);
      this.onFrame = (buf, start, end) => {
        const text = buf.toString('utf8', start, end);
        if (!match(text)) return;
        clearTimeout(t);
        this.onFrame = previous;
        resolve(text);
      };
    });
  }

  /** Drops the connection at once (the benchmark tears down thousands at a time). */
  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let pos = 0;
    const len = buf.length;
    while (pos + 2 <= len) {
      const b0 = buf[pos] as number;
      let n = (buf[pos + 1] as number) & 0x7f;
      let hdr = 2;
      if (n === 126) {
        if (pos + 4 > len) break;
        n = buf.readUInt16BE(pos + 2);
        hdr = 4;
      } else if (n === 127) {
        if (pos + 10 > len) break;
        n = Number(buf.readBigUInt64BE(pos + 2));
        hdr = 10;
      }
      const start = pos + hdr;
      const end = start + n;
      if (end > len) break;
      const opcode = b0 & 0x0f;
      if (opcode === 1 || opcode === 2 || opcode === 0) this.onFrame(buf, start, end);
      else if (opcode === 9) this.socket.write(clientFrame(buf.subarray(start, end), 10));
      else if (opcode === 8) this.destroy();
      pos = end;
    }
    if (pos < len) this.pending = buf.subarray(pos);
  }
}
