/**
 * Claims no token may carry, whatever its signature: numeric dates that are not finite or out of any sane range
 * (`"exp": 1e309` is Infinity after JSON.parse, and became `"ttl": Infinity` in replies — not JSON), and values
 * nested so deep that serialising them overflows the stack (an `info` claim 6,000 levels deep became error 100,
 * which the SDKs retry forever). Such a token is invalid: 3500 for a connection token, 103 for a subscription
 * token, logged without a stack.
 */

/** 9999-12-31T23:59:59Z: the last second a NumericDate can name here. */
export const MAX_NUMERIC_DATE = 253_402_300_799;

/** Nesting of the claims object (its own level counts as 1); real `info`/`data` claims use a handful. */
export const MAX_CLAIM_DEPTH = 64;

const NUMERIC_DATES = ['exp', 'nbf', 'iat', 'expire_at'] as const;

/** Why the claims make the token unusable, or undefined when they are fine. */
export function claimsProblem(payload: Record<string, unknown>): string | undefined {
  for (const claim of NUMERIC_DATES) {
    const v = payload[claim];
    // expire_at: null is "not set", as Centrifugo reads it.
    if (v === undefined || (v === null && claim === 'expire_at')) continue;
    if (typeof v !== 'number') return `"${claim}" claim must be a number`;
    if (!Number.isFinite(v) || v < 0 || v > MAX_NUMERIC_DATE) {
      return `"${claim}" claim out of range (0 to ${MAX_NUMERIC_DATE})`;
    }
  }
  if (deeperThan(payload, MAX_CLAIM_DEPTH)) return `claims nested deeper than ${MAX_CLAIM_DEPTH} levels`;
  return undefined;
}

/** Whether `root` nests objects or arrays more than `max` levels deep. Iterative: no stack to overflow here. */
function deeperThan(root: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (typeof value !== 'object' || value === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
