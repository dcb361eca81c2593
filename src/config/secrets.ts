/** The secret values of a configuration, so that logs can be scrubbed of them (src/log.ts). */
import type { Config } from './schema.js';

/** The password (and a user name standing alone, which may be a token) inside a URL, decoded and as written. */
function urlSecrets(text: string): string[] {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(text.trim());
  if (m === null) return [];
  const userinfo = m[1] as string;
  const colon = userinfo.indexOf(':');
  const raw = colon === -1 ? userinfo : userinfo.slice(colon + 1);
  const out = [raw];
  try {
    out.push(decodeURIComponent(raw));
  } catch {
    // not valid percent-encoding: the raw text is what would be logged anyway
  }
  return out;
}

/** A private key given inline (PEM text, or base64 of it), not as a file path. */
function inlineKey(value: string): string[] {
  const v = value.trim();
  return v.startsWith('-----BEGIN') || (v.length > 200 && !v.includes('\n') && !v.startsWith('/')) ? [v] : [];
}

export function configSecrets(cfg: Readonly<Config>): string[] {
  const redis = cfg.engine.redis;
  const values = [
    cfg.client.token.hmac_secret_key,
    cfg.client.subscription_token.hmac_secret_key,
    cfg.http_api.key,
    cfg.admin.password,
    cfg.admin.secret,
    redis.password,
    redis.sentinel_password,
    ...inlineKey(cfg.http_server.tls.key_pem),
    ...inlineKey(cfg.http_server.internal_tls.key_pem),
    ...redis.address.flatMap(urlSecrets),
    ...redis.sentinel_address.flatMap(urlSecrets),
    ...[
      cfg.client.proxy.connect.endpoint,
      cfg.channel.proxy.subscribe.endpoint,
      cfg.channel.proxy.publish.endpoint,
      cfg.rpc.proxy.endpoint,
      cfg.client.token.jwks_public_endpoint,
      cfg.client.subscription_token.jwks_public_endpoint,
    ].flatMap(urlSecrets),
  ];
  return [...new Set(values.filter((v) => v !== ''))];
}
