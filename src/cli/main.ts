/** The `chorus` command line: serve, genconfig, checkconfig, the token commands, agent, version. */

import { developmentPreset } from '../config/dev-preset.js';
import { VERSION } from '../core/node.js';
import { createLogger, type LogLevel } from '../log.js';
import { createChorusServer } from '../server.js';
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
  -a, --address HOST     http_server.address (default: all interfaces)
      --log-level LEVEL  log.level: trace, debug, info, warn, error, none
      --dev              development preset: anonymous access, open channels, generated secret
  -h, --help             this help`,
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
  const log = createLogger(config.log.level as LogLevel);
  for (const w of loaded.warnings) log.warn({}, w);
  const server = await createChorusServer({ config, log });
  let address: Awaited<ReturnType<typeof server.listen>>;
  try {
    address = await server.listen();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    fail(
      err.code === 'EADDRINUSE'
        ? `port ${config.http_server.port} is already in use: stop the other server or choose another with --port`
        : `cannot listen: ${err.message}`,
    );
  }
  const host = !config.http_server.address || config.http_server.address === '0.0.0.0' ? 'localhost' : address.address;
  const base = `http://${host}:${address.port}`;
  log.info(
    { version: VERSION, engine: server.node.engine.name, sources: loaded.sources },
    `chorus listening on ${base}`,
  );
  log.info({}, `WebSocket endpoint: ws://${host}:${address.port}/connection/websocket`);
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
    if (config.client.token.hmac_secret_key === presetSecret) {
      log.info({}, `generated HMAC secret for this run: ${presetSecret}`);
    }
    const presetAdmin = preset.admin as { password: string };
    if (config.admin.enabled && config.admin.password === presetAdmin.password) {
      log.info({}, `admin page: ${base}/admin — generated password for this run: ${presetAdmin.password}`);
    }
    log.info({}, `demo pages: ${base}/demo/chat and ${base}/demo/monitor`);
    const presetKey = (preset.http_api as { key: string }).key;
    if (config.http_api.key === presetKey) {
      log.info({}, `server API: POST ${base}/api/<method> with X-API-Key: ${presetKey}`);
    }
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
  let stopping = false;
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
        process.exit(0);
      },
      (e) => {
        log.error({ err: e }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
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
