/**
 * Loading the configuration: defaults < file (JSON, YAML or TOML) < environment (CHORUS_* or CENTRIFUGO_*) < flags.
 * Validated once, then frozen. An unknown key in the file fails with its name and a suggestion; a Centrifugo key
 * Chorus does not support yet is dropped with a warning naming it, unless ignoring it is unsafe (refused-keys.ts,
 * listener-keys.ts): then it fails, whether it comes from the file or the environment. An environment variable
 * with either prefix that names no key is reported with a warning (and a suggestion) rather than silently ignored.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { configWarnings } from './advice.js';
import { CENTRIFUGO_KEYS } from './centrifugo-keys.js';
import { CONFIG_EXTENSIONS, configFormatOf, parseConfigText } from './file-formats.js';
import { classifyListenerKey } from './listener-keys.js';
import { refusalsIn, refusalsInEnv } from './refused-keys.js';
import { type Config, channelOptionsShape, configSchema, crossFieldProblems } from './schema.js';
import { listenerTlsProblems } from './tls.js';

/**
 * The configuration you write (a config file's keys, or `createChorus({ config })`): Centrifugo v6 key names,
 * every key optional, durations as Go-style strings ("25s"). What a key left out defaults to is in
 * docs/configuration.md, and at run time in `defaultConfig`.
 */
export type ChorusConfig = z.input<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export interface LoadOptions {
  /** Path of a config file: .json, .yaml / .yml or .toml (the extension says which). */
  file?: string | undefined;
  /** Environment to read CHORUS_* / CENTRIFUGO_* variables from (default: none). */
  env?: Record<string, string | undefined>;
  /** Values that take precedence over everything, by dotted key path (command-line flags). */
  overrides?: Record<string, unknown>;
  /** Values below the file (e.g. the development preset of `npm start`). */
  base?: Record<string, unknown>;
}

export interface LoadedConfig {
  config: Readonly<Config>;
  warnings: string[];
  /** Where each non-default value came from, for the start-up log. */
  sources: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const DEFAULTS: Config = configSchema.parse({});
const NAMESPACE_KEYS = new Set(['name', ...Object.keys(channelOptionsShape)]);
const RPC_NAMESPACE_KEYS = ['name', 'proxy_enabled'];
/** Arrays of namespaces whose keys are checked one by one, as "channel.namespaces[].history_size". */
const NAMESPACE_LISTS = ['channel.namespaces', 'rpc.namespaces'];

/** Every supported leaf key path, e.g. "client.token.hmac_secret_key". */
export const SUPPORTED_KEYS: readonly string[] = (() => {
  const out: string[] = [];
  const walk = (o: Obj, prefix: string) => {
    for (const [k, v] of Object.entries(o)) {
      const path = prefix + k;
      if (isObj(v)) walk(v, `${path}.`);
      else out.push(path);
    }
  };
  walk(DEFAULTS as unknown as Obj, '');
  for (const k of NAMESPACE_KEYS) out.push(`channel.namespaces[].${k}`);
  for (const k of RPC_NAMESPACE_KEYS) out.push(`rpc.namespaces[].${k}`);
  return out.sort();
})();

const SUPPORTED_SET = new Set(SUPPORTED_KEYS);

/** Every section path ("client", "client.token", …), so a misspelt section gets a suggestion too. */
const SUPPORTED_SECTIONS: readonly string[] = [
  ...new Set(
    SUPPORTED_KEYS.flatMap((k) => {
      const parts = k.split('.');
      return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('.'));
    }),
  ),
];

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] as number;
      prev[j] = Math.min((prev[j] as number) + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length] as number;
}

/** The supported key the user most likely meant, if any is close. */
export function suggestKey(path: string): string | undefined {
  const flat = path.replace(/\[\]/g, '').replace(/\./g, '_');
  // Centrifugo v5 used flat names ("token_hmac_secret_key"); v6 nests them ("client.token.hmac_secret_key").
  // Prefer plain keys over namespace-array keys ("history_size" means channel.without_namespace.history_size),
  // then the shortest ("token_hmac_secret_key" means client.token…, not client.subscription_token…).
  const candidates = [...SUPPORTED_KEYS].sort(
    (a, b) => Number(a.includes('[]')) - Number(b.includes('[]')) || a.length - b.length,
  );
  const byFlatName = candidates.find((k) => k.replace(/\[\]/g, '').replace(/\./g, '_').endsWith(`_${flat}`));
  if (byFlatName !== undefined) return byFlatName;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of [...SUPPORTED_SECTIONS, ...SUPPORTED_KEYS]) {
    const d = levenshtein(path, k);
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(path.length / 4)) ? best : undefined;
}

function isCentrifugoKey(path: string): boolean {
  if (CENTRIFUGO_KEYS.has(path)) return true;
  // A whole section ("proxies", "redis.tls") or a map with arbitrary keys ("some.map.*").
  for (const k of CENTRIFUGO_KEYS.keys()) {
    if (k.startsWith(`${path}.`) || k.startsWith(`${path}[]`)) return true;
    if (k.endsWith('.*') && path.startsWith(k.slice(0, -1))) return true;
  }
  return false;
}

/**
 * Removes keys Chorus does not know, collecting errors (typos, and Centrifugo keys that are unsafe to ignore:
 * refused-keys.ts) and warnings (other Centrifugo keys not supported yet).
 */
function checkKeys(raw: Obj, errors: string[], warnings: string[]): void {
  const visit = (o: Obj, prefix: string, displayPrefix: string) => {
    for (const key of Object.keys(o)) {
      const path = prefix + key;
      const display = displayPrefix + key;
      const value = o[key];
      const supportedLeaf = SUPPORTED_SET.has(path);
      const supportedSection = SUPPORTED_KEYS.some((k) => k.startsWith(`${path}.`));
      if (NAMESPACE_LISTS.includes(path) && Array.isArray(value)) {
        value.forEach((ns, i) => {
          if (isObj(ns)) visit(ns, `${path}[].`, `${path}[${i}].`);
        });
        continue;
      }
      if (supportedSection && isObj(value)) {
        visit(value, `${path}.`, `${display}.`);
        continue;
      }
      if (supportedLeaf || supportedSection) continue; // wrong types are reported by the schema
      delete o[key];
      const listener = classifyListenerKey(path, value);
      if (listener !== undefined) {
        if ('error' in listener) errors.push(listener.error);
        else warnings.push(listener.warning);
      } else if (isCentrifugoKey(path)) {
        // Ignoring some would leave the deployment less secure or on another topology: those refuse to start.
        const refused = refusalsIn(path, display, value);
        if (refused.length > 0) errors.push(...refused);
        else warnings.push(`config key "${display}" is a Centrifugo option Chorus does not support yet: it is ignored`);
      } else {
        const hint = suggestKey(path);
        errors.push(`unknown config key "${display}"${hint ? ` — did you mean "${hint}"?` : ''}`);
      }
    }
  };
  visit(raw, '', '');
}

function setPath(o: Obj, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = o;
  for (const p of parts.slice(0, -1)) {
    if (!isObj(cur[p])) cur[p] = {};
    cur = cur[p] as Obj;
  }
  cur[parts[parts.length - 1] as string] = value;
}

function getPath(o: Obj, path: string): unknown {
  let cur: unknown = o;
  for (const p of path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

function deepMerge(target: Obj, source: Obj): Obj {
  for (const [k, v] of Object.entries(source)) {
    if (isObj(v) && isObj(target[k])) deepMerge(target[k] as Obj, v);
    else target[k] = structuredClone(v);
  }
  return target;
}

/** Parses an environment string according to the type of the key's default value. */
function parseEnvValue(name: string, text: string, sample: unknown, errors: string[]): unknown {
  if (typeof sample === 'boolean') {
    if (/^(true|1|yes|on)$/i.test(text)) return true;
    if (/^(false|0|no|off)$/i.test(text)) return false;
    errors.push(`environment variable ${name}: expected true or false, got "${text}"`);
    return undefined;
  }
  if (typeof sample === 'number') {
    if (/^-?\d+$/.test(text.trim())) return Number(text);
    errors.push(`environment variable ${name}: expected a whole number, got "${text}"`);
    return undefined;
  }
  if (Array.isArray(sample)) {
    const t = text.trim();
    if (t.startsWith('[')) {
      try {
        return JSON.parse(t);
      } catch {
        errors.push(`environment variable ${name}: not a valid JSON array`);
        return undefined;
      }
    }
    return t === '' ? [] : t.split(/[\s,]+/).filter(Boolean);
  }
  return text;
}

const DURATION_KEYS = new Set(
  SUPPORTED_KEYS.filter((k) => /(_interval|_timeout|_delay|_ttl|_window)$/.test(k) && !k.includes('[]')),
);

/** The object a config file holds, parsed by the format its extension names. */
function readConfigFile(file: string): Obj {
  const format = configFormatOf(file);
  if (format === undefined) {
    throw new ConfigError([
      `config file ${file}: the extension must say its format: ${CONFIG_EXTENSIONS.join(', ')} (as Centrifugo reads them)`,
    ]);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`cannot read config file ${file}: ${(e as Error).message}`]);
  }
  let parsed: unknown;
  try {
    parsed = parseConfigText(text, format);
  } catch (e) {
    throw new ConfigError([`config file ${file} is not valid ${format.toUpperCase()}: ${(e as Error).message}`]);
  }
  if (!isObj(parsed))
    throw new ConfigError([`config file ${file} must hold an object (a map of keys), not a list or a value`]);
  return parsed;
}

const ENV_PREFIXES = ['CENTRIFUGO_', 'CHORUS_'] as const;

/** Variables with a config prefix that are not config keys: Kubernetes service links and Chorus's own tools. */
const NOT_CONFIG_ENV = /^(CHORUS|CENTRIFUGO)_(PORT|PORT_.+|SERVICE_.+)$|^CHORUS_(AGENT_TOKEN|TEST_.+|CHROMIUM)$/;

const envSuffix = (path: string) => path.replace(/\./g, '_').toUpperCase();

const SUPPORTED_ENV_SUFFIXES = new Set(SUPPORTED_KEYS.filter((k) => !k.includes('[]')).map(envSuffix));

/** Centrifugo's leaf keys by their environment suffix ("GRPC_API_ENABLED" → "grpc_api.enabled"). */
const CENTRIFUGO_ENV_SUFFIXES = (() => {
  const keys = [...CENTRIFUGO_KEYS.keys()].filter((k) => !/[[\]*]/.test(k));
  const sections = new Set(keys.flatMap((k) => k.split('.').map((_, i, parts) => parts.slice(0, i).join('.'))));
  return new Map(keys.filter((k) => !sections.has(k)).map((k) => [envSuffix(k), k] as const));
})();

/**
 * Warns about CHORUS_* / CENTRIFUGO_* variables that name no key (a typo would otherwise be silently ignored).
 * A listener key Chorus does not implement is judged as in a file (listener-keys.ts): enabling automatic
 * certificates refuses the start. (Refused keys are refusalsInEnv's.)
 */
function checkEnvNames(env: Record<string, string | undefined>, errors: string[], warnings: string[]): void {
  for (const name of Object.keys(env).sort()) {
    const prefix = ENV_PREFIXES.find((p) => name.startsWith(p));
    if (prefix === undefined || NOT_CONFIG_ENV.test(name)) continue;
    const suffix = name.slice(prefix.length);
    if (SUPPORTED_ENV_SUFFIXES.has(suffix)) continue;
    const centrifugoKey = CENTRIFUGO_ENV_SUFFIXES.get(suffix);
    if (centrifugoKey !== undefined) {
      const text = (env[name] ?? '').trim();
      const listener = classifyListenerKey(centrifugoKey, /^(true|1)$/i.test(text) ? true : text);
      if (listener !== undefined) {
        if ('error' in listener) errors.push(`environment variable ${name}: ${listener.error}`);
        else warnings.push(`environment variable ${name}: ${listener.warning}`);
        continue;
      }
      warnings.push(
        `environment variable ${name} sets "${centrifugoKey}", a Centrifugo option Chorus does not support yet: it is ignored`,
      );
      continue;
    }
    const hint = suggestKey(suffix.toLowerCase());
    const hintText =
      hint !== undefined && SUPPORTED_SET.has(hint) && !hint.includes('[]')
        ? ` — did you mean ${prefix}${envSuffix(hint)} ("${hint}")?`
        : '';
    warnings.push(`environment variable ${name} names no config key: it is ignored${hintText}`);
  }
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const errors: string[] = [];
  const warnings: string[] = [];
  const sources: string[] = [];
  const raw: Obj = structuredClone(opts.base ?? {});
  if (opts.base !== undefined) sources.push('development preset');

  if (opts.file !== undefined) {
    deepMerge(raw, readConfigFile(opts.file));
    sources.push(`file ${opts.file}`);
  }
  checkKeys(raw, errors, warnings);

  const env = opts.env ?? {};
  errors.push(...refusalsInEnv(env));
  checkEnvNames(env, errors, warnings);
  for (const path of SUPPORTED_KEYS) {
    if (path.includes('[]')) continue;
    const suffix = envSuffix(path);
    for (const prefix of ENV_PREFIXES) {
      const name = prefix + suffix;
      const text = env[name];
      if (text === undefined) continue;
      const sample = getPath(DEFAULTS as unknown as Obj, path);
      let value: unknown;
      if (path === 'channel.namespaces' || isObj(sample)) {
        try {
          value = JSON.parse(text);
        } catch {
          errors.push(`environment variable ${name}: not valid JSON`);
          continue;
        }
      } else if (DURATION_KEYS.has(path)) {
        value = text;
      } else {
        value = parseEnvValue(name, text, sample, errors);
      }
      if (value !== undefined) {
        setPath(raw, path, value);
        sources.push(`env ${name}`);
      }
    }
  }

  for (const [path, value] of Object.entries(opts.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(raw, path, value);
    sources.push(`flag for ${path}`);
  }

  if (errors.length > 0) throw new ConfigError(errors);
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(result.error.issues.map(formatIssue));
  const problems = crossFieldProblems(result.data);
  if (problems.length > 0) throw new ConfigError(problems);
  const tls = listenerTlsProblems(result.data);
  if (tls.errors.length > 0) throw new ConfigError(tls.errors);
  warnings.push(...tls.warnings);
  warnings.push(...configWarnings(result.data));
  return { config: deepFreeze(result.data), warnings, sources };
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.');
  const where = path.replace(/\.\[/g, '[');
  if (issue.code === 'unrecognized_keys') return `unknown config key(s) ${issue.keys.join(', ')} in "${where}"`;
  return `${where || '(root)'}: ${issue.message}`;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export const defaultConfig: Readonly<Config> = deepFreeze(configSchema.parse({}));
