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
      // Skip the string: its closing quote is the next one not escaped (preceded by an even run of backslashes).
      // Short strings (most keys) are looked through here; past 32 characters indexOf finds quotes far faster.
      let end = -1;
      const near = Math.min(text.length, i + 33);
      for (let j = i + 1; j < near; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) j++;
        else if (d === 0x22) {
          end = j;
          break;
        }
      }
      if (end !== -1) {
        i = end;
        continue;
      }
      // Not closed within those: the next quote not escaped, found with indexOf.
      end = text.indexOf('"', i + 1);
      for (;;) {
        if (end === -1) return false;
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
        if ((slashes & 1) === 0) break;
        end = text.indexOf('"', end + 1);
      }
      i = end;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

export const TOO_DEEP_MESSAGE = `bad request: JSON nested deeper than ${MAX_JSON_DEPTH} levels`;
