/** A bare protocol client for benchmarks: connect, subscribe, publish, and a cheap push callback. */
import WebSocket from 'ws';

/** A bare protocol client: enough for connect + subscribe, counting what comes back. */
export class Conn {
  ws!: WebSocket;
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Record<string, unknown>) => void>();

  /** Called for every push (not replies): parse only what the benchmark needs. */
  onPush: ((line: string) => void) | undefined;

  open(url: string, localAddress?: string): Promise<void> {
    this.ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
    this.ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        if (line === '{}') {
          this.ws.send('{}');
          continue;
        }
        if (line.startsWith('{"push"')) {
          this.onPush?.(line);
          continue;
        }
        const msg = JSON.parse(line) as { id?: number };
        if (msg.id) {
          this.waiting.get(msg.id)?.(msg as Record<string, unknown>);
          this.waiting.delete(msg.id);
        }
      }
    });
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  call(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.ws.send(JSON.stringify({ id, [method]: params }));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}
