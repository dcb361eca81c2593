/**
 * Centrifugo options Chorus does not implement and that it refuses to start with, because ignoring them would
 * leave the deployment less secure, or running on a different topology, than its configuration says: plain text
 * where TLS was asked for, one local Redis instead of a Redis Cluster, a publication path that never runs,
 * namespace permissions deciding where a backend proxy was meant to. Every other unsupported Centrifugo key is
 * harmless to ignore (a feature that is simply absent, or a check Chorus makes more strictly anyway) and only
 * warns (src/config/load.ts).
 *
 * A rule fires when its key is switched on (true, a non-empty list or string, a proxy name other than
 * "default"): `"broker": {"enabled": false}` copied from a Centrifugo config stays a warning.
 *
 * The listeners' TLS keys (http_server.tls*, internal_tls, tls_autocert) are classified by listener-keys.ts.
 */

type Switch = 'bool' | 'list' | 'string' | 'proxy_name' | 'claim';

export interface Refusal {
  /** Key path as checkKeys sees it: "engine.redis.cluster_address", "channel.namespaces[].x". */
  readonly key: string;
  readonly when: Switch;
  /** What ignoring the key would do. */
  readonly risk: string;
  /** What to use instead. */
  readonly instead: string;
}

const NAMESPACE_PREFIXES = ['channel.without_namespace.', 'channel.namespaces[].'];

function perNamespace(option: string, when: Switch, risk: string, instead: string): Refusal[] {
  return NAMESPACE_PREFIXES.map((p) => ({ key: p + option, when, risk, instead }));
}

const DEFAULT_PROXY_ONLY = 'use the default proxy of each kind (channel.proxy.subscribe, channel.proxy.publish)';

export const REFUSED_KEYS: readonly Refusal[] = [
  // TLS that Chorus does not do: it would connect in plain text or unverified. (The listeners' own TLS keys,
  // tls_autocert included, are listener-keys.ts's.)
  {
    key: 'engine.redis.sentinel_tls.enabled',
    when: 'bool',
    risk: 'TLS to Redis Sentinel is not implemented, so Chorus would talk to the sentinels in plain text',
    instead:
      'reach the sentinels over a private network, or list TLS Redis servers in engine.redis.address with engine.redis.tls.enabled',
  },
  ...['cert_pem', 'key_pem', 'server_ca_pem', 'client_ca_pem', 'server_name'].map(
    (k): Refusal => ({
      key: `engine.redis.tls.${k}`,
      when: 'string',
      risk: `this TLS variant (engine.redis.tls.${k}) is not implemented, so the Redis connection would not be verified or authenticated as configured`,
      instead:
        'engine.redis.tls.enabled with a Redis certificate the system trusts (NODE_EXTRA_CA_CERTS=ca.pem adds a CA), or a TLS tunnel',
    }),
  ),
  // Another topology than configured.
  {
    key: 'engine.redis.cluster_address',
    when: 'list',
    risk: 'Redis Cluster is not supported yet, so Chorus would use engine.redis.address (a local Redis unless set) instead of your cluster',
    instead:
      'list standalone Redis servers in engine.redis.address (Chorus spreads channels over them by consistent hashing), or use Sentinel (engine.redis.sentinel_address)',
  },
  {
    key: 'broker.enabled',
    when: 'bool',
    risk: 'a separate broker (broker.*: Redis, NATS, Postgres) is not supported, so publications would only travel through engine.type',
    instead: 'engine.type "redis" with engine.redis.* for broker, history and presence',
  },
  {
    key: 'presence_manager.enabled',
    when: 'bool',
    risk: 'a separate presence manager is not supported, so presence would live in engine.type instead',
    instead: 'engine.type "redis" with engine.redis.* for broker, history and presence',
  },
  {
    key: 'controller.enabled',
    when: 'bool',
    risk: 'a separate controller is not supported, so nodes would coordinate through engine.type instead',
    instead: 'engine.type "redis" with engine.redis.*',
  },
  {
    key: 'consumers[].enabled',
    when: 'bool',
    risk: 'asynchronous consumers (Kafka, NATS JetStream, Postgres outbox, Redis Streams, SQS, Pub/Sub, Service Bus) are not implemented, so what they carry would never be published',
    instead: 'publish through the server API (POST /api/publish or /api/batch) from a small bridge',
  },
  {
    key: 'websocket.disabled',
    when: 'bool',
    risk: 'Chorus always serves /connection/websocket, so the endpoint you meant to turn off would be open',
    instead: 'refuse the path at your reverse proxy',
  },
  // Who a client is.
  ...['client.token.user_id_claim', 'client.subscription_token.user_id_claim'].map(
    (key): Refusal => ({
      key,
      when: 'claim',
      risk: 'Chorus takes the user ID from the "sub" claim only, so tokens would authenticate whoever their "sub" names',
      instead: 'put the user ID in "sub" (and remove this key)',
    }),
  ),
  // Proxies Chorus does not implement: the namespace's permissions, or another backend, would decide instead.
  {
    key: 'client.proxy.refresh.enabled',
    when: 'bool',
    risk: 'the refresh proxy is not implemented, so your backend would not be asked before connections are extended or closed',
    instead: 'connection tokens with exp and the SDK refreshing them (getToken), or no expiry from the connect proxy',
  },
  ...perNamespace(
    'subscribe_stream_proxy_enabled',
    'bool',
    'subscription streams (subscribe_stream proxy) are not implemented, so the namespace permissions would decide subscriptions instead of your backend',
    'channel.proxy.subscribe with subscribe_proxy_enabled, then publish through the server API',
  ),
  ...perNamespace(
    'sub_refresh_proxy_enabled',
    'bool',
    'the sub_refresh proxy is not implemented, so your backend would not be asked before subscriptions are extended or closed',
    'subscription tokens with exp and the SDK refreshing them (getToken)',
  ),
  ...['subscribe_proxy_name', 'publish_proxy_name', 'sub_refresh_proxy_name', 'subscribe_stream_proxy_name'].flatMap(
    (option) =>
      perNamespace(
        option,
        'proxy_name',
        'named proxies are not implemented, so another backend (the default proxy) or the namespace permissions would decide',
        DEFAULT_PROXY_ONLY,
      ),
  ),
  ...['rpc.without_namespace.proxy_name', 'rpc.namespaces[].proxy_name'].map(
    (key): Refusal => ({
      key,
      when: 'proxy_name',
      risk: 'named proxies are not implemented, so RPCs would go to rpc.proxy instead of the proxy named here',
      instead: 'one RPC proxy (rpc.proxy) for every namespace that sets proxy_enabled',
    }),
  ),
];

const BY_KEY = new Map(REFUSED_KEYS.map((r) => [r.key, r]));

const TRUE_TEXT = /^(true|1|yes|on)$/i;

/** Whether a value (from a file, or the text of an environment variable) switches the option on. */
function switchedOn(when: Switch, v: unknown): boolean {
  switch (when) {
    case 'bool':
      return v === true || (typeof v === 'string' && TRUE_TEXT.test(v.trim()));
    case 'list':
      return (Array.isArray(v) && v.length > 0) || (typeof v === 'string' && v.trim() !== '');
    case 'string':
      return typeof v === 'string' && v.trim() !== '';
    case 'proxy_name':
      return typeof v === 'string' && v.trim() !== '' && v.trim() !== 'default';
    case 'claim':
      return typeof v === 'string' && v.trim() !== '' && v.trim() !== 'sub';
  }
}

function message(display: string, r: Refusal, via = ''): string {
  return `config key "${display}"${via} is not supported, and ignoring it is not safe: ${r.risk}. Instead: ${r.instead}`;
}

/**
 * The refusals a dropped key (or a whole dropped section) triggers, as messages naming each key. `path` is in
 * checkKeys's form ("channel.namespaces[].x"), `display` with indexes ("channel.namespaces[2].x").
 */
export function refusalsIn(path: string, display: string, value: unknown): string[] {
  const out: string[] = [];
  const visit = (p: string, d: string, v: unknown) => {
    const rule = BY_KEY.get(p);
    if (rule !== undefined && switchedOn(rule.when, v)) out.push(message(d, rule));
    if (Array.isArray(v)) {
      v.forEach((item, i) => {
        if (typeof item === 'object' && item !== null) visit(`${p}[]`, `${d}[${i}]`, item);
      });
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, child] of Object.entries(v)) visit(`${p}.${k}`, `${d}.${k}`, child);
    }
  };
  visit(path, display, value);
  return out;
}

/** Refused keys set through CENTRIFUGO_… or CHORUS_… environment variables (Centrifugo reads the same names). */
export function refusalsInEnv(env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const r of REFUSED_KEYS) {
    if (r.key.includes('[]')) continue;
    const suffix = r.key.replace(/\./g, '_').toUpperCase();
    for (const name of [`CENTRIFUGO_${suffix}`, `CHORUS_${suffix}`]) {
      const text = env[name];
      if (text !== undefined && switchedOn(r.when, text))
        out.push(message(r.key, r, ` (environment variable ${name})`));
    }
  }
  return out;
}
