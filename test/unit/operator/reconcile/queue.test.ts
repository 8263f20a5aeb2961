import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../../../src/operator/reconcile/queue.js';

/** A fake timer: collects delayed calls so the test decides when time passes. */
function fakeTimers() {
  const pending: Array<{ fn: () => void; ms: number }> = [];
  return { pending, setTimer: (fn: () => void, ms: number) => pending.push({ fn, ms }), fire: () => pending.splice(0).forEach((p) => p.fn()) };
}

describe('WorkQueue', () => {
  it('hands out each key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
  });

  it('does not give a key in process to a second worker, and redoes it if it changed meanwhile', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    q.done(key as string);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('wakes a waiting worker', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
  });

  it('backs off exponentially per key, capped, and forgets on success', () => {
    const t = fakeTimers();
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50, setTimer: t.setTimer });
    expect([q.addRateLimited('k'), q.addRateLimited('k'), q.addRateLimited('k'), q.addRateLimited('k')]).toEqual([10, 20, 40, 50]);
    expect(q.retries('k')).toBe(4);
    q.forget('k');
    expect(q.addRateLimited('k')).toBe(10);
    expect(q.length).toBe(0);
    t.fire();
    expect(q.length).toBe(1);
  });

  it('shuts down: waiting workers get undefined, adds are ignored, drained waits for in-flight', async () => {
    const q = new WorkQueue();
    q.add('a');
    const inFlight = await q.get();
    const waiter = q.get();
    q.shutDown();
    expect(await waiter).toBeUndefined();
    q.add('b');
    expect(q.length).toBe(0);
    let drained = false;
    const d = q.drained().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    q.done(inFlight as string);
    await d;
    expect(drained).toBe(true);
  });
});
