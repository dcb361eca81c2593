/**
 * Prometheus metrics at /metrics (prom-client), names prefixed `chorus_`. Placeholder wiring: process metrics
 * only; the server's own counters come with the observability work.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Node } from '../core/node.js';

export interface Metrics {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export function createMetrics(_node: Node): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'chorus_' });
  return {
    async handle(_req, res) {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(body);
    },
  };
}
