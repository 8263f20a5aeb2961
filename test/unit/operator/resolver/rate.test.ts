import { describe, expect, it } from 'vitest';
import { ResolveRateLimiter } from '../../../../src/operator/resolver/limits.js';
import { Throttle } from '../../../../src/core/throttle.js';

describe('ResolveRateLimiter (a token bucket per tenant)', () => {
  it('allows the burst at once, then the rate, per tenant; says how long to wait', () => {
    let now = 0;
    const limiter = new ResolveRateLimiter({ rate: 2, burst: 3, now: () => now });
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(500); // one token in 1/2 s
    expect(limiter.take('b')).toBe(0); // another tenant is not touched
    now = 499;
    expect(limiter.take('a')).toBeGreaterThan(0); // a millisecond or so short
    now = 500;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(500);
    now = 100_000; // idle: back to the burst, not beyond it
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0, 500]);
  });

  it('keeps at most maxKeys buckets: full ones go first, then the oldest', () => {
    let now = 0;
    const limiter = new ResolveRateLimiter({ rate: 1, burst: 2, maxKeys: 3, now: () => now });
    limiter.take('a');
    limiter.take('a');
    limiter.take('b');
    limiter.take('c');
    now = 1000; // b and c are full again; a has one token of two
    limiter.take('d');
    expect(limiter.size).toBe(2);
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1000); // a's bucket was kept: it is not refilled by forgetting it
    for (const t of ['e', 'f', 'g', 'h']) limiter.take(t);
    expect(limiter.size).toBeLessThanOrEqual(3);
  });
});

describe('Throttle (refusals logged once per caller per interval)', () => {
  it('passes the first, holds back the rest within the interval, and tells how many it held', () => {
    let now = 0;
    const throttle = new Throttle({ intervalMs: 60_000, now: () => now });
    expect(throttle.pass('pod-a')).toBe(0);
    expect(throttle.pass('pod-a')).toBeUndefined();
    expect(throttle.pass('pod-b')).toBe(0);
    now = 59_999;
    expect(throttle.pass('pod-a')).toBeUndefined();
    now = 60_000;
    expect(throttle.pass('pod-a')).toBe(2);
    expect(throttle.pass('pod-a')).toBeUndefined();
  });

  it('remembers at most maxKeys callers', () => {
    const throttle = new Throttle({ intervalMs: 60_000, maxKeys: 2, now: () => 0 });
    throttle.pass('a');
    throttle.pass('b');
    throttle.pass('c');
    expect(throttle.pass('a')).toBe(0); // forgotten: passes again
    expect(throttle.pass('c')).toBeUndefined();
  });
});
