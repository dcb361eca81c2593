/**
 * Durations in Go's notation, as Centrifugo writes them: "25s", "1m30s", "720h", "500ms", "1.5h". A bare "0" is
 * zero. Parsed to milliseconds.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') throw new Error('empty duration');
  let i = 0;
  let total = 0;
  let negative = false;
  if (s[0] === '-' || s[0] === '+') {
    negative = s[0] === '-';
    i = 1;
  }
  if (i === s.length) throw new Error(`invalid duration "${text}"`);
  while (i < s.length) {
    PART.lastIndex = i;
    const m = PART.exec(s);
    if (m === null) throw new Error(`invalid duration "${text}": use a number with a unit, e.g. "25s", "1m", "720h"`);
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    i = PART.lastIndex;
  }
  return negative ? -total : total;
}

export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
