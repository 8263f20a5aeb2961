import { describe, expect, it } from 'vitest';
import { assessHealth, formatHealth, type HealthInput } from '../../../src/operator/health.js';

const now = 1_000_000;
const base: HealthInput = {
  now,
  synced: true,
  keysLoaded: true,
  caches: [
    { name: 'orkasecrets', confirmedAt: now - 2000 },
    { name: 'secrets', confirmedAt: now - 1000 },
  ],
  apiserver: { lastOkAt: now - 500, lastError: undefined },
  maxStalenessMs: 15_000,
};

describe('assessHealth', () => {
  it.each([
    ['all well', {}, { ready: true, current: true, failing: [] }],
    ['not synced', { synced: false }, { ready: false, current: false, failing: ['caches-synced', 'caches-current'] }],
    ['keys missing', { keysLoaded: false }, { ready: false, current: true, failing: ['keys'] }],
    ['one cache past the bound', { caches: [{ name: 'orkasecrets', confirmedAt: now - 15_001 }, { name: 'secrets', confirmedAt: now }] }, { ready: false, current: false, failing: ['caches-current'] }],
    ['exactly at the bound', { caches: [{ name: 'orkasecrets', confirmedAt: now - 15_000 }] }, { ready: true, current: true, failing: [] }],
    ['a cache never heard', { caches: [{ name: 'orkasecrets', confirmedAt: 0 }] }, { ready: false, current: false, failing: ['caches-current'] }],
    ['apiserver not ready (etcd down): unready, but the view still answers', { apiserver: { lastOkAt: now - 1000, lastError: 'the apiserver answers that it is not ready' } }, { ready: false, current: true, failing: ['apiserver'] }],
    ['stopping (SIGTERM): unready, but the view still answers for the drain', { stopping: true }, { ready: false, current: true, failing: ['shutting-down'] }],
    ['apiserver silent past the bound', { apiserver: { lastOkAt: now - 16_000, lastError: undefined } }, { ready: false, current: true, failing: ['apiserver'] }],
  ] as Array<[string, Partial<HealthInput>, { ready: boolean; current: boolean; failing: string[] }]>)('%s', (_name, change, want) => {
    const h = assessHealth({ ...base, ...change });
    expect({ ready: h.ready, current: h.current, failing: h.checks.filter((c) => !c.ok).map((c) => c.name) }).toEqual(want);
  });

  it('names the oldest cache and its age, and the apiserver reason, in the report', () => {
    const text = formatHealth(
      assessHealth({ ...base, caches: [{ name: 'secrets', confirmedAt: now - 20_000 }], apiserver: { lastOkAt: now - 20_000, lastError: 'the apiserver did not answer within 2 s' } }),
    );
    expect(text).toContain('[-]caches-current: the oldest cache (secrets) was current 20.0 s ago (bound 15.0 s)');
    expect(text).toContain('[-]apiserver: the apiserver did not answer within 2 s; last answered ready 20.0 s ago');
    expect(text.trimEnd().endsWith('not ready')).toBe(true);
  });
});
