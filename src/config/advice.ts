/**
 * Warnings about a valid configuration that does not do what it seems to: options Chorus accepts but that can
 * have no effect where they are set. `chorus serve` logs them at start and `chorus checkconfig` prints them.
 */
import type { ChannelOptions, Config } from './schema.js';

/** Options that grant nobody anything in a namespace of personal channels (only the owner ever has one). */
const MEANINGLESS_FOR_PERSONAL: ReadonlyArray<keyof ChannelOptions> = [
  'allow_subscribe_for_client',
  'allow_subscribe_for_anonymous',
  'allow_publish_for_anonymous',
  'allow_history_for_anonymous',
  'allow_presence_for_anonymous',
  'allow_user_limited_channels',
  'subscribe_proxy_enabled',
];

export function configWarnings(cfg: Readonly<Config>): string[] {
  const warnings: string[] = [];
  const personal = cfg.client.subscribe_to_user_personal_channel;
  // Without a namespace of their own, personal channels share the options of every channel without a namespace,
  // where these options do mean something for the other channels.
  if (personal.enabled && personal.personal_channel_namespace !== '') {
    const i = cfg.channel.namespaces.findIndex((ns) => ns.name === personal.personal_channel_namespace);
    const ns = cfg.channel.namespaces[i];
    if (ns !== undefined) {
      const set = MEANINGLESS_FOR_PERSONAL.filter((k) => ns[k] === true);
      if (set.length > 0) {
        warnings.push(
          `channel.namespaces[${i}] ("${ns.name}") holds the personal channels ` +
            `(client.subscribe_to_user_personal_channel.personal_channel_namespace), where ${set.join(', ')} ` +
            `cannot have any effect: a personal channel is only ever its owner's (subscribed at connect), never ` +
            `another user's nor an anonymous client's, whatever the options. Remove them to say what happens.`,
        );
      }
    }
  }
  const demo = cfg.demo;
  if (demo.enabled && demo.agent_users.length === 0 && !demo.allow_anonymous_agents) {
    warnings.push(
      `demo.enabled without demo.agent_users: no agent can report to "${demo.agent_channel}" for /demo/monitor. ` +
        'List the users of the agents\' tokens there (e.g. ["agent-*"], with chorus gentoken --user agent-web1).',
    );
  }
  return warnings;
}
