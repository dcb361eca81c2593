/**
 * The `centrifuge` SDK over each of its transports, as an application configures it: WebSocket, HTTP-streaming
 * (Node's fetch and ReadableStream) and SSE (the `eventsource` package, a WHATWG EventSource for Node), the last
 * two with the emulation endpoint. Plus a TCP relay whose connections a test can cut, to drop a stream the way a
 * network does (no close frame, no disconnect push).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Centrifuge, type Options } from 'centrifuge';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';

export type TransportName = 'websocket' | 'http_stream' | 'sse';

export const TRANSPORTS: readonly TransportName[] = ['websocket', 'http_stream', 'sse'];

/** Config that enables the HTTP transports next to WebSocket (merged into a test server's config). */
export const HTTP_TRANSPORTS = { http_stream: { enabled: true }, sse: { enabled: true } } as const;

/** Adds HTTP_TRANSPORTS to a config. */
export function withHttpTransports(config: Record<string, unknown>): Record<string, unknown> {
  return { ...config, ...HTTP_TRANSPORTS };
}

/**
 * An SDK client of the server at `baseUrl` (http://host:port) over one transport only, so a test of that
 * transport can never pass on another one. Reconnects quickly, as the other SDK helpers do.
 */
export function sdkOver(transport: TransportName, baseUrl: string, opts: Partial<Options> = {}): Centrifuge {
  const base = { minReconnectDelay: 50, maxReconnectDelay: 300, ...opts };
  if (transport === 'websocket') {
    return new Centrifuge(`${baseUrl.replace(/^http/, 'ws')}/connection/websocket`, { websocket: WebSocket, ...base });
  }
  return new Centrifuge([{ transport, endpoint: `${baseUrl}/connection/${transport}` }], {
    fetch,
    readableStream: ReadableStream,
    eventsource: EventSource,
    emulationEndpoint: `${baseUrl}/emulation`,
    ...base,
  } as Partial<Options>);
}

export interface Relay {
  port: number;
  url: string;
  /** Drops every connection through the relay at once (both sides destroyed): what a network failure does. */
  cut(): void;
  /** Connections open through it now. */
  readonly open: number;
  close(): Promise<void>;
}

/** A TCP relay to `port` on loopback. */
export async function startRelay(port: number): Promise<Relay> {
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const relayPort = (server.address() as { port: number }).port;
  return {
    port: relayPort,
    url: `http://127.0.0.1:${relayPort}`,
    cut() {
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    get open() {
      return pairs.size;
    },
    close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      return new Promise((r) => server.close(() => r()));
    },
  };
}
