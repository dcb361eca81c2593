/**
 * A raw HTTP-streaming or SSE client for protocol-level tests: opens the stream with node:http, collects every
 * message (JSON lines, or the data of SSE events), and sends emulation requests — no SDK in between.
 */
import { type IncomingHttpHeaders, request } from 'node:http';
import { waitFor } from './clients.js';

export type Message = Record<string, unknown> & { id?: number; push?: Record<string, unknown> };

export class RawStream {
  status = 0;
  headers: IncomingHttpHeaders = {};
  /** Everything received, as text. */
  text = '';
  /** The messages, decoded: one per JSON line (HTTP-streaming) or per `data:` event (SSE). */
  readonly messages: Message[] = [];
  /** The data of each SSE event, as EventSource would hand it over. */
  readonly events: string[] = [];
  ended = false;
  private req: ReturnType<typeof request> | undefined;
  private pending = '';

  private constructor(
    readonly base: string,
    private readonly sse: boolean,
  ) {}

  /** POSTs `connect` to the HTTP-streaming endpoint (JSON). */
  static httpStream(base: string, connect: unknown, headers: Record<string, string> = {}): Promise<RawStream> {
    return new RawStream(base, false).open('POST', '/connection/http_stream', JSON.stringify(connect), {
      'content-type': 'application/json',
      ...headers,
    });
  }

  /** GETs the SSE endpoint with `connect` in cf_connect. */
  static sse(base: string, connect: unknown, headers: Record<string, string> = {}): Promise<RawStream> {
    const path = `/connection/sse?cf_connect=${encodeURIComponent(JSON.stringify(connect))}`;
    return new RawStream(base, true).open('GET', path, undefined, headers);
  }

  private open(method: string, path: string, body: string | undefined, headers: Record<string, string>) {
    return new Promise<RawStream>((resolve, reject) => {
      const req = request(`${this.base}${path}`, { method, headers }, (res) => {
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.take(chunk));
        res.on('end', () => {
          this.ended = true;
        });
        res.on('close', () => {
          this.ended = true;
        });
        res.on('error', () => {});
        resolve(this);
      });
      this.req = req;
      req.on('error', reject);
      req.end(body);
    });
  }

  private take(chunk: string): void {
    this.text += chunk;
    this.pending += chunk;
    if (!this.sse) {
      let nl = this.pending.indexOf('\n');
      while (nl !== -1) {
        const line = this.pending.slice(0, nl);
        this.pending = this.pending.slice(nl + 1);
        if (line.trim() !== '') this.messages.push(JSON.parse(line) as Message);
        nl = this.pending.indexOf('\n');
      }
      return;
    }
    // SSE: events end with an empty line; each "data:" line adds a line to the event's data.
    const blocks = this.pending.split(/\r?\n\r?\n/);
    this.pending = blocks.pop() ?? '';
    for (const block of blocks) {
      const data = block
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''));
      if (data.length === 0) continue;
      const text = data.join('\n');
      this.events.push(text);
      // Chorus writes one message per event (a payload's own line breaks stay inside it).
      this.messages.push(JSON.parse(text) as Message);
    }
  }

  /** The connect reply (the first message), once it arrived. */
  async connected(): Promise<{ client: string; session: string; node: string } & Record<string, unknown>> {
    await waitFor(() => this.messages.some((m) => m.id === 1), 5000, 'connect reply');
    const reply = this.messages.find((m) => m.id === 1) as Message;
    if (reply.connect === undefined) throw new Error(`connect failed: ${JSON.stringify(reply)}`);
    return reply.connect as { client: string; session: string; node: string };
  }

  /** POSTs commands to the emulation endpoint for this stream's session; resolves with the HTTP status. */
  async send(commands: unknown[], opts: { node?: string; session?: string; base?: string } = {}): Promise<number> {
    const c = await this.connected();
    const res = await fetch(`${opts.base ?? this.base}/emulation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        session: opts.session ?? c.session,
        node: opts.node ?? c.node,
        data: commands.map((x) => JSON.stringify(x)).join('\n'),
      }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  async reply(id: number, ms = 5000): Promise<Message> {
    await waitFor(() => this.messages.some((m) => m.id === id), ms, `reply ${id}`);
    return this.messages.find((m) => m.id === id) as Message;
  }

  pushes(): Record<string, unknown>[] {
    return this.messages.filter((m) => m.push !== undefined).map((m) => m.push as Record<string, unknown>);
  }

  async waitEnded(ms = 5000): Promise<void> {
    await waitFor(() => this.ended, ms, 'the stream to end');
  }

  /** Drops the connection from the client side. */
  destroy(): void {
    this.req?.destroy();
  }

  /** Stops reading: the server's writes pile up in its buffers (a client on a stalled network). */
  stopReading(): void {
    this.req?.socket?.pause();
  }
}
