/**
 * `chorus genconfig`: a starting config with fresh secrets, as Centrifugo's genconfig writes it (token secret,
 * API key, admin password and secret, no allowed origins), in the format the file's extension names — with the
 * admin page turned on. Never overwrites a file.
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync, writeFileSync } from 'node:fs';
import { CONFIG_EXTENSIONS, configFormatOf, stringifyConfig } from '../config/file-formats.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { DEFAULT_CONFIG_FILE, fail, parse } from './common.js';

export const GENCONFIG_HELP = `Usage: chorus genconfig [-c FILE]

Writes a starting config file with fresh secrets: connection tokens signed with a new HMAC secret
(client.token.hmac_secret_key), a server API key (http_api.key), the admin page on (admin.enabled) with a new
password and secret, and no allowed origins (only pages on Chorus's own host may connect until you add yours to
client.allowed_origins). The format follows the extension: .json, .yaml, .yml or .toml. An existing file is
never overwritten. The file is readable by its owner only (mode 600): it holds secrets.

  -c, --config FILE      the file to write (default: config.json)
  -h, --help             this help`;

const secret = (bytes: number) => randomBytes(bytes).toString('base64url');

export function startingConfig(): Record<string, unknown> {
  return {
    client: {
      token: { hmac_secret_key: randomBytes(32).toString('hex') },
      allowed_origins: [],
    },
    admin: { enabled: true, password: secret(12), secret: secret(32) },
    http_api: { key: secret(24) },
  };
}

export function genconfig(args: string[]): void {
  const { values } = parse(GENCONFIG_HELP, args, { config: { type: 'string', short: 'c' } });
  if (values.help) return void console.log(GENCONFIG_HELP);
  const file = typeof values.config === 'string' ? values.config : DEFAULT_CONFIG_FILE;
  const format = configFormatOf(file);
  if (format === undefined) fail(`${file}: the extension must say the format: ${CONFIG_EXTENSIONS.join(', ')}`);
  const config = startingConfig();
  try {
    // "wx": fails when the file exists, without a window between a check and the write.
    writeFileSync(file, stringifyConfig(config, format), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EEXIST') fail(`${file} already exists: not overwriting it (choose another name with -c)`);
    fail(`cannot write ${file}: ${err.message}`);
  }
  try {
    loadConfig({ file });
  } catch (e) {
    unlinkSync(file);
    if (e instanceof ConfigError) fail(`the generated config is not valid (a bug, please report it): ${e.message}`);
    throw e;
  }
  const admin = config.admin as { password: string };
  console.log(`wrote ${file} (fresh secrets; keep it private)
  start:              chorus serve --config ${file}
  a connection token: chorus gentoken --config ${file} --user 42
  admin page:         http://localhost:8000/admin — password ${admin.password}
Clients may not subscribe to any channel yet: allow it per namespace (channel.without_namespace or
channel.namespaces, e.g. allow_subscribe_for_client), and add your site to client.allowed_origins.`);
}
