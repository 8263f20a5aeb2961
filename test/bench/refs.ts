/**
 * `make bench` part: `orka-secrets refs` over a tree of 10,000 workflow files (JSON, YAML and
 * text; one in three holds references) against `grep -rn` of the same tree for the same
 * references, in the same run. Both are whole processes started the same way, so the row
 * includes the CLI's Node start-up, as a person running it would see. The CLI runs with
 * --no-check (no cluster): this measures the file scan; the cluster adds one list call.
 * Each tool runs BENCH_REFS_RUNS times (default 5); the table shows the median and the best.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

function time(command: string, args: string[]): { ms: number; stdout: string } {
  const started = process.hrtime.bigint();
  const res = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (res.status !== 0 && res.status !== 1) throw new Error(`${command} failed (${res.status}): ${res.stderr}`);
  return { ms, stdout: res.stdout };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const dir = mkdtempSync(join(tmpdir(), 'orka-bench-refs-'));
try {
  const expected = makeTree(dir);
  const grepArgs = ['-rnE', '\\{\\{ *secrets\\.[A-Z][A-Z0-9_]* *\\}\\}', dir];
  const cliArgs = ['dist/src/cli/main.js', 'refs', '--no-check', '-o', 'json', dir];
  // Both must find the same references, or the comparison means nothing.
  const grepFound = time('grep', grepArgs).stdout.split('\n').filter(Boolean).length;
  const cliFound = (JSON.parse(time(process.execPath, cliArgs).stdout) as { references: unknown[] }).references.length;
  if (grepFound !== expected || cliFound !== expected) throw new Error(`references: planted ${expected}, grep ${grepFound}, refs ${cliFound}`);
  const grepMs: number[] = [];
  const cliMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    grepMs.push(time('grep', grepArgs).ms);
    cliMs.push(time(process.execPath, cliArgs).ms);
  }
  const base = median(grepMs);
  printTable([
    { case: `grep -rn, ${FILES} files (baseline)`, references: String(grepFound), 'median ms': median(grepMs).toFixed(0), 'best ms': Math.min(...grepMs).toFixed(0), 'vs baseline': '1.00x' },
    { case: `orka-secrets refs, ${FILES} files`, references: String(cliFound), 'median ms': median(cliMs).toFixed(0), 'best ms': Math.min(...cliMs).toFixed(0), 'vs baseline': `${(median(cliMs) / base).toFixed(2)}x time` },
  ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
