/**
 * Every connection holds a file descriptor, and at the process's open-file limit the kernel refuses new ones
 * without the server hearing of it (libuv accepts and drops them). Reading the limit lets the server say so at
 * start and warn as connections approach it, instead of clients failing silently.
 */
import { readFileSync } from 'node:fs';

/** The soft open-file limit of this process (Linux), or undefined when it cannot be read or is unlimited. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors a node needs besides its connections (listening socket, engine, logs, files). */
export const RESERVED_DESCRIPTORS = 64;
