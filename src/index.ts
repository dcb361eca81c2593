/**
 * Chorus as a library: embed the server in a Node app (createChorus), or compose your own (createChorusServer).
 */
export { type Chorus, type ChorusOptions, createChorus } from './chorus.js';
export { type ChorusConfig, ConfigError, defaultConfig, loadConfig } from './config/load.js';
export type { Config } from './config/schema.js';
export type { Broker, Engine, PresenceManager } from './core/ports/engine.js';
export type { Log } from './core/ports/log.js';
export type {
  ClientContext,
  ConnectingContext,
  ConnectingResult,
  Hooks,
  PublishContext,
  PublishDecision,
  RPCHandler,
  SubscribeContext,
  SubscribeDecision,
} from './embedding/app-hooks.js';
export type { AppClientInfo as ClientInfo, AppPublication as Publication } from './embedding/app-values.js';
export {
  ChorusErrors,
  type Disconnect,
  DisconnectError,
  Disconnects,
  Errors,
  type ProtocolError,
  ReplyError,
} from './protocol/codes.js';
export { type ChorusServer, createChorusServer } from './server.js';
export {
  type CommonTokenOptions,
  type ConnectionTokenOptions,
  createConnectionToken,
  createSubscriptionToken,
  type ServerSideSubscription,
  type SubscriptionTokenOptions,
  type TokenAlgorithm,
  type TokenSigningKey,
} from './tokens.js';
