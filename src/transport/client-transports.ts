/**
 * Every client transport of a node behind one face, so the hosts (`chorus serve` in server.ts, the embedding API
 * in chorus.ts) wire the same two things whatever is enabled: `handleUpgrade` on the HTTP server's upgrade event,
 * `route` among the HTTP routes of the listener clients connect to. The kinds come from the composition root's
 * TRANSPORTS list (src/compose.ts): a new transport is its folder plus a line there. They share one set of
 * connection limits, so an address's connections count wherever they arrive.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/schema.js';
import type { Node } from '../core/node.js';
import type { Route } from '../http/router.js';
import type { ClientCodec, CodecName } from '../protocol/codec.js';
import { ConnectionLimits } from './connection-limits.js';

/** What one kind of transport offers its host; a kind that is off returns undefined from its factory. */
export interface TransportEndpoints {
  /** Takes an upgrade meant for this transport; false for any other. */
  handleUpgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Answers an HTTP request meant for this transport; false for any other. */
  readonly route?: Route;
  /** What it serves, for the start-up log ("sse /connection/sse" …). */
  readonly served: readonly string[];
  close?(): void;
}

export interface TransportParts {
  readonly node: Node;
  readonly config: Readonly<Config>;
  readonly codecs: ReadonlyMap<CodecName, ClientCodec>;
  readonly limits: ConnectionLimits;
  /** Where the WebSocket endpoint is, when the embedding app moved it (`attach(server, { path })`). */
  readonly websocketPath?: string | undefined;
}

export interface TransportKind {
  readonly name: string;
  create(parts: TransportParts): TransportEndpoints | undefined;
}

export class ClientTransports {
  private readonly parts: TransportParts;
  private readonly endpoints: Array<TransportEndpoints | undefined>;

  constructor(
    private readonly kinds: readonly TransportKind[],
    parts: Omit<TransportParts, 'limits'>,
  ) {
    this.parts = { ...parts, limits: new ConnectionLimits(parts.config.client) };
    this.endpoints = kinds.map((k) => k.create(this.parts));
  }

  /** What the enabled transports serve. */
  get served(): string[] {
    return this.endpoints.flatMap((e) => e?.served ?? []);
  }

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    for (const e of this.endpoints) if (e?.handleUpgrade?.(req, socket, head)) return true;
    return false;
  };

  readonly route: Route = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    for (const e of this.endpoints) if (e?.route !== undefined && (await e.route(req, res, path))) return true;
    return false;
  };

  /** Rebuilds the transport `name` with its WebSocket endpoint at `path` (the others keep their state). */
  moveWebSocket(name: string, path: string): void {
    const i = this.kinds.findIndex((k) => k.name === name);
    const kind = this.kinds[i];
    if (kind === undefined) throw new Error(`no transport named ${name}`);
    this.endpoints[i]?.close?.();
    this.endpoints[i] = kind.create({ ...this.parts, websocketPath: path });
  }

  close(): void {
    for (const e of this.endpoints) e?.close?.();
    this.parts.limits.close();
  }
}
