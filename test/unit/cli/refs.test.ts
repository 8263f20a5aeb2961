import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findReferences, mayHoldReferences } from '../../../src/core/template.js';
import { linesOf, report, type Scan } from '../../../src/cli/refs.js';
import { main } from '../../../src/cli/program.js';
import { CliError, EXIT } from '../../../src/cli/errors.js';

describe('findReferences', () => {
  it.each([
    ['JSON', '{"a": "{{secrets.API_KEY}}", "b": "{{ secrets.DB_PASSWORD }}"}', [{ offset: 7, name: 'API_KEY' }, { offset: 35, name: 'DB_PASSWORD' }]],
    ['YAML with foreign expressions', 'x: "{{ $json.a }}"\ny: {{secrets.TOKEN}}\n', [{ offset: 22, name: 'TOKEN' }]],
    ['a malformed reference, reported by rule, and the scan goes on', '{{secrets.bad}} {{secrets.OK}}', [{ offset: 0, malformed: 'first-character', written: 'secrets.bad', suggestion: '{{secrets.BAD}}' }, { offset: 16, name: 'OK' }]],
    ['nothing', 'plain text {{ unclosed', []],
  ])('%s', (_what, text, expected) => {
    expect(findReferences(text)).toEqual(expected);
  });
});

describe('findReferences: malformed references, as written, with a suggestion', () => {
  it.each([
    ['a hyphenated lower-case name', '{{ secrets.foo-bar }}', [{ offset: 0, malformed: 'first-character', written: 'secrets.foo-bar', suggestion: '{{secrets.FOO_BAR}}' }]],
    ['doubled and trailing separators', '{{secrets.API__KEY_}}', [{ offset: 0, malformed: 'separator', written: 'secrets.API__KEY_', suggestion: '{{secrets.API_KEY}}' }]],
    ['"secret." for "secrets."', 'x {{secret.FOO}}', [{ offset: 2, malformed: 'prefix', written: 'secret.FOO', suggestion: '{{secrets.FOO}}' }]],
    ['"Secrets." in another case', '{{ Secrets.FOO }}', [{ offset: 0, malformed: 'prefix', written: 'Secrets.FOO', suggestion: '{{secrets.FOO}}' }]],
    ['an unclosed reference before a later expression', '"{{secrets.FOO}", "b": "{{ $json.a }}", "c": "{{secrets.BAR}}"', [{ offset: 1, malformed: 'unclosed', written: 'secrets.FOO', suggestion: '{{secrets.FOO}}' }, { offset: 46, name: 'BAR' }]],
    ['an unclosed reference at the end', 'token: {{ secrets.FOO\n', [{ offset: 7, malformed: 'unclosed', written: 'secrets.FOO', suggestion: '{{secrets.FOO}}' }]],
    ['no suggestion when none is a valid name', '{{secrets.9lives}}', [{ offset: 0, malformed: 'first-character', written: 'secrets.9lives' }]],
  ])('%s', (_what, text, expected) => {
    expect(findReferences(text)).toEqual(expected);
  });

  it('shows what was written only up to a character no name has: a value typed into a reference is never printed', () => {
    const found = findReferences('{{secrets.API_KEY=sk_live_0123456789}} {{secrets.TOKEN sk_live_abc}}');
    expect(found).toEqual([
      { offset: 0, malformed: 'character', written: 'secrets.API_KEY...' },
      { offset: 39, malformed: 'character', written: 'secrets.TOKEN...' },
    ]);
    expect(JSON.stringify(found)).not.toContain('sk_live');
  });

  it('leaves foreign expressions alone', () => {
    expect(findReferences('{{ $json.secret }} {{ secretary.x }} {{ mysecrets.X }} {{ {a: 1} }} {{ sEcReT.X }}')).toEqual([]);
  });
});

describe('mayHoldReferences (the byte filter before decoding)', () => {
  it.each([
    '{{secrets.OK}}', '{{ secrets.foo-bar }}', 'x {{secret.FOO}}', '{{ Secrets.FOO }}', '{{ SECRET.FOO }}', '{{ SECRETS.FOO }}', 'token: {{ secrets.FOO', '{{ secrets. }}',
  ])('passes %j, which findReferences lists', (text) => {
    expect(findReferences(text)).not.toEqual([]);
    expect(mayHoldReferences(Buffer.from(text))).toBe(true);
  });
  it.each(['no secret here {{ $json.cursor }}', '{{ $json.secret }} {{ secretary.x }}', '{{ sEcReT.X }}'])('skips %j, where findReferences finds nothing', (text) => {
    expect(findReferences(text)).toEqual([]);
    expect(mayHoldReferences(Buffer.from(text))).toBe(false);
  });
});

describe('refs without a cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orka-refs-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const unreachable = join(dir, 'kubeconfig');
  writeFileSync(
    unreachable,
    'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: acme}}]\ncurrent-context: x\n',
  );
  it.each([
    ['no kubeconfig', join(dir, 'no-such-kubeconfig')],
    ['a cluster that does not answer', unreachable],
  ])('%s: the error hints --no-check', async (_what, kubeconfig) => {
    const err = await main(['node', 'orka-secrets', '--kubeconfig', kubeconfig, 'refs', dir]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.cluster);
    expect((err as CliError).message).toMatch(/--no-check/);
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
