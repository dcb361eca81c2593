/**
 * Structured logs with pino: human-readable in a terminal, JSON lines otherwise (for log collectors).
 *
 * The destination (standard output) is built here, not left to pino's default, because of what can happen to a
 * log pipe: pino's default flushes synchronously when the process exits and retries a failed write for ever, so
 * a SIGTERM with the pipe gone (EPIPE) or stalled never finished, and no forced exit could fire. Here:
 * - writes are asynchronous (sonic-boom, what pino uses) and never block the event loop;
 * - a failed write (EPIPE, EBADF, EIO …) turns logging off for good: later lines are dropped;
 * - a reader that stops reading holds at most MAX_PENDING_BYTES; lines past that are dropped;
 * - nothing runs at exit: `close()` waits a bounded time for pending lines, then gives up.
 */
import { pino } from 'pino';
import { prettyFactory } from 'pino-pretty';
import sonicBoom from 'sonic-boom';
import type { Log } from './core/node.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'none';

export interface Logger extends Log {
  level: string;
  /** Writes what is pending, for at most `timeoutMs`; resolves then whatever became of it. Log nothing after. */
  close(timeoutMs?: number): Promise<void>;
}

// A CommonJS module: its class is a property of the default import (at run time and for TypeScript alike).
const { SonicBoom } = sonicBoom;

/** Log bytes waiting for a slow reader before lines are dropped. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

class LogDestination {
  private readonly out: InstanceType<typeof SonicBoom>;
  private failed = false;
  private closing: Promise<void> | undefined;

  constructor(fd: number) {
    this.out = new SonicBoom({ fd, sync: false, maxLength: MAX_PENDING_BYTES });
    // Without a listener a failed write would be an unhandled 'error': the process would die of its log pipe.
    this.out.on('error', () => {
      this.failed = true;
    });
  }

  write(line: string): boolean {
    if (this.failed || this.closing !== undefined) return true;
    try {
      return this.out.write(line);
    } catch {
      this.failed = true;
      return true;
    }
  }

  close(timeoutMs: number): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      // Not unref'd: the caller is about to exit with a code of its choosing, which must not be pre-empted.
      const timer = setTimeout(resolve, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      if (this.failed) {
        done();
        return;
      }
      this.out.once('close', done);
      this.out.once('error', done);
      try {
        this.out.end();
      } catch {
        done();
      }
    });
    return this.closing;
  }
}

export function createLogger(level: LogLevel, opts: { pretty?: boolean } = {}): Logger {
  const usePretty = opts.pretty ?? process.stdout.isTTY === true;
  const options = { level: level === 'none' ? 'silent' : level, base: undefined };
  const destination = new LogDestination(1);
  // Pretty lines are formatted in the process and written to the same guarded destination.
  const prettify = usePretty
    ? prettyFactory({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
    : undefined;
  const logger = pino(
    options,
    prettify === undefined ? destination : { write: (line: string) => destination.write(prettify(line)) },
  );
  return Object.assign(logger, { close: (timeoutMs = 1000) => destination.close(timeoutMs) });
}
