/**
 * Prometheus metrics at /metrics (prom-client), names prefixed `chorus_`. Nothing here runs per message: current
 * counts (connections, subscriptions, channels, users, engine state) are read from the node at scrape time, and
 * the node's counters are plain numbers (node-stats.ts) turned into samples at scrape time too. Process metrics
 * (CPU, memory, GC, event-loop lag) come from prom-client's defaults, collected once per process.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import type { Node } from '../core/node.js';
import { type ChorusStats, CONNECTION_REFUSALS, LATENCY_BUCKETS, METHODS, OUT_KINDS } from './node-stats.js';

export interface Metrics {
  /** The counters the node reports into (the composition root hands them to the node). */
  readonly stats: ChorusStats;
  readonly registry: Registry;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

const PREFIX = 'chorus_';

// Default metrics start an event-loop delay monitor and a GC observer: one set per process, however many nodes.
let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: PREFIX });
  }
  return processRegistry;
}

type Labels = Record<string, string | number>;
interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

/**
 * A counter or histogram whose samples are computed when scraped. prom-client's own classes can only be
 * incremented or observed one event at a time; this reads totals kept elsewhere. The registry only needs
 * `name`, `type`, `get()` and `reset()`.
 */
class Snapshot {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    private readonly read: () => Sample[],
  ) {}

  async get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.read() };
  }

  reset(): void {}
}

/** Prometheus metrics over `stats`, the counters the node was built with, and the node's current counts. */
export function createMetrics(node: Node, stats: ChorusStats): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const counter = (name: string, help: string, read: () => Sample[]) =>
    registry.registerMetric(new Snapshot(PREFIX + name, help, 'counter', read) as unknown as Metric);
  const single = (value: () => number) => (): Sample[] => [{ labels: {}, value: value() }];

  new Gauge({
    name: `${PREFIX}connections`,
    help: 'Authenticated client connections on this node.',
    registers,
    collect() {
      this.set(node.clients.size);
    },
  });
  new Gauge({
    name: `${PREFIX}sessions`,
    help: 'Open client sessions on this node, including those not yet authenticated.',
    registers,
    collect() {
      this.set(node.sessions.size);
    },
  });
  new Gauge({
    name: `${PREFIX}subscriptions`,
    help: 'Channel subscriptions of the clients on this node.',
    registers,
    collect() {
      this.set(node.hub.numSubscriptions);
    },
  });
  new Gauge({
    name: `${PREFIX}channels`,
    help: 'Channels with at least one subscriber on this node.',
    registers,
    collect() {
      this.set(node.hub.numChannels);
    },
  });
  new Gauge({
    name: `${PREFIX}users`,
    help: 'Distinct users connected to this node (anonymous connections count as one user).',
    registers,
    collect() {
      this.set(node.numUsers);
    },
  });
  new Gauge({
    name: `${PREFIX}engine_ready`,
    help: 'Whether the engine (broker, history, presence) is reachable: 1 or 0.',
    labelNames: ['engine'],
    registers,
    collect() {
      this.set({ engine: node.engine.name }, node.engine.ready() ? 1 : 0);
    },
  });

  counter('messages_received_total', 'Commands received from clients, by method.', () =>
    METHODS.map((method) => ({ labels: { method }, value: stats.commands[method].count })),
  );
  counter('messages_sent_total', 'Messages queued to clients: replies, and pushes by type.', () =>
    OUT_KINDS.map((type) => ({ labels: { type }, value: stats.out[type] })),
  );
  counter(
    'messages_written_total',
    'Messages written to client connections (several may share one frame).',
    single(() => stats.messagesOut),
  );
  counter(
    'publications_total',
    'Publications this node published into the engine (client publishes and the server API).',
    single(() => stats.publications),
  );
  counter(
    'frames_received_total',
    'WebSocket frames received from clients.',
    single(() => stats.framesIn),
  );
  counter(
    'frames_sent_total',
    'WebSocket frames written to clients.',
    single(() => stats.framesOut),
  );
  counter(
    'bytes_received_total',
    'Bytes of frames received from clients.',
    single(() => stats.bytesIn),
  );
  counter(
    'bytes_sent_total',
    'Bytes of frames written to clients.',
    single(() => stats.bytesOut),
  );
  counter('reply_errors_total', 'Commands that failed with an error, by method and error code.', () => {
    const out: Sample[] = [];
    for (const method of METHODS) {
      for (const [code, n] of stats.commands[method].errors) out.push({ labels: { method, code }, value: n });
    }
    return out;
  });
  counter(
    'connections_refused_total',
    'New connections refused at the upgrade by a connection limit, by reason (node_rate, address_limit, address_rate).',
    () => CONNECTION_REFUSALS.map((reason) => ({ labels: { reason }, value: stats.refused[reason] })),
  );
  counter('disconnects_total', 'Client sessions ended, by disconnect code.', () =>
    [...stats.disconnects].map(([code, n]) => ({ labels: { code }, value: n })),
  );

  const latency = `${PREFIX}command_duration_seconds`;
  registry.registerMetric(
    new Snapshot(latency, 'Time to handle a client command, by method.', 'histogram', () => {
      const out: Sample[] = [];
      for (const method of METHODS) {
        const c = stats.commands[method];
        if (c.count === 0) continue;
        let acc = 0;
        for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
          acc += c.buckets[i] ?? 0;
          out.push({
            metricName: `${latency}_bucket`,
            labels: { method, le: LATENCY_BUCKETS[i] as number },
            value: acc,
          });
        }
        out.push(
          { metricName: `${latency}_bucket`, labels: { method, le: '+Inf' }, value: c.count },
          { metricName: `${latency}_sum`, labels: { method }, value: c.sumMs / 1000 },
          { metricName: `${latency}_count`, labels: { method }, value: c.count },
        );
      }
      return out;
    }) as unknown as Metric,
  );

  const all = Registry.merge([processMetrics(), registry]);
  return {
    stats,
    registry: all,
    async handle(req, res) {
      const body = await all.metrics();
      res.writeHead(200, { 'content-type': all.contentType, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  };
}
