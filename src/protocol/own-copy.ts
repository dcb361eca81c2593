/**
 * Strings that hold only their own characters. V8 makes a substring (`slice`, and so every raw JSON value
 * `rawValueAt` cuts out) point into its parent string, so a 30-byte payload cut out of a 60 KB frame or API body
 * keeps the whole frame alive for as long as the payload lives — in history, for history_ttl. A value that
 * outlives the command that brought it is copied once, where it is decoded (never per subscriber or channel).
 */

/** V8 copies substrings shorter than this instead of slicing them. */
const MIN_SLICE = 13;

/**
 * `s` as a string of its own when it was cut out of a source at least twice its size (`sourceLength`); a value
 * that is most of its source keeps it (at most twice its own size) and is not copied.
 */
export function ownCopy(s: string, sourceLength: number): string {
  if (s.length < MIN_SLICE || s.length * 2 > sourceLength) return s;
  // Decoding bytes always builds a new flat string; the text came from UTF-8, so the round trip is exact.
  return Buffer.from(s, 'utf8').toString('utf8');
}
