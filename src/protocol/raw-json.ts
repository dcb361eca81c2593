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
  // indexOf runs natively: long strings (most of a large body) are crossed in one step, not char by char.
  let q = s.indexOf('"', i + 1);
  while (q !== -1) {
    let backslashes = 0;
    while (s.charCodeAt(q - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    q = s.indexOf('"', q + 1);
  }
  return s.length;
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

function spanAt(doc: string, path: readonly (string | number)[]): [number, number] | undefined {
  let span: [number, number] = [0, doc.length];
  for (const key of path) {
    const next = typeof key === 'number' ? findIndex(doc, span[0], key) : findKey(doc, span[0], key);
    if (next === undefined) return undefined;
    span = next;
  }
  return span;
}

/** Raw text of `doc[path[0]][path[1]]…` (numbers index arrays), for a document JSON.parse accepted. */
export function rawValueAt(doc: string, path: readonly (string | number)[]): string | undefined {
  const span = spanAt(doc, path);
  return span === undefined ? undefined : doc.slice(span[0], span[1]);
}

/**
 * Raw text of every element of the array at `path`, in order, each found where the previous one ended (looking
 * each one up with rawValueAt would rescan the document from its start every time: quadratic for a batch of
 * thousands of commands). Lazy: an element is located when it is asked for, so the work follows its use.
 */
export function rawElementsAt(doc: string, path: readonly (string | number)[]): IterableIterator<string> | undefined {
  const span = spanAt(doc, path);
  if (span === undefined) return undefined;
  const start = skipWhitespace(doc, span[0]);
  if (doc.charCodeAt(start) !== 0x5b) return undefined;
  return elements(doc, start, span[1]);
}

function* elements(doc: string, start: number, end: number): Generator<string, void, undefined> {
  let i = skipWhitespace(doc, start + 1);
  while (i < end && doc.charCodeAt(i) !== 0x5d) {
    const valueEnd = skipValue(doc, i);
    yield doc.slice(i, valueEnd);
    i = skipWhitespace(doc, valueEnd);
    if (doc.charCodeAt(i) !== 0x2c) return;
    i = skipWhitespace(doc, i + 1);
  }
}
