/**
 * When queued output is written. Every connection that queued something during an event-loop turn is flushed
 * once at the end of the turn, so what one turn produced for a connection goes out in one write. With
 * `client.write_delay` set, pushes wait up to that long instead and a connection's pushes of the whole window
 * share one write: fewer system calls — which dominate the CPU cost of fan-out — for a bounded extra latency.
 * Replies never wait for the delay. One timer serves every waiting connection, never one per connection.
 */

/** Something with queued output. `flushMarks` is owned by the scheduler: which lists the item is in. */
export interface Flushable {
  flushMarks: number;
  flush(): void;
}

const IN_TURN = 1;
const IN_DELAYED = 2;

export class FlushScheduler {
  private turn: Flushable[] = [];
  private turnScheduled = false;
  private delayed: Flushable[] = [];
  private delayTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  /**
   * `delayMs`: how long pushes may wait (0: to the end of the current turn). `onError`: what a failing flush is
   * reported to; the others in the same pass are flushed all the same.
   */
  constructor(
    readonly delayMs: number,
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  /** Flush at the end of this turn: replies, and every push when there is no write delay. */
  soon(item: Flushable): void {
    if ((item.flushMarks & IN_TURN) !== 0) return;
    item.flushMarks |= IN_TURN;
    this.turn.push(item);
    if (!this.turnScheduled) {
      this.turnScheduled = true;
      setImmediate(this.flushTurn);
    }
  }

  /** Flush within the write delay. */
  later(item: Flushable): void {
    if (this.delayMs <= 0 || this.stopped) {
      this.soon(item);
      return;
    }
    if ((item.flushMarks & (IN_DELAYED | IN_TURN)) !== 0) return;
    item.flushMarks |= IN_DELAYED;
    this.delayed.push(item);
    if (this.delayTimer === undefined) this.delayTimer = setTimeout(this.flushDelayed, this.delayMs);
  }

  /** Stops the delay timer; what waits is written now (the node is stopping). */
  stop(): void {
    this.stopped = true;
    if (this.delayTimer !== undefined) clearTimeout(this.delayTimer);
    this.flushDelayed();
  }

  private readonly flushTurn = (): void => {
    this.turnScheduled = false;
    const list = this.turn;
    this.turn = [];
    for (const item of list) {
      item.flushMarks &= ~IN_TURN;
      this.flushOne(item);
    }
  };

  private readonly flushDelayed = (): void => {
    this.delayTimer = undefined;
    const list = this.delayed;
    this.delayed = [];
    for (const item of list) {
      item.flushMarks &= ~IN_DELAYED;
      this.flushOne(item);
    }
  };

  private flushOne(item: Flushable): void {
    try {
      item.flush();
    } catch (e) {
      this.onError(e);
    }
  }
}
