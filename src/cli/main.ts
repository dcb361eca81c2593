/** The `chorus` command line: serve, gentoken, checkconfig, agent, version. */

import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { developmentPreset } from '../config/dev-preset.js';
import { ConfigError, type LoadedConfig, loadConfig } from '../config/load.js';
import { configSecrets } from '../config/secrets.js';
import { VERSION } from '../core/node.js';
import { createLogger, type LogLevel } from '../log.js';
import { createChorusServer } from '../server.js';
import { isLoopback } from '../transport/listen-plan.js';
import { openFileLimit, RESERVED_DESCRIPTORS } from '../transport/open-files.js';
import { AGENT_HELP, agent } from './agent.js';

const HELP: Record<string, string> = {
  main: `chorus ${VERSION} — a real-time messaging server speaking the Centrifugo client protocol v2

Usage: chorus <command> [options]

Commands:
  serve         start the server
  gentoken      print a connection token (HS256) signed with client.token.hmac_secret_key
  checkconfig   validate a config file and exit
  agent         report this host's CPU, memory and load to a server (for /demo/monitor)
  version       print the version

Run "chorus <command> --help" for a command's options.`,
  serve: `Usage: chorus serve [--config FILE] [--port N] [--address HOST] [--log-level LEVEL] [--dev]

Starts the server. Settings come from the config file (JSON, Centrifugo v6 keys), then environment
variables (CHORUS_<KEY_PATH> or CENTRIFUGO_<KEY_PATH>, e.g. CHORUS_HTTP_SERVER_PORT), then these flags.

  -c, --config FILE      JSON config file
  -p, --port N           http_server.port (default 8000)
  -a, --address HOST     http_server.address (default: all interfaces; with --dev: localhost, which is
                         127.0.0.1 and ::1)
      --log-level LEVEL  log.level: trace, debug, info, warn, error, none
      --dev              development preset: anonymous access, open channels, generated secrets, on this
                         machine only
  -h, --help             this help

SIGHUP reloads the TLS certificates (http_server.tls); certificate files are also watched for changes.`,
  gentoken: `Usage: chorus gentoken --user ID [--ttl SECONDS] [--config FILE]

Prints an HS256 connection token for user ID, signed with client.token.hmac_secret_key from the config
file or the environment (CHORUS_CLIENT_TOKEN_HMAC_SECRET_KEY).

  -u, --user ID          the token's sub claim ("" for anonymous)
  -t, --ttl SECONDS      lifetime (default 3600; 0: no expiry)
  -c, --config FILE      JSON config file
  -h, --help             this help`,
  checkconfig: `Usage: chorus checkconfig --config FILE

Validates the config file (and environment overrides) and exits 0 when it is valid, 1 with the problems
otherwise.

  -c, --config FILE      JSON config file
  -h, --help             this help`,
  agent: AGENT_HELP,
  version: 'Usage: chorus version\n\nPrints the version.',
};

function fail(message: string): never {
  process.stderr.write(`chorus: ${message}\n`);
  process.exit(1);
}

function load(opts: Parameters<typeof loadConfig>[0]): LoadedConfig {
  try {
    return loadConfig(opts);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
}

type Flags = Record<string, string | boolean | undefined>;

function parse(
  command: string,
  args: string[],
  options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>,
): { values: Flags } {
  try {
    const { values } = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
    return { values: values as Flags };
  } catch (e) {
    fail(`${(e as Error).message}\n\n${HELP[command]}`);
  }
}

async function serve(args: string[]): Promise<void> {
  const { values } = parse('serve', args, {
    config: { type: 'string', short: 'c' },
    port: { type: 'string', short: 'p' },
    address: { type: 'string', short: 'a' },
    'log-level': { type: 'string' },
    dev: { type: 'boolean' },
  });
  if (values.help) return void console.log(HELP.serve);
  const overrides: Record<string, unknown> = {};
  if (values.port !== undefined) {
    const port = Number(values.port as string);
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a number from 0 to 65535`);
    overrides['http_server.port'] = port;
  }
  if (values.address !== undefined) overrides['http_server.address'] = values.address;
  if (values['log-level'] !== undefined) overrides['log.level'] = values['log-level'];
  const preset = values.dev ? developmentPreset() : undefined;
  const loaded = load({
    file: values.config as string | undefined,
    env: process.env,
    overrides,
    base: preset,
  });
  const { config } = loaded;
  // Secrets never reach the logs; only the development preset's generated ones, printed on purpose below.
  const generated = preset === undefined ? [] : configSecrets(loadConfig({ base: preset }).config);
  const secrets = configSecrets(config).filter((v) => !generated.includes(v));
  const log = createLogger(config.log.level as LogLevel, { secrets });
  for (const w of loaded.warnings) log.warn({}, w);
  let server: Awaited<ReturnType<typeof createChorusServer>>;
  try {
    server = await createChorusServer({ config, log });
  } catch (e) {
    fail(`cannot start: ${(e as Error).message}`);
  }
  // Standard output and error may be pipes whose reader goes away: a write then fails with EPIPE, which must
  // not end the process (logs go through their own guarded destination, see log.ts).
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  // Installed before listening: a SIGTERM right after the server is reachable is a graceful stop too.
  let stopping = false;
  /** Exits once the pending log lines are written, or after a second whatever became of them. */
  const exit = (code: number) => {
    log.close(1000).then(() => process.exit(code));
  };
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, clients: server.node.sessions.size }, 'shutting down: closing clients with 3001');
    const force = setTimeout(() => {
      log.error({}, 'shutdown took longer than 15s: exiting anyway');
      process.exit(1);
    }, 15_000);
    force.unref();
    server.close().then(
      () => {
        log.info({}, 'stopped');
        exit(0);
      },
      (e) => {
        log.error({ err: e }, 'error during shutdown');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await server.listen();
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { port?: number };
    fail(
      err.code === 'EADDRINUSE'
        ? `port ${err.port ?? config.http_server.port} is already in use: stop the other server or choose another port`
        : `cannot listen: ${err.message}`,
    );
  }
  const listeners = server.listeners();
  const publicListener = listeners[0] as (typeof listeners)[number];
  const base = publicListener.url;
  /** The base URL of the listener serving an endpoint (the internal one when http_server.internal_port is set). */
  const urlOf = (endpoint: string) =>
    (listeners.find((l) => l.serves.split(', ').includes(endpoint)) ?? publicListener).url;
  log.info(
    { version: VERSION, engine: server.node.engine.name, sources: loaded.sources, serves: publicListener.serves },
    `chorus listening on ${base}`,
  );
  for (const l of listeners.slice(1)) {
    log.info({ serves: l.serves }, `internal endpoints (${l.serves}) on ${l.url}`);
  }
  log.info({}, `WebSocket endpoint: ${base.replace(/^http/, 'ws')}/connection/websocket`);
  if (server.listeners().some((l) => l.tls)) {
    process.on('SIGHUP', () => {
      log.info({}, 'SIGHUP: reloading the TLS certificates');
      server.reloadTls('SIGHUP');
    });
  }
  const files = openFileLimit();
  if (files !== undefined && files < 65_536) {
    log.info(
      { openFileLimit: files },
      `this process may hold about ${Math.max(1, files - RESERVED_DESCRIPTORS)} connections (open-file limit ${files}); raise ulimit -n for more`,
    );
  }
  if (preset !== undefined) {
    const presetSecret = (preset.client as { token: { hmac_secret_key: string } }).token.hmac_secret_key;
    log.warn({}, 'development preset (--dev): anonymous access and open channels; do not use in production');
    const exposed = listeners.filter((l) => !l.addresses.every((a) => isLoopback(a.address)));
    for (const l of exposed) {
      log.warn(
        { addresses: l.addresses.map((a) => a.address), serves: l.serves },
        `!!! the development preset listens on ${l.addresses.map((a) => a.address).join(', ')} (set explicitly), not only on this machine: anyone who can reach it can connect and publish anonymously${l.serves.includes('admin') ? ', open the admin page' : ''}${l.serves.includes('api') ? ', call the server API' : ''} with the secrets printed below. Remove the address setting to stay on localhost !!!`,
      );
    }
    if (config.client.token.hmac_secret_key === presetSecret) {
      log.info({}, `generated HMAC secret for this run: ${presetSecret}`);
    }
    const presetAdmin = preset.admin as { password: string };
    if (config.admin.enabled && config.admin.password === presetAdmin.password) {
      log.info({}, `admin page: ${urlOf('admin')}/admin — generated password for this run: ${presetAdmin.password}`);
    }
    log.info({}, `demo pages: ${base}/demo/chat and ${base}/demo/monitor`);
    const presetKey = (preset.http_api as { key: string }).key;
    if (config.http_api.key === presetKey) {
      log.info({}, `server API: POST ${urlOf('api')}/api/<method> with X-API-Key: ${presetKey}`);
    }
    log.info(
      {},
      'to run for real: chorus serve --config config.json, without --dev (see "Running for real" in README.md and docs/security.md)',
    );
  } else if (
    !config.client.insecure &&
    !server.node.connectTokens.hasKeys &&
    !config.client.allow_anonymous_connect_without_token
  ) {
    log.warn(
      {},
      'no token key configured (client.token.*) and anonymous connections are off: no client can connect yet',
    );
  }
}

async function gentoken(args: string[]): Promise<void> {
  const { values } = parse('gentoken', args, {
    user: { type: 'string', short: 'u' },
    ttl: { type: 'string', short: 't' },
    config: { type: 'string', short: 'c' },
  });
  if (values.help) return void console.log(HELP.gentoken);
  if (values.user === undefined) fail(`--user is required\n\n${HELP.gentoken}`);
  const ttl = values.ttl === undefined ? 3600 : Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl < 0) fail('--ttl must be a whole number of seconds (0: no expiry)');
  const { config } = load({ file: values.config as string | undefined, env: process.env });
  const secret = config.client.token.hmac_secret_key;
  if (secret === '')
    fail('no client.token.hmac_secret_key configured (config file or CHORUS_CLIENT_TOKEN_HMAC_SECRET_KEY)');
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(String(values.user))
    .setIssuedAt(now);
  if (ttl > 0) jwt = jwt.setExpirationTime(now + ttl);
  if (config.client.token.audience) jwt = jwt.setAudience(config.client.token.audience);
  if (config.client.token.issuer) jwt = jwt.setIssuer(config.client.token.issuer);
  console.log(await jwt.sign(new TextEncoder().encode(secret)));
}

function checkconfig(args: string[]): void {
  const { values } = parse('checkconfig', args, { config: { type: 'string', short: 'c' } });
  if (values.help) return void console.log(HELP.checkconfig);
  if (values.config === undefined) fail(`--config is required\n\n${HELP.checkconfig}`);
  const loaded = load({ file: values.config as string, env: process.env });
  for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`);
  console.log(`${values.config}: valid`);
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'gentoken':
      return gentoken(rest);
    case 'checkconfig':
      return checkconfig(rest);
    case 'agent':
      return agent(rest);
    case 'version':
    case '--version':
    case '-v':
      if (rest.includes('--help') || rest.includes('-h')) return void console.log(HELP.version);
      return void console.log(VERSION);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return void console.log(HELP.main);
    default:
      fail(`unknown command "${command}"\n\n${HELP.main}`);
  }
}
