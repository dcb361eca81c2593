/**
 * Finds the raw text of a value inside a JSON document that JSON.parse has already accepted, so payloads
 * (`data`) pass through byte for byte as in Centrifugo: no re-serialisation, no loss of big integers or number
 * formatting. Iterative (no recursion), linear in the input.
 */

function skipWhitespace(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** Index just past the string starting at `i` (which is a quote). */
function skipString(s: string, i: number): number {
  i++;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) i += 2;
    else if (c === 0x22) return i + 1;
    else i++;
  }
  return i;
}

/** Index just past the value starting at `i`. */
function skipValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x22) return skipString(s, i);
  if (c !== 0x7b && c !== 0x5b) {
    while (i < s.length) {
      const d = s.charCodeAt(i);
      if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
      i++;
    }
    return i;
  }
  let depth = 0;
  while (i < s.length) {
    const d = s.charCodeAt(i);
    if (d === 0x22) {
      i = skipString(s, i);
      continue;
    }
    if (d === 0x7b || d === 0x5b) depth++;
    else if (d === 0x7d || d === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return i;
}

/**
 * The [start, end) span of the value of `key` in the object starting at `start`, or undefined. The last
 * occurrence wins, as with JSON.parse.
 */
function findKey(s: string, start: number, key: string): [number, number] | undefined {
  let i = skipWhitespace(s, start);
  if (s.charCodeAt(i) !== 0x7b) return undefined;
  i++;
  let found: [number, number] | undefined;
  for (;;) {
    i = skipWhitespace(s, i);
    if (s.charCodeAt(i) !== 0x22) return found;
    const keyEnd = skipString(s, i);
    const k = JSON.parse(s.slice(i, keyEnd)) as string;
    i = skipWhitespace(s, keyEnd);
    i = skipWhitespace(s, i + 1); // past ':'
    const valueEnd = skipValue(s, i);
    if (k === key) found = [i, valueEnd];
    i = skipWhitespace(s, valueEnd);
    if (s.charCodeAt(i) !== 0x2c) return found;
    i++;
  }
}

/** The [start, end) span of element `index` of the array starting at `start`, or undefined. */
function findIndex(s: string, start: number, index: number): [number, number] | undefined {
  let i = skipWhitespace(s, start);
  if (s.charCodeAt(i) !== 0x5b) return undefined;
  i = skipWhitespace(s, i + 1);
  for (let n = 0; i < s.length && s.charCodeAt(i) !== 0x5d; n++) {
    const end = skipValue(s, i);
    if (n === index) return [i, end];
    i = skipWhitespace(s, end);
    if (s.charCodeAt(i) !== 0x2c) return undefined;
    i = skipWhitespace(s, i + 1);
  }
  return undefined;
}

/** Raw text of `doc[path[0]][path[1]]…` (numbers index arrays), for a document JSON.parse accepted. */
export function rawValueAt(doc: string, path: readonly (string | number)[]): string | undefined {
  let span: [number, number] = [0, doc.length];
  for (const key of path) {
    const next = typeof key === 'number' ? findIndex(doc, span[0], key) : findKey(doc, span[0], key);
    if (next === undefined) return undefined;
    span = next;
  }
  return doc.slice(span[0], span[1]);
}
