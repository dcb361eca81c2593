/**
 * Glob patterns for channel names (the `channels` API): `*` any run, `?` one character, `[abc]`, `[a-z]`,
 * `[!a-z]` a class; everything else literal. Matched in O(pattern × name) time with no regular expression built
 * from the pattern, so a hostile pattern cannot make a match backtrack.
 */
import { Errors, ReplyError } from '../protocol/codes.js';

type Token =
  | { kind: 'star' }
  | { kind: 'any' }
  | { kind: 'char'; c: string }
  | { kind: 'class'; ranges: Array<[string, string]>; negated: boolean };

function parse(pattern: string): Token[] {
  const chars = [...pattern];
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '*') {
      if (tokens[tokens.length - 1]?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') tokens.push({ kind: 'any' });
    else if (c === '[') {
      const end = chars.indexOf(']', i + 2);
      if (end === -1) {
        tokens.push({ kind: 'char', c });
        continue;
      }
      let body = chars.slice(i + 1, end);
      const negated = body[0] === '!' || body[0] === '^';
      if (negated) body = body.slice(1);
      const ranges: Array<[string, string]> = [];
      for (let j = 0; j < body.length; j++) {
        const from = body[j] as string;
        if (body[j + 1] === '-' && j + 2 < body.length) {
          const to = body[j + 2] as string;
          if ((to.codePointAt(0) ?? 0) < (from.codePointAt(0) ?? 0)) {
            throw new ReplyError(Errors.badRequest, `invalid pattern: range "${from}-${to}" is reversed`);
          }
          ranges.push([from, to]);
          j += 2;
        } else ranges.push([from, from]);
      }
      tokens.push({ kind: 'class', ranges, negated });
      i = end;
    } else tokens.push({ kind: 'char', c });
  }
  return tokens;
}

function matchesOne(t: Token, c: string): boolean {
  switch (t.kind) {
    case 'any':
      return true;
    case 'char':
      return t.c === c;
    case 'class': {
      const inside = t.ranges.some(([from, to]) => c >= from && c <= to);
      return inside !== t.negated;
    }
    default:
      return false;
  }
}

/** A matcher for `pattern` (throws 107 for a pattern that cannot be matched, such as a reversed range). */
export function compileGlob(pattern: string): (name: string) => boolean {
  const tokens = parse(pattern);
  return (name) => matchTokens(tokens, name);
}

function matchTokens(tokens: Token[], name: string): boolean {
  const chars = [...name];
  // The classic linear wildcard matcher: on a mismatch, retry from the last star with one more character.
  let t = 0;
  let n = 0;
  let starT = -1;
  let starN = 0;
  while (n < chars.length) {
    const token = tokens[t];
    if (token !== undefined && token.kind !== 'star' && matchesOne(token, chars[n] as string)) {
      t++;
      n++;
    } else if (token !== undefined && token.kind === 'star') {
      starT = t++;
      starN = n;
    } else if (starT !== -1) {
      t = starT + 1;
      n = ++starN;
    } else return false;
  }
  while (tokens[t]?.kind === 'star') t++;
  return t === tokens.length;
}
