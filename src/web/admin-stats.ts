/**
 * The admin page's statistics, cluster-wide: every node samples itself once a second into a 5-minute ring, and
 * answers the admin surveys (`admin.series`) with it. Whichever node the page reaches (behind a load balancer it
 * may be a different one each poll) asks every live node and sums their samples second by second, so the page
 * shows the same cluster totals from any node — plus each node's own figures, labelled with its name.
 *
 * Message rates are counted through the stats port the node reports to (the composition root combines this
 * sampler with the metrics): messages in are the publications this node makes (client publishes and the server
 * API), messages out the publications queued to this node's subscribers.
 */
import type { Node } from '../core/node.js';
import type { NodeStats, OutKind } from '../core/ports/stats.js';

export const SAMPLE_MS = 1000;
/** 5 minutes of one-second samples. */
const SERIES_LENGTH = 300;
const SURVEY = 'admin.series';

/** The figures sampled every second. */
export const FIELDS = ['connections', 'users', 'channels', 'subscriptions', 'in', 'out'] as const;
export type Field = (typeof FIELDS)[number];

/** One second of one node's activity (`in`/`out`: publications made / delivered per second). */
export type Sample = { t: number } & Record<Field, number>;

/** Column arrays, oldest first (what the page's chart takes). */
export type Columns = { t: number[] } & Record<Field, number[]>;

export interface NodeSeries extends Columns {
  uid: string;
  name: string;
}

export interface ClusterSeries extends Columns {
  interval: number;
  /** Each node that answered, with its own samples on the same seconds. */
  nodes: NodeSeries[];
}

/**
 * Counts messages (as a NodeStats the node reports to) and, once attached to its node, samples it every second
 * and answers the admin survey with its samples.
 */
export class AdminActivity implements NodeStats {
  private publishedCount = 0;
  private deliveredCount = 0;
  readonly ring: Sample[] = [];
  private lastAt = Date.now();
  private lastPublished = 0;
  private lastDelivered = 0;
  private timer: NodeJS.Timeout | undefined;
  private node: Node | undefined;

  // --- NodeStats: only publications in and out are counted here --------------------------------------------

  published(): void {
    this.publishedCount++;
  }

  queued(kind: OutKind, count: number): void {
    // Deliveries: what the hub queued (or buffered) for this node's subscribers, publication by publication.
    if (kind === 'publication') this.deliveredCount += count;
  }

  commandDone(): void {}
  disconnected(): void {}
  frameIn(): void {}
  frameOut(): void {}
  connectionRefused(): void {}

  /** Starts sampling `node` every second and answering the admin survey (once). */
  attach(node: Node): void {
    if (this.node !== undefined) return;
    this.node = node;
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
    node.ops.answerSurveys(SURVEY, () => this.answer());
  }

  private sample(): void {
    const n = this.node;
    if (n === undefined || n.isClosing) {
      clearInterval(this.timer);
      return;
    }
    const now = Date.now();
    const secs = Math.max((now - this.lastAt) / 1000, 0.001);
    const round = (x: number) => Math.round(x * 100) / 100;
    this.ring.push({
      t: Math.floor(now / 1000),
      connections: n.clients.size,
      users: n.numUsers,
      channels: n.hub.numChannels,
      subscriptions: n.hub.numSubscriptions,
      in: round((this.publishedCount - this.lastPublished) / secs),
      out: round((this.deliveredCount - this.lastDelivered) / secs),
    });
    if (this.ring.length > SERIES_LENGTH) this.ring.shift();
    this.lastAt = now;
    this.lastPublished = this.publishedCount;
    this.lastDelivered = this.deliveredCount;
  }

  /** This node's answer to the admin survey: its name and its samples as columns. */
  private answer(): NodeSeries {
    const columns = { t: this.ring.map((s) => s.t) } as Columns;
    for (const f of FIELDS) columns[f] = this.ring.map((s) => s[f]);
    const node = this.node as Node;
    return { uid: node.uid, name: node.name, ...columns };
  }
}

function isNodeSeries(a: unknown): a is NodeSeries {
  const o = a as NodeSeries | null;
  return typeof o === 'object' && o !== null && typeof o.uid === 'string' && Array.isArray(o.t);
}

/**
 * Puts the nodes' samples on common seconds: from the oldest sample of any node to the newest second every node
 * has sampled (so the last point is complete, not a dip). A node without a sample in a second repeats its
 * previous one (timers drift), and counts 0 before its first (it was not running yet).
 */
export function alignSeries(answers: readonly NodeSeries[]): ClusterSeries {
  const nodes = answers.filter((a) => a.t.length > 0);
  const out: ClusterSeries = { interval: SAMPLE_MS, t: [], nodes: [] } as unknown as ClusterSeries;
  for (const f of FIELDS) out[f] = [];
  if (nodes.length === 0) return out;
  const first = Math.min(...nodes.map((n) => n.t[0] as number));
  const last = Math.min(...nodes.map((n) => n.t[n.t.length - 1] as number));
  for (let t = first; t <= last; t++) out.t.push(t);
  for (const n of nodes) {
    const aligned = { uid: n.uid, name: n.name, t: out.t } as NodeSeries;
    for (const f of FIELDS) aligned[f] = [];
    let i = 0;
    for (const t of out.t) {
      while (i < n.t.length && (n.t[i] as number) <= t) i++;
      // i - 1: the node's latest sample at or before t (none: it was not running yet).
      for (const f of FIELDS) aligned[f].push(i === 0 ? 0 : (n[f][i - 1] as number));
    }
    out.nodes.push(aligned);
  }
  for (const f of FIELDS) {
    out[f] = out.t.map((_, k) => Math.round(out.nodes.reduce((sum, n) => sum + (n[f][k] as number), 0) * 100) / 100);
  }
  out.nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

const recent = new WeakMap<Node, { at: number; series: Promise<ClusterSeries> }>();

/**
 * The last 5 minutes of every live node that answered within a second, aligned and summed. The page asks for
 * the state and the series together: within half a second both get the same survey.
 */
export function clusterSeries(node: Node): Promise<ClusterSeries> {
  const cached = recent.get(node);
  if (cached !== undefined && Date.now() - cached.at < 500) return cached.series;
  const series = node.ops.ask(SURVEY).then((answers) => alignSeries(answers.map((a) => a.answer).filter(isNodeSeries)));
  recent.set(node, { at: Date.now(), series });
  return series;
}
