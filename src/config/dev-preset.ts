/**
 * The development preset that `npm start` (`chorus serve --dev`) puts below the config file: anonymous
 * connections, an open namespace-less channel space with presence, join/leave, history and recovery, the
 * HTTP-streaming and SSE fallbacks, the pages and metrics, and random secrets (printed at start) when none is
 * configured. It listens on localhost only (127.0.0.1 and ::1): what it opens must stay on the developer's machine. An address set in the file, the
 * environment or with --address still wins, and the start-up log then warns loudly. Never meant for
 * production: the start-up log says so.
 */
import { randomBytes } from 'node:crypto';

export function developmentPreset(): Record<string, unknown> {
  return {
    http_server: { address: 'localhost' },
    prometheus: { enabled: true },
    // The fallbacks the demo chat uses where WebSocket is blocked.
    http_stream: { enabled: true },
    sse: { enabled: true },
    // Any agent may report, anonymous included: the preset is for one developer's machine.
    demo: { enabled: true, agent_users: ['*'], allow_anonymous_agents: true },
    http_api: { key: randomBytes(18).toString('base64url') },
    admin: {
      enabled: true,
      password: randomBytes(9).toString('base64url'),
      secret: randomBytes(24).toString('base64url'),
    },
    client: {
      allow_anonymous_connect_without_token: true,
      allowed_origins: ['http://localhost:*', 'http://127.0.0.1:*', 'http://[::1]:*'],
      direct_messages: { enabled: true, allow_anonymous: true },
      token: { hmac_secret_key: randomBytes(24).toString('base64url') },
    },
    channel: {
      without_namespace: {
        allow_subscribe_for_client: true,
        allow_subscribe_for_anonymous: true,
        allow_publish_for_client: true,
        allow_publish_for_subscriber: true,
        allow_publish_for_anonymous: true,
        allow_presence_for_subscriber: true,
        allow_presence_for_anonymous: true,
        allow_history_for_subscriber: true,
        allow_history_for_anonymous: true,
        presence: true,
        join_leave: true,
        history_size: 100,
        history_ttl: '300s',
        allow_recovery: true,
      },
    },
  };
}
