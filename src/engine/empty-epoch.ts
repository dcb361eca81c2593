/**
 * The epoch of a stream that does not exist. Centrifugo answers a history read of an unknown channel by creating
 * the stream (a random epoch kept for history_meta_ttl), so every read of a fresh name stores something for 30
 * days. Chorus stores nothing: it reports an epoch computed from the channel name and a time bucket, and a stream
 * created later remembers when it was created, so the engine can tell that a reader holding such an epoch saw
 * the channel empty shortly before the stream began — its position is a position in that stream.
 *
 * Why this is safe: buckets are a third of the meta TTL wide, and a stream accepts the empty epochs of its
 * creation bucket and the one before. A reader holding one of them read the channel empty less than two thirds
 * of a meta TTL before the stream was created. Any other stream in between would have had to be created after
 * that read and expire before this one began, which takes at least a whole meta TTL: there was none, so nothing
 * the reader might hold comes from another stream (a store that loses data within that window is the exception,
 * as it is for every epoch scheme). The third left over absorbs clock differences between nodes.
 */
import { createHash } from 'node:crypto';

/** With no meta TTL (positions never expire) there is one bucket. */
function bucketOf(timeMs: number, metaTtlMs: number): number {
  if (metaTtlMs <= 0) return 0;
  return Math.floor(timeMs / Math.max(1, Math.floor(metaTtlMs / 3)));
}

function epochFor(salt: string, channel: string, metaTtlMs: number, bucket: number): string {
  return createHash('sha256')
    .update(`${salt}\u0000${metaTtlMs}\u0000${bucket}\u0000${channel}`)
    .digest('base64url')
    .slice(0, 8);
}

/** The epoch a read reports for a channel that has no stream at `nowMs`. */
export function emptyStreamEpoch(salt: string, channel: string, metaTtlMs: number, nowMs: number): string {
  return epochFor(salt, channel, metaTtlMs, bucketOf(nowMs, metaTtlMs));
}

/**
 * The empty-stream epochs a stream created (or, for a channel still without a stream, read) at `timeMs`
 * continues: readers holding one of them are at a position of that stream.
 */
export function continuedEmptyEpochs(salt: string, channel: string, metaTtlMs: number, timeMs: number): string[] {
  const b = bucketOf(timeMs, metaTtlMs);
  if (metaTtlMs <= 0) return [epochFor(salt, channel, metaTtlMs, b)];
  return [epochFor(salt, channel, metaTtlMs, b), epochFor(salt, channel, metaTtlMs, b - 1)];
}
