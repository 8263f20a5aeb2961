/**
 * What Secrets carrying the storage labels, made by someone who is not the operator, cost an
 * operator replica: 30 labelled 1 MiB Secrets in a namespace that is no tenant plus 30 in a tenant
 * namespace (under names that are no OrkaSecret's storage), against the replica's V8 heap after a
 * full GC and its RSS, before and after, once it stopped moving. Two rows of the same run and the
 * same apiserver: the code of a baseline checkout (BENCH_BASE_DIR: a `git worktree add` of the
 * branch to compare with, e.g. /tmp/orka-base; skipped when unset) and this checkout.
 *   BENCH_FLOOD=30 (default) sets the count per namespace.
 *
 * The operator runs from the sources (tsx), watching every namespace (the chart's default), with
 * --expose-gc and test/bench/memory-probe.ts, which on SIGUSR2 runs a full GC and writes
 * process.memoryUsage() to stderr.
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { MANAGED_BY, MANAGED_BY_LABEL, STORAGE_FOR_LABEL } from '../../src/api/resource.js';
import { freePort, startControlPlane } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, installCrd } from '../env/kube.js';
import { eventually } from '../env/operator.js';
import { printTable } from './table.js';

const FLOOD = Number(process.env.BENCH_FLOOD ?? 30);
const PROBE = resolve('test/bench/memory-probe.ts');
const MiB = 1024 * 1024;

function progress(line: string): void {
  process.stderr.write(`[bench attack-labelled-secrets] ${line}\n`);
}

/** An operator process from checkout `dir`, with a probe that answers SIGUSR2 with its memory after a full GC. */
async function startFrom(dir: string, kubeconfigPath: string, namespace: string) {
  const port = await freePort();
  const proc = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', process.execPath, '--expose-gc', '--import', 'tsx', '--import', PROBE, 'src/operator/main.ts'], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ORKA_KUBECONFIG: kubeconfigPath,
      ORKA_NAMESPACE: namespace,
      ORKA_POD_NAME: 'bench-attack',
      ORKA_HTTP_ADDRESS: '127.0.0.1',
      ORKA_HTTP_PORT: String(port),
      ORKA_RESOLVER_ADDRESS: '127.0.0.1',
      ORKA_RESOLVER_PORT: String(await freePort()),
      ORKA_LOG_LEVEL: 'warn',
      ORKA_SHUTDOWN_DRAIN: '0s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  proc.stdout?.setEncoding('utf8');
  proc.stdout?.on('data', (chunk: string) => tail.push(...chunk.split('\n').slice(-5)) && tail.splice(0, Math.max(0, tail.length - 20)));
  const waiting: Array<(heap: number) => void> = [];
  let partial = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      tail.push(line);
      const m = /^orka-bench-memory (.*)$/.exec(line);
      if (m) waiting.shift()?.((JSON.parse(m[1] as string) as { heapUsed: number }).heapUsed);
    }
  });
  const exited = new Promise<void>((r) => proc.once('close', () => r()));
  await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200 ? true : undefined), 60_000, 250).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw new Error(`the operator from ${dir} did not get ready; its last lines:\n${tail.slice(-20).join('\n')}`, { cause: err });
  });
  return {
    /** V8 heap in use after a full GC (MiB). */
    heap: () =>
      new Promise<number>((done) => {
        waiting.push((bytes) => done(bytes / MiB));
        proc.kill('SIGUSR2');
      }),
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1]) / 1024,
    stop: async () => {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Heap after a full GC and RSS, once the heap stops moving: two readings 3 s apart within 0.5 MiB (at most a minute). */
async function settled(op: Awaited<ReturnType<typeof startFrom>>): Promise<{ heap: number; rss: number }> {
  let last = await op.heap();
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 3000));
    const now = await op.heap();
    if (Math.abs(now - last) < 0.5) return { heap: now, rss: op.rss() };
    last = now;
  }
  return { heap: last, rss: op.rss() };
}

async function measure(kc: KubeConfig, kubeconfigPath: string, label: string, dir: string): Promise<Record<string, string>> {
  const core = kc.makeApiClient(CoreV1Api);
  const opNamespace = await createNamespace(kc, { prefix: 'orka-attack' });
  const tenant = await createNamespace(kc, { prefix: 'attack-t', tenant: 'attack' });
  const plain = await createNamespace(kc, { prefix: 'attack-plain' });
  progress(`${label}: starting the operator from ${dir}`);
  const op = await startFrom(dir, kubeconfigPath, opNamespace);
  try {
    const before = await settled(op);
    progress(`${label}: ${FLOOD} labelled 1 MiB Secrets in ${plain} and ${FLOOD} in ${tenant}`);
    const labels = (forName: string) => ({ [MANAGED_BY_LABEL]: MANAGED_BY, [STORAGE_FOR_LABEL]: forName });
    for (let i = 0; i < FLOOD; i++) {
      const data = { value: randomBytes(MiB - 64 * 1024).toString('base64') };
      await core.createNamespacedSecret({ namespace: plain, body: { metadata: { name: `orkasecret-flood-${i}`, labels: labels(`flood-${i}`) }, data } });
      await core.createNamespacedSecret({ namespace: tenant, body: { metadata: { name: `padding-${i}`, labels: labels(`padding-${i}`) }, data } });
    }
    const after = await settled(op);
    // The next row's operator watches every namespace too: it must not meet these.
    for (const namespace of [plain, tenant]) await core.deleteCollectionNamespacedSecret({ namespace, labelSelector: MANAGED_BY_LABEL });
    return {
      code: label,
      'heap before MiB': before.heap.toFixed(1),
      'heap after MiB': after.heap.toFixed(1),
      'heap change MiB': `${after.heap >= before.heap ? '+' : ''}${(after.heap - before.heap).toFixed(1)}`,
      'RSS before MiB': before.rss.toFixed(0),
      'RSS after MiB': after.rss.toFixed(0),
      'RSS change MiB': `${after.rss >= before.rss ? '+' : ''}${(after.rss - before.rss).toFixed(0)}`,
    };
  } finally {
    await op.stop();
  }
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
try {
  const kc = adminKubeConfig(cp);
  await installCrd(kc);
  const rows: Array<Record<string, string>> = [];
  const base = process.env.BENCH_BASE_DIR;
  if (base) rows.push(await measure(kc, cp.kubeconfigPath, `baseline (${base})`, base));
  rows.push(await measure(kc, cp.kubeconfigPath, 'this checkout', process.cwd()));
  console.log(`operator memory under ${FLOOD} + ${FLOOD} labelled 1 MiB Secrets (a namespace that is no tenant + a tenant, names of no OrkaSecret); heap after a full GC; Node ${process.version}`);
  printTable(rows);
} finally {
  await cp.stop();
}
