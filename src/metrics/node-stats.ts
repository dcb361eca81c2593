/**
 * The node's counters as plain numbers: what the core reports through NodeStats on its hot paths costs a few
 * field increments (no allocation, no label hashing, no string building). Prometheus reads them at scrape time
 * (metrics.ts); anything else in the process (an admin page) may read them too.
 */
import type { ConnectionRefusal, NodeStats, OutKind } from '../core/ports/stats.js';
import type { Method } from '../protocol/messages.js';

export const METHODS: readonly Method[] = [
  'connect',
  'subscribe',
  'unsubscribe',
  'publish',
  'presence',
  'presence_stats',
  'history',
  'rpc',
  'send',
  'refresh',
  'sub_refresh',
  'ping',
  'pong',
  'unknown',
];

export const CONNECTION_REFUSALS: readonly ConnectionRefusal[] = ['node_rate', 'address_limit', 'address_rate'];

export const OUT_KINDS: readonly OutKind[] = [
  'reply',
  'publication',
  'join',
  'leave',
  'unsubscribe',
  'subscribe',
  'message',
  'ping',
];

/** Upper bounds of the command latency histogram, in seconds (a memory-engine publish takes tens of µs). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];
/** The same bounds in milliseconds, as the core reports durations. */
const BOUNDS_MS = LATENCY_BUCKETS.map((s) => s * 1000);

export class CommandStats {
  count = 0;
  /** Total duration in milliseconds. */
  sumMs = 0;
  /** Per-bucket (not cumulative) counts; the last slot is above the highest bound (+Inf). */
  readonly buckets = new Float64Array(BOUNDS_MS.length + 1);
  /** Error replies by code. */
  readonly errors = new Map<number, number>();
}

export class ChorusStats implements NodeStats {
  readonly commands = {} as Record<Method, CommandStats>;
  readonly out = {} as Record<OutKind, number>;
  readonly disconnects = new Map<number, number>();
  readonly refused = {} as Record<ConnectionRefusal, number>;
  framesIn = 0;
  bytesIn = 0;
  framesOut = 0;
  bytesOut = 0;
  /** Messages actually written (queued ones dropped with a closing client are not). */
  messagesOut = 0;
  /** Publications this node published into the engine (client publishes and the server API). */
  publications = 0;

  constructor() {
    for (const m of METHODS) this.commands[m] = new CommandStats();
    for (const k of OUT_KINDS) this.out[k] = 0;
    for (const r of CONNECTION_REFUSALS) this.refused[r] = 0;
  }

  commandDone(method: Method, ms: number, errorCode: number): void {
    const c = this.commands[method] as CommandStats | undefined;
    if (c === undefined) return;
    c.count++;
    c.sumMs += ms;
    let i = 0;
    while (i < BOUNDS_MS.length && ms > (BOUNDS_MS[i] as number)) i++;
    (c.buckets[i] as number)++;
    if (errorCode !== 0) c.errors.set(errorCode, (c.errors.get(errorCode) ?? 0) + 1);
  }

  disconnected(code: number): void {
    this.disconnects.set(code, (this.disconnects.get(code) ?? 0) + 1);
  }

  frameIn(bytes: number): void {
    this.framesIn++;
    this.bytesIn += bytes;
  }

  frameOut(bytes: number, messages: number): void {
    this.framesOut++;
    this.bytesOut += bytes;
    this.messagesOut += messages;
  }

  queued(kind: OutKind, count: number): void {
    this.out[kind] += count;
  }

  connectionRefused(reason: ConnectionRefusal): void {
    this.refused[reason]++;
  }

  published(): void {
    this.publications++;
  }
}
