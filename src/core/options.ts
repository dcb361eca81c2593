/**
 * The settings the core reads: the `client` and `channel` sections of the configuration, in Centrifugo v6's key
 * names, durations in milliseconds. src/config validates a file into a superset of this shape (the composition
 * root checks the fit at compile time); tests may build it directly.
 */

/** Options of a channel namespace (also those of channels without a namespace). */
export interface ChannelOptions {
  readonly presence: boolean;
  readonly join_leave: boolean;
  readonly force_push_join_leave: boolean;
  readonly history_size: number;
  readonly history_ttl: number;
  readonly history_meta_ttl: number;
  readonly force_positioning: boolean;
  readonly allow_positioning: boolean;
  readonly force_recovery: boolean;
  readonly allow_recovery: boolean;
  readonly allow_subscribe_for_client: boolean;
  readonly allow_subscribe_for_anonymous: boolean;
  readonly allow_publish_for_subscriber: boolean;
  readonly allow_publish_for_client: boolean;
  readonly allow_publish_for_anonymous: boolean;
  readonly allow_history_for_subscriber: boolean;
  readonly allow_history_for_client: boolean;
  readonly allow_history_for_anonymous: boolean;
  readonly allow_presence_for_subscriber: boolean;
  readonly allow_presence_for_client: boolean;
  readonly allow_presence_for_anonymous: boolean;
  readonly allow_user_limited_channels: boolean;
  readonly channel_regex: string;
  /** The subscribe proxy decides subscriptions in this namespace (read by the proxy hook, src/proxy). */
  readonly subscribe_proxy_enabled?: boolean;
  /** The publish proxy decides publications in this namespace. */
  readonly publish_proxy_enabled?: boolean;
}

export interface NamespaceOptions extends ChannelOptions {
  readonly name: string;
}

export interface ChannelSettings {
  readonly max_length: number;
  readonly private_prefix: string;
  readonly namespace_boundary: string;
  readonly user_boundary: string;
  readonly user_separator: string;
  /** Default for namespaces that leave history_meta_ttl at 0. */
  readonly history_meta_ttl: number;
  readonly without_namespace: ChannelOptions;
  readonly namespaces: readonly NamespaceOptions[];
}

export interface ClientSettings {
  readonly insecure: boolean;
  readonly ping_interval: number;
  readonly pong_timeout: number;
  readonly expired_close_delay: number;
  readonly expired_sub_close_delay: number;
  readonly presence_update_interval: number;
  readonly connect_include_server_time: boolean;
  readonly stale_close_delay: number;
  readonly channel_limit: number;
  readonly queue_max_size: number;
  readonly write_delay: number;
  readonly max_messages_in_frame: number;
  readonly connection_limit: number;
  readonly user_connection_limit: number;
  readonly history_max_publication_limit: number;
  readonly recovery_max_publication_limit: number;
  readonly disallow_anonymous_connection_tokens: boolean;
  readonly allow_anonymous_connect_without_token: boolean;
  readonly subscribe_to_user_personal_channel: {
    readonly enabled: boolean;
    readonly personal_channel_namespace: string;
    readonly single_connection: boolean;
  };
  readonly command_rate_limit: number;
  readonly command_rate_burst: number;
  /** Connect error codes mapped to disconnects for unidirectional clients (Centrifugo's key); optional. */
  readonly connect_code_to_unidirectional_disconnect?: {
    readonly enabled: boolean;
    readonly transforms: readonly {
      readonly code: number;
      readonly to: { readonly code: number; readonly reason: string };
    }[];
  };
}

export interface CoreConfig {
  readonly client: ClientSettings;
  readonly channel: ChannelSettings;
}
