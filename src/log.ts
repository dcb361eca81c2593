/**
 * Structured logs with pino: human-readable in a terminal, JSON lines otherwise (for log collectors).
 *
 * Secrets never reach a log line: every string a line carries (message, fields, errors with their stacks and
 * extra properties, such as the arguments of a failed Redis command) is scrubbed of the configured secret values
 * (`secrets`: HMAC keys, API key, admin password, Redis passwords …) and of credentials inside URLs
 * (`redis://:pass@host` → `redis://:***@host`), and fields named like secrets (password, token, authorization …)
 * are replaced whole.
 *
 * The default destination (standard output) is built here, not left to pino's, because of what can happen to a
 * log pipe: pino's default flushes synchronously when the process exits and retries a failed write for ever, so
 * a SIGTERM with the pipe gone (EPIPE) or stalled never finished, and no forced exit could fire. Here:
 * - writes are asynchronous (sonic-boom, what pino uses) and never block the event loop;
 * - a failed write (EPIPE, EBADF, EIO …) turns logging off for good: later lines are dropped;
 * - a reader that stops reading holds at most MAX_PENDING_BYTES; lines past that are dropped;
 * - nothing runs at exit: `close()` waits a bounded time for pending lines, then gives up.
 */
import { type DestinationStream, pino, stdSerializers } from 'pino';
import { prettyFactory } from 'pino-pretty';
import sonicBoom from 'sonic-boom';
import type { Log } from './core/ports/log.js';

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

export interface LoggerOptions {
  pretty?: boolean;
  /** Values that must never appear in a log line (configSecrets(config) lists a configuration's). */
  secrets?: readonly string[];
  /** Where lines go (default: stdout). */
  destination?: DestinationStream;
  /** The node's name, added to every line as `node` (read per line: it may only be known once the server listens). */
  node?: () => string | undefined;
}

const REDACTED = '[redacted]';

/** Field names whose values are secrets whatever they hold. */
const SECRET_FIELDS = new Set([
  'password',
  'passwd',
  'sentinel_password',
  'secret',
  'hmac_secret_key',
  'hmac_previous_secret_key',
  'api_key',
  'apikey',
  'x-api-key',
  'authorization',
  'cookie',
  'set-cookie',
  'token',
]);

/** "scheme://user:password@" and "scheme://token@": the part before the last @ of the authority. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi;

/** `redis://:pass@host` → `redis://:***@host`; `https://token@host` → `https://***@host`. */
export function redactUrlCredentials(text: string): string {
  if (!text.includes('@')) return text;
  return text.replace(URL_CREDENTIALS, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon === -1 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
}

/** Secrets shorter than this are not searched for in text: they would blank out ordinary words. */
const MIN_SECRET_LENGTH = 4;

/** A function that scrubs one string of the given secrets and of URL credentials. */
export function redactor(secrets: readonly string[] = []): (text: string) => string {
  const list = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET_LENGTH))];
  // Also as they appear inside URLs and JSON strings.
  for (const s of [...list]) {
    for (const variant of [encodeURIComponent(s), JSON.stringify(s).slice(1, -1)]) {
      if (!list.includes(variant)) list.push(variant);
    }
  }
  list.sort((a, b) => b.length - a.length);
  return (text) => {
    let out = redactUrlCredentials(text);
    for (const s of list) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  };
}

const MAX_DEPTH = 8;

function scrubValue(v: unknown, scrub: (s: string) => string, depth: number): unknown {
  if (typeof v === 'string') return scrub(v);
  if (typeof v !== 'object' || v === null) return v;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (v instanceof Error) return scrubValue(stdSerializers.err(v), scrub, depth + 1);
  if (Buffer.isBuffer(v)) return scrub(v.toString('utf8'));
  if (Array.isArray(v)) return v.map((x) => scrubValue(x, scrub, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    out[k] =
      SECRET_FIELDS.has(k.toLowerCase()) && x !== undefined && x !== '' ? REDACTED : scrubValue(x, scrub, depth + 1);
  }
  return out;
}

export function createLogger(level: LogLevel, opts: LoggerOptions = {}): Logger {
  const usePretty = opts.pretty ?? (opts.destination === undefined && process.stdout.isTTY === true);
  const scrub = redactor(opts.secrets);
  const nodeName = opts.node;
  const options = {
    level: level === 'none' ? 'silent' : level,
    base: undefined,
    mixin: nodeName === undefined ? undefined : () => ({ node: nodeName() }),
    // formatters.log runs before the serializers: `err` is left to its serializer, which scrubs after pino's.
    formatters: {
      log(obj: Record<string, unknown>) {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(obj)) {
          if (k === 'err' && v instanceof Error) out[k] = v;
          else
            out[k] =
              SECRET_FIELDS.has(k.toLowerCase()) && v !== undefined && v !== '' ? REDACTED : scrubValue(v, scrub, 0);
        }
        return out;
      },
    },
    serializers: {
      err: (e: unknown) => scrubValue(e instanceof Error ? stdSerializers.err(e) : e, scrub, 0),
      msg: (m: unknown) => (typeof m === 'string' ? scrub(m) : m),
    },
  };
  if (opts.destination !== undefined) {
    return Object.assign(pino(options, opts.destination), { close: async () => {} });
  }
  const destination = new LogDestination(1);
  // Pretty lines are formatted in the process and written to the same guarded destination.
  const prettify = usePretty
    ? // A terminal shows one node: its name on every line would only be noise.
      prettyFactory({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,node' })
    : undefined;
  const logger = pino(
    options,
    prettify === undefined ? destination : { write: (line: string) => destination.write(prettify(line)) },
  );
  return Object.assign(logger, { close: (timeoutMs = 1000) => destination.close(timeoutMs) });
}
