/** A stream's epoch: random, short, URL-safe. It changes whenever a stream's continuity is lost. */
import { randomBytes } from 'node:crypto';

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}
