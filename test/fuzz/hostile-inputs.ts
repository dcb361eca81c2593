/**
 * Seeded generators of hostile protocol input, shared by the property tests (through fast-check, which draws the
 * seed of each case) and the live-server fuzz (which draws thousands of inputs a second from one seeded stream).
 * Everything is derived from `Rng`, so a run's seed replays it exactly.
 */

/** A small, fast, seeded PRNG (mulberry32): the same seed gives the same sequence on every machine. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  /** An integer with a log-uniform size in [0, max]: small values often, large ones sometimes. */
  size(max: number): number {
    return Math.min(max, Math.floor(Math.exp(this.next() * Math.log(max + 1))) - 1 + this.int(2));
  }
}

export const METHODS = [
  'connect',
  'subscribe',
  'unsubscribe',
  'publish',
  'presence',
  'presence_stats',
  'history',
  'ping',
  'send',
  'rpc',
  'refresh',
  'sub_refresh',
] as const;

/** Field names the decoder reads, so mutations hit them (wrong types, duplicates) rather than ignored fields. */
export const FIELDS = [
  'channel',
  'token',
  'data',
  'offset',
  'epoch',
  'recover',
  'positioned',
  'recoverable',
  'join_leave',
  'flag',
  'limit',
  'since',
  'reverse',
  'subs',
  'name',
  'version',
  'method',
];

/** Values of every JSON type and the edges of every range the protocol has. */
export const ODD_VALUES = [
  'null',
  'true',
  'false',
  '0',
  '-0',
  '-1',
  '1.5',
  '1e309',
  '-1e309',
  '1e-400',
  '4294967295',
  '4294967296',
  '9007199254740991',
  '9007199254740993',
  '18446744073709551615',
  '18446744073709551616',
  '"18446744073709551615"',
  '"99999999999999999999999"',
  '"-1"',
  '""',
  '"\\u0000"',
  '"\\ud800"',
  '"\\udfff\\ud800"',
  '"\u2028\u2029"',
  '"__proto__"',
  '[]',
  '{}',
  '[null]',
  '{"__proto__":{"x":1}}',
  '{"constructor":{"prototype":1}}',
];

/** Channel names: ordinary, namespaced, private, user-limited, long, odd characters. */
export function channelName(rng: Rng): string {
  switch (rng.int(10)) {
    case 0:
      return `open${rng.int(50)}`;
    case 1:
      return `hist:c${rng.int(200)}`;
    case 2:
      return `pres:c${rng.int(50)}`;
    case 3:
      return `$private${rng.int(5)}`;
    case 4:
      return `hist:u#${rng.int(5)},${rng.int(5)}`;
    case 5:
      // Long names: over channel.max_length sometimes, and runs of one letter that glob patterns backtrack on.
      return rng.pick(['a', 'x', 'ab']).repeat(rng.size(400));
    case 6:
      return `nons${rng.int(5)}:c`;
    case 7:
      return String.fromCharCode(...Array.from({ length: rng.size(20) }, () => rng.int(0x3000)));
    case 8:
      return `watch:feed`;
    default:
      return `c${rng.int(100000)}`;
  }
}

/** A JSON value nested `depth` deep, as text. */
export function deepJSON(depth: number, rng: Rng): string {
  const open = rng.chance(0.5) ? '[' : '{"a":';
  const close = open === '[' ? ']' : '}';
  return open.repeat(depth) + '1' + close.repeat(depth);
}

/** A random JSON payload as text: small objects mostly, sometimes big, deep or odd. */
export function payload(rng: Rng, maxBytes = 2048): string {
  switch (rng.int(8)) {
    case 0:
      return rng.pick(ODD_VALUES);
    case 1:
      return deepJSON(rng.size(Math.max(1, Math.floor(maxBytes / 6))), rng);
    case 2:
      return JSON.stringify('y'.repeat(rng.size(maxBytes)));
    case 3:
      return `[${Array.from({ length: rng.size(Math.floor(maxBytes / 4)) }, () => rng.int(10)).join(',')}]`;
    case 4:
      return ` { "k" : [ 1 , 2.50 , 12345678901234567890 ] , "s":"\\u00e9" } `;
    default:
      return JSON.stringify({ n: rng.int(1000), t: 'x'.repeat(rng.size(64)) });
  }
}

/** A valid command of a random method (what a correct client might send), as an object. */
export function validCommand(rng: Rng, id: number): Record<string, unknown> {
  const channel = channelName(rng);
  const method = rng.pick(METHODS);
  switch (method) {
    case 'connect':
      return { id, connect: rng.chance(0.3) ? { token: 'not.a.token' } : {} };
    case 'subscribe':
      return {
        id,
        subscribe: {
          channel,
          recover: rng.chance(0.3),
          offset: rng.int(100),
          epoch: rng.chance(0.5) ? '' : 'xyz',
          recoverable: rng.chance(0.3),
          positioned: rng.chance(0.2),
          join_leave: rng.chance(0.2),
          flag: rng.int(4),
        },
      };
    case 'publish':
      return { id, publish: { channel, data: { n: rng.int(1000) } } };
    case 'history':
      return {
        id,
        history: {
          channel,
          limit: rng.int(400) - 10,
          reverse: rng.chance(0.5),
          ...(rng.chance(0.4) ? { since: { offset: rng.int(100), epoch: 'e' } } : {}),
        },
      };
    case 'rpc':
      return { id, rpc: { method: rng.chance(0.5) ? 'chorus.send' : 'm', data: { user: 'u' } } };
    case 'send':
      return { send: { data: { x: 1 } } };
    case 'refresh':
      return { id, refresh: { token: 'bad' } };
    case 'sub_refresh':
      return { id, sub_refresh: { channel, token: 'bad' } };
    case 'ping':
      return { id, ping: {} };
    default:
      return { id, [method]: { channel } };
  }
}

/** An id: mostly fine, sometimes huge, negative, fractional, of the wrong type, or repeated. */
export function hostileId(rng: Rng, next: number): string {
  if (rng.chance(0.7)) return String(next);
  return rng.pick(['0', '-1', '4294967295', '4294967296', '1e300', '1.5', '"1"', 'null', '[]', '{}', '1']);
}

/** One mutation of a text: insert, delete, duplicate, replace with structure characters, or splice odd values. */
export function mutate(text: string, rng: Rng): string {
  const at = rng.int(text.length + 1);
  switch (rng.int(8)) {
    case 0:
      return (
        text.slice(0, at) + rng.pick(['{', '}', '[', ']', '"', ',', ':', '\\', '\n', '\u0000', 'é']) + text.slice(at)
      );
    case 1:
      return text.slice(0, at) + text.slice(at + 1 + rng.int(8));
    case 2: {
      const len = 1 + rng.int(16);
      return text.slice(0, at + len) + text.slice(at, at + len) + text.slice(at);
    }
    case 3: {
      // Replace a value after some ':' with an odd one.
      const colon = text.indexOf(':', at);
      if (colon < 0) return text + rng.pick(ODD_VALUES);
      let end = colon + 1;
      while (end < text.length && !',}]'.includes(text[end] as string)) end++;
      return text.slice(0, colon + 1) + rng.pick(ODD_VALUES) + text.slice(end);
    }
    case 4: {
      // A known field added to one of the objects, with an odd value: wrong types, or a key given twice.
      const braces = [...text.matchAll(/\{(?=")/g)].map((m) => m.index);
      if (braces.length === 0) return text;
      const b = rng.pick(braces) + 1;
      return `${text.slice(0, b)}"${rng.pick(FIELDS)}":${rng.pick(ODD_VALUES)},${text.slice(b)}`;
    }
    case 5:
      return text.slice(0, at) + String.fromCharCode(rng.int(0x10000)) + text.slice(at);
    case 6:
      return text.slice(0, at);
    default:
      // A second method in the same command.
      return text.replace(/\}$/, `,"${rng.pick(METHODS)}":{}}`);
  }
}

/** A hostile command line: a valid command, then 0–4 mutations. */
export function hostileLine(rng: Rng, id: number): string {
  const cmd = validCommand(rng, id);
  let text = JSON.stringify(cmd);
  if (rng.chance(0.2)) text = text.replace(/^\{"id":\d+/, `{"id":${hostileId(rng, id)}`);
  if (rng.chance(0.15)) text = text.replace(/"data":\{[^}]*\}/, () => `"data":${payload(rng)}`);
  const n = rng.int(5);
  for (let i = 0; i < n; i++) text = mutate(text, rng);
  return text;
}
