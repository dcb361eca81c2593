/**
 * The configuration schema: Centrifugo v6 key names, nesting and meaning, with Chorus's defaults written beside
 * each field. Durations are Go-style strings ("25s") in the file and milliseconds once parsed. Keys that are
 * Chorus extensions are marked so (docs/configuration.md lists them).
 */
import { z } from 'zod';
import { parseCidr } from './cidr.js';
import { parseDuration } from './duration.js';

function dur(def: string) {
  return z
    .string()
    .transform((s, ctx) => {
      try {
        const ms = parseDuration(s);
        if (ms < 0) throw new Error(`negative duration "${s}"`);
        return ms;
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    })
    .prefault(def);
}

const bool = (def = false) => z.boolean().default(def);
const str = (def = '') => z.string().default(def);
const uint = (def: number) => z.number().int().min(0).default(def);
const strList = () => z.array(z.string()).default([]);

/** Options of a channel namespace (also those of channels without a namespace). */
export const channelOptionsShape = {
  presence: bool(),
  join_leave: bool(),
  force_push_join_leave: bool(),
  history_size: uint(0),
  history_ttl: dur('0s'),
  history_meta_ttl: dur('0s'),
  force_positioning: bool(),
  allow_positioning: bool(),
  force_recovery: bool(),
  allow_recovery: bool(),
  allow_subscribe_for_client: bool(),
  allow_subscribe_for_anonymous: bool(),
  allow_publish_for_subscriber: bool(),
  allow_publish_for_client: bool(),
  allow_publish_for_anonymous: bool(),
  allow_history_for_subscriber: bool(),
  allow_history_for_client: bool(),
  allow_history_for_anonymous: bool(),
  allow_presence_for_subscriber: bool(),
  allow_presence_for_client: bool(),
  allow_presence_for_anonymous: bool(),
  allow_user_limited_channels: bool(),
  channel_regex: str(),
  /** Ask the backend (channel.proxy.subscribe) whether a client may subscribe, instead of the permissions. */
  subscribe_proxy_enabled: bool(),
  /** Ask the backend (channel.proxy.publish) about every client publication (it may also transform it). */
  publish_proxy_enabled: bool(),
};

const channelOptions = z.strictObject(channelOptionsShape);

const NAMESPACE_NAME = /^[-a-zA-Z0-9_.]{2,}$/;

const namespace = z.strictObject({
  name: z.string().regex(NAMESPACE_NAME, 'namespace name must match ^[-a-zA-Z0-9_.]{2,}$'),
  ...channelOptionsShape,
});

/** An HTTP proxy to the application's backend (Centrifugo's proxy options). */
const proxyShape = {
  endpoint: str(),
  timeout: dur('1s'),
  /** Headers of the client's connection request forwarded to the backend (e.g. "Cookie", "Authorization"). */
  http_headers: strList(),
};

const tokenOptionsShape = {
  hmac_secret_key: str(),
  rsa_public_key: str(),
  ecdsa_public_key: str(),
  jwks_public_endpoint: str(),
  audience: str(),
  audience_regex: str(),
  issuer: str(),
  issuer_regex: str(),
};

/**
 * TLS of a listener (Centrifugo's TLSConfig, server side). PEM values are, as Centrifugo's PEMData, the PEM text
 * itself, the PEM text base64-encoded, or the path of a file holding it (files are re-read on change and on
 * SIGHUP). `server_ca_pem`, `insecure_skip_verify` and `server_name` only matter to outgoing connections: a
 * listener ignores them, as Centrifugo's does.
 */
const listenerTls = z
  .strictObject({
    enabled: bool(),
    cert_pem: str(),
    key_pem: str(),
    /** Mutual TLS: clients must present a certificate signed by one of these CAs. */
    client_ca_pem: str(),
  })
  .prefault({});

/** A port given as a number or, as Centrifugo's `internal_port` is typed, a string; "" means none. */
const optionalPort = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    if (v === '') return undefined;
    const n = typeof v === 'number' ? v : /^\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a port number from 0 to 65535 (or "" for none), got ${JSON.stringify(v)}`,
      });
      return z.NEVER;
    }
    return n;
  })
  .prefault('');

export const configSchema = z.strictObject({
  http_server: z
    .strictObject({
      /** "localhost" listens on both loopback addresses (127.0.0.1 and ::1); "" on every interface. */
      address: str(),
      port: z.number().int().min(0).max(65535).default(8000),
      /**
       * Chorus extension: proxies (addresses or CIDR ranges) whose X-Forwarded-For / X-Real-IP name the client's
       * address. Nobody else's are believed.
       */
      trusted_proxies: z
        .array(z.string().refine((t) => parseCidr(t) !== undefined, 'expected an IP address or a CIDR range'))
        .default([]),
      /**
       * A second listener for what only operators need (admin, server API, metrics, health), as in Centrifugo:
       * when set, those endpoints are served there and not on `port`.
       */
      internal_port: optionalPort,
      /** Address of the internal listener ("": the same as `address`). */
      internal_address: str(),
      tls: listenerTls,
      /** TLS on the internal listener (without it, the internal listener uses `tls` unless `tls_external`). */
      internal_tls: listenerTls,
      /** `tls` applies to the public listener only; the internal one stays plain (or uses `internal_tls`). */
      tls_external: bool(),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'none']).default('info'),
    })
    .prefault({}),
  engine: z
    .strictObject({
      /** "memory": one process. "redis": several processes and machines share channels through Redis. */
      type: z.enum(['memory', 'redis']).default('memory'),
      redis: z
        .strictObject({
          /** One Redis, or several: channels are spread over them by consistent hashing ("redis://host:port/db"). */
          address: z
            .union([z.string(), z.array(z.string())])
            .transform((a) => (Array.isArray(a) ? a : a.split(/[\s,]+/).filter(Boolean)))
            .prefault(['redis://127.0.0.1:6379']),
          prefix: str('centrifugo'),
          user: str(),
          password: str(),
          db: uint(0),
          connect_timeout: dur('1s'),
          io_timeout: dur('4s'),
          sentinel_address: strList(),
          sentinel_master_name: str(),
          sentinel_password: str(),
          tls: z.strictObject({ enabled: bool(), insecure_skip_verify: bool() }).prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
  client: z
    .strictObject({
      insecure: bool(),
      allowed_origins: strList(),
      ping_interval: dur('25s'),
      pong_timeout: dur('8s'),
      expired_close_delay: dur('25s'),
      expired_sub_close_delay: dur('25s'),
      presence_update_interval: dur('27s'),
      connect_include_server_time: bool(),
      stale_close_delay: dur('10s'),
      channel_limit: uint(128),
      queue_max_size: uint(1_048_576),
      /**
       * How long pushes to a connection may wait to be written together (Centrifugo PRO's option): fewer system
       * calls, the main CPU cost of fan-out, for up to this much extra latency. Replies never wait. 0: write at
       * the end of each event-loop turn.
       */
      write_delay: dur('0s'),
      /** Most messages in one WebSocket frame; more queued messages go out as several frames in one write. */
      max_messages_in_frame: uint(16),
      connection_limit: uint(0),
      user_connection_limit: uint(0),
      /** New connections per second this node accepts (HTTP 503 above), 0 = unlimited. */
      connection_rate_limit: uint(0),
      /** Chorus extension: open connections per client address (IPv6: per /64), 0 = unlimited (HTTP 429 above). */
      address_connection_limit: uint(0),
      /** Chorus extension: new connections per second per client address, 0 = unlimited (HTTP 429 above). */
      address_connection_rate_limit: uint(0),
      /** Chorus extension: new connections per client address allowed at once above that rate. */
      address_connection_rate_burst: uint(20),
      history_max_publication_limit: uint(300),
      recovery_max_publication_limit: uint(300),
      disallow_anonymous_connection_tokens: bool(),
      allow_anonymous_connect_without_token: bool(),
      token: z.strictObject(tokenOptionsShape).prefault({}),
      subscription_token: z.strictObject({ enabled: bool(), ...tokenOptionsShape }).prefault({}),
      proxy: z
        .strictObject({
          connect: z.strictObject({ enabled: bool(), ...proxyShape }).prefault({}),
        })
        .prefault({}),
      subscribe_to_user_personal_channel: z
        .strictObject({
          enabled: bool(),
          /** Namespace of personal channels: "" gives "#<user>", "personal" gives "personal:#<user>". */
          personal_channel_namespace: str(),
          /** Keep one connection per user: a new one disconnects the user's others (3504). */
          single_connection: bool(),
        })
        .prefault({}),
      /**
       * Chorus extension: client-to-client direct messages through a built-in RPC method. The receiver gets a
       * `message` push {"from":{"user","client"},"data":…} whose sender identity the server fills in.
       */
      direct_messages: z
        .strictObject({
          enabled: bool(),
          rpc_method: str('chorus.send'),
          allow_anonymous: bool(),
          /** Messages one connection may send per second. */
          rate_limit: uint(10),
        })
        .prefault({}),
      /**
       * Chorus extension: commands a connection may send per second (token bucket), 0 = unlimited. Set well above
       * what any official SDK sends (their test suites publish in tight loops), so it only stops floods.
       */
      command_rate_limit: uint(1000),
      /** Chorus extension: commands allowed in a burst above the rate. */
      command_rate_burst: uint(10000),
    })
    .prefault({}),
  http_api: z
    .strictObject({
      /** The key every API request must carry (X-API-Key or Authorization: apikey). */
      key: str(),
      /** Serve the API without a key: only behind a trusted network boundary. */
      insecure: bool(),
      disabled: bool(),
      handler_prefix: str('/api'),
      /** "transport": errors as HTTP statuses for every request, as the X-Centrifugo-Error-Mode header does. */
      error_mode: z.enum(['', 'transport']).default(''),
      /** Chorus extension: largest request body in bytes (413 above). */
      max_body_size: uint(4 * 1024 * 1024),
      /** With `http_server.internal_port`: serve the API on the public port too (Centrifugo's key). */
      external: bool(),
    })
    .prefault({}),
  admin: z
    .strictObject({
      /** The admin page at /admin, behind a login. */
      enabled: bool(),
      /** Password of the admin login. */
      password: str(),
      /** Secret signing admin session tokens. */
      secret: str(),
      /** No login: only behind a trusted network boundary. */
      insecure: bool(),
      /** With `http_server.internal_port`: serve the admin page on the public port instead (Centrifugo's key). */
      external: bool(),
      /** Chorus extension: how long an admin session lasts after the login. */
      session_ttl: dur('12h'),
      /** Chorus extension: failed logins one client address may make per `login_failure_window` (0: no limit). */
      login_failure_limit: uint(5),
      /** Chorus extension: the window of `login_failure_limit`; logins from that address are refused until it ends. */
      login_failure_window: dur('1m'),
    })
    .prefault({}),
  /** Chorus extension: the demo pages (/demo/chat, /demo/monitor). */
  demo: z
    .strictObject({
      enabled: bool(),
      /** The channel `chorus agent` reports to and /demo/monitor shows; only agents may publish into it. */
      agent_channel: str('metrics'),
      /** Users (IDs or globs like "agent-*", from verified tokens) whose connections may report as agents. */
      agent_users: strList(),
      /** Anonymous connections may report as agents (the development preset; never on a shared network). */
      allow_anonymous_agents: bool(),
    })
    .prefault({}),
  /** Prometheus metrics at /metrics (Centrifugo's key; off by default, as in Centrifugo). */
  prometheus: z.strictObject({ enabled: bool() }).prefault({}),
  websocket: z
    .strictObject({
      message_size_limit: uint(65_536),
      write_timeout: dur('1s'),
      compression: bool(),
    })
    .prefault({}),
  channel: z
    .strictObject({
      max_length: uint(255),
      private_prefix: str('$'),
      namespace_boundary: str(':'),
      user_boundary: str('#'),
      user_separator: str(','),
      /** Default for namespaces that leave history_meta_ttl at 0. */
      history_meta_ttl: dur('720h'),
      without_namespace: channelOptions.prefault({}),
      namespaces: z.array(namespace).default([]),
      proxy: z
        .strictObject({
          subscribe: z.strictObject(proxyShape).prefault({}),
          publish: z.strictObject(proxyShape).prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
  rpc: z
    .strictObject({
      namespace_boundary: str(':'),
      without_namespace: z.strictObject({ proxy_enabled: bool() }).prefault({}),
      namespaces: z
        .array(
          z.strictObject({
            name: z.string().regex(NAMESPACE_NAME, 'namespace name must match ^[-a-zA-Z0-9_.]{2,}$'),
            proxy_enabled: bool(),
          }),
        )
        .default([]),
      proxy: z.strictObject(proxyShape).prefault({}),
    })
    .prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type ChannelOptions = z.output<typeof channelOptions>;
export type NamespaceConfig = z.output<typeof namespace>;
export type TokenOptions = Config['client']['token'];

/** Checks that span several fields; returns messages naming the keys. */
export function crossFieldProblems(cfg: Config): string[] {
  const problems: string[] = [];
  const c = cfg.client;
  if (c.ping_interval > 0 && c.pong_timeout >= c.ping_interval) {
    problems.push('client.pong_timeout must be less than client.ping_interval');
  }
  const seen = new Set<string>();
  const checkOpts = (path: string, o: ChannelOptions) => {
    if (o.history_size > 0 && o.history_ttl === 0) {
      problems.push(`${path}.history_ttl must be set when ${path}.history_size is set`);
    }
    if (o.history_ttl > 0 && o.history_size === 0) {
      problems.push(`${path}.history_size must be set when ${path}.history_ttl is set`);
    }
    if (o.history_meta_ttl > 0 && o.history_meta_ttl < o.history_ttl) {
      problems.push(`${path}.history_meta_ttl must not be shorter than ${path}.history_ttl`);
    }
    if ((o.force_recovery || o.allow_recovery || o.force_positioning) && o.history_size === 0) {
      problems.push(`${path}: recovery and positioning need history (set history_size and history_ttl)`);
    }
    if (o.channel_regex !== '') {
      try {
        compileChannelRegex(o.channel_regex);
      } catch (e) {
        problems.push(`${path}.channel_regex is not a valid regular expression: ${(e as Error).message}`);
      }
    }
  };
  const personal = c.subscribe_to_user_personal_channel;
  if (personal.enabled && personal.personal_channel_namespace !== '') {
    if (!cfg.channel.namespaces.some((ns) => ns.name === personal.personal_channel_namespace)) {
      problems.push(
        `client.subscribe_to_user_personal_channel.personal_channel_namespace "${personal.personal_channel_namespace}" is not in channel.namespaces`,
      );
    }
  }
  if (c.proxy.connect.enabled && c.proxy.connect.endpoint === '') {
    problems.push('client.proxy.connect.endpoint must be set when client.proxy.connect.enabled');
  }
  const allNs = [cfg.channel.without_namespace, ...cfg.channel.namespaces];
  if (allNs.some((o) => o.subscribe_proxy_enabled) && cfg.channel.proxy.subscribe.endpoint === '') {
    problems.push('channel.proxy.subscribe.endpoint must be set when a namespace sets subscribe_proxy_enabled');
  }
  if (allNs.some((o) => o.publish_proxy_enabled) && cfg.channel.proxy.publish.endpoint === '') {
    problems.push('channel.proxy.publish.endpoint must be set when a namespace sets publish_proxy_enabled');
  }
  const rpcNs = [cfg.rpc.without_namespace, ...cfg.rpc.namespaces];
  if (rpcNs.some((o) => o.proxy_enabled) && cfg.rpc.proxy.endpoint === '') {
    problems.push('rpc.proxy.endpoint must be set when rpc namespaces set proxy_enabled');
  }
  if (cfg.admin.enabled && !cfg.admin.insecure && (cfg.admin.password === '' || cfg.admin.secret === '')) {
    problems.push('admin.password and admin.secret must be set when admin.enabled (or set admin.insecure)');
  }
  if (cfg.admin.enabled && cfg.admin.session_ttl < 1000) {
    problems.push('admin.session_ttl must be at least 1s');
  }
  if (cfg.admin.login_failure_limit > 0 && cfg.admin.login_failure_window < 1000) {
    problems.push('admin.login_failure_window must be at least 1s (or set admin.login_failure_limit to 0)');
  }
  checkOpts('channel.without_namespace', cfg.channel.without_namespace);
  cfg.channel.namespaces.forEach((ns, i) => {
    if (seen.has(ns.name)) problems.push(`channel.namespaces[${i}].name "${ns.name}" is used twice`);
    seen.add(ns.name);
    checkOpts(`channel.namespaces[${i}]`, ns);
  });
  return problems;
}

/**
 * Centrifugo's regexes are Go's (RE2), where `\p{L}` and friends are Unicode classes: compile with the `u` flag,
 * and without it only for patterns that JavaScript's Unicode mode refuses (e.g. needless escapes like `\-`).
 */
export function compileChannelRegex(pattern: string): RegExp {
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return new RegExp(pattern);
  }
}
