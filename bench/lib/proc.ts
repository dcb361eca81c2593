/**
 * Process measurements from /proc, which hold even when the load generator saturates: CPU time (user and
 * system) and resident memory of a server process, sampled by PID.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface CpuSample {
  userMs: number;
  systemMs: number;
}

export function cpu(pid: number): CpuSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { userMs: (utime * 1000) / TICKS_PER_SECOND, systemMs: (stime * 1000) / TICKS_PER_SECOND };
}

export function cpuDelta(a: CpuSample, b: CpuSample): CpuSample & { totalMs: number } {
  const userMs = b.userMs - a.userMs;
  const systemMs = b.systemMs - a.systemMs;
  return { userMs, systemMs, totalMs: userMs + systemMs };
}

/** Resident set size and its peak (VmHWM), in bytes. */
export function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Resets the peak RSS counter (VmHWM) so a phase's own peak can be read. Needs Linux ≥ 4.0. */
export function resetPeak(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not permitted: the peak then covers the whole process lifetime, which the report says.
  }
}

/** CPU time spent by the whole machine (all cores, everything but idle and iowait) since boot, in ms. */
export function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return (busy * 1000) / TICKS_PER_SECOND;
}
