import { describe, expect, it } from 'vitest';
import { clean } from '../../../src/cli/clean.js';
import { ago, table } from '../../../src/cli/output.js';

describe('clean', () => {
  it.each([
    ['plain text', 'Stripe live key', 'Stripe live key'],
    ['an ANSI escape', '\u001b[2J\u001b[31mred', '?[2J?[31mred'],
    ['a forged line', 'ok\nNormal  Stored  forged', 'ok?Normal  Stored  forged'],
    ['a carriage return', 'real\rfake', 'real?fake'],
    ['a tab', 'a\tb', 'a b'],
    ['C1 controls and DEL', 'a\u009bb\u007fc', 'a?b?c'],
    ['bidi overrides', 'x\u202eevil\u2066y', 'x?evil?y'],
    ['multibyte text', 'café 日本 🔑', 'café 日本 🔑'],
    ['undefined', undefined, ''],
  ])('%s', (_what, input, expected) => {
    expect(clean(input)).toBe(expected);
  });

  it('bounds very long text', () => {
    expect(clean('x'.repeat(20_000)).length).toBeLessThan(2100);
  });
});

describe('table', () => {
  it('aligns columns and cleans every cell', () => {
    expect(table([['NAME', 'DESCRIPTION'], ['A', 'x\u001b[1my'], ['LONGER_NAME', 'z']])).toBe('NAME          DESCRIPTION\nA             x?[1my\nLONGER_NAME   z\n');
  });
});

describe('ago', () => {
  const now = Date.parse('2026-01-10T00:00:00Z');
  it.each([
    [undefined, 'never'],
    ['not a date', 'never'],
    ['2026-01-09T23:58:01Z', '119s ago'],
    ['2026-01-09T23:59:30Z', '30s ago'],
    ['2026-01-09T23:30:00Z', '30m ago'],
    ['2026-01-09T20:00:00Z', '4h ago'],
    ['2026-01-01T00:00:00Z', '9d ago'],
  ])('%s -> %s', (date, expected) => {
    expect(ago(date, now)).toBe(expected);
  });
});
