/**
 * The cluster's control plane, over the engine: node heartbeats (the registry behind `info`), surveys that every
 * live node answers for its own connections, and the delivery of routed operations to the node that holds a
 * connection. With the memory engine there is one node and every message comes straight back.
 */
import { randomUUID } from 'node:crypto';
import { Errors, ReplyError } from '../protocol/codes.js';
import type { Node } from './node.js';
import type { TimerHandle } from './ports/clock.js';
import type { ControlMessage, NodeInfo, SurveyKind } from './ports/control.js';

/**
 * How often a node announces itself, and how long an announcement counts: a node that stops beating leaves
 * `info` and — through its presence alive mark, which has the same TTL — presence within NODE_TTL_MS.
 */
export const HEARTBEAT_MS = 3000;
export const NODE_TTL_MS = 10_000;
const SURVEY_TIMEOUT_MS = 1000;
/**
 * How long a node waits for the node holding an emulated session to take a routed request's commands. The
 * holder answers once its session reads again (it may be applying backpressure); past this the requester
 * answers 504 and the SDK reconnects (its stream is most likely gone with that node).
 */
export const EMULATION_ROUTE_TIMEOUT_MS = 10_000;
/** Routed emulation requests one node waits for at once; more are refused (503) rather than queued. */
export const EMULATION_ROUTES_IN_FLIGHT = 10_000;

/** One node's answer to a survey. */
export interface SurveyAnswer {
  node: string;
  answer: unknown;
}

/** What the operations layer does with what arrives (server-ops.ts). */
export interface ControlReceiver {
  /** A routed operation to apply to this node's connections. */
  apply(message: ControlMessage): Promise<void> | void;
  /** This node's answer to a survey. */
  answer(kind: SurveyKind, params: Record<string, unknown>): unknown;
}

/** How a routed emulation request ended: taken by the holder, no answer in time, or too many waiting. */
export type RouteOutcome = 'delivered' | 'timeout' | 'busy';

export class ControlPlane {
  private readonly nodes = new Map<string, { info: NodeInfo; expireAt: number }>();
  private readonly surveys = new Map<
    string,
    { expected: Set<string>; answers: SurveyAnswer[]; done: (answers: SurveyAnswer[]) => void }
  >();
  private heartbeat: TimerHandle | undefined;
  /** Routed emulation requests waiting for the holder's reply, by id. */
  private readonly routes = new Map<string, (outcome: RouteOutcome) => void>();

  constructor(
    private readonly node: Node,
    private readonly receiver: ControlReceiver,
    private readonly localInfo: () => NodeInfo,
  ) {}

  /** Publishes a control message; an engine failure is an internal error (logged). */
  async publish(c: ControlMessage): Promise<void> {
    try {
      await this.node.engine.broker.publishControl(c);
    } catch (e) {
      this.engineFailure(e, { op: c.op }, 'control message not published');
      throw new ReplyError(Errors.internal);
    }
  }

  /** An engine call failed: expected while it is unreachable (one line, no stack), a bug otherwise. */
  engineFailure(e: unknown, fields: Record<string, unknown>, msg: string): void {
    if (this.node.engine.ready()) this.node.log.error({ err: e, ...fields }, msg);
    else this.node.log.warn({ ...fields, err: (e as Error).message }, `${msg}: the engine is unreachable`);
  }

  /**
   * Starts announcing this node to the others (and to itself), so `info` lists every live node, and marking it
   * alive in presence, so its clients' entries are listed. Resolves after the first beat (sent or not).
   */
  async startHeartbeat(): Promise<void> {
    this.heartbeat = this.node.clock.setInterval(() => void this.beat(), HEARTBEAT_MS);
    await this.beat();
  }

  /** One heartbeat; also sent at once when the engine's link comes back, so presence reappears without delay. */
  async beat(): Promise<void> {
    const { broker, presence } = this.node.engine;
    // Never rejects: it runs from a timer, where a rejection would be unhandled.
    let info: NodeInfo;
    try {
      info = this.localInfo();
    } catch (e) {
      this.node.log.error({ err: e }, 'heartbeat not sent: this node could not describe itself');
      return;
    }
    const sent = await Promise.allSettled([
      presence.markNodeAlive(this.node.uid, NODE_TTL_MS),
      broker.publishControl({ op: 'node', info }),
    ]);
    const failed = sent.find((r) => r.status === 'rejected');
    // A beat fails only when the engine does, and the engine logs its outage once (a beat racing the moment
    // the link drops still sees it "ready"): a line here would only repeat that.
    if (failed !== undefined) {
      this.node.log.debug({ err: String((failed as PromiseRejectedResult).reason) }, 'heartbeat not sent');
    }
  }

  async stopHeartbeat(): Promise<void> {
    if (this.heartbeat !== undefined) this.node.clock.clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    // The node is stopping: answers to what it routed would come too late; its requests end now (504), so they
    // do not hold the shutdown for the route timeout.
    for (const done of [...this.routes.values()]) done('timeout');
    await Promise.allSettled([
      this.node.engine.presence.markNodeGone(this.node.uid),
      this.publish({ op: 'node_leave', uid: this.node.uid }),
    ]);
  }

  /** Every live node's uid, this one's included. */
  liveNodes(): string[] {
    const now = this.node.clock.now();
    for (const [uid, n] of this.nodes) if (n.expireAt <= now) this.nodes.delete(uid);
    const uids = new Set(this.nodes.keys());
    uids.add(this.node.uid);
    return [...uids];
  }

  /** Every live node's latest announcement (not this one's). */
  otherNodes(): NodeInfo[] {
    this.liveNodes();
    return [...this.nodes.values()].map((n) => n.info);
  }

  /** Asks every live node; resolves with the answers that came within the timeout (always this node's). */
  survey(kind: SurveyKind, params: Record<string, unknown>): Promise<SurveyAnswer[]> {
    const id = randomUUID();
    return new Promise((resolve) => {
      const expected = new Set(this.liveNodes());
      const entry = { expected, answers: [] as SurveyAnswer[], done: resolve };
      this.surveys.set(id, entry);
      const finish = () => {
        this.node.clock.clearTimeout(timer);
        this.surveys.delete(id);
        resolve(entry.answers);
      };
      entry.done = finish;
      const timer = this.node.clock.setTimeout(finish, SURVEY_TIMEOUT_MS);
      this.publish({ op: 'survey', id, from: this.node.uid, kind, params }).catch(() => {
        try {
          entry.answers.push({ node: this.node.uid, answer: this.receiver.answer(kind, params) });
        } catch (e) {
          this.node.log.error({ err: e, kind }, 'survey not answered');
        }
        finish();
      });
    });
  }

  /**
   * Sends the commands of an emulation request to the node holding the session and waits until that node has
   * taken them. Throws an internal ReplyError when the engine cannot publish.
   */
  async routeEmulation(node: string, session: string, data: Uint8Array): Promise<RouteOutcome> {
    if (this.routes.size >= EMULATION_ROUTES_IN_FLIGHT) return 'busy';
    const id = randomUUID();
    const outcome = new Promise<RouteOutcome>((resolve) => {
      const timer = this.node.clock.setTimeout(() => done('timeout'), EMULATION_ROUTE_TIMEOUT_MS);
      const done = (o: RouteOutcome) => {
        this.node.clock.clearTimeout(timer);
        this.routes.delete(id);
        resolve(o);
      };
      this.routes.set(id, done);
    });
    try {
      await this.publish({ op: 'emulation', id, from: this.node.uid, node, session, data });
    } catch (e) {
      this.routes.get(id)?.('timeout');
      throw e;
    }
    return outcome;
  }

  /** A control message from the engine (any node's, this one's included). */
  handle(c: ControlMessage): void {
    if (typeof c !== 'object' || c === null || typeof c.op !== 'string') {
      this.node.log.warn({}, 'malformed control message ignored');
      return;
    }
    const run = async () => {
      switch (c.op) {
        case 'node': {
          if (c.info.uid === this.node.uid) return;
          const known = this.nodes.has(c.info.uid);
          this.nodes.set(c.info.uid, { info: c.info, expireAt: this.node.clock.now() + NODE_TTL_MS });
          // A newcomer missed our earlier heartbeats: answer at once so it knows every node within a round trip.
          if (!known && this.heartbeat !== undefined) await this.publish({ op: 'node', info: this.localInfo() });
          return;
        }
        case 'node_leave':
          this.nodes.delete(c.uid);
          return;
        case 'survey':
          return this.publish({
            op: 'survey_reply',
            id: c.id,
            to: c.from,
            uid: this.node.uid,
            answer: this.receiver.answer(c.kind, c.params),
          });
        case 'survey_reply': {
          if (c.to !== this.node.uid) return;
          const entry = this.surveys.get(c.id);
          if (entry === undefined) return;
          entry.answers.push({ node: c.uid, answer: c.answer });
          entry.expected.delete(c.uid);
          if (entry.expected.size === 0) entry.done(entry.answers);
          return;
        }
        case 'emulation':
          // Every node hears it; only the holder applies it, and answers once its session took the commands.
          if (c.node !== this.node.uid) return;
          try {
            await this.receiver.apply(c);
          } finally {
            // Answered even when applying failed (logged below): the requester must not wait for nothing.
            await this.publish({ op: 'emulation_reply', id: c.id, to: c.from });
          }
          return;
        case 'emulation_reply':
          if (c.to === this.node.uid) this.routes.get(c.id)?.('delivered');
          return;
        default:
          return this.receiver.apply(c);
      }
    };
    run().catch((e) => this.node.log.error({ err: e, op: c.op }, 'control message failed'));
  }
}
