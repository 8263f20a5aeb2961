/**
 * `make bench` part 2: the operator at scale. N sealed OrkaSecrets across 10 tenants; the time
 * from operator start until all are Ready, against a lower bound measured in the same run: a
 * plain client making only the writes every stored value needs (N storage Secret creates + N
 * status updates) with the same parallelism. It does less than the operator (no unseal, no
 * encryption, no data-key or event writes, no informers), so it bounds the operator from below;
 * it is not a competitor. Both phases are watched alike (the observer costs the apiserver and the
 * machine the same in each), and each row says where the CPU went: apiserver+etcd, and the client
 * (the floor's process or the operator). Also the operator's peak RSS. docs/design/reconcile-throughput.md
 * reads the numbers.
 *   BENCH_OPERATOR_N=1000,10000 (default) sets the sizes; BENCH_ROUNDS (3) interleaved rounds of
 *   every size, medians and the spread printed, ratios per round.
 *
 * Then what Secrets the operator neither owns nor reads cost it: an idle operator's RSS before
 * and after BENCH_UNRELATED (default 10,000) Secrets of 10 KiB appear in a namespace that is not a
 * tenant (arriving through its watch), and a fresh start with them present (arriving through its
 * first list) against a fresh start without them, in the same run.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { seal } from '../../src/core/envelope.js';
import { createKeyRing, KEYRING_DATA_KEY, loadKeyRing } from '../../src/core/keyring.js';
import { KEYS_SECRET } from '../../src/api/resource.js';
import { watchOrkaSecrets } from '../../src/operator/kube/informers.js';
import { createLogger } from '../../src/core/logger.js';
import type { OrkaSecret } from '../../src/api/resource.js';
import { startControlPlane } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, installCrd } from '../env/kube.js';
import { startOperator } from '../env/operator.js';
import { pool } from './pool.js';
import { baselineNote, median, medianCell, printTable, ratioCell } from './table.js';

const WORKERS = 4;
/** The operator's Node options: BENCH_NODE_OPTIONS, else the chart's default (operator.nodeOptions). */
const NODE_OPTIONS = (process.env.BENCH_NODE_OPTIONS ?? /^\s*nodeOptions:\s*"([^"]*)"/m.exec(readFileSync('charts/orka-secrets/values.yaml', 'utf8'))?.[1] ?? '').split(' ').filter(Boolean);
const TENANTS = 10;
/** Interleaved rounds of every size (BENCH_ROUNDS). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const sizes = (process.env.BENCH_OPERATOR_N ?? '1000,10000').split(',').map(Number).filter((n) => n > 0);
const osec = { group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets' };

function progress(line: string): void {
  process.stderr.write(`[bench operator] ${line}\n`);
}

/** Counts Ready OrkaSecrets from watches (polling lists would load the apiserver the operator shares). */
function readyCounter(kc: KubeConfig, namespaces: string[]): { count: () => number; stop: () => Promise<void> } {
  const ready = new Set<string>();
  const watched = watchOrkaSecrets(kc, createLogger({ name: 'bench', level: 'silent' }), namespaces);
  const onChange = (o: OrkaSecret) => {
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    if (o.status?.conditions?.some((c) => c.type === 'Ready' && c.reason === 'Stored')) ready.add(key);
    else ready.delete(key);
  };
  watched.on('add', onChange);
  watched.on('update', onChange);
  return { count: () => ready.size, stop: () => watched.stop() };
}

/** CPU seconds (user + system) a set of processes has used so far. */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command (which may hold spaces) start at state; utime and stime are the 12th and 13th of them.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

/** One round of one size: the lower bound's and the operator's seconds, and the rest of the row. */
interface Round {
  floorSeconds: number;
  operatorSeconds: number;
  row: Record<string, string>;
}

async function run(kc: KubeConfig, kubeconfigPath: string, n: number, controlPlanePids: readonly number[]): Promise<Round> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const opNamespace = await createNamespace(kc, { prefix: 'orka-bench' });
  // The key ring is made up front so the values can be sealed before the operator starts.
  const ringData = createKeyRing(new Date());
  await core.createNamespacedSecret({
    namespace: opNamespace,
    body: {
      metadata: { name: KEYS_SECRET, labels: { 'app.kubernetes.io/managed-by': 'orka-secrets', 'orka.io/role': 'keyring' } },
      data: { [KEYRING_DATA_KEY]: Buffer.from(JSON.stringify(ringData)).toString('base64') },
    },
  });
  const ring = loadKeyRing(ringData);
  const publicKey = createPublicKey(ring.activeSealing().certPem);
  const tenants: string[] = [];
  const floorNamespaces: string[] = [];
  for (let t = 0; t < TENANTS; t++) {
    tenants.push(await createNamespace(kc, { prefix: `bench-t${t}`, tenant: `t${t}` }));
    floorNamespaces.push(await createNamespace(kc, { prefix: `floor-t${t}`, tenant: `f${t}` }));
  }
  const items = Array.from({ length: n }, (_, i) => ({ name: `secret-${i}`, tenant: tenants[i % TENANTS] as string, tenantId: `t${i % TENANTS}`, floor: floorNamespaces[i % TENANTS] as string }));

  progress(`N=${n}: creating ${n} OrkaSecrets for the lower bound and ${n} sealed ones for the operator`);
  await pool(items, 16, async (it) => {
    const body = { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: it.name }, spec: {} };
    await custom.createNamespacedCustomObject({ ...osec, namespace: it.floor, body });
    const secretName = it.name.toUpperCase().replaceAll('-', '_');
    const sealedValue = seal({ publicKey, keyId: ring.activeSealing().id, tenantId: it.tenantId, namespace: it.tenant, name: secretName, value: Buffer.from(randomBytes(24).toString('base64')) }).toString('base64');
    await custom.createNamespacedCustomObject({ ...osec, namespace: it.tenant, body: { ...body, spec: { sealedValue } } });
  });

  progress(`N=${n}: lower bound: ${n} Secret creates + ${n} status updates by a plain client, ${WORKERS} in parallel`);
  // The floor's objects are watched the same way as the operator's below: the observer costs the
  // apiserver and this process some CPU, and both phases should pay it alike.
  const floorCounter = readyCounter(kc, floorNamespaces);
  const floorStart = performance.now();
  const floorCpuStart = cpuSeconds(controlPlanePids);
  const floorClientStart = process.cpuUsage();
  await pool(items, WORKERS, async (it) => {
    await core.createNamespacedSecret({ namespace: it.floor, body: { metadata: { name: `orkasecret-${it.name}` }, type: 'Opaque', data: { value: randomBytes(90).toString('base64'), version: 'MQ==' } } });
    await custom.patchNamespacedCustomObjectStatus(
      { ...osec, namespace: it.floor, name: it.name, body: { status: { version: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Stored', message: 'stored', lastTransitionTime: new Date().toISOString() }] } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  });
  const floorSeconds = (performance.now() - floorStart) / 1000;
  await floorCounter.stop();
  const floorControlPlaneCpu = cpuSeconds(controlPlanePids) - floorCpuStart;
  const floorClient = process.cpuUsage(floorClientStart);
  const floorClientCpu = (floorClient.user + floorClient.system) / 1e6;

  progress(`N=${n}: operator start -> all Ready`);
  const counter = readyCounter(kc, tenants);
  const started = performance.now();
  const opCpuStart = cpuSeconds(controlPlanePids);
  const op = await startOperator({
    kubeconfigPath,
    namespace: opNamespace,
    identity: 'bench',
    build: 'dist',
    nodeOptions: NODE_OPTIONS,
    env: { ORKA_WATCH_NAMESPACES: tenants.join(','), ORKA_LOG_LEVEL: 'warn', ORKA_WORKERS: String(WORKERS) },
  });
  let peakRssMiB = 0;
  let lastReport = performance.now();
  for (;;) {
    const ready = counter.count();
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${op.proc.pid}/status`, 'utf8'))?.[1];
      if (hwm) peakRssMiB = Math.max(peakRssMiB, Number(hwm) / 1024);
    } catch {
      // the process is gone; its last reading stands
    }
    if (ready >= n) break;
    if (performance.now() - started > 20 * 60_000) throw new Error(`only ${ready}/${n} Ready after 20 minutes; operator's last lines:\n${op.logs.slice(-10).join('\n')}`);
    if (performance.now() - lastReport > 15_000) {
      lastReport = performance.now();
      progress(`N=${n}: ${ready}/${n} Ready after ${((lastReport - started) / 1000).toFixed(0)} s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const operatorSeconds = (performance.now() - started) / 1000;
  const opControlPlaneCpu = cpuSeconds(controlPlanePids) - opCpuStart;
  const operatorCpu = cpuSeconds([op.proc.pid as number]);
  await counter.stop();
  const metrics = await (await fetch(`http://127.0.0.1:${op.port}/metrics`)).text();
  progress(`N=${n}: ${metrics.split('\n').filter((l) => /^orka_operator_(reconciles_total|reconcile_duration_seconds_(sum|count))/.test(l)).join('; ')}`);
  await op.stop();
  return {
    floorSeconds,
    operatorSeconds,
    row: {
    N: String(n),
    tenants: String(TENANTS),
    'lower bound s (the writes alone)': floorSeconds.toFixed(1),
    'operator s (start -> all Ready)': operatorSeconds.toFixed(1),
    'vs lower bound': `${(operatorSeconds / floorSeconds).toFixed(2)}x`,
    'objects/s': (n / operatorSeconds).toFixed(0),
    // Where the CPU went: the apiserver and etcd in each phase, the floor's client, the operator process.
    'apiserver+etcd CPU s (floor / operator)': `${floorControlPlaneCpu.toFixed(1)} / ${opControlPlaneCpu.toFixed(1)}`,
    'client CPU s (floor / operator)': `${floorClientCpu.toFixed(1)} / ${operatorCpu.toFixed(1)}`,
    'peak RSS MiB': peakRssMiB.toFixed(0),
    },
  };
}

/** VmRSS of a process in MiB. */
function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

/** The RSS of a process once it stops moving: two readings 5 s apart within 1 MiB (at most a minute). */
async function settledRss(pid: number): Promise<number> {
  let last = rssMiB(pid);
  for (let i = 0; i < 12; i++) {
    await new Promise((r) => setTimeout(r, 5000));
    const now = rssMiB(pid);
    if (Math.abs(now - last) < 1) return now;
    last = now;
  }
  return last;
}

async function unrelated(kc: KubeConfig, kubeconfigPath: string, count: number): Promise<Array<Record<string, string>>> {
  const core = kc.makeApiClient(CoreV1Api);
  const opNamespace = await createNamespace(kc, { prefix: 'orka-unrel' });
  const tenant = await createNamespace(kc, { prefix: 'unrel-t', tenant: 'unrel' });
  const bystander = await createNamespace(kc, { prefix: 'bystander' });
  const start = () => startOperator({ kubeconfigPath, namespace: opNamespace, identity: 'bench-unrelated', build: 'dist', nodeOptions: NODE_OPTIONS, env: { ORKA_WATCH_NAMESPACES: `${tenant},${bystander}`, ORKA_LOG_LEVEL: 'warn', ORKA_WORKERS: String(WORKERS) } });
  progress(`unrelated: fresh operator, idle, no unrelated Secrets`);
  let op = await start();
  const freshWithout = await settledRss(op.proc.pid as number);
  // One of the tenant's own, so the cache of sources is not empty.
  await core.createNamespacedSecret({ namespace: tenant, body: { metadata: { name: 'own-source' }, stringData: { v: 'x' } } });
  const before = await settledRss(op.proc.pid as number);
  progress(`unrelated: creating ${count} Secrets of 10 KiB in ${bystander} (not a tenant) while it runs`);
  const data = { blob: randomBytes(7680).toString('base64') };
  await pool(
    Array.from({ length: count }, (_, i) => i),
    16,
    (i) => core.createNamespacedSecret({ namespace: bystander, body: { metadata: { name: `unrelated-${i}` }, data } }),
  );
  const afterWatch = await settledRss(op.proc.pid as number);
  await op.stop();
  progress(`unrelated: fresh operator with them present`);
  op = await start();
  const freshWith = await settledRss(op.proc.pid as number);
  await op.stop();
  const pct = (a: number, b: number) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)}%`;
  return [
    { measure: `running operator, before (baseline)`, 'RSS MiB': before.toFixed(1), change: '' },
    { measure: `running operator, after ${count} unrelated Secrets (watch)`, 'RSS MiB': afterWatch.toFixed(1), change: pct(afterWatch, before) },
    { measure: `fresh start without them (baseline)`, 'RSS MiB': freshWithout.toFixed(1), change: '' },
    { measure: `fresh start with ${count} present (first list)`, 'RSS MiB': freshWith.toFixed(1), change: pct(freshWith, freshWithout) },
  ];
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
try {
  const kc = adminKubeConfig(cp);
  await installCrd(kc);
  const rows: Array<Record<string, string>> = [];
  const notes: string[] = [];
  // Each size gets its own namespaces per round but shares the apiserver; the run is one process,
  // one machine. The rounds interleave the sizes (1,000, 10,000, 1,000, ...), and each round
  // measures its lower bound just before its operator, so drift falls on both.
  const rounds: Record<number, Round[]> = Object.fromEntries(sizes.map((n) => [n, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const n of sizes) {
      progress(`round ${round}/${ROUNDS}, N=${n}`);
      rounds[n]?.push(await run(kc, cp.kubeconfigPath, n, cp.pids));
    }
  }
  for (const n of sizes) {
    const all = rounds[n] as Round[];
    const floor = all.map((r) => r.floorSeconds);
    const op = all.map((r) => r.operatorSeconds);
    rows.push({
      ...(all[all.length - 1] as Round).row,
      'lower bound s (the writes alone)': medianCell(floor, 1),
      'operator s (start -> all Ready)': medianCell(op, 1),
      'vs lower bound': ratioCell(op, floor),
      'objects/s': (n / median(op)).toFixed(0),
    });
    const note = baselineNote(`the lower bound at N=${n}`, floor, [op]);
    if (note !== undefined) notes.push(note);
  }
  console.log(`operator at scale, ${WORKERS} workers, ${ROUNDS} interleaved rounds (medians ± half the range; ratios per round; the other columns from the last round), Node ${process.version}, node options: ${NODE_OPTIONS.join(' ') || '(none)'}`);
  printTable(rows);
  for (const note of notes) console.log(note);
  const count = Number(process.env.BENCH_UNRELATED ?? 10_000);
  if (count > 0) {
    const memory = await unrelated(kc, cp.kubeconfigPath, count);
    console.log(`operator RSS and Secrets it neither owns nor reads (10 KiB each, in a namespace that is not a tenant); goal: under 10%`);
    printTable(memory);
  }
} finally {
  await cp.stop();
}
