import { describe, expect, it } from 'vitest';
import { NO_REVISION, parseRevision, ViewFloor } from '../../../src/core/revision.js';
import { ValueCache } from '../../../src/sidecar/cache.js';
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

describe('ValueCache: an entry lives ORKA_CACHE_STALE_AFTER of its own age, stream or no stream', () => {
  it('a value fetched while the stream is up is not served past the limit, the stream still up', () => {
    let now = 100_000;
    const cache = new ValueCache({ maxEntries: 10, staleAfterMs: 30_000, now: () => now });
    cache.setStreamUp(true);
    cache.set('A', 'a', 7, 0);
    now += 30_000;
    expect(cache.get('A')).toBe('a');
    now += 1;
    expect(cache.get('A')).toBeUndefined();
    expect(cache.isStreamUp).toBe(true);
  });
});

describe('parseRevision: resourceVersions compared as integers (etcd3)', () => {
  it.each([
    ['123', 123],
    ['0', 0],
    ['999999999999999', 999_999_999_999_999],
    ['9999999999999999', NO_REVISION], // past 2^53: not comparable as a number
    ['', NO_REVISION],
    ['12a', NO_REVISION],
    ['-1', NO_REVISION],
    [undefined, NO_REVISION],
    [42, NO_REVISION],
  ])('%j is %d', (text, want) => {
    expect(parseRevision(text)).toBe(want);
  });

  it('orders numerically, not as text', () => {
    expect(parseRevision('10') > parseRevision('9')).toBe(true);
  });
});

describe('ViewFloor', () => {
  it('rises to the highest view heard, never falls', () => {
    const floor = new ViewFloor();
    expect(floor.value).toBe(NO_REVISION);
    floor.hear(100);
    floor.hear(90);
    expect(floor.value).toBe(100);
    floor.hear(NO_REVISION);
    expect(floor.value).toBe(100);
  });

  it('judges an answer from an older view behind, one at the floor or newer not', () => {
    const floor = new ViewFloor();
    expect(floor.behind(5)).toBe(false); // nothing heard yet
    floor.hear(100);
    expect(floor.behind(99)).toBe(true);
    expect(floor.behind(100)).toBe(false);
    expect(floor.behind(101)).toBe(false);
  });

  it('does not judge an answer without a view (an operator from before views)', () => {
    const floor = new ViewFloor();
    floor.hear(100);
    expect(floor.behind(NO_REVISION)).toBe(false);
  });
});

describe('ValueCache.judge with the answer\'s view', () => {
  it('takes a missing name from a view that holds its last change: deleted, not stale', () => {
    const cache = new ValueCache({ maxEntries: 10, staleAfterMs: 30_000 });
    // Seen changing at 50 (the stream was up then), deleted later while the stream was down.
    cache.changed('X', 50, false);
    // The answer: missing (no revision for the name) from a view at 60.
    expect(cache.judge('X', NO_REVISION, 60)).toBe('fresh');
    expect(cache.judge('X', NO_REVISION, 50)).toBe('fresh');
    // From a view before the change it saw: not to be taken.
    expect(cache.judge('X', NO_REVISION, 49)).toBe('stale');
    // An operator from before views: the name's own revision alone decides, as before.
    expect(cache.judge('X', NO_REVISION)).toBe('stale');
    expect(cache.judge('X', 50)).toBe('fresh');
  });

  it('a deletion seen is still a deletion for an older view', () => {
    const cache = new ValueCache({ maxEntries: 10, staleAfterMs: 30_000 });
    cache.changed('X', 50, true);
    expect(cache.judge('X', 40, 45)).toBe('deleted');
    expect(cache.judge('X', 40, 55)).toBe('fresh');
  });
});
