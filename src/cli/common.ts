/** What every `chorus` command shares: failing with a message, parsing flags, finding and loading the config. */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, type LoadedConfig, loadConfig } from '../config/load.js';

export function fail(message: string): never {
  process.stderr.write(`chorus: ${message}\n`);
  process.exit(1);
}

export function load(opts: Parameters<typeof loadConfig>[0]): LoadedConfig {
  try {
    return loadConfig(opts);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
}

export type Flags = Record<string, string | boolean | undefined>;
type Options = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

/** Parses a command's flags (and `-h/--help`); a wrong flag fails with the command's help. */
export function parse(
  help: string,
  args: string[],
  options: Options,
  allowPositionals = false,
): { values: Flags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals,
    });
    return { values: values as Flags, positionals };
  } catch (e) {
    fail(`${(e as Error).message}\n\n${help}`);
  }
}

/** Centrifugo's default config file: `config.json` in the working directory, used when it exists. */
export const DEFAULT_CONFIG_FILE = 'config.json';

/** The file `--config` names, else config.json when the working directory has one, else none. */
export function configFile(flag: string | boolean | undefined): string | undefined {
  if (typeof flag === 'string') return flag;
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined;
}
