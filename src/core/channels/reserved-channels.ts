/**
 * Channels Chorus reserves, whatever the namespace options, tokens, hooks or insecure mode say:
 *
 * - A user's personal channel (`client.subscribe_to_user_personal_channel`, "#42" or "personal:#42") is only ever
 *   that user's. Nobody else may subscribe to it (client subscribe with or without a subscription token,
 *   connect-time `subs`, token `channels`/`subs` claims, hooks, the server API), publish into it, or read its
 *   history or presence. The owner is subscribed server-side at connect; the server API may publish into it.
 *   Centrifugo protects "#42" only when the namespace sets `allow_user_limited_channels`, and lets a subscription
 *   token or insecure mode open it to anyone: a personal channel carries what is meant for one user (password
 *   reset codes, direct messages), so Chorus refuses that whatever the configuration.
 * - The channel `chorus agent` reports to (`demo.agent_channel`, while the demo pages are on): only the users
 *   `demo.agent_users` names (and anonymous connections with `demo.allow_anonymous_agents`) may publish into it,
 *   so a client cannot pose as an agent on /demo/monitor.
 */
import { Errors, ReplyError } from '../../protocol/codes.js';

export interface ReservedChannelSettings {
  /** Channel name prefix of personal channels ("#" or "personal:#"); undefined while they are off. */
  personalPrefix: string | undefined;
  /** The channel monitoring agents report to; undefined while the demo pages are off. */
  agentChannel: string | undefined;
  /** Users (globs such as "agent-*") that may report as agents. */
  agentUsers: readonly string[];
  anonymousAgents: boolean;
}

/** Glob → RegExp: `*` any run, `?` one character; everything else literal (as API channel patterns). */
function globRegExp(glob: string): RegExp {
  let re = '';
  for (const c of glob) {
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else re += c.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

export class ReservedChannels {
  /** "#" or "personal:#"; undefined while personal channels are off. */
  private readonly personalPrefix: string | undefined;
  private readonly agentChannel: string | undefined;
  private readonly agentUsers: RegExp[];
  private readonly anonymousAgents: boolean;

  constructor(settings: ReservedChannelSettings) {
    this.personalPrefix = settings.personalPrefix;
    this.agentChannel = settings.agentChannel;
    this.agentUsers = settings.agentUsers.map(globRegExp);
    this.anonymousAgents = settings.anonymousAgents;
  }

  /** The personal channel of `user` ("#42"), or undefined while personal channels are off. */
  personalChannel(user: string): string | undefined {
    return this.personalPrefix === undefined ? undefined : this.personalPrefix + user;
  }

  /** The user a personal channel belongs to; undefined for any other channel. */
  personalOwner(channel: string): string | undefined {
    const p = this.personalPrefix;
    if (p === undefined || !channel.startsWith(p)) return undefined;
    return channel.slice(p.length);
  }

  /** Whether `user` may have `channel` at all: false for someone else's personal channel ("" owns none). */
  mayHave(channel: string, user: string): boolean {
    const owner = this.personalOwner(channel);
    return owner === undefined || (owner !== '' && owner === user);
  }

  /** Throws 103 unless `user` may have `channel` (any read or subscription of a client). */
  checkHave(channel: string, user: string): void {
    if (!this.mayHave(channel, user)) {
      throw new ReplyError(Errors.permissionDenied, `"${channel}" is the personal channel of another user`);
    }
  }

  /**
   * Whether a client publication into `channel` by `user` is decided here: `false` refuses it (someone else's
   * personal channel, or the agent channel for a non-agent), `true` allows it (an agent reporting), `undefined`
   * leaves it to hooks and namespace permissions.
   */
  publishVerdict(channel: string, user: string): boolean | undefined {
    if (!this.mayHave(channel, user)) return false;
    if (channel === this.agentChannel) return this.isAgent(user);
    return undefined;
  }

  /** Whether a connection of `user` is a monitoring agent (demo.agent_users, demo.allow_anonymous_agents). */
  isAgent(user: string): boolean {
    if (user === '') return this.anonymousAgents;
    return this.agentUsers.some((re) => re.test(user));
  }
}
