/** Structured logs with pino: human-readable in a terminal, JSON lines otherwise (for log collectors). */
import { pino } from 'pino';
import pretty from 'pino-pretty';
import type { Log } from './core/node.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'none';

export function createLogger(
  level: LogLevel,
  opts: { pretty?: boolean; node?: () => string | undefined } = {},
): Log & { level: string } {
  const usePretty = opts.pretty ?? process.stdout.isTTY === true;
  const nodeName = opts.node;
  const options = {
    level: level === 'none' ? 'silent' : level,
    base: undefined,
    // Every line names the node (read per line: the name may only be known once the server listens).
    mixin: nodeName === undefined ? undefined : () => ({ node: nodeName() }),
  };
  if (usePretty)
    return pino(options, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,node' }));
  return pino(options);
}
