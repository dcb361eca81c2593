/**
 * How much a reply the server builds may carry (recovered publications, a history page): a requester must never
 * be closed as slow (3008) by a reply it asked for. A session allows half of what its outbound queue has left;
 * publications beyond that are not sent (recovery answers `recovered: false`, a history page is cut short).
 */
import type { Publication } from '../../protocol/messages.js';

/** Bytes a reply may still take; shared by the server-side subscriptions of one connect reply. */
export interface ReplyBudget {
  bytes: number;
}

/** Field names, offsets, time and framing around a publication's payloads, whatever the encoding. */
const PUBLICATION_OVERHEAD = 64;

/** A publication's size on the wire, near enough for a budget (payload bytes plus a fixed overhead). */
export function publicationSize(pub: Publication): number {
  let n = pub.data.length + PUBLICATION_OVERHEAD;
  const info = pub.info;
  if (info !== undefined) {
    n += info.user.length + info.client.length + (info.connInfo?.length ?? 0) + (info.chanInfo?.length ?? 0);
  }
  if (pub.tags !== undefined) for (const [k, v] of Object.entries(pub.tags)) n += k.length + v.length + 6;
  return n;
}

/** How many of `pubs`, from the first, fit in `budget` bytes, and how many bytes they take. */
export function fitting(pubs: readonly Publication[], budget: number): { count: number; bytes: number } {
  let bytes = 0;
  for (let i = 0; i < pubs.length; i++) {
    const size = publicationSize(pubs[i] as Publication);
    if (bytes + size > budget) return { count: i, bytes };
    bytes += size;
  }
  return { count: pubs.length, bytes };
}
