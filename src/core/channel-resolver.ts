/**
 * Channel names → namespace options, as Centrifugo resolves them: the private prefix ("$") is stripped, the part
 * before the first namespace boundary (":") names the namespace, user-limited channels end with
 * "#user1,user2". Options are looked up once per namespace and shared (frozen config objects).
 */
import { Errors, ReplyError } from '../protocol/codes.js';
import type { ChannelOptions, ChannelSettings } from './options.js';

/** A namespace's channel_regex (Go RE2 syntax is mostly a subset of JavaScript's; `u` where it parses). */
export function compileChannelRegex(pattern: string): RegExp {
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return new RegExp(pattern);
  }
}

export interface ResolvedChannel {
  /** "" for channels without a namespace. */
  namespace: string;
  /** The channel name after the namespace (what channel_regex is matched against). */
  rest: string;
  options: ChannelOptions;
  isPrivate: boolean;
  isUserLimited: boolean;
}

export type ResolveFailure = 'unknown_namespace';

export class ChannelResolver {
  private readonly namespaces = new Map<string, ChannelOptions>();
  private readonly regexes = new Map<ChannelOptions, RegExp>();

  constructor(private readonly cfg: ChannelSettings) {
    for (const ns of cfg.namespaces) this.namespaces.set(ns.name, ns);
    for (const opts of [cfg.without_namespace, ...cfg.namespaces]) {
      if (opts.channel_regex !== '') this.regexes.set(opts, compileChannelRegex(opts.channel_regex));
    }
  }

  /**
   * Error 107 for a name longer than `channel.max_length` (in bytes, as Centrifugo counts; 0: no limit). Every
   * way a channel name enters — client commands, connect, tokens, the server API, embedding code — goes
   * through here, so no name over the limit reaches a map, the engine or a log line.
   */
  checkLength(channel: string): void {
    const max = this.cfg.max_length;
    if (max === 0 || channel.length * 3 <= max) return;
    if (channel.length > max || Buffer.byteLength(channel) > max) {
      throw new ReplyError({
        ...Errors.badRequest,
        message: `bad request: channel name longer than channel.max_length (${max} bytes)`,
      });
    }
  }

  resolve(channel: string): ResolvedChannel | undefined {
    const { private_prefix: priv, namespace_boundary: nb, user_boundary: ub } = this.cfg;
    const trimmed = priv !== '' && channel.startsWith(priv) ? channel.slice(priv.length) : channel;
    let namespace = '';
    let rest = channel;
    let options: ChannelOptions | undefined = this.cfg.without_namespace;
    if (nb !== '') {
      const i = trimmed.indexOf(nb);
      if (i !== -1) {
        namespace = trimmed.slice(0, i);
        rest = trimmed.slice(i + nb.length);
        // ":x" has an empty namespace name: Centrifugo gives it the options of channels without a namespace.
        options = namespace === '' ? this.cfg.without_namespace : this.namespaces.get(namespace);
      }
    }
    if (options === undefined) return undefined;
    return {
      namespace,
      rest,
      options,
      isPrivate: priv !== '' && channel.startsWith(priv),
      isUserLimited: options.allow_user_limited_channels && ub !== '' && channel.includes(ub),
    };
  }

  /** channel_regex when set, otherwise ASCII only (Centrifugo's rule). */
  validName(channel: string, resolved: ResolvedChannel): boolean {
    const re = this.regexes.get(resolved.options);
    if (re !== undefined) return re.test(resolved.rest);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is the point: ASCII only.
    return /^[\x00-\x7f]*$/.test(channel);
  }

  /** Whether `user` is among the users a user-limited channel ("dialog#1,2") names. */
  userAllowed(channel: string, user: string): boolean {
    const { user_boundary: ub, user_separator: sep } = this.cfg;
    if (ub === '' || !channel.includes(ub)) return true;
    const last = channel.slice(channel.lastIndexOf(ub) + ub.length);
    if (sep === '') return last === user;
    return last.split(sep).includes(user);
  }
}
