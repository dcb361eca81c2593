/**
 * A test double around a real engine that lets a test decide when engine calls complete, so every interleaving
 * of a subscribe with a disconnect or an unsubscribe can be driven deterministically on every engine.
 *
 * `hold(op)` makes each later call of that operation wait: `next(op)` hands the test the waiting call, and the
 * test calls `release()` when it wants the call to go on. A held call either reaches the real engine only on
 * release (`lands: 'on-release'`, a command still queued: the engine may apply it after later ones), or at once
 * with only its answer held back (`lands: 'at-once'`, a write applied whose reply is still on the wire). Calls
 * of operations not held pass straight through. Every call is logged, and `quiet()` waits until none is in
 * flight, so a test checks the engine's state only once everything the node started has landed.
 */
import assert from 'node:assert/strict';
import type { ControlMessage } from '../../src/core/ports/control.js';
import type {
  Broker,
  BrokerEventHandler,
  Engine,
  HistoryQuery,
  PresenceManager,
  PublicationInput,
  PublishOptions,
  RevocationList,
} from '../../src/core/ports/engine.js';
import type { ClientInfo } from '../../src/protocol/messages.js';

export type EngineOp =
  | 'subscribe'
  | 'unsubscribe'
  | 'history'
  | 'publishJoin'
  | 'publishLeave'
  | 'addPresence'
  | 'removePresence';

export type Landing = 'on-release' | 'at-once';

export interface HeldCall {
  readonly op: EngineOp;
  readonly channel: string;
  /** The client a presence write or a join/leave is about. */
  readonly client: string | undefined;
  /** Lets the call go on; resolves once the caller has its answer. */
  release(): Promise<void>;
}

interface Waiting extends HeldCall {
  taken: boolean;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class SlowEngine implements Engine {
  readonly name: string;
  readonly broker: Broker;
  readonly presence: PresenceManager;
  /** Not part of a subscribe: passes straight through. */
  readonly revocations: RevocationList;
  /** Every call of a gated operation, in call order. */
  readonly log: Array<{ op: EngineOp; channel: string; client: string | undefined }> = [];
  private readonly rules = new Map<EngineOp, Landing>();
  private readonly waiting: Waiting[] = [];
  private inFlight = 0;

  constructor(readonly inner: Engine) {
    this.name = `slow ${inner.name}`;
    this.revocations = inner.revocations;
    const b = inner.broker;
    const p = inner.presence;
    const gate = this.gate.bind(this);
    this.broker = {
      start: (handler: BrokerEventHandler) => b.start(handler),
      subscribe: (ch: string) => gate('subscribe', ch, undefined, () => b.subscribe(ch)),
      unsubscribe: (ch: string) => gate('unsubscribe', ch, undefined, () => b.unsubscribe(ch)),
      publish: (ch: string, pub: PublicationInput, o: PublishOptions) => b.publish(ch, pub, o),
      publishJoin: (ch: string, info: ClientInfo) =>
        gate('publishJoin', ch, info.client, () => b.publishJoin(ch, info)),
      publishLeave: (ch: string, info: ClientInfo) =>
        gate('publishLeave', ch, info.client, () => b.publishLeave(ch, info)),
      publishControl: (message: ControlMessage) => b.publishControl(message),
      history: (ch: string, q: HistoryQuery) => gate('history', ch, undefined, () => b.history(ch, q)),
      removeHistory: (ch: string) => b.removeHistory(ch),
      close: () => b.close(),
    };
    this.presence = {
      addPresence: (ch: string, client: string, info: ClientInfo, ttl: number, node: string) =>
        gate('addPresence', ch, client, () => p.addPresence(ch, client, info, ttl, node)),
      removePresence: (ch: string, client: string, user: string) =>
        gate('removePresence', ch, client, () => p.removePresence(ch, client, user)),
      presence: (ch: string) => p.presence(ch),
      presenceStats: (ch: string) => p.presenceStats(ch),
      markNodeAlive: (node: string, ttl: number) => p.markNodeAlive(node, ttl),
      markNodeGone: (node: string) => p.markNodeGone(node),
      close: () => p.close(),
    };
  }

  ready(): boolean {
    return this.inner.ready();
  }

  async start(): Promise<void> {
    await this.inner.start?.();
  }

  /** Later calls of `op` wait for the test's release. */
  hold(op: EngineOp, lands: Landing = 'on-release'): void {
    this.rules.set(op, lands);
  }

  /** Later calls of `op` pass straight through again (calls already held stay held). */
  pass(op: EngineOp): void {
    this.rules.delete(op);
  }

  /**
   * The first held call of `op` on `channel` (about `client`, if given) not handed out yet, waiting for it to
   * arrive if need be.
   */
  async next(op: EngineOp, channel: string, client?: string, timeoutMs = 3000): Promise<HeldCall> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const w = this.waiting.find(
        (c) => !c.taken && c.op === op && c.channel === channel && (client === undefined || c.client === client),
      );
      if (w !== undefined) {
        w.taken = true;
        return w;
      }
      if (Date.now() > deadline) assert.fail(`no ${op} call on ${channel} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Held calls not released yet. */
  get held(): HeldCall[] {
    return [...this.waiting];
  }

  /** Lets every held call go on, the latest first; repeats for calls that arrive meanwhile. */
  async releaseAll(order: 'latest-first' | 'earliest-first' = 'latest-first'): Promise<void> {
    while (this.waiting.length > 0) {
      const w = order === 'latest-first' ? this.waiting[this.waiting.length - 1] : this.waiting[0];
      await (w as Waiting).release();
      await this.quiet();
    }
  }

  /**
   * Resolves once no call is in flight other than held ones and the event loop has turned a few times without
   * a new one (what the node started has landed and its continuations have run).
   */
  async quiet(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let calm = 0;
    while (calm < 3) {
      if (Date.now() > deadline) assert.fail(`engine calls still in flight after ${timeoutMs} ms`);
      await turn();
      calm = this.inFlight === 0 ? calm + 1 : 0;
    }
  }

  async close(): Promise<void> {
    this.rules.clear();
    for (const w of [...this.waiting]) await w.release();
    await this.inner.close();
  }

  private gate<T>(op: EngineOp, channel: string, client: string | undefined, run: () => Promise<T>): Promise<T> {
    this.log.push({ op, channel, client });
    const lands = this.rules.get(op);
    if (lands === undefined) return this.track(run());
    const early = lands === 'at-once' ? this.track(run()) : undefined;
    early?.catch(() => {});
    return new Promise<T>((resolve, reject) => {
      const w: Waiting = {
        op,
        channel,
        client,
        taken: false,
        release: async () => {
          const i = this.waiting.indexOf(w);
          if (i === -1) return;
          this.waiting.splice(i, 1);
          const outcome = early ?? this.track(run());
          outcome.then(resolve, reject);
          await outcome.catch(() => {});
          await turn();
        },
      };
      this.waiting.push(w);
    });
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight++;
    const done = () => {
      this.inFlight--;
    };
    p.then(done, done);
    return p;
  }
}
