/**
 * `make bench`: `orka-secrets run` in a script step. A producer writes BENCH_RUN_MB (100) MB of
 * output holding 50 secret values (plain and base64, one line in 500) as fast as it can, once
 * through `orka-secrets run` (the values from a real sidecar and operator, masked in the output)
 * and once through `cat` (the baseline), in turn, BENCH_RUN_REPEATS (3) times: throughput and
 * the ratio, and the RSS of run's process (Node plus the redactor) sampled while it pipes. Then
 * 2,000 lines written 1 ms apart, each stamped with its write time: the delay a line takes to
 * come out, p50 and p99, through each (on a shared machine the p99 of both is mostly the
 * scheduler's), and the redactor's own time per line, in process, for the same lines. Last, start-up: spawn to exit of `node -e 0`, of
 * `run -- true` and of `run` with one reference (one resolve), medians of 7 in turn.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MASK } from '../../src/core/redact.js';
import { StreamRedactor } from '../../src/core/stream-redact.js';
import { startControlPlane } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, installCrd } from '../env/kube.js';
import { startRunnerPod } from '../env/runner-pod.js';
import { printTable } from './table.js';

const MB = Number(process.env.BENCH_RUN_MB ?? 100);
const REPEATS = Number(process.env.BENCH_RUN_REPEATS ?? 3);
const VALUES = 50;
const CLI = 'dist/src/cli/main.js';

function progress(line: string): void {
  process.stderr.write(`[bench run] ${line}\n`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] as number;

/** The producer: BYTES of 100-byte lines, one in 500 holding a value (V01..V50 from its environment), plain or base64. */
const PRODUCER = `
const values = Object.keys(process.env).filter((k) => /^V\\d\\d$/.test(k)).sort().map((k) => process.env[k]);
const total = Number(process.env.BYTES);
const filler = 'x'.repeat(99);
let written = 0, line = 0;
function chunk() {
  const parts = [];
  let size = 0;
  while (size < 65536 && written + size < total) {
    const n = line++;
    const text = n % 500 === 0 ? (n % 1000 === 0 ? 'token ' + values[(n / 500) % values.length] : 'basic ' + Buffer.from('u:' + values[(n / 500) % values.length]).toString('base64')) + ' ' + filler.slice(0, 40) : filler;
    parts.push(text, '\\n');
    size += text.length + 1;
  }
  written += size;
  return parts.join('');
}
(function pump() {
  while (written < total) if (!process.stdout.write(chunk())) return process.stdout.once('drain', pump);
})();
`;

/** Writes 2,000 lines 1 ms apart, each with its write time (ms since the epoch, sub-ms); one in ten holds a value. */
const PACED = `
const values = Object.keys(process.env).filter((k) => /^V\\d\\d$/.test(k)).sort().map((k) => process.env[k]);
let n = 0;
const timer = setInterval(() => {
  const now = performance.timeOrigin + performance.now();
  process.stdout.write('t=' + now.toFixed(3) + (n % 10 === 0 ? ' key ' + values[n % values.length] : '') + ' end\\n');
  if (++n === 2000) clearInterval(timer);
}, 1);
`;

interface Piped {
  seconds: number;
  bytes: number;
  masks: number;
  peakRssMiB: number;
}

/** Spawns `command`, reads its stdout to the end; counts the masks (across chunks) and samples the RSS of the process `rssOf` names. */
function pipe(command: string[], env: Record<string, string>, rssOf: 'self' | 'none'): Promise<Piped> {
  const t0 = performance.now();
  const proc = spawn(command[0] as string, command.slice(1), { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let bytes = 0;
  let masks = 0;
  let tail = '';
  let peak = 0;
  const sampler = setInterval(() => {
    if (rssOf === 'none') return;
    try {
      peak = Math.max(peak, Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
    } catch {
      // exited
    }
  }, 20);
  proc.stdout.on('data', (c: Buffer) => {
    bytes += c.length;
    const text = tail + c.toString('latin1');
    for (let at = text.indexOf(MASK); at >= 0; at = text.indexOf(MASK, at + MASK.length)) if (at + MASK.length > tail.length) masks++;
    tail = text.slice(-(MASK.length - 1));
  });
  return new Promise((done, fail) => {
    proc.on('error', fail);
    proc.on('close', (code) => {
      clearInterval(sampler);
      if (code !== 0) return fail(new Error(`${command.join(' ')} exited ${code}`));
      done({ seconds: (performance.now() - t0) / 1000, bytes, masks, peakRssMiB: peak });
    });
  });
}

/** Line delays in ms: arrival here minus the write time stamped in each line. */
function delays(command: string[], env: Record<string, string>): Promise<number[]> {
  const proc = spawn(command[0] as string, command.slice(1), { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const out: number[] = [];
  let partial = '';
  proc.stdout.on('data', (c: Buffer) => {
    const now = performance.timeOrigin + performance.now();
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const sent = /^t=(\d+\.\d+)/.exec(line)?.[1];
      if (sent !== undefined) out.push(now - Number(sent));
    }
  });
  return new Promise((done, fail) => proc.on('close', (code) => (code === 0 && out.length === 2000 ? done(out) : fail(new Error(`${command.join(' ')}: exit ${code}, ${out.length} lines`)))));
}

/** Spawn to exit, in ms. */
async function startup(command: string[], env: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((done, fail) => spawn(command[0] as string, command.slice(1), { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' }).on('close', (code) => (code === 0 ? done() : fail(new Error(`${command.join(' ')} exited ${code}`)))));
  return performance.now() - t0;
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
const dir = mkdtempSync(join(tmpdir(), 'orka-bench-run-'));
try {
  await installCrd(adminKubeConfig(cp));
  const pod = await startRunnerPod(cp, 'bench-run');
  try {
    const values: Record<string, string> = {};
    for (let i = 1; i <= VALUES; i++) {
      const name = `V${String(i).padStart(2, '0')}`;
      values[name] = `val-${name}-${randomBytes(12).toString('base64url')}`;
      await pod.put(`BENCH_${name}`, values[name]);
    }
    progress(`${VALUES} secrets stored`);
    const producer = join(dir, 'producer.cjs');
    const paced = join(dir, 'paced.cjs');
    writeFileSync(producer, PRODUCER);
    writeFileSync(paced, PACED);
    const flags = Object.keys(values).flatMap((name) => ['--env', `${name}={{secrets.BENCH_${name}}}`]);
    const sidecarEnv = { ORKA_SECRETS_URL: pod.sidecar.url };
    const bytes = String(MB * 1_000_000);
    const viaRun = (script: string) => [process.execPath, CLI, 'run', ...flags, '--', process.execPath, script];
    const viaCat = (script: string) => ['sh', '-c', `'${process.execPath}' '${script}' | cat`];

    const runs: Piped[] = [];
    const cats: Piped[] = [];
    for (let i = 0; i < REPEATS; i++) {
      cats.push(await pipe(viaCat(producer), { ...values, BYTES: bytes }, 'none'));
      runs.push(await pipe(viaRun(producer), { ...sidecarEnv, BYTES: bytes }, 'self'));
      progress(`throughput ${i + 1}/${REPEATS}: cat ${(cats[i]!.bytes / 1e6 / cats[i]!.seconds).toFixed(0)} MB/s, run ${(runs[i]!.bytes / 1e6 / runs[i]!.seconds).toFixed(0)} MB/s`);
    }
    // Every line with a value comes out masked, and no other text is (one mask per such line).
    const expectedMasks = Math.ceil(Number(bytes) / 100 / 500);
    for (const r of runs) if (Math.abs(r.masks - expectedMasks) > expectedMasks / 100) throw new Error(`run masked ${r.masks} times, expected ${expectedMasks}`);

    const catDelays = await delays(viaCat(paced), values);
    const runDelays = await delays(viaRun(paced), sidecarEnv);

    // The redactor's own time per line (the delay it adds to a line it does not hold), in process.
    const redactor = new StreamRedactor(Object.values(values));
    const own: number[] = [];
    for (let n = 0; n < 20_000; n++) {
      const line = Buffer.from(`t=${(performance.timeOrigin + performance.now()).toFixed(3)}${n % 10 === 0 ? ` key ${Object.values(values)[n % VALUES]}` : ''} end\n`);
      const t0 = performance.now();
      redactor.push(line);
      own.push(performance.now() - t0);
    }

    const starts = { node: [] as number[], bare: [] as number[], resolve: [] as number[] };
    for (let i = 0; i < 7; i++) {
      starts.node.push(await startup([process.execPath, '-e', '0'], {}));
      starts.bare.push(await startup([process.execPath, CLI, 'run', '--', 'true'], {}));
      starts.resolve.push(await startup([process.execPath, CLI, 'run', '--env', 'K={{secrets.BENCH_V01}}', '--', 'true'], sidecarEnv));
    }

    const mbps = (xs: Piped[]) => median(xs.map((x) => x.bytes / 1e6 / x.seconds));
    const ms = (x: number) => x.toFixed(2);
    console.log(`orka-secrets run: ${MB} MB holding ${VALUES} values (one line in 500), medians of ${REPEATS} runs in turn; 2,000 lines 1 ms apart; Node ${process.version}`);
    printTable([
      { pipe: 'producer | cat (baseline)', 'MB/s': mbps(cats).toFixed(0), 'vs cat': '1.00x', 'line delay p50 ms': ms(percentile(catDelays, 50)), 'line delay p99 ms': ms(percentile(catDelays, 99)), 'peak RSS MiB': '' },
      {
        pipe: `orka-secrets run (${VALUES} values)`,
        'MB/s': mbps(runs).toFixed(0),
        'vs cat': `${(mbps(runs) / mbps(cats)).toFixed(2)}x`,
        'line delay p50 ms': ms(percentile(runDelays, 50)),
        'line delay p99 ms': `${ms(percentile(runDelays, 99))} (+${ms(percentile(runDelays, 99) - percentile(catDelays, 99))})`,
        'peak RSS MiB': median(runs.map((r) => r.peakRssMiB)).toFixed(1),
      },
    ]);
    console.log(`the redactor's own time per line (20,000 lines of ~60 bytes, in process): p50 ${(percentile(own, 50) * 1000).toFixed(1)} µs, p99 ${(percentile(own, 99) * 1000).toFixed(1)} µs, max ${(Math.max(...own) * 1000).toFixed(0)} µs`);
    console.log('start-up, spawn to exit, medians of 7 in turn');
    printTable([
      { command: 'node -e 0 (baseline)', ms: median(starts.node).toFixed(0), 'vs node -e 0': '1.00x' },
      { command: 'orka-secrets run -- true', ms: median(starts.bare).toFixed(0), 'vs node -e 0': `${(median(starts.bare) / median(starts.node)).toFixed(2)}x` },
      { command: 'orka-secrets run --env K={{secrets.X}} -- true (one resolve)', ms: median(starts.resolve).toFixed(0), 'vs node -e 0': `${(median(starts.resolve) / median(starts.node)).toFixed(2)}x` },
    ]);
  } finally {
    await pod.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  await cp.stop();
}
