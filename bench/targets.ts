/**
 * The performance targets of the project, checked against the figures of the last benchmark runs
 * (bench/results/*.json, written by each benchmark): one generated table in BENCHMARKS.md saying, per target,
 * what was measured, whether it is met, and which section holds the run. Nothing here measures; run the
 * benchmarks first (`npm run bench` ends with this).
 *
 *   node --import tsx bench/targets.ts [--no-write]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median, publish, runMain, table } from './lib/report.js';

const { values } = parseArgs({ options: { 'no-write': { type: 'boolean', default: false } } });
const ROOT = new URL('../', import.meta.url).pathname;

interface Step {
  rate: number;
  delivered: number;
  expected: number;
  msgsPerSec: number;
  p99: number;
  cpuUsPerMsg: number;
  userUsPerMsg: number;
}
interface FanoutResults {
  N: number;
  RATES: string;
  results: Record<string, Array<{ steps: Step[] }>>;
}

function load<T>(name: string): T | undefined {
  const file = join(ROOT, 'bench/results', `${name}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
}

const fmt = (x: number, d = 2) => x.toFixed(d);
const span = (xs: number[], d = 2) =>
  xs.length === 0
    ? '–'
    : fmt(Math.min(...xs), d) === fmt(Math.max(...xs), d)
      ? fmt(xs[0] as number, d)
      : `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}`;

/** Median over rounds of one figure of one target at one rate. */
function stepOf(f: FanoutResults, key: string, rate: number, pick: (s: Step) => number): number {
  return median((f.results[key] ?? []).map((run) => pick(run.steps.find((s) => s.rate === rate) as Step)));
}

function rates(f: FanoutResults): number[] {
  return f.RATES.split(',').map(Number);
}

/** Kept up: (nearly) everything delivered at (nearly) the published pace, as bench/fanout.ts defines it. */
function keptUp(f: FanoutResults, key: string, rate: number): boolean {
  return (
    stepOf(f, key, rate, (s) => s.delivered / s.expected) >= 0.999 &&
    stepOf(f, key, rate, (s) => s.msgsPerSec) >= 0.95 * rate * f.N
  );
}

type Row = [string, string, string, string];

function fanoutRows(f: FanoutResults | undefined, section: string): Row[] {
  if (!f?.results.chorus || !f.results.raw) return [];
  const rs = rates(f);
  const total = rs.map((r) => stepOf(f, 'chorus', r, (s) => s.cpuUsPerMsg) / stepOf(f, 'raw', r, (s) => s.cpuUsPerMsg));
  const rows: Row[] = [
    [
      `fan-out N=${f.N}: total server CPU per message ≤ 1.2 × raw ws`,
      `× ${span(total)} at ${rs.join('/')} msgs/s`,
      verdict(total.map((x) => x <= 1.2)),
      section,
    ],
  ];
  if (f.results.socketio) {
    // Compared where both keep up: a server that falls behind writes several messages per write and its cost
    // per message drops while its latency grows by seconds.
    const ratio = (r: number) =>
      stepOf(f, 'chorus', r, (s) => s.userUsPerMsg) / stepOf(f, 'socketio', r, (s) => s.userUsPerMsg);
    const both = rs.filter((r) => keptUp(f, 'chorus', r) && keptUp(f, 'socketio', r));
    const behind = rs.filter((r) => !both.includes(r));
    const user = both.map(ratio);
    const note = behind.length
      ? `; × ${span(behind.map(ratio))} at ${behind.join('/')} msgs/s, where Socket.IO fell behind`
      : '';
    rows.push([
      `fan-out N=${f.N}: user-space CPU per message ≤ 0.5 × Socket.IO`,
      both.length
        ? `× ${span(user)} at ${both.join('/')} msgs/s, where both kept up${note}`
        : `no rate where both kept up${note}`,
      verdict(user.map((x) => x <= 0.5)),
      section,
    ]);
  }
  const both = rs.filter((r) => keptUp(f, 'chorus', r) && keptUp(f, 'raw', r));
  const p99 = both.map((r) => stepOf(f, 'chorus', r, (s) => s.p99) / stepOf(f, 'raw', r, (s) => s.p99));
  rows.push([
    `fan-out N=${f.N}: p99 latency ≤ raw ws p99 + 20% where both keep up`,
    both.length ? `× ${span(p99)} of raw ws p99 (${both.join('/')} msgs/s)` : 'no rate where both kept up',
    verdict(p99.map((x) => x <= 1.2)),
    section,
  ]);
  return rows;
}

function verdict(oks: boolean[]): string {
  if (oks.length === 0) return 'not measured';
  if (oks.every(Boolean)) return '**met**';
  if (oks.some(Boolean)) return `met at ${oks.filter(Boolean).length} of ${oks.length} steps`;
  return '**not met**';
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  rows.push(...fanoutRows(load<FanoutResults>('fanout'), 'Fan-out'));
  const batching = load<FanoutResults>('fanout-batching');
  if (batching?.results['chorus-delay'] && batching.results.raw) {
    const rs = rates(batching).filter((r) => keptUp(batching, 'raw', r));
    const x = rs.map(
      (r) =>
        stepOf(batching, 'chorus-delay', r, (s) => s.cpuUsPerMsg) / stepOf(batching, 'raw', r, (s) => s.cpuUsPerMsg),
    );
    rows.push([
      'write batching: total CPU per message ≤ 0.6 × raw ws at the same load',
      `× ${span(x)} at ${rs.join('/')} msgs/s (the rates raw ws kept up with)`,
      verdict(x.map((v) => v <= 0.6)),
      'Write batching',
    ]);
    const maxOf = (key: string) => Math.max(0, ...rates(batching).filter((r) => keptUp(batching, key, r)));
    const raw = maxOf('raw');
    const delayed = maxOf('chorus-delay');
    const top = Math.max(...rates(batching));
    rows.push([
      `write batching: highest rate kept up with at N=${batching.N} above raw ws's`,
      `${delayed}${delayed === top ? '+ (the highest step)' : ''} vs ${raw} msgs/s`,
      delayed > raw ? '**met**' : '**not met**',
      'Write batching',
    ]);
  }
  // Issue 14: Protobuf subscribers cost no more than JSON ones; a mixed channel encodes each publication once per
  // encoding, not per subscriber.
  const encodings = load<FanoutResults>('fanout-protobuf');
  for (const [key, limit, what] of [
    ['chorus-protobuf', 1.05, 'Protobuf subscribers'],
    ['chorus-mixed', 1.1, 'half JSON, half Protobuf'],
  ] as const) {
    if (!encodings?.results[key] || !encodings.results.chorus) continue;
    const rs = rates(encodings);
    const x = rs.map(
      (r) => stepOf(encodings, key, r, (s) => s.cpuUsPerMsg) / stepOf(encodings, 'chorus', r, (s) => s.cpuUsPerMsg),
    );
    rows.push([
      `fan-out N=${encodings.N}, ${what}: total server CPU per message ≤ ${limit} × JSON subscribers`,
      `× ${span(x)} at ${rs.join('/')} msgs/s`,
      verdict(x.map((v) => v <= limit)),
      'Fan-out in both encodings',
    ]);
  }
  rows.push(...fanoutRows(load<FanoutResults>('fanout-5000'), 'Fan-out to 5,000'));
  rows.push(...fanoutRows(load<FanoutResults>('fanout-10000'), 'Fan-out to 10,000'));
  const idle = load<{
    COUNTS: string | number[];
    maxConnections: number;
    openFiles: { soft: number; hard: number };
    results: Record<string, Array<Array<{ n: number; rssPerConnKB: number; connectFailed: number; lost: number }>>>;
  }>('idle');
  if (idle?.results.chorus) {
    const byN = new Map<number, Array<{ rss: number; bad: number }>>();
    for (const round of idle.results.chorus) {
      for (const r of round) {
        const list = byN.get(r.n) ?? [];
        list.push({ rss: r.rssPerConnKB, bad: r.connectFailed + r.lost });
        byN.set(r.n, list);
      }
    }
    const ns = [...byN.keys()].sort((a, b) => a - b);
    const rss = ns.map((n) => median((byN.get(n) ?? []).map((x) => x.rss)));
    rows.push([
      'idle memory ≤ 8 KB per connection with 2 subscriptions',
      ns.map((n, i) => `${fmt(rss[i] as number, 1)} KB at ${n.toLocaleString('en')}`).join(', '),
      verdict(rss.map((x) => x <= 8)),
      'Idle connections',
    ]);
    const most = Math.max(...ns);
    const errors = (byN.get(most) ?? []).reduce((a, x) => a + x.bad, 0);
    rows.push([
      '50,000 concurrent connections in one process without errors',
      `${most.toLocaleString('en')} held with ${errors} errors; 50,000 cannot be opened here: open files limited to ${idle.openFiles.hard} (hard limit)`,
      most >= 50_000 && errors === 0 ? '**met**' : 'not measurable on this machine',
      'Idle connections',
    ]);
  }
  const connect = load<{ results: Record<string, Array<{ connectsPerSec: number }>> }>('connect-storm');
  if (connect?.results.chorus) {
    const rate = median(connect.results.chorus.map((r) => r.connectsPerSec));
    const floor = connect.results.raw ? median(connect.results.raw.map((r) => r.connectsPerSec)) : 0;
    rows.push([
      'JWT connect rate ≥ 5,000/s',
      `${fmt(rate, 0)}/s (raw ws + jose floor: ${fmt(floor, 0)}/s)`,
      rate >= 5000 ? '**met**' : '**not met**',
      'Connect storm',
    ]);
  }
  const md = [
    '### Targets and where they stand',
    '',
    'Generated by `node --import tsx bench/targets.ts` from the results of the runs above (bench/results/*.json).',
    '',
    table(['target', 'measured', 'status', 'section'], rows),
  ].join('\n');
  publish('targets', md, { rows }, !values['no-write']);
}

runMain(main);
