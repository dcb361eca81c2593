/**
 * An HTTP-streaming or SSE client on a bare TCP socket for load generation: it sends the request, skips the
 * response head, and hands every later chunk of the body to a callback as it arrives — chunked transfer
 * framing included, never decoded — so a benchmark can count thousands of messages a second per process, and
 * parse only what it samples. Commands go to the emulation endpoint through a keep-alive agent.
 */
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';

export type ChunkHandler = (buf: Buffer) => void;

export class StreamConn {
  private socket!: Socket;
  /** Receives the body as it arrives (chunk framing included). */
  onData: ChunkHandler = () => {};
  closed = false;
  session = '';
  node = '';

  /**
   * Opens the stream (`POST /connection/http_stream` with the connect command, or `GET /connection/sse`) and
   * resolves with the connect result once its reply arrived.
   */
  open(port: number, kind: 'http_stream' | 'sse', localAddress?: string): Promise<void> {
    const connectCmd = '{"id":1,"connect":{}}';
    const head =
      kind === 'http_stream'
        ? `POST /connection/http_stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(connectCmd)}\r\n\r\n${connectCmd}`
        : `GET /connection/sse?cf_connect=${encodeURIComponent(connectCmd)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress, noDelay: true });
      this.socket = socket;
      let text = '';
      let inBody = false;
      socket.once('connect', () => socket.write(head));
      const onData = (chunk: Buffer) => {
        if (inBody) {
          this.onData(chunk);
          return;
        }
        text += chunk.toString('latin1');
        const m = /"session":"([^"]+)","node":"([^"]+)"/.exec(text);
        if (!text.startsWith('HTTP/1.1 200')) {
          if (text.includes('\r\n')) reject(new Error(`stream refused: ${text.split('\r\n')[0]}`));
          return;
        }
        if (m === null) return;
        this.session = m[1] as string;
        this.node = m[2] as string;
        inBody = true;
        resolve();
      };
      socket.on('data', onData);
      socket.on('error', (e) => {
        this.closed = true;
        reject(e);
      });
      socket.on('close', () => {
        this.closed = true;
      });
    });
  }

  destroy(): void {
    this.socket?.destroy();
  }
}

/** Sends emulation requests to a node, over a few kept-alive connections. */
export class Emulation {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });

  constructor(private readonly port: number) {}

  /** POSTs `commands` (JSON text, newline-separated) for a session; resolves with the status. */
  send(session: string, node: string, commands: string, port = this.port): Promise<number> {
    const body = JSON.stringify({ session, node, data: commands });
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/emulation',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
