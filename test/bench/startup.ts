/**
 * `make bench`: process start-up of what the image runs, the esbuild bundle (dist/bundle, from
 * hack/build-bundle.mjs), against tsc's files with node_modules (the baseline, what the image ran
 * before), started in turn on the same control plane. The operator: time from spawn to its first
 * log line ('operator starting', once its modules are loaded and its health port listens) and to
 * 'caches synced' (its first list of the cluster done: it reconciles from then on), and its RSS
 * then. The sidecar: time from spawn to 'sidecar listening', and its RSS then.
 *   BENCH_STARTUP_RUNS (default 7) starts of each; medians are printed.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, freePort } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, installCrd } from '../env/kube.js';
import { BUNDLE, startOperator } from '../env/operator.js';
import { createCA } from '../../src/core/pki.js';
import { printTable } from './table.js';

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 7);
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

  const samples = new Map(BUILDS.map((b) => [b.build, { starting: [] as number[], synced: [] as number[], rss: [] as number[], sidecar: [] as number[], sidecarRss: [] as number[] }]));
  // One start of each in turn, so the machine's drift falls on both alike.
  for (let i = 0; i < RUNS; i++) {
    for (const b of BUILDS) {
      const s = samples.get(b.build)!;
      const t0 = Date.now();
      const op = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: `startup-${b.build}`, build: b.build, nodeOptions: NODE_OPTIONS, env: { ORKA_WATCH_NAMESPACES: tenant, ORKA_LOG_LEVEL: 'info' } });
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
    const cell = (key: keyof typeof s, unit: number) => `${median(s[key]).toFixed(unit)} (${ratio(median(s[key]), median(base[key]))})`;
    return {
      build: b.label,
      'operator: spawn -> first log ms': cell('starting', 0),
      'spawn -> caches synced ms': cell('synced', 0),
      'RSS then MiB': cell('rss', 1),
      'sidecar: spawn -> listening ms': cell('sidecar', 0),
      'sidecar RSS then MiB': cell('sidecarRss', 1),
    };
  });
  console.log(`process start-up, medians of ${RUNS} starts each (in turn), Node ${process.version}, operator node options: ${NODE_OPTIONS.join(' ') || '(none)'}`);
  printTable(rows);
  for (const f of [caFile, tokenFile]) rmSync(f, { force: true });
} finally {
  await cp.stop();
}
