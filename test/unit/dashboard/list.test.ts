/**
 * The page's find, sort and paging (pure), and the live rows' backoff and choice of rows.
 */
import { describe, expect, it } from 'vitest';
import type { SecretRow } from '../../../src/dashboard/api.js';
import { filterRows, pageOf, sortRows, withPage } from '../../../src/dashboard/web/list.js';
import { backoffMs, liveNames, MAX_LIVE } from '../../../src/dashboard/web/live.js';
import { ago } from '../../../src/dashboard/web/relative-time.js';

const row = (name: string, more: Partial<SecretRow> = {}): SecretRow => ({
  name,
  description: '',
  created: '2026-11-01T00:00:00Z',
  reference: `{{secrets.${name}}}`,
  status: { tone: 'ok', label: 'Ready', ready: 'True', reason: 'Stored', settled: true },
  version: 1,
  ...more,
});

const rows = [
  row('STRIPE_API_KEY', { description: 'Stripe live key', created: '2026-11-03T00:00:00Z', updated: '2026-11-05T00:00:00Z', lastUsed: '2026-11-06T00:00:00Z' }),
  row('GITHUB_TOKEN', { description: 'CI pushes', created: '2026-11-01T00:00:00Z', updated: '2026-11-07T00:00:00Z' }),
  row('SLACK_WEBHOOK', { description: 'alerts to #ops (stripe failures)', created: '2026-11-02T00:00:00Z', lastUsed: '2026-11-04T00:00:00Z' }),
];
const names = (list: SecretRow[]) => list.map((r) => r.name);

describe('filterRows', () => {
  it('matches name and description, case-insensitively, every word', () => {
    expect(names(filterRows(rows, 'stripe'))).toEqual(['STRIPE_API_KEY', 'SLACK_WEBHOOK']);
    expect(names(filterRows(rows, 'STRIPE live'))).toEqual(['STRIPE_API_KEY']);
    expect(names(filterRows(rows, 'token'))).toEqual(['GITHUB_TOKEN']);
    expect(names(filterRows(rows, '  '))).toEqual(names(rows));
    expect(filterRows(rows, 'nothing-like-it')).toEqual([]);
  });
});

describe('sortRows', () => {
  it('sorts by name, created, updated and last used; rows without the date last either way', () => {
    expect(names(sortRows(rows, { key: 'name', descending: false }))).toEqual(['GITHUB_TOKEN', 'SLACK_WEBHOOK', 'STRIPE_API_KEY']);
    expect(names(sortRows(rows, { key: 'created', descending: true }))).toEqual(['STRIPE_API_KEY', 'SLACK_WEBHOOK', 'GITHUB_TOKEN']);
    expect(names(sortRows(rows, { key: 'updated', descending: true }))).toEqual(['GITHUB_TOKEN', 'STRIPE_API_KEY', 'SLACK_WEBHOOK']);
    expect(names(sortRows(rows, { key: 'updated', descending: false }))).toEqual(['STRIPE_API_KEY', 'GITHUB_TOKEN', 'SLACK_WEBHOOK']);
    expect(names(sortRows(rows, { key: 'lastUsed', descending: true }))).toEqual(['STRIPE_API_KEY', 'SLACK_WEBHOOK', 'GITHUB_TOKEN']);
  });

  it('leaves its input as it was', () => {
    const before = names(rows);
    sortRows(rows, { key: 'name', descending: true });
    expect(names(rows)).toEqual(before);
  });
});

describe('pageOf', () => {
  const many = Array.from({ length: 120 }, (_, i) => i);
  it('cuts pages of the given size, and a page past the end is the last one', () => {
    expect(pageOf(many, 0)).toMatchObject({ page: 0, pages: 3 });
    expect(pageOf(many, 0).rows).toHaveLength(50);
    expect(pageOf(many, 2).rows).toEqual(many.slice(100));
    expect(pageOf(many, 9)).toMatchObject({ page: 2, pages: 3 });
    expect(pageOf([], 0)).toEqual({ rows: [], page: 0, pages: 1 });
  });
});

describe('live rows', () => {
  it('waits 1 s, doubling, at most 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20].map(backoffMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('asks for unsettled rows only: the ones changed here first, then those on screen, at most MAX_LIVE', () => {
    const pending = (name: string) => row(name, { status: { tone: 'pending', label: 'Pending', ready: '', reason: '', settled: false } });
    const all = [pending('A'), row('B'), pending('C'), ...Array.from({ length: 60 }, (_, i) => pending(`P${i}`))];
    const byName = new Map(all.map((r) => [r.name, r]));
    expect(liveNames(['C', 'B'], all.slice(0, 2), byName)).toEqual(['C', 'A']);
    expect(liveNames([], all, byName)).toHaveLength(MAX_LIVE);
    expect(liveNames(['GONE'], [], byName)).toEqual([]);
  });
});

describe('withPage', () => {
  it('adds a later page to the rows as they are now: created, edited and deleted rows stay so', () => {
    // The load began with A, B (page 1); meanwhile NEW was created, B edited and C deleted here.
    const have = [row('A'), row('B', { description: 'edited here' }), row('NEW')];
    const page2 = [row('B'), row('C'), row('D')];
    const rows = withPage(have, page2, new Set(['C']));
    expect(rows.map((r) => r.name)).toEqual(['A', 'B', 'NEW', 'D']);
    expect(rows.find((r) => r.name === 'B')?.description).toBe('edited here');
    expect(withPage([], [row('A')], new Set())).toEqual([row('A')]);
  });
});

describe('ago', () => {
  const now = Date.parse('2026-11-27T12:00:00Z');
  it("says how long ago in the CLI's units, in words (src/core/relative-time.ts, long style)", () => {
    expect(ago('2026-11-27T11:59:40Z', now, 'en')).toBe('20 seconds ago');
    expect(ago('2026-11-27T11:57:00Z', now, 'en')).toBe('3 minutes ago');
    expect(ago('2026-11-27T09:00:00Z', now, 'en')).toBe('3 hours ago');
    expect(ago('2026-11-26T12:00:00Z', now, 'en')).toBe('24 hours ago');
    expect(ago('2026-11-13T12:00:00Z', now, 'en')).toBe('14 days ago');
    expect(ago('2026-11-27T11:00:00Z', now, 'de')).toBe('vor 60 Minuten');
    expect(ago(undefined, now, 'en')).toBe('');
    expect(ago('not a date', now, 'en')).toBe('');
  });
});
