import { afterEach, describe, expect, it, vi } from 'vitest';
import { MEMO_ENTRY_OVERHEAD_BYTES, OpenedValueMemo } from '../../../../src/operator/resolver/memo.js';

// Stand-ins for a parsed stored value and a data key: the memo only keys on their identity.
const stored = () => ({ stored: true });
const key = () => ({ key: true });

function memo(ttlMs: number, maxBytes = 1 << 20) {
  let t = 1000;
  const m = new OpenedValueMemo<object, object>({ ttlMs, maxBytes, now: () => t });
  return { m, advance: (ms: number) => (t += ms) };
}

describe('OpenedValueMemo', () => {
  afterEach(() => vi.useRealTimers());

  it('answers only the exact pair of stored value and data key it was given', () => {
    const { m } = memo(30_000);
    const [s1, s2, k1, k2] = [stored(), stored(), key(), key()];
    m.set(s1, k1, 'one', 3);
    expect(m.get(s1, k1)).toBe('one');
    // A new revision (another parsed object), another data key object (rotated, lost and made
    // again, or a recreated namespace's) or both: never the memoised text.
    expect(m.get(s2, k1)).toBeUndefined();
    expect(m.get(s1, k2)).toBeUndefined();
    expect(m.get(s2, k2)).toBeUndefined();
    m.set(s1, k2, 'two', 3);
    expect([m.get(s1, k1), m.get(s1, k2)]).toEqual(['one', 'two']);
    expect(m.stats()).toMatchObject({ hits: 3, misses: 3 });
  });

  it('forgets an entry its TTL after it was opened, however often it was read meanwhile', () => {
    const { m, advance } = memo(30_000);
    const [s, k] = [stored(), key()];
    m.set(s, k, 'value', 5);
    advance(29_999);
    expect(m.get(s, k)).toBe('value');
    advance(1);
    expect(m.get(s, k)).toBeUndefined();
    // The bytes go at the next write, or at the sweep timer (below).
    m.set(stored(), k, 'other', 5);
    expect(m.stats().bytes).toBe(5 + MEMO_ENTRY_OVERHEAD_BYTES);
  });

  it('sweeps expired entries on a timer, with no request coming', () => {
    vi.useFakeTimers();
    const m = new OpenedValueMemo<object, object>({ ttlMs: 30_000, maxBytes: 1 << 20, now: () => Date.now() });
    const [s, k] = [stored(), key()];
    m.set(s, k, 'value', 5);
    vi.advanceTimersByTime(10_000);
    m.set(stored(), k, 'later', 5);
    vi.advanceTimersByTime(20_000);
    expect(m.stats().bytes).toBe(5 + MEMO_ENTRY_OVERHEAD_BYTES);
    vi.advanceTimersByTime(10_000);
    expect(m.stats().bytes).toBe(0);
    expect(m.get(s, k)).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('holds at most maxBytes, dropping the oldest first; a value larger than the bound is not kept', () => {
    const entry = 100 + MEMO_ENTRY_OVERHEAD_BYTES;
    const { m } = memo(30_000, 3 * entry);
    const k = key();
    const s = [stored(), stored(), stored(), stored()];
    s.forEach((x, i) => m.set(x, k, `value ${i}`, 100));
    expect(m.stats().bytes).toBe(3 * entry);
    expect(s.map((x) => m.get(x, k))).toEqual([undefined, 'value 1', 'value 2', 'value 3']);
    const big = stored();
    m.set(big, k, 'big', 3 * entry);
    expect(m.get(big, k)).toBeUndefined();
    expect(m.get(s[3] as object, k)).toBe('value 3');
  });

  it.each([
    ['a TTL of 0', 0, 1 << 20],
    ['a byte bound of 0', 30_000, 0],
  ])('is off with %s: keeps and counts nothing', (_case, ttlMs, maxBytes) => {
    const { m } = memo(ttlMs, maxBytes);
    const [s, k] = [stored(), key()];
    expect(m.enabled).toBe(false);
    m.set(s, k, 'value', 5);
    expect(m.get(s, k)).toBeUndefined();
    expect(m.stats()).toEqual({ hits: 0, misses: 0, bytes: 0 });
  });
});
