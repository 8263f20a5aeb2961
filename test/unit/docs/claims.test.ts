/**
 * The measured figures of the docs: every marked figure is registered in docs/claims.yaml with
 * the command that measures it, one claim shows one figure everywhere, and hack/check-claims.ts
 * tells a figure that a bench log contradicts. The checker itself is shown to fail on planted
 * problems (a disagreement, an unknown or unused id, a figure the log does not print).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { benchRecipe, checkDocs, checkLog, rangeOf, readRegistry, repoDocs, tablesOf, usesOf, type Registry } from '../../../hack/check-claims.js';

const recipe = 'npx tsx test/bench/operator.ts\n\tnpx tsx test/bench/run.ts\n';
const registry: Registry = {
  'operator.ready-1k': { command: 'npx tsx test/bench/operator.ts', table: 'operator at scale', row: { N: '1000' }, column: 'vs lower bound', tolerance: 0.3 },
  'operator.idle-rss': { command: 'npx tsx test/bench/operator.ts', table: 'operator RSS and Secrets', row: { measure: 'running operator, before' }, column: 'RSS MiB', tolerance: 0.1 },
  'run.redactor-p50': { command: 'npx tsx test/bench/run.ts', line: "redactor's own time per line.*: p50 ([\\d.]+) µs", tolerance: 0.5 },
  'ci.make-test': { command: 'time bash .ci/run', manual: 'a clean clone' },
};
const doc = (file: string, text: string) => ({ file, text });
const good = [
  doc('README.md', 'Ready in 1.62-1.77x<!-- claim: operator.ready-1k --> the floor; make test takes about 17 minutes<!-- claim: ci.make-test -->.'),
  doc('docs/a.md', '| 1,000 | **1.62-1.77x**<!-- claim: operator.ready-1k --> |\nidle RSS (133 MiB<!-- claim: operator.idle-rss -->), p50 1.4 µs<!-- claim: run.redactor-p50 -->'),
];
const sample = readFileSync('test/unit/fixtures/bench-sample.log', 'utf8');

describe('measured claims in the docs', () => {
  it('the repository: every marker registered, every claim used, the same figure everywhere, every bench claim a part of make bench', () => {
    const docs = repoDocs();
    expect(docs.flatMap((d) => usesOf(d).uses).length).toBeGreaterThan(30);
    expect(checkDocs(readRegistry(), docs, benchRecipe())).toEqual([]);
    expect(benchRecipe()).toContain('npx tsx test/bench/operator.ts');
  });

  it('finds a figure with its unit, a range and a bold figure before the marker', () => {
    expect(good.flatMap((d) => usesOf(d).uses).map((u) => [u.file, u.line, u.id, u.figure])).toEqual([
      ['README.md', 1, 'operator.ready-1k', '1.62-1.77x'],
      ['README.md', 1, 'ci.make-test', '17 minutes'],
      ['docs/a.md', 1, 'operator.ready-1k', '1.62-1.77x'],
      ['docs/a.md', 2, 'operator.idle-rss', '133 MiB'],
      ['docs/a.md', 2, 'run.redactor-p50', '1.4 µs'],
    ]);
    const code = doc('CONTRIBUTING.md', 'an example:\n\n    9x<!-- claim: operator.ready-1k -->\n\n```\n8x<!-- claim: operator.ready-1k -->\n```\nand `7x<!-- claim: x.y -->` inline');
    expect(usesOf(code)).toEqual({ uses: [], problems: [] });
    expect(rangeOf('1.62-1.77x')).toEqual([1.62, 1.77]);
    expect(rangeOf('61 to 71 µs')).toEqual([61, 71]);
    expect(rangeOf('+2.3%')).toEqual([2.3, 2.3]);
    expect(rangeOf('-39%')).toEqual([-39, -39]);
    expect(rangeOf('10,000')).toEqual([10000, 10000]);
    expect(checkDocs(registry, good, recipe)).toEqual([]);
  });

  it('fails on a planted disagreement: one claim, two figures', () => {
    const docs = [...good, doc('docs/b.md', 'at 1,000 it stays above 1.5x (1.6-1.8x<!-- claim: operator.ready-1k -->)')];
    expect(checkDocs(registry, docs, recipe)).toEqual(['docs/b.md:1: operator.ready-1k is 1.6-1.8x here but 1.62-1.77x in README.md:1']);
  });

  it('fails on an unregistered id, an unused claim, a marker with no figure and a bench claim make bench does not run', () => {
    const docs = [doc('README.md', 'about 17 minutes<!-- claim: ci.make-test --> and 2x<!-- claim: nowhere.registered -->\nfast<!-- claim: operator.idle-rss -->')];
    const problems = checkDocs({ ...registry, 'other.bench': { command: 'npx tsx test/bench/gone.ts', table: 't', row: { a: 'b' }, column: 'c' } }, docs, recipe);
    expect(problems).toEqual([
      'README.md:2: the marker of operator.idle-rss follows no figure (a number and its unit right before it)',
      'docs/claims.yaml: operator.ready-1k is marked nowhere in the docs (remove it)',
      'docs/claims.yaml: operator.idle-rss is marked nowhere in the docs (remove it)',
      'docs/claims.yaml: run.redactor-p50 is marked nowhere in the docs (remove it)',
      'docs/claims.yaml: other.bench: "npx tsx test/bench/gone.ts" is not a part of make bench (say manual: if it is run by hand)',
      'docs/claims.yaml: other.bench is marked nowhere in the docs (remove it)',
      'README.md:1: 2x is marked nowhere.registered, which docs/claims.yaml does not register',
    ]);
  });

  it('reads the tables of a bench log, each under the line printed before it', () => {
    const tables = tablesOf(sample);
    expect(tables.map((t) => [t.title.slice(0, 30), t.rows.length])).toEqual([
      ['core benchmarks, Node v24.21.0', 16],
      ['operator at scale, 4 workers, ', 2],
      ['operator RSS and Secrets it ne', 4],
      ['orka-secrets run: 100 MB holdi', 2],
      ['start-up, spawn to exit, media', 3],
      ['resolver cost, autocannon 16 c', 4],
      ['memo of opened values (first r', 2],
      ['operator memory across change ', 4],
      ['unauthenticated webhook flood:', 6],
      ['refs vs grep -rn over 10000 fi', 2],
      ['CLI start-up, spawn to exit, 7', 5],
      ['process start-up, median (min-', 2],
      ['sidecar, autocannon 32 connect', 4],
      ['sidecar, autocannon 32 connect', 3],
      ['sidecar, autocannon 32 connect', 5],
      ['sidecar RSS while its operator', 2],
      ['the Secrets page vs kubectl, 1', 10],
    ]);
    expect(tables[1]?.rows[1]?.['vs lower bound']).toBe('1.44x');
  });

  it('a note or a progress line beside a table is not its title; a table printed right under another is a table of its own', () => {
    const tables = tablesOf(sample);
    const cli = tables.find((t) => t.title.startsWith('CLI start-up'));
    expect(cli?.rows[0]?.case).toBe('node -e 0 (baseline)');
    const sidecar = tables.filter((t) => t.title.startsWith('sidecar, autocannon'));
    expect(sidecar.map((t) => Object.keys(t.rows[0] ?? {})[0])).toEqual(['case', 'measure', 'measure']);
    expect(sidecar[2]?.rows[2]).toMatchObject({ measure: 'sidecar idle (stream up, nothing cached)', 'vs bare': '1.42x' });
    expect(tables.some((t) => t.title.startsWith('note: ') || t.title.startsWith('[bench'))).toBe(false);
  });

  it('every figure within its tolerance of the log passes; a claim whose bench is not in the log is listed, not failed', () => {
    const result = checkLog({ ...registry, 'gone.table': { command: 'x', table: 'no such title', row: {}, column: 'c' } }, [...good, doc('docs/c.md', '3x<!-- claim: gone.table -->')], sample);
    expect(result.problems).toEqual([]);
    expect(result.skipped).toEqual(['gone.table: no table after a line with "no such title" (x not in this log?)']);
  });

  it('fails on a planted mismatch: a figure the log contradicts, a row the table no longer has', () => {
    const docs = [doc('docs/a.md', 'idle RSS (150 MiB<!-- claim: operator.idle-rss -->), 1,000 in 2.5x<!-- claim: operator.ready-1k -->, about 17 minutes<!-- claim: ci.make-test -->, 1.4 µs<!-- claim: run.redactor-p50 -->')];
    const renamed: Registry = { ...registry, 'run.redactor-p50': { ...(registry['run.redactor-p50'] as Registry[string]), line: undefined, table: 'start-up, spawn', row: { command: 'orka-secrets go' }, column: 'ms' } };
    expect(checkLog(renamed, docs, sample).problems).toEqual([
      'operator.idle-rss: the docs say 150 MiB (docs/a.md:1), npx tsx test/bench/operator.ts printed 131 (tolerance 10%)',
      'operator.ready-1k: the docs say 2.5x (docs/a.md:1), npx tsx test/bench/operator.ts printed 1.65 (tolerance 30%)',
      'run.redactor-p50: the table "start-up, spawn" has no row {"command":"orka-secrets go"} with a number in "ms"',
    ]);
  });

  it('the docs as they are, against the sample log: every live claim found in it, within tolerance', () => {
    const result = checkLog(readRegistry(), repoDocs(), sample);
    expect(result.problems).toEqual([]);
    expect(result.skipped).toEqual([]);
  });
});
