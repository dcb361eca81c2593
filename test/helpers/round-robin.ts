/**
 * A reverse proxy that sends each HTTP request to the next backend in turn — no stickiness at all, the worst
 * case for emulated transports, whose commands arrive as separate requests. Responses stream through as they
 * come (a stream is never buffered); a backend that refuses the connection is skipped, as a balancer with health
 * checks would. It records which backend served each request.
 */
import { createServer, request, type Server } from 'node:http';
import type { Socket } from 'node:net';

export interface RoundRobin {
  port: number;
  url: string;
  /** Every request: its path (no query) and the backend port that served it. */
  readonly served: Array<{ path: string; backend: number }>;
  close(): Promise<void>;
}

export async function startRoundRobin(backends: () => number[]): Promise<RoundRobin> {
  let next = 0;
  const served: Array<{ path: string; backend: number }> = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const list = backends();
      const start = next++;
      const attempt = (i: number) => {
        const port = list[(start + i) % list.length];
        if (port === undefined || i >= list.length) {
          res.writeHead(502).end('no backend');
          return;
        }
        const upstream = request(
          { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
          (up) => {
            served.push({ path: (req.url ?? '').split('?')[0] ?? '', backend: port });
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
            up.on('error', () => res.destroy());
          },
        );
        upstream.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'ECONNREFUSED' && !res.headersSent) attempt(i + 1);
          else res.destroy();
        });
        res.on('close', () => upstream.destroy());
        upstream.end(body);
      };
      attempt(0);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    served,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
