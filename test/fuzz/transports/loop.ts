/**
 * The event-loop watch of the transports fuzz, split across processes: the server runs in a process of its own
 * (./server-process.ts) with a `TurnMonitor` inside it, so a turn is measured on the server's main thread alone,
 * not on the load generator's (which builds the hostile frames, parses every answer and drives the SDK bystanders:
 * in one process those were most of every "long turn"). The load generator notes what it starts (`Notes`), with
 * wall-clock times comparable across processes, and names the worst turn from them (`worstTurn`).
 *
 * The same idea as the live fuzz's monitor (test/fuzz/live/checks.ts), kept apart so the two fuzzes can change
 * independently.
 */
import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

/** Wall-clock time comparable across processes (ms since the epoch, sub-millisecond resolution). */
export const epochNow = (): number => performance.timeOrigin + performance.now();

/**
 * CPU time of this process's main thread, in ms: on Linux from its scheduler statistics (nanoseconds on the CPU),
 * so the collector's helper threads and the thread pool do not count; elsewhere the whole process's.
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

/** A long turn: epoch start and end, and the CPU the main thread spent in it (ms). */
export type LongTurn = [from: number, to: number, cpuMs: number];

/** What a TurnMonitor saw, in a form that crosses processes. */
export interface LoopRecord {
  /** The longest gap between two ticks of the 5 ms timer, wall clock (ms). */
  maxGapMs: number;
  maxGcMs: number;
  /** Every turn whose CPU exceeded the monitor's keep bound. */
  long: LongTurn[];
  /** Garbage-collection pauses: epoch start and duration. */
  gcs: Array<[number, number]>;
}

/**
 * Watches the event loop of the process it runs in with a 5 ms timer. A turn counts as blocked for the part of its
 * length the main thread spent on the CPU: a machine that merely did not schedule the process (CI neighbours, the
 * load generator on the same cores) does not count, a long synchronous task does. Garbage-collection pauses are
 * recorded apart and deducted by `worstTurn`.
 */
export class TurnMonitor {
  /** Turns whose CPU exceeded this are kept. */
  keepOverMs = 20;
  private maxGapMs = 0;
  private maxGcMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private gc: PerformanceObserver | undefined;
  private last = 0;
  private lastCpu = 0;
  private readonly long: LongTurn[] = [];
  private readonly gcs: Array<[number, number]> = [];

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
      const cpu = mainThreadCpuMs();
      const gap = now - this.last - 5;
      if (gap > this.maxGapMs) this.maxGapMs = gap;
      const busy = Math.min(gap, cpu - this.lastCpu);
      if (busy > this.keepOverMs) this.long.push([this.last, now, busy]);
      this.last = now;
      this.lastCpu = mainThreadCpuMs();
    }, 5);
  }

  stop(): LoopRecord {
    clearInterval(this.timer);
    this.gc?.disconnect();
    return { maxGapMs: this.maxGapMs, maxGcMs: this.maxGcMs, long: [...this.long], gcs: [...this.gcs] };
  }
}

/**
 * What the load generator had just started, with the time, for naming what was around a long turn of the server.
 * All are kept (one per input: a few thousand), since the server's turns are only known at the end.
 */
export class Notes {
  private readonly recent: Array<[number, string]> = [];

  note(label: string): void {
    this.recent.push([epochNow(), label]);
  }

  /** The distinct labels noted from 200 ms before `from` until `to`. */
  around(from: number, to: number): string {
    const labels = this.recent.filter(([t]) => t >= from - 200 && t <= to).map(([, l]) => l);
    return [...new Set(labels)].join(', ');
  }
}

/** The longest turn of a record, GC pauses inside it deducted, named by the notes around it. */
export function worstTurn(record: LoopRecord, notes: Notes): { ms: number; around: string; at: number } {
  let ms = 0;
  let around = '';
  let at = 0;
  for (const [from, to, busy] of record.long) {
    let gc = 0;
    for (const [t, d] of record.gcs) if (t + d > from && t < to) gc += Math.min(d, to - t, t + d - from);
    const blocked = busy - gc;
    if (blocked > ms) {
      ms = blocked;
      around = notes.around(from, to);
      at = from;
    }
  }
  return { ms, around, at };
}
