/** The `chorus` command line: serve, genconfig, checkconfig, the token commands, agent, version. */

import { TokenVerifier } from '../auth/token-verifier.js';
import { defaultNodeName } from '../compose.js';
import { developmentPreset } from '../config/dev-preset.js';
import { loadConfig } from '../config/load.js';
import { configSecrets } from '../config/secrets.js';
import { VERSION } from '../core/version.js';
import { createLogger, type LogLevel } from '../log.js';
import { createChorusServer } from '../server.js';
import { isLoopback } from '../transport/listen-plan.js';
import { openFileLimit, RESERVED_DESCRIPTORS } from '../transport/open-files.js';
import { AGENT_HELP, agent } from './agent.js';
import { configFile, fail, load, parse } from './common.js';
import { GENCONFIG_HELP, genconfig } from './genconfig.js';
import { checksubtoken, checktoken, gensubtoken, gentoken, TOKEN_HELP } from './token-commands.js';

const HELP: Record<string, string> = {
  main: `chorus ${VERSION} — a real-time messaging server speaking the Centrifugo client protocol v2

Usage: chorus <command> [options]

Commands:
  serve         start the server
  genconfig     write a starting config file with fresh secrets (config.json, .yaml or .toml)
  checkconfig   validate a config file and exit
  gentoken      print a connection token (JWT) for a user
  gensubtoken   print a subscription token (JWT) for a user and a channel
  checktoken    verify a connection token as the server would
  checksubtoken verify a subscription token as the server would
  agent         report this host's CPU, memory and load to a server (for /demo/monitor)
  version       print the version

Run "chorus <command> --help" for a command's options.`,
  serve: `Usage: chorus serve [--config FILE] [--port N] [--address HOST] [--log-level LEVEL] [--dev]

Starts the server. Settings come from the config file (Centrifugo v6 keys in JSON, YAML or TOML), then
environment variables (CHORUS_<KEY_PATH> or CENTRIFUGO_<KEY_PATH>, e.g. CHORUS_HTTP_SERVER_PORT), then these flags.

  -c, --config FILE      config file: .json, .yaml/.yml or .toml (default: config.json if present)
  -p, --port N           http_server.port (default 8000)
  -a, --address HOST     http_server.address (default: all interfaces; with --dev: localhost, which is
                         127.0.0.1 and ::1)
      --log-level LEVEL  log.level: trace, debug, info, warn, error, none
      --dev              development preset: anonymous access, open channels, generated secrets, on this
                         machine only
  -h, --help             this help

SIGHUP reloads the TLS certificates (http_server.tls); certificate files are also watched for changes.`,
  checkconfig: `Usage: chorus checkconfig [--config FILE]

Validates the config file (and environment overrides) and exits 0 when it is valid, 1 with the problems
otherwise. Warnings (Centrifugo options Chorus does not support yet, unknown CHORUS_/CENTRIFUGO_ variables)
go to stderr.

  -c, --config FILE      config file: .json, .yaml/.yml or .toml (default: config.json)
  -h, --help             this help`,
  genconfig: GENCONFIG_HELP,
  ...TOKEN_HELP,
  agent: AGENT_HELP,
  version: 'Usage: chorus version\n\nPrints the version.',
};

async function serve(args: string[]): Promise<void> {
  const { values } = parse(HELP.serve as string, args, {
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
    file: configFile(values.config),
    env: process.env,
    overrides,
    base: preset,
  });
  const { config } = loaded;
  // Secrets never reach the logs; only the development preset's generated ones, printed on purpose below.
  const generated = preset === undefined ? [] : configSecrets(loadConfig({ base: preset }).config);
  const secrets = configSecrets(config).filter((v) => !generated.includes(v));
  // Every line names the node (JSON logs; a terminal's pretty logs leave it out), for logs collected from a cluster.
  let named: { node: { name: string } } | undefined;
  const provisional =
    config.node.name || (config.http_server.port !== 0 ? defaultNodeName(config.http_server.port) : undefined);
  const log = createLogger(config.log.level as LogLevel, { secrets, node: () => named?.node.name ?? provisional });
  for (const w of loaded.warnings) log.warn({}, w);
  let server: Awaited<ReturnType<typeof createChorusServer>>;
  try {
    server = await createChorusServer({ config, log, dev: preset !== undefined });
    named = server;
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
    `chorus listening on ${base} as node ${server.node.name}`,
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
    !new TokenVerifier(config.client.token, 'client.token').hasKeys &&
    !config.client.allow_anonymous_connect_without_token
  ) {
    log.warn(
      {},
      'no token key configured (client.token.*) and anonymous connections are off: no client can connect yet',
    );
  }
}

function checkconfig(args: string[]): void {
  const { values } = parse(HELP.checkconfig as string, args, { config: { type: 'string', short: 'c' } });
  if (values.help) return void console.log(HELP.checkconfig);
  const file = typeof values.config === 'string' ? values.config : 'config.json';
  const loaded = load({ file, env: process.env });
  for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`);
  console.log(`${file}: valid`);
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'genconfig':
      return genconfig(rest);
    case 'checkconfig':
      return checkconfig(rest);
    case 'gentoken':
      return gentoken(rest);
    case 'gensubtoken':
      return gensubtoken(rest);
    case 'checktoken':
      return checktoken(rest);
    case 'checksubtoken':
      return checksubtoken(rest);
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
