/**
 * V8's JSON.parse slows down faster than linearly with nesting depth (a million nested arrays, 2 MB, takes about
 * 1.5 s, all of it holding the event loop). Server API bodies are checked with this linear scan before they are
 * parsed (the limit is Go's encoding/json's, so Centrifugo refuses the same bodies), and so is a binary payload
 * before it is tried as JSON for a JSON client.
 */

export const MAX_JSON_DEPTH = 10_000;

/** Whether `text` nests arrays and objects deeper than `max` (brackets inside strings do not count). */
export function nestedDeeperThan(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string, escapes included.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

export const TOO_DEEP_MESSAGE = `bad request: JSON nested deeper than ${MAX_JSON_DEPTH} levels`;
