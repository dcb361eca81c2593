/**
 * Sessions without sockets: a node built by the composition root on any engine and clock, and connections whose
 * transport is a fake that records every message (decoded with the connection's codec). Protocol behaviour is
 * then tested in milliseconds, deterministically, with time moved by hand (test/helpers/manual-clock.ts).
 */
import assert from 'node:assert/strict';
import { compose } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import type { Node } from '../../src/core/node.js';
import type { Clock } from '../../src/core/ports/clock.js';
import type { Engine } from '../../src/core/ports/engine.js';
import { silentLog } from '../../src/core/ports/log.js';
import type { Transport } from '../../src/core/ports/transport.js';
import { Client } from '../../src/core/session/client.js';
import type { Hooks } from '../../src/embedding/app-hooks.js';
import type { ClientCodec } from '../../src/protocol/codec.js';
import { jsonCodec } from '../../src/protocol/json/json-codec.js';
import { protobufCodec } from '../../src/protocol/protobuf/protobuf-codec.js';
import { CommandType, ReplyType } from '../../src/protocol/protobuf/schema.js';
import { hsToken } from './clients.js';

export type Message = Record<string, unknown> & { id?: number; push?: Record<string, unknown> };

/** A node as `chorus serve` builds it, from Centrifugo-style config keys. */
export async function testNode(
  config: Record<string, unknown> = {},
  opts: { engine?: Engine; clock?: Clock; hooks?: Partial<Hooks> } = {},
): Promise<Node> {
  const loaded = loadConfig({ base: config }).config;
  const { node } = await compose({ config: loaded, log: silentLog, ...opts });
  return node;
}

/** A transport that keeps what the session writes, decoded, and how it was closed. */
export class FakeTransport implements Transport {
  readonly name = 'fake';
  readonly unidirectional: boolean;
  readonly emulated = false;
  readonly closeAsPush: boolean;
  readonly codec: ClientCodec;
  readonly messages: Message[] = [];
  /** Raw messages as written. */
  readonly raw: Uint8Array[] = [];
  /** Writes: one entry per write call, with how many messages it carried. */
  readonly writes: number[] = [];
  bufferedAmount = 0;
  closed: { code: number; reason: string } | undefined;
  paused = false;

  constructor(opts: { codec?: ClientCodec; unidirectional?: boolean; closeAsPush?: boolean } = {}) {
    this.codec = opts.codec ?? jsonCodec;
    this.unidirectional = opts.unidirectional ?? false;
    this.closeAsPush = opts.closeAsPush ?? false;
  }

  private take(m: Uint8Array): void {
    this.raw.push(m);
    if (!this.codec.binary) this.messages.push(JSON.parse(Buffer.from(m).toString()) as Message);
  }

  write(message: Uint8Array): void {
    this.writes.push(1);
    this.take(message);
  }

  writeMany(messages: readonly Uint8Array[]): number {
    this.writes.push(messages.length);
    let bytes = 0;
    for (const m of messages) {
      this.take(m);
      bytes += m.length;
    }
    return bytes;
  }

  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
  }

  terminate(): void {}

  pauseReading(): void {
    this.paused = true;
  }

  resumeReading(): void {
    this.paused = false;
  }
}

/** Lets the session's end-of-turn flush run. */
export const flushed = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A client session on a fake transport: commands in, every message out, the close code. */
export class Conn {
  readonly transport: FakeTransport;
  readonly client: Client;
  private lastId = 0;

  constructor(node: Node, transport = new FakeTransport()) {
    this.transport = transport;
    this.client = new Client(node, transport, { transport: 'fake' });
  }

  get id(): string {
    return this.client.id;
  }

  get messages(): Message[] {
    return this.transport.messages;
  }

  get closedWith(): number | undefined {
    return this.transport.closed?.code;
  }

  /** Sends one command; returns its id. */
  send(command: Record<string, unknown>): number {
    const id = ++this.lastId;
    this.client.handleFrame(Buffer.from(JSON.stringify({ id, ...command })));
    return id;
  }

  /** Sends a raw frame. */
  frame(text: string): void {
    this.client.handleFrame(Buffer.from(text));
  }

  async reply(id: number): Promise<Message> {
    await waitFor(`reply ${id}`, () => this.messages.some((m) => m.id === id));
    return this.messages.find((m) => m.id === id) as Message;
  }

  /** Sends a command and waits for its reply. */
  async call(command: Record<string, unknown>): Promise<Message> {
    return this.reply(this.send(command));
  }

  async connect(user?: string, params: Record<string, unknown> = {}): Promise<Message> {
    const token = user === undefined ? undefined : await hsToken({ sub: user });
    const r = await this.call({ connect: { ...(token ? { token } : {}), ...params } });
    assert.ok(r.connect !== undefined, `connect failed: ${JSON.stringify(r)}`);
    return r;
  }

  async subscribe(channel: string, params: Record<string, unknown> = {}): Promise<Message> {
    const r = await this.call({ subscribe: { channel, ...params } });
    assert.ok(r.subscribe !== undefined, `subscribe to ${channel} failed: ${JSON.stringify(r)}`);
    return r;
  }

  /** The connection drops (the peer went away): what a closed browser tab looks like to the server. */
  vanish(): void {
    this.client.handleTransportClosed();
  }

  pushes(channel?: string): Record<string, unknown>[] {
    return this.messages.flatMap((m) =>
      m.push !== undefined && (channel === undefined || m.push.channel === channel) ? [m.push] : [],
    );
  }

  /** The join and leave pushes this connection received about `client` on `channel`, in order. */
  presenceEvents(channel: string, client: string): string[] {
    const out: string[] = [];
    for (const p of this.pushes(channel)) {
      for (const kind of ['join', 'leave']) {
        const ev = p[kind] as { info: { client: string } } | undefined;
        if (ev?.info.client === client) out.push(kind);
      }
    }
    return out;
  }
}

/** Publishes JSON text into a channel through the server API path. */
export function publishText(node: Node, channel: string, text: string) {
  return node.ops.publish({ channel, data: Buffer.from(text) });
}

export type ProtobufReply = Record<string, unknown> & {
  id?: number;
  error?: { code: number; message: string };
  push?: Record<string, unknown> & { channel?: string };
};

/**
 * A client session speaking Protobuf on a fake transport: commands are encoded and replies decoded with the
 * codec's schema (whose wire compatibility with the official definitions test/unit/protobuf-codec.test.ts checks).
 */
export class ProtobufConn {
  readonly transport: FakeTransport;
  readonly client: Client;
  private lastId = 0;

  constructor(node: Node, codec: ClientCodec = protobufCodec) {
    this.transport = new FakeTransport({ codec });
    this.client = new Client(node, this.transport, { transport: 'fake' });
  }

  get closedWith(): number | undefined {
    return this.transport.closed?.code;
  }

  /** Every message written so far, decoded (longs as numbers, bytes as Uint8Array). */
  get replies(): ProtobufReply[] {
    return this.transport.raw.map(
      (m) => ReplyType.toObject(ReplyType.decodeDelimited(m), { longs: Number }) as ProtobufReply,
    );
  }

  send(command: Record<string, unknown>): number {
    const id = ++this.lastId;
    this.client.handleFrame(CommandType.encodeDelimited({ id, ...command }).finish());
    return id;
  }

  async call(command: Record<string, unknown>): Promise<ProtobufReply> {
    const id = this.send(command);
    await waitFor(`reply ${id}`, () => this.replies.some((r) => r.id === id));
    return this.replies.find((r) => r.id === id) as ProtobufReply;
  }

  async connect(user?: string, params: Record<string, unknown> = {}): Promise<ProtobufReply> {
    const token = user === undefined ? undefined : await hsToken({ sub: user });
    const r = await this.call({ connect: { ...(token ? { token } : {}), ...params } });
    assert.ok(r.connect !== undefined, `connect failed: ${JSON.stringify(r)}`);
    return r;
  }

  async subscribe(channel: string, params: Record<string, unknown> = {}): Promise<ProtobufReply> {
    const r = await this.call({ subscribe: { channel, ...params } });
    assert.ok(r.subscribe !== undefined, `subscribe to ${channel} failed: ${JSON.stringify(r)}`);
    return r;
  }

  pushes(channel?: string): Array<Record<string, unknown>> {
    return this.replies.flatMap((r) =>
      r.push !== undefined && (channel === undefined || r.push.channel === channel) ? [r.push] : [],
    );
  }
}
