import { describe, expect, it } from 'vitest';
import { timeAgo } from '../../../src/core/relative-time.js';

describe('timeAgo', () => {
  const now = Date.parse('2026-01-10T00:00:00Z');
  it.each([
    ['2026-01-10T00:00:00Z', '0s ago', '0 seconds ago'],
    ['2026-01-09T23:59:59Z', '1s ago', '1 second ago'],
    ['2026-01-09T23:58:01Z', '119s ago', '119 seconds ago'],
    ['2026-01-09T23:58:00Z', '2m ago', '2 minutes ago'],
    ['2026-01-09T23:30:00Z', '30m ago', '30 minutes ago'],
    ['2026-01-09T22:00:00Z', '2h ago', '2 hours ago'],
    ['2026-01-08T01:00:00Z', '47h ago', '47 hours ago'],
    ['2026-01-01T00:00:00Z', '9d ago', '9 days ago'],
    ['2026-01-10T00:05:00Z', '0s ago', '0 seconds ago'],
  ])('%s: %s (narrow), %s (long)', (date, narrow, long) => {
    expect(timeAgo(date, now)).toBe(narrow);
    expect(timeAgo(new Date(date), now, { style: 'long' })).toBe(long);
  });

  it.each([undefined, '', 'not a date'])('%j has no time', (date) => {
    expect(timeAgo(date, now)).toBeUndefined();
  });

  it('follows the locale', () => {
    expect(timeAgo('2026-01-09T23:30:00Z', now, { style: 'long', locale: 'de' })).toBe('vor 30 Minuten');
  });
});
