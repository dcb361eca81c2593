/**
 * The configuration schema: Centrifugo v6 key names, nesting and meaning, with Chorus's defaults written beside
 * each field. Durations are Go-style strings ("25s") in the file and milliseconds once parsed. Keys that are
 * Chorus extensions are marked so (docs/configuration.md lists them).
 */
import { z } from 'zod';
import { compileChannelRegex } from '../core/channel-resolver.js';
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
const positive = (def: number) => z.number().int().min(1).default(def);

/**
 * Options of a channel namespace (also those of channels without a namespace). Every comment beside a field is
 * its line in docs/configuration.md (`npm run docs:config` writes the tables from them).
 */
export const channelOptionsShape = {
  /** Keep presence (who is subscribed); enables `presence` and `presence_stats`. */
  presence: bool(),
  /** Publish join and leave events to subscribers that ask for them (the SDK's `joinLeave` option). */
  join_leave: bool(),
  /** Push join/leave to every subscriber, not only to those who asked. */
  force_push_join_leave: bool(),
  /** Publications kept per channel (needs `history_ttl`). */
  history_size: uint(0),
  /** How long they are kept after the last publication (needs `history_size`). */
  history_ttl: dur('0s'),
  /** How long the stream position (offset, epoch) is kept; `0s`: `channel.history_meta_ttl`. */
  history_meta_ttl: dur('0s'),
  /** Every subscription is positioned: a gap in offsets is signalled. */
  force_positioning: bool(),
  /** Subscriptions may ask for positioning. */
  allow_positioning: bool(),
  /** Every subscription is recoverable: after a reconnect it gets what it missed, from history. */
  force_recovery: bool(),
  /** Subscriptions may ask for recovery. */
  allow_recovery: bool(),
  /** Authenticated clients may subscribe. */
  allow_subscribe_for_client: bool(),
  /** … anonymous ones too (with the above). */
  allow_subscribe_for_anonymous: bool(),
  /** Subscribers may publish. */
  allow_publish_for_subscriber: bool(),
  /** Authenticated clients may publish, subscribed or not. */
  allow_publish_for_client: bool(),
  /** … anonymous ones too (with one of the above). */
  allow_publish_for_anonymous: bool(),
  /** Subscribers may call history. */
  allow_history_for_subscriber: bool(),
  /** Authenticated clients may call history. */
  allow_history_for_client: bool(),
  /** … anonymous ones too. */
  allow_history_for_anonymous: bool(),
  /** Subscribers may call presence. */
  allow_presence_for_subscriber: bool(),
  /** Authenticated clients may call presence. */
  allow_presence_for_client: bool(),
  /** … anonymous ones too. */
  allow_presence_for_anonymous: bool(),
  /** `name#user1,user2` channels, open to the users listed. */
  allow_user_limited_channels: bool(),
  /** The name after the namespace must match this regular expression (otherwise ASCII only). */
  channel_regex: str(),
  /** The subscribe proxy (`channel.proxy.subscribe`) decides who may subscribe, instead of the permissions. */
  subscribe_proxy_enabled: bool(),
  /** The publish proxy (`channel.proxy.publish`) decides about every client publication, and may transform it. */
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
  /** URL the request is POSTed to. */
  endpoint: str(),
  /** Time the backend has to answer (then error 100, temporary: the SDK retries). */
  timeout: dur('1s'),
  /** Headers of the client's connection request forwarded to the backend (e.g. `Cookie`, `Authorization`). */
  http_headers: strList(),
  /**
   * Chorus extension: largest answer read from the backend, in bytes; past it the call fails (error 100) and the
   * rest is not read. 0: no limit.
   */
  max_response_size: uint(4 * 1024 * 1024),
};

const tokenOptionsShape = {
  /** Secret for HS256, HS384 and HS512. */
  hmac_secret_key: str(),
  /** PEM public key for RS256, RS384 and RS512. */
  rsa_public_key: str(),
  /** PEM public key for ES256, ES384 and ES512. */
  ecdsa_public_key: str(),
  /** JWKS URL: keys chosen by `kid` (RS*, ES*, EdDSA). */
  jwks_public_endpoint: str(),
  /** The `aud` claim a token must carry. */
  audience: str(),
  /** `aud` must match this regular expression. */
  audience_regex: str(),
  /** The `iss` claim a token must carry. */
  issuer: str(),
  /** `iss` must match this regular expression. */
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
    /** HTTPS and `wss://` on the listener (docs/security.md). */
    enabled: bool(),
    /**
     * The certificate (chain): PEM text, base64-encoded PEM, or the path of a PEM file (watched: a change is
     * picked up without dropping connections; so is SIGHUP).
     */
    cert_pem: str(),
    /** Its private key, in the same forms. */
    key_pem: str(),
    /** Mutual TLS: clients must present a certificate signed by one of these CAs (same forms). */
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

/** The path of a connection endpoint: starts with "/". */
function endpointPath(def: string) {
  return z
    .string()
    .refine((p) => p.startsWith('/') && !/[?#\s]/.test(p), 'must be a path starting with "/" (no query, no spaces)')
    .default(def);
}

/**
 * A refused connect on uni_sse or uni_http_stream answered with an HTTP status instead of a `disconnect` push in
 * a 200 stream (Centrifugo's option of that name).
 */
const connectCodeToHttpResponse = z
  .strictObject({
    /** Answer a refused connect with an HTTP status: the matching transform's, or 500 when none matches. */
    enabled: bool(),
    /**
     * `[{"code": 3500, "to": {"status_code": 401, "body": "…"}}]`: a connect error code (`109` …) or disconnect
     * code (`3500` …) → HTTP status and body (empty body: the error's message).
     */
    transforms: z
      .array(
        z.strictObject({
          code: z.number().int().min(1, 'code must be set (an error or disconnect code)'),
          to: z.strictObject({
            status_code: z.number().int().min(100).max(599),
            body: str(),
          }),
        }),
      )
      .default([]),
  })
  .prefault({});

/** Options of uni_sse and uni_http_stream (Centrifugo's keys and defaults). */
const uniHttpShape = {
  /** Largest connect request in a POST body, in bytes (HTTP 413 above). */
  max_request_body_size: z.number().int().min(1, 'must be at least 1 byte').default(65_536),
  connect_code_to_http_response: connectCodeToHttpResponse,
};

export const configSchema = z.strictObject({
  http_server: z
    .strictObject({
      /**
       * Address to listen on: `localhost` listens on both loopback addresses (127.0.0.1 and ::1); empty: every
       * interface.
       */
      address: str(),
      /** Port to listen on. */
      port: z.number().int().min(0).max(65535).default(8000),
      /**
       * Chorus extension: time a connection has to send a complete request head (request line and headers), from
       * when it opens or from the end of the previous request; past it the connection is closed (HTTP 408), so
       * connections that send nothing, or a header byte now and then, do not pile up. 0: no limit.
       */
      headers_timeout: dur('10s'),
      /**
       * Chorus extension: time to receive a whole request, head and body; past it the connection is closed
       * (HTTP 408). Responses (streamed ones included) and WebSocket connections are not limited by it. 0: no limit.
       */
      request_timeout: dur('60s'),
      /**
       * Chorus extension: addresses or CIDR ranges (`10.0.0.0/8`, `::1`) of your reverse proxies: only for
       * requests from them is the client address read from `X-Forwarded-For` (the right-most entry that is not a
       * trusted proxy) or `X-Real-IP`. Never trusted otherwise (docs/security.md).
       */
      trusted_proxies: z
        .array(z.string().refine((t) => parseCidr(t) !== undefined, 'expected an IP address or a CIDR range'))
        .default([]),
      /**
       * A second listener for the operators' endpoints — server API, admin, `/metrics`, `/health`, `/ready` —
       * which then leave the public port (docs/security.md); a number or a string, as in Centrifugo. Empty: none.
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
      /** `trace`, `debug`, `info`, `warn`, `error` or `none`; pretty in a terminal, JSON lines otherwise. */
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'none']).default('info'),
    })
    .prefault({}),
  node: z
    .strictObject({
      /**
       * Name of this node in the `info` API, the admin page and every JSON log line. Empty: `<hostname>_<port>`,
       * the port being the one the server listens on.
       */
      name: str(),
    })
    .prefault({}),
  engine: z
    .strictObject({
      /** `memory` (one process) or `redis` (several processes and machines as one: docs/scaling.md). */
      type: z.enum(['memory', 'redis']).default('memory'),
      redis: z
        .strictObject({
          /** One Redis, or a list: channels are spread over them by consistent hashing (`redis://host:port/db`). */
          address: z
            .union([z.string(), z.array(z.string())])
            .transform((a) => (Array.isArray(a) ? a : a.split(/[\s,]+/).filter(Boolean)))
            .prefault(['redis://127.0.0.1:6379']),
          /** Prefix of every key and pub/sub channel (several clusters can share one Redis). */
          prefix: str('centrifugo'),
          /** ACL user. */
          user: str(),
          /** Password (masked in logs). */
          password: str(),
          /** Database number. */
          db: uint(0),
          /** Time to establish a connection. */
          connect_timeout: dur('1s'),
          /** A command not answered in time fails (the client gets error 100, temporary). */
          io_timeout: dur('4s'),
          /** Sentinel addresses (`host:port`); with them, `address` is ignored. */
          sentinel_address: strList(),
          /** The master Sentinel watches. */
          sentinel_master_name: str(),
          /** Password of the Sentinels. */
          sentinel_password: str(),
          tls: z
            .strictObject({
              /** TLS to Redis. */
              enabled: bool(),
              /** Do not verify the server certificate. */
              insecure_skip_verify: bool(),
            })
            .prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
  client: z
    .strictObject({
      /**
       * Anonymous connections, no channel permission checks (other users' personal channels stay closed), no
       * connection expiry: for tests and demos only.
       */
      insecure: bool(),
      /** Browser origins allowed to open a WebSocket (`*` wildcards); empty: same origin only. */
      allowed_origins: strList(),
      /** Server heartbeat interval (`0s` disables heartbeats). */
      ping_interval: dur('25s'),
      /** Time to answer a heartbeat before close 3012; less than the interval. */
      pong_timeout: dur('8s'),
      /** Grace after the connection token expires before close 3005. */
      expired_close_delay: dur('25s'),
      /** Grace after a subscription token expires before unsubscribe 2501. */
      expired_sub_close_delay: dur('25s'),
      /**
       * How often a connection refreshes its presence entries; they expire after two intervals (a node that dies
       * takes its clients out of presence within 10 s regardless, see docs/scaling.md).
       */
      presence_update_interval: dur('27s'),
      /** Add the server time (Unix ms) to the connect result. */
      connect_include_server_time: bool(),
      /** Time to send `connect` before close 3502. */
      stale_close_delay: dur('10s'),
      /** Subscriptions per connection (error 106; 3505 at connect). */
      channel_limit: uint(128),
      /** Bytes waiting to be written to one connection before close 3008. */
      queue_max_size: uint(1_048_576),
      /**
       * Chorus extension (Centrifugo PRO has it): how long pushes to a connection may wait to share one write —
       * fewer system calls, the main CPU cost of fan-out, for up to this much extra latency; replies never wait.
       * `0s`: pushes go out at the end of each event-loop turn. `client.queue_max_size` must hold one window's
       * pushes: a connection that is sent more in one window is closed with 3008.
       */
      write_delay: dur('0s'),
      /**
       * Chorus extension: most messages in one WebSocket frame (newline-separated); a longer queue goes out as
       * several frames in the same write, so there is no cap on throughput.
       */
      max_messages_in_frame: uint(16),
      /** Connections per node (close 3504); `0`: no limit. */
      connection_limit: uint(0),
      /** Connections per user (close 3504); `0`: no limit. */
      user_connection_limit: uint(0),
      /**
       * New connections per second this node accepts (above: the upgrade is refused with HTTP 503, as Centrifugo
       * does; the SDKs retry); `0`: no limit.
       */
      connection_rate_limit: uint(0),
      /**
       * Chorus extension: open connections per client address (IPv6: per /64); above: HTTP 429 at the upgrade
       * (docs/security.md); `0`: no limit.
       */
      address_connection_limit: uint(0),
      /**
       * Chorus extension: new connections per second per client address; above: HTTP 429 with `Retry-After`;
       * `0`: no limit.
       */
      address_connection_rate_limit: uint(0),
      /** Chorus extension: new connections per client address allowed at once above that rate. */
      address_connection_rate_burst: uint(20),
      /** Most publications one `history` call returns. */
      history_max_publication_limit: uint(300),
      /** Most publications one recovery may replay; more → `recovered: false`. */
      recovery_max_publication_limit: uint(300),
      /** Refuse tokens with an empty `sub` (close 3507). */
      disallow_anonymous_connection_tokens: bool(),
      /** Accept connections without a token as anonymous (user `""`). */
      allow_anonymous_connect_without_token: bool(),
      token: z.strictObject(tokenOptionsShape).prefault({}),
      subscription_token: z
        .strictObject({
          /** Verify subscription tokens with their own keys (the ones below) instead of `client.token`'s. */
          enabled: bool(),
          ...tokenOptionsShape,
        })
        .prefault({}),
      proxy: z
        .strictObject({
          connect: z
            .strictObject({
              /** Authenticate connections through the connect proxy. */
              enabled: bool(),
              ...proxyShape,
            })
            .prefault({}),
        })
        .prefault({}),
      subscribe_to_user_personal_channel: z
        .strictObject({
          /**
           * Subscribe every connection of user U to its personal channel `#U`, which is only ever U's: nobody else
           * may subscribe to it, publish into it or read its history or presence, whatever the namespace options
           * (docs/security.md).
           */
          enabled: bool(),
          /**
           * Namespace of personal channels: empty gives `#U`, `personal` gives `personal:#U` (it must exist).
           * Options there that can grant nobody anything (`allow_subscribe_for_client`, `*_for_anonymous`, …) are
           * reported as warnings.
           */
          personal_channel_namespace: str(),
          /** Keep one connection per user: a new one closes the user's others (3504). */
          single_connection: bool(),
        })
        .prefault({}),
      /**
       * Chorus extension: client-to-client direct messages through a built-in RPC method. The receiver gets a
       * `message` push {"from":{"user","client"},"data":…} whose sender identity the server fills in.
       */
      direct_messages: z
        .strictObject({
          /** Client-to-client messages through an RPC method (docs/api.md). */
          enabled: bool(),
          /** The RPC method's name. */
          rpc_method: str('chorus.send'),
          /** Anonymous connections may send. */
          allow_anonymous: bool(),
          /** Messages one connection may send per second (error 111 above). */
          rate_limit: uint(10),
        })
        .prefault({}),
      /**
       * Chorus extension: commands a connection may send per second (token bucket), 0 = unlimited. Set well above
       * what any official SDK sends (their test suites publish in tight loops), so it only stops floods.
       */
      command_rate_limit: uint(1000),
      /** Chorus extension: commands allowed in a burst above the rate; another burst's deficit closes with 3013. */
      command_rate_burst: uint(10000),
      connect_code_to_unidirectional_disconnect: z
        .strictObject({
          /**
           * Map connect error codes to the disconnect a unidirectional client gets; unmapped: 109 and 110 → 3005,
           * 111 → 3013, 103 → 3507, others 3004 (as Centrifugo).
           */
          enabled: bool(),
          /** `[{"code": 403, "to": {"code": 4903, "reason": "forbidden"}}]`: error code → disconnect code and reason. */
          transforms: z
            .array(
              z.strictObject({
                code: z.number().int().min(1, 'code must be set (a connect error code)'),
                to: z.strictObject({
                  code: z.number().int().min(3000).max(4999),
                  reason: z
                    .string()
                    .regex(/^[\x20-\x7e]*$/, 'reason must be printable ASCII')
                    .max(123, 'reason must fit a WebSocket close frame (123 bytes)')
                    .default(''),
                }),
              }),
            )
            .default([]),
        })
        .prefault({}),
    })
    .prefault({}),
  http_api: z
    .strictObject({
      /** The key every API request must carry (`X-API-Key` or `Authorization: apikey`); without one: 401. */
      key: str(),
      /** Serve the API without a key: only behind a trusted network boundary. */
      insecure: bool(),
      /** No server API at all. */
      disabled: bool(),
      /** Where the API is served. */
      handler_prefix: str('/api'),
      /** `transport`: errors as HTTP statuses for every request, as the `X-Centrifugo-Error-Mode` header does. */
      error_mode: z.enum(['', 'transport']).default(''),
      /** Chorus extension: largest request body in bytes (413 above). */
      max_body_size: uint(4 * 1024 * 1024),
      /**
       * Chorus extension: most commands in one request (a `batch`, or lines of the legacy `POST /api`); error 107
       * above. 0: no limit.
       */
      max_batch_commands: uint(10_000),
      /** With `http_server.internal_port`: serve the API on the public port too (Centrifugo's key). */
      external: bool(),
    })
    .prefault({}),
  admin: z
    .strictObject({
      /** The admin page at `/admin`, behind a login. */
      enabled: bool(),
      /** Password of the admin login (required with `admin.enabled`). */
      password: str(),
      /** Secret signing admin sessions (required with `admin.enabled`). */
      secret: str(),
      /** No login: only behind a trusted network boundary. */
      insecure: bool(),
      /** With `http_server.internal_port`: serve the admin page on the public port instead (Centrifugo's key). */
      external: bool(),
      /** Chorus extension: how long an admin session lasts after the login. */
      session_ttl: dur('12h'),
      /**
       * Chorus extension: failed logins one client address may make per `login_failure_window`; then 429 with
       * `Retry-After` (`0`: no limit).
       */
      login_failure_limit: uint(5),
      /** Chorus extension: the window of `login_failure_limit`; logins from that address are refused until it ends. */
      login_failure_window: dur('1m'),
    })
    .prefault({}),
  /** Chorus extension: the demo pages (/demo/chat, /demo/monitor). */
  demo: z
    .strictObject({
      /** The demo pages `/demo/chat` and `/demo/monitor`. */
      enabled: bool(),
      /**
       * The channel `chorus agent` reports to and /demo/monitor shows; while `demo.enabled`, only agents may
       * publish into it, whatever its namespace allows.
       */
      agent_channel: str('metrics'),
      /**
       * The users (IDs from verified tokens, or globs such as `agent-*`) whose connections may report as agents;
       * the dashboard names each agent by this user.
       */
      agent_users: strList(),
      /**
       * Anonymous connections may report as agents too (named by their payload; the development preset turns it
       * on; never on a shared network).
       */
      allow_anonymous_agents: bool(),
    })
    .prefault({}),
  prometheus: z
    .strictObject({
      /** Prometheus metrics at `/metrics` (off by default, as in Centrifugo; `--dev` turns it on). */
      enabled: bool(),
    })
    .prefault({}),
  websocket: z
    .strictObject({
      /** Largest frame a client may send (bigger: close 1009). */
      message_size_limit: uint(65_536),
      /** How long a closing connection may take to finish the close handshake before it is cut. */
      write_timeout: dur('1s'),
      /** permessage-deflate (costs CPU and memory per connection; off by default). */
      compression: bool(),
    })
    .prefault({}),
  http_stream: z
    .strictObject({
      /**
       * HTTP-streaming with bidirectional emulation, the SDKs' fallback where WebSocket is blocked: the client POSTs
       * its connect command and reads replies and pushes from the streamed response (JSON, or Protobuf with
       * `Content-Type: application/octet-stream`); its later commands arrive at `emulation.handler_prefix`.
       */
      enabled: bool(),
      /** Path of the HTTP-streaming endpoint. */
      handler_prefix: str('/connection/http_stream'),
      /** Largest connect request body in bytes (413 above). */
      max_request_body_size: positive(65_536),
    })
    .prefault({}),
  sse: z
    .strictObject({
      /**
       * Server-Sent Events (EventSource) with bidirectional emulation: the connect command in the `cf_connect` URL
       * parameter of a GET (or the body of a POST), replies and pushes as `data:` events (JSON only); later
       * commands arrive at `emulation.handler_prefix`.
       */
      enabled: bool(),
      /** Path of the SSE endpoint. */
      handler_prefix: str('/connection/sse'),
      /** Largest connect request body of a POST in bytes (413 above); a browser's EventSource sends a GET. */
      max_request_body_size: positive(65_536),
    })
    .prefault({}),
  emulation: z
    .strictObject({
      /**
       * Path where HTTP-streaming and SSE clients POST their commands after connect (served while either is
       * enabled); a request reaching a node other than the session's is routed to it through the engine.
       */
      handler_prefix: str('/emulation'),
      /** Largest emulation request body in bytes (413 above). */
      max_request_body_size: positive(65_536),
    })
    .prefault({}),
  uni_websocket: z
    .strictObject({
      /**
       * The unidirectional WebSocket endpoint: the client sends a connect request (its first message, or the
       * `cf_connect` URL parameter), then only receives pushes, one per frame (docs/protocol.md).
       */
      enabled: bool(),
      /** Its path. */
      handler_prefix: endpointPath('/connection/uni_websocket'),
      /** Largest message a client may send, i.e. its connect request (bigger: close 1009). */
      message_size_limit: uint(65_536),
      /** How long a closing connection may take to finish the close handshake before it is cut. */
      write_timeout: dur('1000ms'),
      /** Several pushes in one frame, separated by newlines (the client must split frames): fewer system calls. */
      join_push_messages: bool(),
      /** No `disconnect` push before closing: the close frame alone carries the code and reason. */
      disable_disconnect_push: bool(),
      /** Close without the WebSocket closing handshake, as Centrifugo did before 6.5.1. */
      disable_closing_handshake: bool(),
    })
    .prefault({}),
  uni_sse: z
    .strictObject({
      /**
       * The unidirectional Server-Sent Events endpoint (`EventSource`): the connect request in the `cf_connect`
       * URL parameter (GET) or a POST body; pushes as `data:` events (docs/protocol.md).
       */
      enabled: bool(),
      /** Its path. */
      handler_prefix: endpointPath('/connection/uni_sse'),
      ...uniHttpShape,
    })
    .prefault({}),
  uni_http_stream: z
    .strictObject({
      /**
       * The unidirectional HTTP-streaming endpoint: POST the connect request, read pushes as newline-separated
       * JSON from the response (docs/protocol.md).
       */
      enabled: bool(),
      /** Its path. */
      handler_prefix: endpointPath('/connection/uni_http_stream'),
      ...uniHttpShape,
    })
    .prefault({}),
  channel: z
    .strictObject({
      /** Longest channel name in bytes; longer is error 107 wherever a name comes in (`0`: no limit). */
      max_length: uint(255),
      /** Channels that start with it need a subscription token. */
      private_prefix: str('$'),
      /** Separates the namespace from the rest of the name. */
      namespace_boundary: str(':'),
      /** Starts the user list of a user-limited channel. */
      user_boundary: str('#'),
      /** Separates users in that list. */
      user_separator: str(','),
      /** How long a stream's position outlives its last publication, where a namespace leaves it at `0s`. */
      history_meta_ttl: dur('720h'),
      /** Options of channels without a namespace: the channel options below, all off by default. */
      without_namespace: channelOptions.prefault({}),
      /**
       * `[{ "name": "chat", …options }]`: each entry has a `name` matching `^[-a-zA-Z0-9_.]{2,}$` and the channel
       * options below.
       */
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
      /** `ns:method` selects an RPC namespace. */
      namespace_boundary: str(':'),
      without_namespace: z
        .strictObject({
          /** Send RPC methods without a namespace to the RPC proxy. */
          proxy_enabled: bool(),
        })
        .prefault({}),
      /** `[{ "name": "app", "proxy_enabled": true }]`: RPC namespaces whose methods go to the RPC proxy. */
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
  const h = cfg.http_server;
  if (h.headers_timeout > 0 && h.request_timeout > 0 && h.headers_timeout > h.request_timeout) {
    problems.push('http_server.headers_timeout must not be longer than http_server.request_timeout');
  }
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
  const paths = new Map<string, string>([['/connection/websocket', 'the WebSocket endpoint']]);
  for (const key of ['uni_websocket', 'uni_sse', 'uni_http_stream'] as const) {
    if (!cfg[key].enabled) continue;
    const taken = paths.get(cfg[key].handler_prefix);
    if (taken !== undefined) problems.push(`${key}.handler_prefix "${cfg[key].handler_prefix}" is already ${taken}`);
    paths.set(cfg[key].handler_prefix, `${key}.handler_prefix`);
  }
  problems.push(...connectionPathProblems(cfg));
  checkOpts('channel.without_namespace', cfg.channel.without_namespace);
  cfg.channel.namespaces.forEach((ns, i) => {
    if (seen.has(ns.name)) problems.push(`channel.namespaces[${i}].name "${ns.name}" is used twice`);
    seen.add(ns.name);
    checkOpts(`channel.namespaces[${i}]`, ns);
  });
  return problems;
}

/** Paths Chorus serves itself, which a transport's `handler_prefix` must not take over. */
const RESERVED_PATHS = [
  '/connection/websocket',
  '/admin',
  '/metrics',
  '/health',
  '/ready',
  '/info',
  '/demo',
  '/assets',
];

/** A handler prefix as it is matched: without trailing slashes (as Centrifugo trims them). */
export function handlerPath(prefix: string): string {
  return prefix.replace(/\/+$/, '');
}

/** The enabled HTTP transports' paths: each a path of its own, none shadowing another endpoint. */
function connectionPathProblems(cfg: Config): string[] {
  const problems: string[] = [];
  const enabled: Array<[string, string]> = [];
  if (cfg.http_stream.enabled) enabled.push(['http_stream.handler_prefix', cfg.http_stream.handler_prefix]);
  if (cfg.sse.enabled) enabled.push(['sse.handler_prefix', cfg.sse.handler_prefix]);
  if (cfg.http_stream.enabled || cfg.sse.enabled) {
    enabled.push(['emulation.handler_prefix', cfg.emulation.handler_prefix]);
  }
  const api = handlerPath(cfg.http_api.handler_prefix);
  const taken = new Map<string, string>();
  // The unidirectional transports' paths are checked among themselves; these must not take one of them either.
  for (const key of ['uni_websocket', 'uni_sse', 'uni_http_stream'] as const) {
    if (cfg[key].enabled) taken.set(handlerPath(cfg[key].handler_prefix), `${key}.handler_prefix`);
  }
  for (const [key, prefix] of enabled) {
    const path = handlerPath(prefix);
    if (!/^\/[^\s?#]+$/.test(path)) {
      problems.push(
        `${key} must be a path such as "/connection/sse" (starting with "/", not "/" alone), got "${prefix}"`,
      );
      continue;
    }
    const clash = RESERVED_PATHS.find((p) => path === p || path.startsWith(`${p}/`));
    if (clash !== undefined) problems.push(`${key} "${prefix}" would take over ${clash}, which Chorus serves`);
    else if (!cfg.http_api.disabled && (path === api || path.startsWith(`${api}/`))) {
      problems.push(`${key} "${prefix}" would take over the server API at http_api.handler_prefix "${api}"`);
    }
    const other = taken.get(path);
    if (other !== undefined) problems.push(`${key} and ${other} must differ (both are "${path}")`);
    taken.set(path, key);
  }
  return problems;
}

/**
 * Centrifugo's regexes are Go's (RE2), where `\p{L}` and friends are Unicode classes: compile with the `u` flag,
 * and without it only for patterns that JavaScript's Unicode mode refuses (e.g. needless escapes like `\-`).
 */
