import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TimerWheel, type WheelItem } from '../../src/core/timer-wheel.js';

const RES = 100;
const T0 = 1_000_000; // a multiple of RES, so slot boundaries are easy to reason about

interface Clock {
  wheel: TimerWheel;
  /** The fake time. */
  t: number;
  /** Moves the clock to `to`, ticking every `step` ms on the way (as the interval would). */
  advanceTo(to: number, step?: number): void;
}

function setup(ctx: { after(fn: () => void): void }): Clock {
  const clock = { t: T0 } as Clock;
  // The wheel reads the fake time; its own interval never runs (the test ticks by hand).
  const never = () => ({});
  clock.wheel = new TimerWheel(RES, {
    now: () => clock.t,
    setInterval: never,
    clearInterval: () => {},
    setTimeout: never,
    clearTimeout: () => {},
  });
  clock.advanceTo = (to, step = 10) => {
    while (clock.t < to) {
      clock.t = Math.min(to, clock.t + step);
      clock.wheel.tick();
    }
  };
  ctx.after(() => clock.wheel.stop());
  return clock;
}

interface TestItem extends WheelItem {
  /** The `now` of every call to onTimer. */
  fired: number[];
}

function item(name = 'item', then?: (self: TestItem, now: number) => void, log?: string[]): TestItem {
  const it: TestItem = {
    wheelSlot: -1,
    fired: [],
    onTimer(now) {
      it.fired.push(now);
      log?.push(name);
      then?.(it, now);
    },
  };
  return it;
}

test('an item fires once, at or after its time and within one resolution of it, never before', (t) => {
  const c = setup(t);
  for (const offset of [1, 99, 100, 101, 250, 1000, 1234]) {
    const at = c.t + offset;
    const it = item();
    c.wheel.schedule(it, at);
    c.advanceTo(at - 1, 1);
    assert.equal(it.fired.length, 0, `fired before its time (offset ${offset})`);
    c.advanceTo(at + RES, 1);
    assert.equal(it.fired.length, 1, `offset ${offset}`);
    const firedAt = it.fired[0] as number;
    assert.ok(firedAt >= at, `fired at ${firedAt}, before ${at}`);
    assert.ok(firedAt < at + RES, `fired at ${firedAt}, more than ${RES} ms after ${at}`);
    c.advanceTo(c.t + 10 * RES);
    assert.equal(it.fired.length, 1, 'fired more than once');
    assert.equal(it.wheelSlot, -1);
  }
});

test('an item due exactly on a slot boundary fires on that tick', (t) => {
  const c = setup(t);
  const it = item();
  c.wheel.schedule(it, T0 + 300);
  c.t = T0 + 299;
  c.wheel.tick();
  assert.deepEqual(it.fired, []);
  c.t = T0 + 300;
  c.wheel.tick();
  assert.deepEqual(it.fired, [T0 + 300]);
});

test('an item scheduled in the past (or now) fires on the next slot, not synchronously', (t) => {
  const c = setup(t);
  const past = item('past');
  const now = item('now');
  c.wheel.schedule(past, T0 - 5000);
  c.wheel.schedule(now, T0);
  assert.deepEqual(past.fired, []);
  assert.deepEqual(now.fired, []);
  c.wheel.tick(); // same time: nothing is due yet
  assert.deepEqual(past.fired, []);
  c.advanceTo(T0 + RES);
  assert.deepEqual(past.fired, [T0 + RES]);
  assert.deepEqual(now.fired, [T0 + RES]);
});

test('tick() does nothing when no time has passed or nothing is due', (t) => {
  const c = setup(t);
  const it = item();
  c.wheel.schedule(it, T0 + 500);
  for (let i = 0; i < 5; i++) c.wheel.tick();
  c.advanceTo(T0 + 400);
  assert.deepEqual(it.fired, []);
  assert.equal(c.wheel.size, 1);
});

test('rescheduling earlier moves the item: it fires at the new time, once', (t) => {
  const c = setup(t);
  const it = item();
  c.wheel.schedule(it, T0 + 800);
  c.wheel.schedule(it, T0 + 200);
  assert.equal(c.wheel.size, 1);
  c.advanceTo(T0 + 200);
  assert.deepEqual(it.fired, [T0 + 200]);
  c.advanceTo(T0 + 2000);
  assert.deepEqual(it.fired, [T0 + 200], 'the old slot must not fire it again');
});

test('rescheduling later moves the item: it does not fire at the old time', (t) => {
  const c = setup(t);
  const it = item();
  c.wheel.schedule(it, T0 + 200);
  c.wheel.schedule(it, T0 + 800);
  assert.equal(c.wheel.size, 1);
  c.advanceTo(T0 + 790);
  assert.deepEqual(it.fired, []);
  c.advanceTo(T0 + 800);
  assert.deepEqual(it.fired, [T0 + 800]);
  c.advanceTo(T0 + 2000);
  assert.equal(it.fired.length, 1);
});

test('rescheduling to the same slot keeps one entry', (t) => {
  const c = setup(t);
  const it = item();
  c.wheel.schedule(it, T0 + 250);
  c.wheel.schedule(it, T0 + 210);
  c.wheel.schedule(it, T0 + 300);
  assert.equal(c.wheel.size, 1);
  c.advanceTo(T0 + 1000);
  assert.deepEqual(it.fired, [T0 + 300]);
});

test('cancel prevents firing', (t) => {
  const c = setup(t);
  const a = item('a');
  const b = item('b');
  c.wheel.schedule(a, T0 + 300);
  c.wheel.schedule(b, T0 + 300);
  c.wheel.cancel(a);
  assert.equal(a.wheelSlot, -1);
  assert.equal(c.wheel.size, 1);
  c.advanceTo(T0 + 1000);
  assert.deepEqual(a.fired, []);
  assert.deepEqual(b.fired, [T0 + 300], 'cancelling one item must not cancel its bucket neighbours');
});

test('cancel of an unscheduled or already-fired item is a no-op; a cancelled item can be scheduled again', (t) => {
  const c = setup(t);
  const it = item();
  c.wheel.cancel(it);
  assert.equal(it.wheelSlot, -1);
  c.wheel.schedule(it, T0 + 100);
  c.advanceTo(T0 + 100);
  assert.equal(it.fired.length, 1);
  c.wheel.cancel(it);
  assert.equal(c.wheel.size, 0);
  c.wheel.schedule(it, T0 + 500);
  c.wheel.cancel(it);
  c.wheel.schedule(it, T0 + 700);
  c.advanceTo(T0 + 1000);
  assert.deepEqual(it.fired, [T0 + 100, T0 + 700]);
});

test('an item rescheduling itself from onTimer fires again, each time at its new time', (t) => {
  const c = setup(t);
  const it = item('tick', (self, now) => {
    if (self.fired.length < 4) c.wheel.schedule(self, now + 250);
  });
  c.wheel.schedule(it, T0 + 100);
  c.advanceTo(T0 + 5000);
  assert.equal(it.fired.length, 4);
  const [first, ...rest] = it.fired as [number, ...number[]];
  assert.equal(first, T0 + 100);
  let prev = first;
  for (const f of rest) {
    assert.ok(f >= prev + 250 && f < prev + 250 + RES, `fired at ${f} after ${prev}`);
    prev = f;
  }
  assert.equal(c.wheel.size, 0);
});

test('an item rescheduling itself during a multi-slot tick fires at its new time, not in the same tick', (t) => {
  const c = setup(t);
  const it = item('self', (self, now) => {
    if (self.fired.length < 2) c.wheel.schedule(self, now + 1);
  });
  c.wheel.schedule(it, T0 + 100);
  c.t = T0 + 550; // five slots at once
  c.wheel.tick();
  assert.deepEqual(it.fired, [T0 + 550]);
  c.advanceTo(T0 + 600);
  assert.deepEqual(it.fired, [T0 + 550, T0 + 600]);
});

test('an item that throws does not stop the others', (t) => {
  const c = setup(t);
  const log: string[] = [];
  const thrower = item(
    'thrower',
    () => {
      throw new Error('boom');
    },
    log,
  );
  const same = item('same-slot', undefined, log);
  const later = item('later', undefined, log);
  c.wheel.schedule(thrower, T0 + 200);
  c.wheel.schedule(same, T0 + 200);
  c.wheel.schedule(later, T0 + 400);
  assert.doesNotThrow(() => c.advanceTo(T0 + 1000));
  assert.deepEqual(log, ['thrower', 'same-slot', 'later']);
  assert.equal(c.wheel.size, 0);
});

test('an item that throws after rescheduling itself stays scheduled', (t) => {
  const c = setup(t);
  const it = item('flaky', (self, now) => {
    if (self.fired.length < 3) c.wheel.schedule(self, now + 100);
    throw new Error('flaky');
  });
  c.wheel.schedule(it, T0 + 100);
  c.advanceTo(T0 + 1000);
  assert.equal(it.fired.length, 3);
});

test('a long stall (the clock jumps an hour) fires every due item once, in time order', (t) => {
  const c = setup(t);
  const log: string[] = [];
  const due: TestItem[] = [];
  // Scheduled out of order, spread over ten minutes.
  for (let i = 0; i < 60; i++) {
    const k = (i * 37) % 60;
    const it = item(String(k).padStart(2, '0'), undefined, log);
    due.push(it);
    c.wheel.schedule(it, T0 + 1000 + k * 10_000);
  }
  const notDue = item('not-due', undefined, log);
  c.wheel.schedule(notDue, T0 + 2 * 3_600_000);
  assert.equal(c.wheel.size, 61);

  c.t = T0 + 3_600_000;
  c.wheel.tick();
  for (const it of due) assert.deepEqual(it.fired, [T0 + 3_600_000]);
  assert.deepEqual(notDue.fired, []);
  assert.deepEqual(log, [...log].sort(), 'items fire in the order of their times');
  assert.equal(log.length, 60);
  assert.equal(c.wheel.size, 1);

  c.wheel.tick();
  c.advanceTo(c.t + 1000);
  assert.equal(log.length, 60, 'nothing fires twice');
  c.t = T0 + 2 * 3_600_000;
  c.wheel.tick();
  assert.deepEqual(notDue.fired, [T0 + 2 * 3_600_000]);
});

test('a short stall (a few slots, many buckets) fires the due buckets in order and keeps the rest', (t) => {
  const c = setup(t);
  const log: string[] = [];
  for (let i = 9; i >= 0; i--) c.wheel.schedule(item(`s${i}`, undefined, log), T0 + (i + 1) * RES);
  c.t = T0 + 400;
  c.wheel.tick();
  assert.deepEqual(log, ['s0', 's1', 's2', 's3']);
  assert.equal(c.wheel.size, 6);
  c.advanceTo(T0 + 1000);
  assert.deepEqual(log, ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9']);
});

test('size counts scheduled items across buckets', (t) => {
  const c = setup(t);
  assert.equal(c.wheel.size, 0);
  const items = Array.from({ length: 5 }, () => item());
  items.forEach((it, i) => {
    c.wheel.schedule(it, T0 + (i % 2 === 0 ? 200 : 600));
  });
  assert.equal(c.wheel.size, 5);
  c.wheel.schedule(items[0] as TestItem, T0 + 900); // moved, not added
  assert.equal(c.wheel.size, 5);
  c.wheel.cancel(items[1] as TestItem);
  assert.equal(c.wheel.size, 4);
  c.advanceTo(T0 + 200); // items 2 and 4 fire
  assert.equal(c.wheel.size, 2);
  c.advanceTo(T0 + 600); // item 3
  assert.equal(c.wheel.size, 1);
  c.advanceTo(T0 + 900); // item 0
  assert.equal(c.wheel.size, 0);
});

test('stop() drops every scheduled item', (t) => {
  const c = setup(t);
  const it = item();
  c.wheel.schedule(it, T0 + 100);
  c.wheel.stop();
  assert.equal(c.wheel.size, 0);
  c.advanceTo(T0 + 1000);
  assert.deepEqual(it.fired, []);
});

test('cancel from another item in the same slot prevents firing', {}, (t) => {
  const c = setup(t);
  const victim = item('victim');
  const canceller = item('canceller', () => c.wheel.cancel(victim));
  c.wheel.schedule(canceller, T0 + 200);
  c.wheel.schedule(victim, T0 + 200);
  c.advanceTo(T0 + 1000);
  assert.deepEqual(victim.fired, []);
});

test('an item moved by a neighbour in the same slot fires only at its new time, and can then be cancelled', {}, (t) => {
  const c = setup(t);
  const moved = item('moved');
  const mover = item('mover', () => c.wheel.schedule(moved, T0 + 800));
  c.wheel.schedule(mover, T0 + 200);
  c.wheel.schedule(moved, T0 + 200);
  c.advanceTo(T0 + 500);
  assert.deepEqual(moved.fired, [], 'fired in its old slot');
  c.wheel.cancel(moved);
  c.advanceTo(T0 + 1000);
  assert.deepEqual(moved.fired, [], 'fired although cancelled');
});

test('an item rescheduling itself for "now" from onTimer fires on the next slot', {}, (t) => {
  const c = setup(t);
  const it = item('again', (self, now) => {
    if (self.fired.length === 1) c.wheel.schedule(self, now);
  });
  c.wheel.schedule(it, T0 + 100);
  c.advanceTo(T0 + 100);
  assert.equal(it.fired.length, 1);
  c.advanceTo(T0 + 1000);
  assert.equal(it.fired.length, 2, `size ${c.wheel.size}, wheelSlot ${it.wheelSlot}`);
});

test('an item scheduled before stop() can be scheduled again for the same time after it', {}, (t) => {
  const c = setup(t);
  const it = item();
  c.wheel.schedule(it, T0 + 300);
  c.wheel.stop();
  c.wheel.schedule(it, T0 + 300);
  assert.equal(c.wheel.size, 1);
  c.advanceTo(T0 + 1000);
  assert.equal(it.fired.length, 1);
});
