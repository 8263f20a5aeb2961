import { describe, expect, it } from 'vitest';
import { NO_REVISION, ValueCache } from '../../../src/sidecar/cache.js';
import { RECONNECT_CAP_MS, RETRY_CAP_MS, reconnectDelay, retryDelay } from '../../../src/sidecar/upstream.js';

describe('reconnectDelay', () => {
  it.each([
    [0, 1, 100],
    [1, 1, 200],
    [2, 1, 400],
    [3, 1, RECONNECT_CAP_MS],
    [30, 1, RECONNECT_CAP_MS],
    [5, 0, 0],
    [5, 0.5, RECONNECT_CAP_MS / 2],
  ])('attempt %i with random %d waits %i ms', (attempt, random, want) => {
    expect(reconnectDelay(attempt, () => random)).toBe(want);
  });

  it('never waits a second or more, however many attempts failed', () => {
    for (let attempt = 0; attempt < 100; attempt++) expect(reconnectDelay(attempt)).toBeLessThan(1000);
  });
});

describe('retryDelay (a resolve asked again after a refused or cut connection, or a 503)', () => {
  it.each([
    [0, 1, 25],
    [1, 1, 50],
    [3, 1, 200],
    [4, 1, RETRY_CAP_MS],
    [30, 1, RETRY_CAP_MS],
    [3, 0, 0],
    [3, 0.5, 100],
  ])('attempt %i with random %d waits %i ms', (attempt, random, want) => {
    expect(retryDelay(attempt, () => random)).toBe(want);
  });
});

describe('ValueCache ages a value from the operator view it came from', () => {
  it('a value answered by a replica whose view was 20 s old is stale 10 s later, once the stream is down', () => {
    let now = 100_000;
    const cache = new ValueCache({ maxEntries: 10, staleAfterMs: 30_000, now: () => now });
    cache.setStreamUp(true);
    cache.set('OLD_VIEW', 'a', NO_REVISION, 20_000);
    cache.set('FRESH_VIEW', 'b', NO_REVISION, 0);
    cache.setStreamUp(false);
    now += 10_001;
    expect(cache.get('OLD_VIEW')).toBeUndefined();
    expect(cache.get('FRESH_VIEW')).toBe('b');
  });
});

describe('ValueCache counts a ping from the view it reports', () => {
  it('a ping from a replica whose view is 25 s old keeps a value only 5 s more', () => {
    let now = 100_000;
    const cache = new ValueCache({ maxEntries: 10, staleAfterMs: 30_000, now: () => now });
    cache.setStreamUp(true);
    cache.set('A', 'a', NO_REVISION, 0);
    now += 40_000;
    cache.heard(25_000);
    cache.setStreamUp(false);
    now += 4_000;
    expect(cache.get('A')).toBe('a');
    now += 1_001;
    expect(cache.get('A')).toBeUndefined();
  });
});
