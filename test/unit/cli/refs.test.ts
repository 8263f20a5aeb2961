import { describe, expect, it } from 'vitest';
import { findReferences } from '../../../src/core/template.js';
import { linesOf, report, type Scan } from '../../../src/cli/refs.js';

describe('findReferences', () => {
  it.each([
    ['JSON', '{"a": "{{secrets.API_KEY}}", "b": "{{ secrets.DB_PASSWORD }}"}', [{ offset: 7, name: 'API_KEY' }, { offset: 35, name: 'DB_PASSWORD' }]],
    ['YAML with foreign expressions', 'x: "{{ $json.a }}"\ny: {{secrets.TOKEN}}\n', [{ offset: 22, name: 'TOKEN' }]],
    ['a malformed reference, reported by rule, and the scan goes on', '{{secrets.bad}} {{secrets.OK}}', [{ offset: 0, malformed: 'first-character' }, { offset: 16, name: 'OK' }]],
    ['nothing', 'plain text {{ unclosed', []],
  ])('%s', (_what, text, expected) => {
    expect(findReferences(text)).toEqual(expected);
  });
});

describe('linesOf', () => {
  it('gives 1-based lines of ascending offsets', () => {
    const text = 'a\nbb\n\nccc {{x}}\nd';
    expect(linesOf(text, [0, 2, 7, 11, 16])).toEqual([1, 2, 4, 4, 5]);
  });
});

describe('report', () => {
  const scan: Scan = {
    files: 3,
    binary: 0,
    references: [
      { file: 'a.json', line: 2, name: 'API_KEY' },
      { file: 'b.yaml', line: 9, name: 'GONE' },
      { file: 'b.yaml', line: 10, name: 'API_KEY' },
    ],
    malformed: [],
  };
  it('marks missing secrets and lists the unreferenced ones', () => {
    expect(report(scan, new Set(['API_KEY', 'UNUSED', 'ALSO_UNUSED']))).toEqual({
      files: 3,
      references: [
        { file: 'a.json', line: 2, name: 'API_KEY', exists: true },
        { file: 'b.yaml', line: 9, name: 'GONE', exists: false },
        { file: 'b.yaml', line: 10, name: 'API_KEY', exists: true },
      ],
      malformed: [],
      missing: ['GONE'],
      unreferenced: ['ALSO_UNUSED', 'UNUSED'],
    });
  });
  it('without the cluster: references only', () => {
    expect(report(scan, undefined)).toMatchObject({ missing: [], unreferenced: [] });
    expect(report(scan, undefined).references[0]).toEqual({ file: 'a.json', line: 2, name: 'API_KEY' });
  });
});
