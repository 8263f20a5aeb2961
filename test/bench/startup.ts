/**
 * `make bench`: start-up of the CLI's per-step commands, then of what the image runs.
 *
 * The CLI (BENCH_STARTUP_CLI_ROUNDS interleaved rounds, default 7; test/bench/processes.ts):
 * `node -e 0` (the baseline), `orka-secrets --version`, an offline `seal --cert`, `list` against
 * the control plane, `run -- true`, each spawn to exit with its peak RSS; and the standalone
 * binary's `--version` and `run -- true` when `make cli-binary` has built it.
 *
 * The image: process start-up of what it runs, the esbuild bundle (dist/bundle, from
 * hack/build-bundle.mjs), against tsc's files with node_modules (the baseline, what the image ran
 * before), started in turn on the same control plane. The operator: time from spawn to its first
 * log line ('operator starting', once its modules are loaded and its health port listens) and to
 * 'caches synced' (its first list of the cluster done: it reconciles from then on), and its RSS
 * then. The sidecar: time from spawn to 'sidecar listening', and its RSS then.
 *   BENCH_STARTUP_RUNS (default 7) starts of each; medians are printed.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, freePort } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, installCrd } from '../env/kube.js';
import { BUNDLE, startOperator } from '../env/operator.js';
import { createCA, createSealingCert, generateRsaKeyPair } from '../../src/core/pki.js';
import { SEALING_CN_PREFIX } from '../../src/core/sealing-cert.js';
import { compareProcesses, spread, type ProcessCase } from './processes.js';
import { printTable } from './table.js';

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 7);
const CLI_ROUNDS = Number(process.env.BENCH_STARTUP_CLI_ROUNDS ?? 7);
/** `cli`, `image` or both (the default): which tables to make. */
const PARTS = (process.env.BENCH_STARTUP_PARTS ?? 'cli,image').split(',');
const CLI = 'dist/src/cli/main.js';
const CLI_BINARY = 'dist/orka-secrets-linux-x64';
const NODE_OPTIONS = /^\s*nodeOptions:\s*"([^"]*)"/m.exec(readFileSync('charts/orka-secrets/values.yaml', 'utf8'))?.[1]?.split(' ').filter(Boolean) ?? [];
const BUILDS = [
  { build: 'tsc' as const, label: "tsc's files + node_modules (baseline)", sidecar: ['dist/src/sidecar/main.js'] },
  { build: 'dist' as const, label: 'the bundle (the image)', sidecar: [BUNDLE, 'sidecar'] },
];

function progress(line: string): void {
  process.stderr.write(`[bench startup] ${line}\n`);
}

/** VmRSS of a process in MiB. */
function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

/** The middle value. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Spawns the sidecar (pointed at an operator that does not exist: it still listens) and times it. */
async function sidecarStart(entry: string[], caFile: string, tokenFile: string): Promise<{ ms: number; rss: number }> {
  const env = { PATH: process.env.PATH, ORKA_OPERATOR_URL: 'https://127.0.0.1:9', ORKA_CA_FILE: caFile, ORKA_TOKEN_FILE: tokenFile, ORKA_SIDECAR_PORT: String(await freePort()), ORKA_SIDECAR_METRICS_PORT: String(await freePort()) };
  const t0 = performance.now();
  const proc = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sidecar did not listen in 30 s:\n${out}`)), 30_000);
      proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
      proc.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (!out.includes('sidecar listening')) return;
        clearTimeout(timer);
        resolve({ ms: performance.now() - t0, rss: rssMiB(proc.pid as number) });
      });
      void exited.then(() => reject(new Error(`sidecar exited:\n${out}`)));
    });
  } finally {
    proc.kill('SIGKILL');
    await exited;
  }
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
try {
  const kc = adminKubeConfig(cp);
  await installCrd(kc);
  const opNamespace = await createNamespace(kc, { prefix: 'orka-startup' });
  const tenant = await createNamespace(kc, { prefix: 'startup-t', tenant: 'startup' });
  const dir = tmpdir();
  const caFile = join(dir, `orka-bench-startup-ca-${process.pid}.pem`);
  const tokenFile = join(dir, `orka-bench-startup-token-${process.pid}`);
  writeFileSync(caFile, createCA({ commonName: 'bench', now: new Date(), validDays: 1 }).certPem);
  writeFileSync(tokenFile, 'not-a-token');
  if (PARTS.includes('cli')) cliStartup(cp.kubeconfigPath, tenant, dir);
  if (PARTS.includes('image')) await imageStartup(cp.kubeconfigPath, opNamespace, tenant, caFile, tokenFile);
  for (const f of [caFile, tokenFile]) rmSync(f, { force: true });
} finally {
  await cp.stop();
}

/** The CLI's per-step commands against `node -e 0`, in interleaved rounds. */
function cliStartup(kubeconfig: string, tenant: string, dir: string): void {
  const certFile = join(dir, `orka-bench-startup-sealing-${process.pid}.pem`);
  const valueFile = join(dir, `orka-bench-startup-value-${process.pid}`);
  writeFileSync(certFile, createSealingCert({ ...generateRsaKeyPair(2048), commonName: `${SEALING_CN_PREFIX}seal-bench`, now: new Date(), validDays: 1 }));
  writeFileSync(valueFile, 'a value for the bench');
  const exits0 = (run: { status: number | null; stdout: string }) => {
    if (run.status !== 0) throw new Error(`exit ${run.status}: ${run.stdout.slice(0, 200)}`);
  };
  const node = (label: string, args: string[]): ProcessCase => ({ label, command: process.execPath, args, check: exits0 });
  const cases: ProcessCase[] = [
    node('node -e 0', ['-e', '0']),
    node('orka-secrets --version', [CLI, '--version']),
    node('orka-secrets seal --cert (offline)', [CLI, '-n', tenant, 'seal', 'BENCH_VALUE', '--cert', certFile, '--tenant', 'startup', '--from-file', valueFile]),
    node('orka-secrets list (one call to the cluster)', [CLI, '--kubeconfig', kubeconfig, '-n', tenant, 'list']),
    node('orka-secrets run -- true', [CLI, 'run', '--', 'true']),
  ];
  if (existsSync(CLI_BINARY)) {
    cases.push({ label: 'standalone binary --version', command: CLI_BINARY, args: ['--version'], check: exits0 });
    cases.push({ label: 'standalone binary seal --cert (offline)', command: CLI_BINARY, args: ['-n', tenant, 'seal', 'BENCH_VALUE', '--cert', certFile, '--tenant', 'startup', '--from-file', valueFile], check: exits0 });
    cases.push({ label: 'standalone binary list', command: CLI_BINARY, args: ['--kubeconfig', kubeconfig, '-n', tenant, 'list'], check: exits0 });
    cases.push({ label: 'standalone binary run -- true', command: CLI_BINARY, args: ['run', '--', 'true'], check: exits0 });
  }
  try {
    console.log(`CLI start-up, spawn to exit, ${CLI_ROUNDS} interleaved rounds, Node ${process.version}${existsSync(CLI_BINARY) ? '' : ` (no ${CLI_BINARY}: make cli-binary adds its rows)`}`);
    printTable(compareProcesses(cases, CLI_ROUNDS));
  } finally {
    for (const f of [certFile, valueFile]) rmSync(f, { force: true });
  }
}

/** The image's operator and sidecar: the bundle against tsc's files. */
async function imageStartup(kubeconfigPath: string, opNamespace: string, tenant: string, caFile: string, tokenFile: string): Promise<void> {
  const samples = new Map(BUILDS.map((b) => [b.build, { starting: [] as number[], synced: [] as number[], rss: [] as number[], sidecar: [] as number[], sidecarRss: [] as number[] }]));
  // One start of each in turn, so the machine's drift falls on both alike.
  for (let i = 0; i < RUNS; i++) {
    for (const b of BUILDS) {
      const s = samples.get(b.build)!;
      const t0 = Date.now();
      const op = await startOperator({ kubeconfigPath, namespace: opNamespace, identity: `startup-${b.build}`, build: b.build, nodeOptions: NODE_OPTIONS, env: { ORKA_WATCH_NAMESPACES: tenant, ORKA_LOG_LEVEL: 'info' } });
      try {
        // The operator batches its log writes: the time a line says, not when it arrives.
        const at = (line: string) => Date.parse((JSON.parse(line) as { time: string }).time) - t0;
        s.starting.push(at(await op.waitForLog(/"operator starting"/, 60_000)));
        s.synced.push(at(await op.waitForLog(/"caches synced"/, 60_000)));
        s.rss.push(rssMiB(op.proc.pid as number));
      } finally {
        await op.stop('SIGKILL');
      }
      const sc = await sidecarStart(b.sidecar, caFile, tokenFile);
      s.sidecar.push(sc.ms);
      s.sidecarRss.push(sc.rss);
    }
    progress(`run ${i + 1}/${RUNS} done`);
  }

  const base = samples.get('tsc')!;
  const ratio = (value: number, baseline: number) => `${(value / baseline).toFixed(2)}x`;
  const rows = BUILDS.map((b) => {
    const s = samples.get(b.build)!;
    const cell = (key: keyof typeof s, unit: number) => `${spread(s[key], unit)} ${ratio(median(s[key]), median(base[key]))}`;
    return {
      build: b.label,
      'operator: spawn -> first log ms': cell('starting', 0),
      'spawn -> caches synced ms': cell('synced', 0),
      'RSS then MiB': cell('rss', 1),
      'sidecar: spawn -> listening ms': cell('sidecar', 0),
      'sidecar RSS then MiB': cell('sidecarRss', 1),
    };
  });
  console.log(`process start-up, median (min-max) and ratio to the baseline, ${RUNS} starts each (in turn), Node ${process.version}, operator node options: ${NODE_OPTIONS.join(' ') || '(none)'}`);
  printTable(rows);
}
