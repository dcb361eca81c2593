/**
 * Structured logs with pino: human-readable in a terminal, JSON lines otherwise (for log collectors).
 *
 * Secrets never reach a log line: every string a line carries (message, fields, errors with their stacks and
 * extra properties, such as the arguments of a failed Redis command) is scrubbed of the configured secret values
 * (`secrets`: HMAC keys, API key, admin password, Redis passwords …) and of credentials inside URLs
 * (`redis://:pass@host` → `redis://:***@host`), and fields named like secrets (password, token, authorization …)
 * are replaced whole.
 */
import { type DestinationStream, pino, stdSerializers } from 'pino';
import pretty from 'pino-pretty';
import type { Log } from './core/node.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'none';

export interface LoggerOptions {
  pretty?: boolean;
  /** Values that must never appear in a log line (configSecrets(config) lists a configuration's). */
  secrets?: readonly string[];
  /** Where lines go (default: stdout). */
  destination?: DestinationStream;
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

export function createLogger(level: LogLevel, opts: LoggerOptions = {}): Log & { level: string } {
  const usePretty = opts.pretty ?? (opts.destination === undefined && process.stdout.isTTY === true);
  const scrub = redactor(opts.secrets);
  const options = {
    level: level === 'none' ? 'silent' : level,
    base: undefined,
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
  if (usePretty) {
    return pino(options, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return opts.destination === undefined ? pino(options) : pino(options, opts.destination);
}
