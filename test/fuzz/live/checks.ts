/**
 * What the live fuzz holds every answer to: the codes the protocol document promises (docs/protocol.md, and the
 * catalogue in src/protocol/codes.ts that test/unit/codes.test.ts keeps equal to it), valid protocol JSON, and an
 * event loop that is never held for long. Violations are collected with a sample each, so one run reports every
 * kind of failure it met rather than the first.
 */
import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { ChorusErrors, Disconnects, Errors } from '../../../src/protocol/codes.js';

const PROTOCOL_DOC = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');

/** Reply error codes a client may see (100 is documented too, but means an unexpected failure: never for input). */
export const REPLY_CODES = new Set<number>(
  [...Object.values(Errors), ...Object.values(ChorusErrors)].map((e) => e.code),
);

/**
 * Close codes a client may see: the disconnect catalogue, and the WebSocket codes (1000–1015) the protocol
 * document mentions. 3004 (internal server error) is documented but means a bug: never for input.
 */
export const CLOSE_CODES = new Set<number>([
  ...Object.values(Disconnects).map((d) => d.code),
  ...[...PROTOCOL_DOC.matchAll(/\b(10(?:0\d|1[0-5]))\b/g)].map((m) => Number(m[1])),
]);

export class Findings {
  private readonly byKind = new Map<string, { count: number; sample: string }>();

  add(kind: string, sample: string): void {
    const f = this.byKind.get(kind);
    if (f === undefined) this.byKind.set(kind, { count: 1, sample: sample.slice(0, 400) });
    else f.count++;
  }

  get size(): number {
    return this.byKind.size;
  }

  report(): string {
    return [...this.byKind]
      .sort((a, b) => b[1].count - a[1].count)
      .map(([kind, f]) => `  ${kind} ×${f.count}: ${f.sample}`)
      .join('\n');
  }
}

/** Checks one text frame from the server: newline-separated JSON objects, errors with documented codes. */
export function checkServerText(
  text: string,
  findings: Findings,
  where: string,
  sentWith?: (id: number) => string | undefined,
): void {
  for (const line of text.split('\n')) {
    let m: unknown;
    try {
      m = JSON.parse(line);
    } catch {
      findings.add(`${where}: a message that is not JSON`, line);
      continue;
    }
    if (typeof m !== 'object' || m === null || Array.isArray(m)) {
      findings.add(`${where}: a message that is not a JSON object`, line);
      continue;
    }
    const o = m as Record<string, unknown>;
    if (o.id !== undefined && !(Number.isInteger(o.id) && (o.id as number) > 0 && (o.id as number) <= 0xffffffff)) {
      findings.add(`${where}: a reply id that is not a uint32`, line);
    }
    const err = o.error as { code?: unknown } | undefined;
    if (err !== undefined) {
      if (typeof err.code !== 'number' || !REPLY_CODES.has(err.code)) {
        findings.add(`${where}: undocumented reply error ${String(err.code)}`, line);
      } else if (err.code === Errors.internal.code) {
        const sent = typeof o.id === 'number' ? sentWith?.(o.id) : undefined;
        findings.add(`${where}: reply error 100 (internal) for client input`, `${line} ← ${sent ?? '?'}`);
      }
    }
  }
}

/** Checks the close code the server chose for a connection it closed. */
export function checkCloseCode(code: number, findings: Findings, where: string): void {
  if (code === 0) findings.add(`${where}: connection dropped without a close frame`, '');
  else if (!CLOSE_CODES.has(code)) findings.add(`${where}: undocumented close code ${code}`, String(code));
  else if (code === Disconnects.serverError.code) findings.add(`${where}: close 3004 (internal) for client input`, '');
}

/**
 * CPU time of this process's main thread, in ms: on Linux from its scheduler statistics (nanoseconds on the CPU,
 * so the collector's and the thread pool's own threads do not count), elsewhere the whole process's.
 */
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
const HAS_SCHEDSTAT = (() => {
  try {
    return Number.isFinite(Number.parseInt(readFileSync(SCHEDSTAT, 'utf8'), 10));
  } catch {
    return false;
  }
})();
export function mainThreadCpuMs(): number {
  if (HAS_SCHEDSTAT) return Number.parseInt(readFileSync(SCHEDSTAT, 'utf8'), 10) / 1e6;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Wall-clock time comparable across processes (ms since the epoch, sub-millisecond resolution). */
export const epochNow = (): number => performance.timeOrigin + performance.now();

/**
 * What the load generator had just started, with the time, for naming what was around a long turn. The server
 * may run in another process: its monitor reports each long turn as it ends, and the side that sent the inputs
 * names them from here; notes are kept for a few seconds.
 */
export class Notes {
  private readonly recent: Array<[number, string]> = [];

  /**
   * `keepAll`: keep every note (a few thousand inputs), for a caller that learns the server's long turns only at
   * the end of the run; otherwise the last few seconds are kept.
   */
  constructor(private readonly keepAll = false) {}

  note(label: string): void {
    const now = epochNow();
    this.recent.push([now, label]);
    if (this.keepAll) return;
    if (
      this.recent.length > 20_000 ||
      (this.recent.length > 64 && (this.recent[0] as [number, string])[0] < now - 5000)
    ) {
      this.recent.shift();
    }
  }

  /** The distinct labels noted from 200 ms before `from` until `to`. */
  around(from: number, to: number): string {
    const labels = this.recent.filter(([t]) => t >= from - 200 && t <= to).map(([, l]) => l);
    return [...new Set(labels)].join(', ');
  }
}

/** A long turn: epoch start and end, and the CPU the main thread spent in it (ms). */
export type LongTurn = [from: number, to: number, cpuMs: number];

/** What a LoopMonitor saw, in a form that can cross processes. */
export interface LoopRecord {
  maxGapMs: number;
  maxGcMs: number;
  long: LongTurn[];
  /** Garbage-collection pauses: epoch start and duration. */
  gcs: Array<[number, number]>;
}

/**
 * The longest turn of a record, GC pauses inside it deducted; `labelOf(i)` names what was around turn i.
 */
export function worstTurn(
  record: LoopRecord,
  labelOf: (i: number) => string,
): { ms: number; around: string; at: number } {
  let ms = 0;
  let around = '';
  let at = 0;
  record.long.forEach(([from, to, busy], i) => {
    let gc = 0;
    for (const [t, d] of record.gcs) if (t + d > from && t < to) gc += Math.min(d, to - t, t + d - from);
    const blocked = busy - gc;
    if (blocked > ms) {
      ms = blocked;
      around = labelOf(i);
      at = from;
    }
  });
  return { ms, around, at };
}

/**
 * Watches the event loop with a 5 ms timer. A turn counts as blocked for the part of its length the main thread
 * spent on the CPU, less the garbage-collection pauses inside it: a machine that merely did not schedule the
 * process (CI neighbours) does not count, nor does the collector (reported apart), a long synchronous task does.
 * It runs in the process it measures (the live fuzz starts the server in a process of its own, so the load
 * generator's work is not counted); `onLong` hears of each long turn as it ends.
 */
export class LoopMonitor {
  maxGapMs = 0;
  maxGcMs = 0;
  /** Every turn whose CPU exceeded this is kept (and reported to `onLong`). */
  keepOverMs = 20;
  onLong: ((turn: LongTurn, index: number) => void) | undefined;
  private readonly notes = new Notes();
  private readonly labels: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private gc: PerformanceObserver | undefined;
  private last = 0;
  private lastCpu = 0;
  private readonly long: LongTurn[] = [];
  private readonly gcs: Array<[number, number]> = [];

  /** Notes what was just started in this process, for the report of the worst block. */
  note(label: string): void {
    this.notes.note(label);
  }

  start(): void {
    this.gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        this.gcs.push([performance.timeOrigin + e.startTime, e.duration]);
        if (e.duration > this.maxGcMs) this.maxGcMs = e.duration;
      }
    });
    this.gc.observe({ entryTypes: ['gc'] });
    this.last = epochNow();
    this.lastCpu = mainThreadCpuMs();
    this.timer = setInterval(() => {
      const now = epochNow();
      const cpuNow = mainThreadCpuMs();
      const gap = now - this.last - 5;
      if (gap > this.maxGapMs) this.maxGapMs = gap;
      const busy = Math.min(gap, cpuNow - this.lastCpu);
      if (busy > this.keepOverMs) {
        const turn: LongTurn = [this.last, now, busy];
        this.long.push(turn);
        this.labels.push(this.notes.around(this.last, now));
        this.onLong?.(turn, this.long.length - 1);
      }
      this.last = now;
      this.lastCpu = mainThreadCpuMs();
    }, 5);
  }

  stop(): void {
    clearInterval(this.timer);
    this.gc?.disconnect();
  }

  record(): LoopRecord {
    return { maxGapMs: this.maxGapMs, maxGcMs: this.maxGcMs, long: [...this.long], gcs: [...this.gcs] };
  }

  /** The longest block, GC pauses inside it deducted, with what had just started (noted in this process). */
  worst(): { ms: number; around: string } {
    return worstTurn(this.record(), (i) => this.labels[i] ?? '');
  }
}

/** A histogram of labels (close codes, HTTP statuses, scenarios) for the summary. */
export class Tally {
  private readonly counts = new Map<string, number>();
  add(key: string | number, n = 1): void {
    const k = String(key);
    this.counts.set(k, (this.counts.get(k) ?? 0) + n);
  }
  toString(): string {
    return [...this.counts]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k}:${n}`)
      .join(' ');
  }
}
