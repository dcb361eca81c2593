/**
 * The churn of the soak benchmark: a few hundred live connections that come and go as real ones do — official SDK
 * clients with recoverable subscriptions whose sockets sometimes die (they reconnect and recover), raw protocol
 * clients that close cleanly, reset, vanish mid-subscribe or stop answering pings, slow consumers that stop
 * reading — while a backend publishes and broadcasts over the server API to shared rooms and to thousands of
 * one-off channel names. It counts what clients would notice: offset gaps, failed recoveries, presence ghosts
 * (a channel whose only client is gone still listed 2 s later), and how slow and mute clients were closed.
 */
import { Agent } from 'node:http';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { httpCall, prng } from './apps.js';

export interface ChurnOptions {
  wsUrl: string;
  port: number;
  apiKey: string;
  seed: number;
  /** Live SDK and raw clients the churn keeps up. */
  sdkClients: number;
  rawClients: number;
  /** Rooms (shared, with history and recovery) the clients subscribe to. */
  rooms: number;
}

export class ChurnCounts {
  sdkStarted = 0;
  rawStarted = 0;
  muteStarted = 0;
  vanishStarted = 0;
  slowStarted = 0;
  /** Slow consumers whose channel got its whole burst (those the churn's end cut short are not judged). */
  slowTested = 0;
  /** Close codes raw clients saw when the server closed them, by code. */
  readonly serverCloses = new Map<number, number>();
  socketKills = 0;
  recovered = 0;
  recoveryFailed = 0;
  insufficientState = 0;
  publicationsSeen = 0;
  gaps = 0;
  duplicates = 0;
  readonly gapSamples: string[] = [];
  ghostProbes = 0;
  ghosts = 0;
  readonly ghostSamples: string[] = [];
  /** Slow consumers that saw their 3008, and those cut off before they could read it. */
  slowSaw3008 = 0;
  slowOther = 0;
  mute3012 = 0;
  muteOther = 0;
  apiPublishes = 0;
  apiBroadcasts = 0;
  apiErrors = 0;
  /** Calls sent again after their keep-alive socket was reset before the request was read. */
  apiRetries = 0;
  readonly apiErrorSamples: string[] = [];
  oneOffChannels = 0;
  connectErrors = 0;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Follows one stream's offsets: a jump is a gap the client would never hear of, a repeat a duplicate. */
class OffsetTracker {
  private last = 0;
  constructor(
    private readonly counts: ChurnCounts,
    private readonly where: string,
  ) {}
  reset(offset: number): void {
    this.last = offset;
  }
  see(offset: number): void {
    this.counts.publicationsSeen++;
    if (this.last > 0 && offset > this.last + 1) {
      this.counts.gaps++;
      if (this.counts.gapSamples.length < 5) this.counts.gapSamples.push(`${this.where}: ${this.last} → ${offset}`);
    } else if (this.last > 0 && offset <= this.last) this.counts.duplicates++;
    if (offset > this.last) this.last = offset;
  }
}

export class Churn {
  readonly counts = new ChurnCounts();
  private readonly rnd: () => number;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });
  private running = false;
  private seq = 0;
  private liveSdk = 0;
  private liveRaw = 0;
  private liveSlow = 0;
  private readonly tasks = new Set<Promise<void>>();
  /** Every client still open, so that stop() can close them all. */
  private readonly open = new Set<{ end(): void }>();

  constructor(private readonly o: ChurnOptions) {
    this.rnd = prng(o.seed);
  }

  private int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  private spawn(f: () => Promise<void>): void {
    const p = f()
      .catch(() => {
        this.counts.connectErrors++;
      })
      .finally(() => this.tasks.delete(p));
    this.tasks.add(p);
  }

  private async api(method: string, body: unknown): Promise<Record<string, unknown> | undefined> {
    const call = {
      path: `/api/${method}`,
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', 'x-api-key': this.o.apiKey },
    };
    try {
      // A keep-alive socket the server closed as idle just as it was reused fails before the request is read:
      // sent again once, on a fresh socket.
      const r = await httpCall(this.agent, this.o.port, call).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') throw e;
        this.counts.apiRetries++;
        return httpCall(this.agent, this.o.port, call);
      });
      const reply = JSON.parse(r.body) as Record<string, unknown>;
      if (r.status !== 200 || reply.error !== undefined) throw new Error(`HTTP ${r.status} ${r.body.slice(0, 200)}`);
      return reply.result as Record<string, unknown>;
    } catch (e) {
      this.counts.apiErrors++;
      if (this.counts.apiErrorSamples.length < 5)
        this.counts.apiErrorSamples.push(`${method}: ${(e as Error).message}`);
      return undefined;
    }
  }

  start(): void {
    this.running = true;
    this.spawn(() => this.population());
    this.spawn(() => this.publisher());
    this.spawn(() => this.slowConsumers());
  }

  /** Stops the churn: no new clients or publications; every client still open is closed; waits for them all. */
  async stop(): Promise<void> {
    this.running = false;
    for (const c of [...this.open]) c.end();
    while (this.tasks.size > 0) await Promise.race([...this.tasks, sleep(15_000)]);
    this.agent.destroy();
  }

  private async population(): Promise<void> {
    while (this.running) {
      while (this.running && this.liveSdk < this.o.sdkClients) this.spawn(() => this.sdkClient());
      while (this.running && this.liveRaw < this.o.rawClients) this.spawn(() => this.rawClient());
      await sleep(100);
    }
  }

  /** Shared rooms at ~50/s, a broadcast to ten rooms every second, and ~50/s to channel names used once. */
  private async publisher(): Promise<void> {
    let tick = 0;
    while (this.running) {
      tick++;
      const room = `room:r${this.int(this.o.rooms)}`;
      if ((await this.api('publish', { channel: room, data: { t: Date.now() } })) !== undefined) {
        this.counts.apiPublishes++;
      }
      const once = this.int(2) === 0 ? `once:o${++this.seq}` : `plain-o${++this.seq}`;
      if ((await this.api('publish', { channel: once, data: { once: true } })) !== undefined) {
        this.counts.oneOffChannels++;
      }
      if (tick % 50 === 0) {
        const channels = Array.from({ length: 10 }, () => `room:r${this.int(this.o.rooms)}`);
        if ((await this.api('broadcast', { channels: [...new Set(channels)], data: { b: tick } })) !== undefined) {
          this.counts.apiBroadcasts++;
        }
      }
      await sleep(20);
    }
  }

  /** An SDK client in 1–3 rooms for 5–60 s; a third of them lose their socket once and recover. */
  private async sdkClient(): Promise<void> {
    this.liveSdk++;
    this.counts.sdkStarted++;
    let socket: WebSocket | undefined;
    const Tracked = class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { perMessageDeflate: false });
        socket = this;
      }
    };
    const client = new Centrifuge(this.o.wsUrl, {
      websocket: Tracked,
      minReconnectDelay: 100,
      maxReconnectDelay: 1000,
    });
    client.on('error', () => {});
    const rooms = new Set(Array.from({ length: 1 + this.int(3) }, () => `room:r${this.int(this.o.rooms)}`));
    for (const room of rooms) {
      const sub = client.newSubscription(room);
      const tracker = new OffsetTracker(this.counts, `sdk ${room}`);
      sub.on('subscribed', (ctx) => {
        if (ctx.wasRecovering && ctx.recovered) this.counts.recovered++;
        else if (ctx.wasRecovering) this.counts.recoveryFailed++;
        if (!(ctx.wasRecovering && ctx.recovered)) tracker.reset(ctx.streamPosition?.offset ?? 0);
      });
      sub.on('subscribing', (ctx) => {
        if (ctx.code === 2500) this.counts.insufficientState++;
      });
      sub.on('publication', (ctx) => {
        if (ctx.offset !== undefined) tracker.see(ctx.offset);
      });
      sub.on('error', () => {});
      sub.subscribe();
    }
    const handle = { end: () => client.disconnect() };
    this.open.add(handle);
    client.connect();
    const lifetime = 5000 + this.int(55_000);
    let kill = this.int(3) === 0 ? this.int(lifetime) : -1;
    const started = Date.now();
    while (this.running && Date.now() - started < lifetime) {
      await sleep(250);
      if (kill >= 0 && Date.now() - started >= kill && socket !== undefined) {
        // The network drops it: the SDK reconnects and recovers what it missed.
        kill = -1;
        this.counts.socketKills++;
        socket.terminate();
        socket = undefined;
      }
    }
    if (this.running && this.int(10) < 4) socket?.terminate();
    client.disconnect();
    this.open.delete(handle);
    this.liveSdk--;
  }

  /**
   * A raw client: its own presence channel (to probe for ghosts) and maybe a room. It closes cleanly, resets, or
   * — one in ten each — stops answering pings (the server must close it with 3012) or vanishes 0–3 ms after
   * sending its subscribe.
   */
  private async rawClient(): Promise<void> {
    this.liveRaw++;
    this.counts.rawStarted++;
    const n = ++this.seq;
    const own = `pres:u${n}`;
    const kind = this.int(10);
    const mute = kind === 0;
    const vanish = kind === 1;
    if (mute) this.counts.muteStarted++;
    if (vanish) this.counts.vanishStarted++;
    const ws = new WebSocket(this.o.wsUrl, { perMessageDeflate: false });
    let serverClose = 0;
    let weClosed = false;
    const closed = new Promise<void>((resolve) => {
      ws.on('close', (code) => {
        serverClose = weClosed ? 0 : code;
        resolve();
      });
    });
    ws.on('error', () => {});
    const room = this.int(2) === 0 ? `room:r${this.int(this.o.rooms)}` : undefined;
    const tracker = new OffsetTracker(this.counts, `raw ${room}`);
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        if (line === '{}') {
          if (!mute) ws.send('{}');
          continue;
        }
        const m = JSON.parse(line) as {
          id?: number;
          result?: { offset?: number };
          subscribe?: { offset?: number };
          push?: { channel?: string; pub?: { offset?: number }; unsubscribe?: { code: number } };
        };
        if (m.id === 3 && m.subscribe !== undefined) tracker.reset(m.subscribe.offset ?? 0);
        if (m.push?.channel === room && m.push?.pub?.offset !== undefined) tracker.see(m.push.pub.offset);
        if (m.push?.unsubscribe?.code === 2500) this.counts.insufficientState++;
      }
    });
    const handle = {
      end: () => {
        weClosed = true;
        ws.close();
      },
    };
    this.open.add(handle);
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const cmds = [`{"id":1,"connect":{}}`, `{"id":2,"subscribe":{"channel":"${own}"}}`];
      if (room !== undefined) cmds.push(`{"id":3,"subscribe":{"channel":"${room}"}}`);
      ws.send(cmds.join('\n'));
      if (vanish) {
        await sleep(this.int(4));
        weClosed = true;
        (ws as unknown as { _socket: import('node:net').Socket })._socket.resetAndDestroy();
      } else if (mute) {
        // Until the server gives up on it (ping interval + pong timeout), or the churn ends.
        const deadline = Date.now() + 30_000;
        while (this.running && serverClose === 0 && ws.readyState !== WebSocket.CLOSED && Date.now() < deadline) {
          await sleep(200);
        }
      } else {
        const lifetime = 2000 + this.int(28_000);
        const started = Date.now();
        while (this.running && ws.readyState === WebSocket.OPEN && Date.now() - started < lifetime) await sleep(200);
        if (ws.readyState === WebSocket.OPEN) {
          weClosed = true;
          if (this.int(2) === 0) ws.close(1000);
          else (ws as unknown as { _socket: import('node:net').Socket })._socket.resetAndDestroy();
        }
      }
      await Promise.race([closed, sleep(5000)]);
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
      if (serverClose !== 0)
        this.counts.serverCloses.set(serverClose, (this.counts.serverCloses.get(serverClose) ?? 0) + 1);
      if (mute && this.running) {
        if (serverClose === 3012) this.counts.mute3012++;
        else this.counts.muteOther++;
      }
    } finally {
      this.open.delete(handle);
      this.liveRaw--;
    }
    // Its presence channel had only this client: 2 s after it left, presence must be empty.
    await sleep(2000);
    const stats = await this.api('presence_stats', { channel: own });
    if (stats !== undefined) {
      this.counts.ghostProbes++;
      if ((stats.num_clients as number) > 0) {
        this.counts.ghosts++;
        if (this.counts.ghostSamples.length < 5) {
          this.counts.ghostSamples.push(`${own} (${vanish ? 'vanished mid-subscribe' : mute ? 'mute' : 'closed'})`);
        }
      }
    }
  }

  /**
   * Every 20 s, a consumer that stops reading while its channel gets 16 MB (more than the kernel's socket buffers
   * on loopback absorb): the server must close it with 3008 and free what it queued.
   */
  private async slowConsumers(): Promise<void> {
    while (this.running) {
      await sleep(20_000);
      if (!this.running || this.liveSlow > 0) continue;
      this.spawn(() => this.slowConsumer());
    }
  }

  private async slowConsumer(): Promise<void> {
    this.liveSlow++;
    this.counts.slowStarted++;
    const channel = `fire:s${++this.seq}`;
    const ws = new WebSocket(this.o.wsUrl, { perMessageDeflate: false });
    let code = 0;
    const closed = new Promise<void>((resolve) => {
      ws.on('close', (c) => {
        code = c;
        resolve();
      });
    });
    ws.on('error', () => {});
    const handle = { end: () => ws.terminate() };
    this.open.add(handle);
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const subscribed = new Promise<void>((resolve) => {
        ws.on('message', (d) => {
          if (d.toString().includes('"id":2')) resolve();
        });
      });
      ws.send(`{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"${channel}"}}`);
      await Promise.race([subscribed, sleep(5000)]);
      ws.pause();
      const big = 'x'.repeat(64 * 1024);
      let sent = 0;
      while (sent < 256 && this.running) await this.api('publish', { channel, data: { i: sent++, big } });
      // One the churn's end cut short was never tested: it counts neither way.
      if (sent < 256) return;
      this.counts.slowTested++;
      await sleep(2000);
      ws.resume();
      await Promise.race([closed, sleep(5000)]);
      if (code === 3008) this.counts.slowSaw3008++;
      else this.counts.slowOther++;
    } finally {
      ws.terminate();
      this.open.delete(handle);
      this.liveSlow--;
    }
  }
}
