/**
 * `chorus gentoken`, `gensubtoken`, `checktoken`, `checksubtoken`: Centrifugo's token commands with its flags
 * (-c config, -u user, -t ttl, -s channel, -q quiet), plus --info, and --private-key for RSA and ECDSA tokens.
 */

import { readFileSync } from 'node:fs';
import { decodeJwt } from 'jose';
import { TokenError, TokenVerifier } from '../auth/token-verifier.js';
import { parseDuration } from '../config/duration.js';
import type { Config } from '../config/schema.js';
import { createConnectionToken, createSubscriptionToken, signingKey, type TokenAlgorithm } from '../tokens.js';
import { configFile, type Flags, fail, load, parse } from './common.js';

const WEEK = 7 * 24 * 3600;
const ALGORITHMS: string[] = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'];

const SIGN_FLAGS = `  -c, --config FILE      config file (.json, .yaml, .toml; default: config.json if present)
  -u, --user ID          the user ID (sub); default "" (an anonymous user)
  -t, --ttl TTL          lifetime in seconds or as a duration ("1h"); default 604800 (a week); 0 or -1: no expiry
  -q, --quiet            print the token only
      --info JSON        connection info other clients see (presence, join/leave), e.g. '{"name":"Ann"}'
      --private-key FILE sign with this RSA or ECDSA private key (PEM) instead of the HMAC secret: RS256 or
                         ES256/384/512; the server needs its public half as rsa_public_key / ecdsa_public_key
      --algorithm ALG    HS256, HS384, HS512, RS256, RS384, RS512 (ES* follow the key's curve)
  -h, --help             this help`;

export const TOKEN_HELP: Record<string, string> = {
  gentoken: `Usage: chorus gentoken [-u ID] [-t TTL] [-c FILE] [-q] [--info JSON] [--private-key FILE]

Prints a connection token (JWT) for user ID, signed with client.token.hmac_secret_key from the config file or
the environment (CHORUS_CLIENT_TOKEN_HMAC_SECRET_KEY), with client.token.audience / issuer when set. The token
goes to stdout, a description of it to stderr.

${SIGN_FLAGS}`,
  gensubtoken: `Usage: chorus gensubtoken -s CHANNEL [-u ID] [-t TTL] [-c FILE] [-q] [--info JSON] [--private-key FILE]

Prints a subscription token (JWT) for user ID and CHANNEL, signed with client.subscription_token's HMAC secret
when client.subscription_token.enabled, otherwise with client.token's (as Centrifugo does).

  -s, --channel CHANNEL  the channel the token is for (required)
      --client ID        bind the token to one connection ID
${SIGN_FLAGS}`,
  checktoken: `Usage: chorus checktoken [-c FILE] TOKEN

Verifies a connection token with the keys the server would use (client.token.*: HMAC secret, RSA or ECDSA
public key, JWKS endpoint; audience and issuer) and prints its user and claims. Exits 1 when it is invalid or
expired, saying why.

  -c, --config FILE      config file (default: config.json if present)
  -h, --help             this help`,
  checksubtoken: `Usage: chorus checksubtoken [-c FILE] TOKEN

Verifies a subscription token as the server would (client.subscription_token.* when enabled, otherwise
client.token.*) and prints its user, channel and claims. Exits 1 when it is invalid or expired.

  -c, --config FILE      config file (default: config.json if present)
  -h, --help             this help`,
};

const signOptions = {
  config: { type: 'string', short: 'c' },
  user: { type: 'string', short: 'u' },
  ttl: { type: 'string', short: 't' },
  quiet: { type: 'boolean', short: 'q' },
  info: { type: 'string' },
  'private-key': { type: 'string' },
  algorithm: { type: 'string' },
} as const;

/** `-t -1` as Centrifugo's users type it: parseArgs would take "-1" for a flag, so it is joined to its option. */
function joinNegativeTTL(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const next = args[i + 1];
    if ((a === '-t' || a === '--ttl') && next !== undefined && /^-\d+$/.test(next)) {
      out.push(`--ttl=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function ttlSeconds(flag: string | boolean | undefined): number {
  if (typeof flag !== 'string') return WEEK;
  if (/^-?\d+$/.test(flag)) {
    const n = Number(flag);
    return Math.max(n, 0);
  }
  try {
    const ms = parseDuration(flag);
    if (ms >= 0) return Math.floor(ms / 1000);
  } catch {}
  fail(`--ttl must be a number of seconds or a duration such as "1h" (0 or -1: no expiry), got "${flag}"`);
}

function describeTTL(seconds: number): string {
  if (seconds === 0) return 'without expiration';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `with expiration TTL ${h}h${m}m${s}s`;
}

function jsonFlag(name: string, flag: string | boolean | undefined): unknown {
  if (typeof flag !== 'string') return undefined;
  try {
    return JSON.parse(flag);
  } catch {
    fail(`--${name} must be JSON, e.g. '{"name":"Ann"}'; got ${flag}`);
  }
}

type TokenSection = Config['client']['token'];

/** The key, algorithm and section a token command signs with; fails saying what to configure. */
function signer(values: Flags, section: TokenSection, sectionName: string) {
  const algorithm = values.algorithm as TokenAlgorithm | undefined;
  if (algorithm !== undefined && !ALGORITHMS.includes(algorithm)) {
    fail(`--algorithm must be one of ${ALGORITHMS.join(', ')}`);
  }
  const keyFile = values['private-key'];
  if (typeof keyFile === 'string') {
    let pem: string;
    try {
      pem = readFileSync(keyFile, 'utf8');
    } catch (e) {
      fail(`cannot read --private-key ${keyFile}: ${(e as Error).message}`);
    }
    return { key: pem, algorithm };
  }
  if (section.hmac_secret_key === '') {
    const env = `CHORUS_${sectionName.replace(/\./g, '_').toUpperCase()}_HMAC_SECRET_KEY`;
    fail(
      `no ${sectionName}.hmac_secret_key configured (config file or ${env}); for RSA or ECDSA tokens pass --private-key FILE`,
    );
  }
  return { key: section.hmac_secret_key, algorithm };
}

function claimsFrom(values: Flags, section: TokenSection) {
  return {
    user: typeof values.user === 'string' ? values.user : '',
    ttl: ttlSeconds(values.ttl),
    info: jsonFlag('info', values.info),
    ...(section.audience !== '' && { audience: section.audience }),
    ...(section.issuer !== '' && { issuer: section.issuer }),
  };
}

function verifier(section: TokenSection, sectionName: string): TokenVerifier {
  try {
    return new TokenVerifier(section, sectionName);
  } catch (e) {
    fail((e as Error).message);
  }
}

/** Signing with --private-key: say so when the config's public key would not accept the token. */
async function warnIfRejected(check: () => Promise<unknown>, sectionName: string): Promise<void> {
  try {
    await check();
  } catch (e) {
    if (e instanceof TokenError) {
      process.stderr.write(
        `warning: the server with this config would refuse this token (${sectionName}): ${e.message}\n`,
      );
    }
  }
}

function subscriptionSection(config: Readonly<Config>): { section: TokenSection; name: string } {
  const sub = config.client.subscription_token;
  return sub.enabled
    ? { section: sub, name: 'client.subscription_token' }
    : { section: config.client.token, name: 'client.token' };
}

function print(token: string, description: string, quiet: boolean): void {
  if (!quiet) process.stderr.write(`${description}:\n`);
  process.stdout.write(`${token}\n`);
}

function userText(user: string): string {
  return user === '' ? 'anonymous user' : `user "${user}"`;
}

function algorithmOf(key: string, algorithm: TokenAlgorithm | undefined): TokenAlgorithm {
  try {
    return signingKey(key, algorithm).algorithm;
  } catch (e) {
    fail((e as Error).message);
  }
}

export async function gentoken(args: string[]): Promise<void> {
  const { values } = parse(TOKEN_HELP.gentoken as string, joinNegativeTTL(args), signOptions);
  if (values.help) return void console.log(TOKEN_HELP.gentoken);
  const { config } = load({ file: configFile(values.config), env: process.env });
  const section = config.client.token;
  const { key, algorithm } = signer(values, section, 'client.token');
  const alg = algorithmOf(key, algorithm);
  const claims = claimsFrom(values, section);
  const token = await createConnectionToken({ key, algorithm: alg, ...claims });
  if (values['private-key'] !== undefined) {
    await warnIfRejected(() => verifier(section, 'client.token').verifyConnect(token), 'client.token');
  }
  print(token, `${alg} JWT for ${userText(claims.user)} ${describeTTL(claims.ttl)}`, values.quiet === true);
}

export async function gensubtoken(args: string[]): Promise<void> {
  const { values } = parse(TOKEN_HELP.gensubtoken as string, joinNegativeTTL(args), {
    ...signOptions,
    channel: { type: 'string', short: 's' },
    client: { type: 'string' },
  });
  if (values.help) return void console.log(TOKEN_HELP.gensubtoken);
  if (typeof values.channel !== 'string' || values.channel === '') {
    fail(`--channel is required\n\n${TOKEN_HELP.gensubtoken}`);
  }
  const { config } = load({ file: configFile(values.config), env: process.env });
  const { section, name } = subscriptionSection(config);
  const { key, algorithm } = signer(values, section, name);
  const alg = algorithmOf(key, algorithm);
  const claims = claimsFrom(values, section);
  const token = await createSubscriptionToken({
    key,
    algorithm: alg,
    channel: values.channel,
    ...(typeof values.client === 'string' && { client: values.client }),
    ...claims,
  });
  if (values['private-key'] !== undefined) {
    await warnIfRejected(() => verifier(section, name).verifySubscribe(token), name);
  }
  print(
    token,
    `${alg} JWT for ${userText(claims.user)} and channel "${values.channel}" ${describeTTL(claims.ttl)}`,
    values.quiet === true,
  );
}

function tokenArgument(command: 'checktoken' | 'checksubtoken', positionals: string[]): string {
  if (positionals.length !== 1) fail(`provide one token to check\n\n${TOKEN_HELP[command]}`);
  return positionals[0] as string;
}

async function check(
  what: string,
  token: string,
  verify: (token: string) => Promise<{ user: string }>,
  describe: (claims: { user: string }) => string,
): Promise<void> {
  let claims: { user: string };
  try {
    claims = await verify(token);
  } catch (e) {
    if (!(e instanceof TokenError)) throw e;
    let payload = '';
    try {
      payload = ` with claims ${JSON.stringify(decodeJwt(token))}`;
    } catch {}
    fail(`${what}${payload} is ${e.kind === 'expired' ? 'expired' : `invalid: ${e.message}`}`);
  }
  console.log(`valid ${what} for ${describe(claims)}`);
  console.log(`payload: ${JSON.stringify(decodeJwt(token))}`);
}

export async function checktoken(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    TOKEN_HELP.checktoken as string,
    args,
    { config: { type: 'string', short: 'c' } },
    true,
  );
  if (values.help) return void console.log(TOKEN_HELP.checktoken);
  const token = tokenArgument('checktoken', positionals);
  const { config } = load({ file: configFile(values.config), env: process.env });
  const v = verifier(config.client.token, 'client.token');
  await check(
    'connection token',
    token,
    (t) => v.verifyConnect(t),
    (c) => userText(c.user),
  );
}

export async function checksubtoken(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    TOKEN_HELP.checksubtoken as string,
    args,
    { config: { type: 'string', short: 'c' } },
    true,
  );
  if (values.help) return void console.log(TOKEN_HELP.checksubtoken);
  const token = tokenArgument('checksubtoken', positionals);
  const { config } = load({ file: configFile(values.config), env: process.env });
  const { section, name } = subscriptionSection(config);
  const v = verifier(section, name);
  await check(
    'subscription token',
    token,
    (t) => v.verifySubscribe(t),
    (c) => `${userText(c.user)} and channel "${(c as { channel?: string }).channel}"`,
  );
}
