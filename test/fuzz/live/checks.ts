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
 * Watches the event loop with a 5 ms timer. A turn counts as blocked for the part of its length the process spent
 * on the CPU, less the garbage-collection pauses inside it: a machine that merely did not schedule the process
 * (CI neighbours) does not count, nor does the collector (reported apart), a long synchronous task does.
 * `worstAt` names what the fuzz had started just before the worst block.
 */
export class LoopMonitor {
  maxGapMs = 0;
  maxGcMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private gc: PerformanceObserver | undefined;
  private last = 0;
  private lastCpu = process.cpuUsage();
  private readonly recent: Array<[number, string]> = [];
  /** Turns that ran long: [start, end, CPU ms, what had just started]. */
  private readonly long: Array<[number, number, number, string]> = [];
  private readonly gcs: Array<[number, number]> = [];

  /** Notes what was just started, for the report of the worst block. */
  note(label: string): void {
    this.recent.push([performance.now(), label]);
    if (this.recent.length > 64) this.recent.shift();
  }

  start(): void {
    this.gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        this.gcs.push([e.startTime, e.duration]);
        if (e.duration > this.maxGcMs) this.maxGcMs = e.duration;
      }
    });
    this.gc.observe({ entryTypes: ['gc'] });
    this.last = performance.now();
    this.lastCpu = process.cpuUsage();
    this.timer = setInterval(() => {
      const now = performance.now();
      const cpu = process.cpuUsage(this.lastCpu);
      const gap = now - this.last - 5;
      if (gap > this.maxGapMs) this.maxGapMs = gap;
      const busy = Math.min(gap, (cpu.user + cpu.system) / 1000);
      if (busy > 20) {
        const labels = this.recent.filter(([t]) => t >= this.last - 200).map(([, l]) => l);
        this.long.push([this.last, now, busy, [...new Set(labels)].join(', ')]);
      }
      this.last = now;
      this.lastCpu = process.cpuUsage();
    }, 5);
  }

  stop(): void {
    clearInterval(this.timer);
    this.gc?.disconnect();
  }

  /** The longest block, GC pauses inside it deducted, with what had just started. */
  worst(): { ms: number; around: string } {
    let ms = 0;
    let around = '';
    for (const [from, to, busy, labels] of this.long) {
      let gc = 0;
      for (const [t, d] of this.gcs) if (t + d > from && t < to) gc += Math.min(d, to - t, t + d - from);
      const blocked = busy - gc;
      if (blocked > ms) {
        ms = blocked;
        around = labels;
      }
    }
    return { ms, around };
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
