/**
 * Glob patterns of the `channels` API (`chat:*`), matched without building a regular expression from user input:
 * a RegExp made of `.*` runs backtracks exponentially (`*a*a*a*a*a*a*a*b` froze the process for 25 s on one
 * 60-character name).
 *
 * Syntax (gobwas/glob's, which Centrifugo uses, without `{a,b}` alternatives): `*` any run of characters, empty
 * included; `?` one character; `[abc]`, `[a-z]` one character of a class, `[!…]` one character outside it; `\x` the
 * character x itself. Everything else is literal. Characters are Unicode code points, as in Go.
 *
 * Matching keeps only the last `*` it passed and retries from there on a mismatch: earlier stars never need to
 * be revisited, because the atoms between two stars have a fixed length. The cost is at most
 * (name length × pattern length) steps and usually linear; a pattern needing more characters than the name has
 * is refused at once.
 */

type Atom =
  | { kind: 'star' }
  | { kind: 'any' }
  | { kind: 'char'; cp: number }
  /** `ranges` holds [from, to] pairs of code points, inclusive. */
  | { kind: 'class'; negated: boolean; ranges: number[] };

export class GlobError extends Error {}

export interface Glob {
  readonly pattern: string;
  matches(name: string): boolean;
}

/** Compiles a pattern; throws GlobError saying what is wrong with an invalid one. */
export function compileGlob(pattern: string): Glob {
  const atoms = parse(pattern);
  let fixed = 0;
  for (const a of atoms) if (a.kind !== 'star') fixed++;
  return {
    pattern,
    matches(name: string): boolean {
      // Every non-star atom takes one character, a code point at most two UTF-16 units.
      if (fixed > name.length) return false;
      const cps = codePoints(name);
      if (cps !== undefined && fixed > cps.length) return false;
      return matchAtoms(atoms, name, cps);
    },
  };
}

function parse(pattern: string): Atom[] {
  const cps = Array.from(pattern, (c) => c.codePointAt(0) as number);
  const atoms: Atom[] = [];
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i] as number;
    if (c === STAR) {
      // Consecutive stars are one star.
      if (atoms[atoms.length - 1]?.kind !== 'star') atoms.push({ kind: 'star' });
    } else if (c === QUESTION) atoms.push({ kind: 'any' });
    else if (c === BACKSLASH) {
      if (i + 1 >= cps.length) throw new GlobError(`"\\" at the end of the pattern escapes nothing (write "\\\\")`);
      atoms.push({ kind: 'char', cp: cps[++i] as number });
    } else if (c === OPEN) {
      const [atom, end] = parseClass(cps, i);
      atoms.push(atom);
      i = end;
    } else atoms.push({ kind: 'char', cp: c });
  }
  return atoms;
}

/** The class opening at `start` and the index of its closing `]`. */
function parseClass(cps: number[], start: number): [Atom, number] {
  let i = start + 1;
  const negated = cps[i] === BANG;
  if (negated) i++;
  const ranges: number[] = [];
  const item = (): number => {
    let c = cps[i] as number;
    if (c === BACKSLASH) {
      i++;
      if (i >= cps.length) throw unclosed(start);
      c = cps[i] as number;
    }
    i++;
    return c;
  };
  while (i < cps.length && cps[i] !== CLOSE) {
    const from = item();
    let to = from;
    if (cps[i] === DASH && i + 1 < cps.length && cps[i + 1] !== CLOSE) {
      i++;
      to = item();
      if (to < from) {
        const f = String.fromCodePoint(from);
        const t = String.fromCodePoint(to);
        throw new GlobError(`range "${f}-${t}" is reversed (write "${t}-${f}")`);
      }
    }
    ranges.push(from, to);
  }
  if (i >= cps.length) throw unclosed(start);
  if (ranges.length === 0) throw new GlobError(`empty character class at position ${start + 1}`);
  return [{ kind: 'class', negated, ranges }, i];
}

function unclosed(at: number): GlobError {
  return new GlobError(`"[" at position ${at + 1} is never closed by "]" (write "\\[" for a literal "[")`);
}

function matchAtom(a: Atom, c: number): boolean {
  switch (a.kind) {
    case 'any':
      return true;
    case 'char':
      return a.cp === c;
    case 'class': {
      let inside = false;
      for (let k = 0; k < a.ranges.length; k += 2) {
        if (c >= (a.ranges[k] as number) && c <= (a.ranges[k + 1] as number)) {
          inside = true;
          break;
        }
      }
      return inside !== a.negated;
    }
    case 'star':
      return false;
  }
}

/** Whether `atoms` match the whole name, read as code points: `cps` when it has surrogate pairs, else its units. */
function matchAtoms(atoms: Atom[], name: string, cps: number[] | undefined): boolean {
  const length = cps === undefined ? name.length : cps.length;
  let p = 0;
  let t = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (t < length) {
    const a = atoms[p];
    if (a?.kind === 'star') {
      starAt = p++;
      resumeAt = t;
    } else if (a !== undefined && matchAtom(a, cps === undefined ? name.charCodeAt(t) : (cps[t] as number))) {
      p++;
      t++;
    } else if (starAt >= 0) {
      // Let the last star swallow one more character and try the rest again from there.
      p = starAt + 1;
      t = ++resumeAt;
    } else return false;
  }
  while (atoms[p]?.kind === 'star') p++;
  return p === atoms.length;
}

/** The name's code points when it has surrogate pairs; undefined when its UTF-16 units are its code points. */
function codePoints(s: string): number[] | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return Array.from(s, (ch) => ch.codePointAt(0) as number);
  }
  return undefined;
}

const STAR = 0x2a;
const QUESTION = 0x3f;
const BACKSLASH = 0x5c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const BANG = 0x21;
const DASH = 0x2d;
