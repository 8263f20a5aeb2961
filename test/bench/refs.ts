/**
 * `make bench` part: `orka-secrets refs` over a tree of 10,000 workflow files (JSON, YAML and
 * text; one in three holds references) against `grep -rn` of the same tree for the same
 * references, in the same run. Both are whole processes started the same way, so the row
 * includes the CLI's Node start-up, as a person running it would see. The CLI runs with
 * --no-check (no cluster): this measures the file scan; the cluster adds one list call.
 * The two run in interleaved rounds (grep, refs, grep, refs, ...), BENCH_REFS_RUNS of them (default
 * 5); the table shows medians, the spread and peak memory (test/bench/processes.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareProcesses, timeProcess } from './processes.js';
import { printTable } from './table.js';

const FILES = Number(process.env.BENCH_REFS_FILES ?? 10_000);
const RUNS = Number(process.env.BENCH_REFS_RUNS ?? 5);
const NAMES = ['API_KEY', 'DB_PASSWORD', 'WEBHOOK_URL', 'STRIPE_API_KEY', 'SLACK_TOKEN'];

function makeTree(dir: string): number {
  let refs = 0;
  for (let i = 0; i < FILES; i++) {
    const sub = join(dir, `team-${i % 50}`, `flow-${i % 7}`);
    mkdirSync(sub, { recursive: true });
    const withRef = i % 3 === 0;
    const name = NAMES[i % NAMES.length] as string;
    if (withRef) refs++;
    const body = `step ${i}: fetch https://api.example.com/items?page=${i} {{ $json.cursor }}\n`.repeat(20);
    const ref = withRef ? `{{ secrets.${name} }}` : 'no secret here';
    const kind = i % 3;
    const content =
      kind === 0
        ? JSON.stringify({ id: i, nodes: [{ type: 'http', url: 'https://api.example.com', headers: { Authorization: `Bearer ${ref}` }, notes: body }] }, null, 2)
        : kind === 1
          ? `id: ${i}\nnodes:\n  - type: http\n    headers:\n      Authorization: "Bearer ${ref}"\n    notes: |\n${body.replace(/^/gm, '      ')}`
          : `${body}token=${ref}\n`;
    writeFileSync(join(sub, `wf-${i}.${['json', 'yaml', 'txt'][kind]}`), content);
  }
  return refs;
}

const dir = mkdtempSync(join(tmpdir(), 'orka-bench-refs-'));
try {
  const expected = makeTree(dir);
  const grepArgs = ['-rnE', '\\{\\{ *secrets\\.[A-Z][A-Z0-9_]* *\\}\\}', dir];
  const cliArgs = ['dist/src/cli/main.js', 'refs', '--no-check', '-o', 'json', dir];
  // Both must find the same references, or the comparison means nothing.
  const grepFound = (run: { stdout: string }) => run.stdout.split('\n').filter(Boolean).length;
  const cliFound = (run: { stdout: string }) => (JSON.parse(run.stdout) as { references: unknown[] }).references.length;
  const found = { grep: grepFound(timeProcess('grep', grepArgs)), refs: cliFound(timeProcess(process.execPath, cliArgs)) };
  if (found.grep !== expected || found.refs !== expected) throw new Error(`references: planted ${expected}, grep ${found.grep}, refs ${found.refs}`);
  const ok = (count: (run: { stdout: string }) => number) => (run: { stdout: string; status: number | null }) => {
    if ((run.status !== 0 && run.status !== 1) || count(run) !== expected) throw new Error(`a run found ${count(run)} references (exit ${run.status})`);
  };
  console.log(`refs vs grep -rn over ${FILES} files (${expected} references), ${RUNS} interleaved rounds, Node ${process.version}`);
  printTable(
    compareProcesses(
      [
        { label: `grep -rn, ${FILES} files`, command: 'grep', args: grepArgs, check: ok(grepFound) },
        { label: `orka-secrets refs --no-check, ${FILES} files`, command: process.execPath, args: cliArgs, check: ok(cliFound) },
      ],
      RUNS,
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
