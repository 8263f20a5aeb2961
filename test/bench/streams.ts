/**
 * `make bench`: the operator's memory across change streams. A real operator process (compiled
 * dist/) on the real control plane; BENCH_STREAMS_N change streams (default 1,000, the default
 * ORKA_MAX_STREAMS) are opened, each on its own TLS connection with its own pod-bound token (250
 * pods x the default 4 per identity), held, and closed, in BENCH_STREAMS_WAVES waves (default 2:
 * 2,000 opened in all). Memory (RSS from /proc; V8 heap, `external` and `arrayBuffers` from
 * process.memoryUsage() through memory-probe.ts) at base (started, idle, settled), at each peak,
 * and after each wave closed and memory settled, each row against the base of its operator.
 * Two operators in the same run, one after the other, both with the chart's NODE_OPTIONS: with
 * glibc's malloc (before) and with jemalloc preloaded with the chart's MALLOC_CONF, as the chart
 * runs it from the image. The goal: after close, RSS within +25% of base.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { ClientRequest } from 'node:http';
import { request } from 'node:https';
import { CoreV1Api } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { startControlPlane } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, podBoundToken } from '../env/kube.js';
import { eventually, startOperator, type OperatorProcess } from '../env/operator.js';
import { pool } from './pool.js';
import { printTable } from './table.js';

const N = Number(process.env.BENCH_STREAMS_N ?? 1000);
const WAVES = Number(process.env.BENCH_STREAMS_WAVES ?? 2);
const PER_POD = 4; // the default ORKA_MAX_STREAMS_PER_IDENTITY
const PODS = Math.ceil(N / PER_POD);
const GOAL = 1.25; // after close, RSS within +25% of base
/** Where Debian's libjemalloc2 puts the library (the image links it to /usr/local/lib). */
const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';
const MiB = 1024 * 1024;
const progress = (line: string) => process.stderr.write(`[bench streams] ${line}\n`);

interface Sample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** RSS from /proc and the rest from the probe's answer to SIGUSR2, all in MiB. */
async function sample(op: OperatorProcess): Promise<Sample> {
  const from = op.logs.length;
  op.proc.kill('SIGUSR2');
  const line = await eventually(() => op.logs.slice(from).find((l) => l.startsWith('orka-bench-memory ')), 10_000, 20);
  const m = JSON.parse(line.slice('orka-bench-memory '.length)) as NodeJS.MemoryUsage;
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${op.proc.pid}/status`, 'utf8'))?.[1]) / 1024;
  return { rss, heapUsed: m.heapUsed / MiB, heapTotal: m.heapTotal / MiB, external: m.external / MiB, arrayBuffers: m.arrayBuffers / MiB };
}

/**
 * Samples every 2 s until RSS has made no new low (by 1 MiB) for 60 s, at most `boundMs`: the
 * memory a process gives back comes back over a few GCs and allocator purges, not at once (V8's
 * memory reducer waits for a quiet spell, and collects at the latest after two minutes).
 */
async function settled(op: OperatorProcess, boundMs = 180_000): Promise<Sample & { waitedS: number }> {
  const started = Date.now();
  let best = await sample(op);
  let still = 0;
  while (still < 30 && Date.now() - started < boundMs) {
    await new Promise((r) => setTimeout(r, 2000));
    const s = await sample(op);
    if (s.rss < best.rss - 1) {
      best = s;
      still = 0;
    } else still++;
  }
  const last = await sample(op);
  return { ...last, waitedS: Math.round((Date.now() - started) / 1000) };
}

async function streamsOpen(op: OperatorProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${op.port}/metrics`)).text();
  return Number(/^orka_operator_resolver_streams_open (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** Opens a change stream on its own connection; resolves once the operator said `ready`. */
function openStream(port: number, ca: Buffer, token: string): Promise<ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/changes', method: 'GET', agent: false, ca, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`change stream answered ${res.statusCode}`));
      }
      res.setEncoding('utf8');
      let seen = '';
      const onData = (chunk: string) => {
        seen += chunk;
        if (seen.includes('event: ready')) {
          res.off('data', onData);
          res.resume();
          resolve(req);
        }
      };
      res.on('data', onData);
    });
    req.on('error', reject);
    req.end();
  });
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
let operator: OperatorProcess | undefined;
try {
  const kc = adminKubeConfig(cp);
  const core = kc.makeApiClient(CoreV1Api);
  await installCrd(kc);
  const opNamespace = await createNamespace(kc, { prefix: 'orka-bench' });
  const tenant = await createNamespace(kc, { prefix: 'bench', tenant: 'bench' });
  await createServiceAccount(kc, tenant, 'runner');
  progress(`minting ${PODS} pod-bound tokens`);
  const tokens = (await pool(Array.from({ length: PODS }), 8, () => podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner' }))).map((t) => t.token);

  const chart = (parse(readFileSync('charts/orka-secrets/values.yaml', 'utf8')) as { operator: { nodeOptions: string; mallocConf: string } }).operator;
  if (!existsSync(JEMALLOC)) throw new Error(`${JEMALLOC} is missing: apt-get install libjemalloc2 (make bench does)`);
  const configs: Array<{ name: string; nodeOptions: string[]; env: Record<string, string> }> = [
    { name: 'glibc malloc (before)', nodeOptions: chart.nodeOptions.split(' ').filter(Boolean), env: {} },
    { name: `jemalloc, ${chart.mallocConf} (the chart)`, nodeOptions: chart.nodeOptions.split(' ').filter(Boolean), env: { LD_PRELOAD: JEMALLOC, MALLOC_CONF: chart.mallocConf } },
  ];
  const rows: Array<Record<string, string>> = [];
  const verdicts: string[] = [];
  for (const config of configs) {
    progress(`operator ${config.name}`);
    operator = await startOperator({
      kubeconfigPath: cp.kubeconfigPath,
      namespace: opNamespace,
      identity: 'bench',
      build: 'dist',
      nodeOptions: [...config.nodeOptions, '--import', './dist/test/bench/memory-probe.js'],
      // A loaded machine can starve the watches past the 15 s staleness bound, which would end
      // the streams being measured: this measures memory, not freshness.
      env: { ORKA_WATCH_NAMESPACES: tenant, ORKA_LOG_LEVEL: 'info', ORKA_MAX_STREAMS: String(N), ORKA_MAX_STALENESS: '5m', ...config.env },
    });
    const op = operator;
    await op.waitForLog(/resolver API and webhooks listening/);
    const tls = await core.readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
    const ca = Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64');
    progress('base: idle operator, waiting for memory to settle');
    const base = await settled(op);
    const row = (phase: string, open: number, s: Sample) =>
      rows.push({
        operator: config.name,
        phase,
        'streams open': String(open),
        'RSS MiB': s.rss.toFixed(0),
        'heap used MiB': s.heapUsed.toFixed(1),
        'heap total MiB': s.heapTotal.toFixed(1),
        'external MiB': s.external.toFixed(1),
        'arrayBuffers MiB': s.arrayBuffers.toFixed(1),
        'RSS vs base': s === base ? '1.00x (baseline)' : `${(s.rss / base.rss).toFixed(2)}x`,
      });
    row('base (idle, settled)', 0, base);
    let opened = 0;
    let after = base;
    for (let wave = 1; wave <= WAVES; wave++) {
      progress(`wave ${wave}: opening ${N} change streams`);
      const streams = await pool(
        Array.from({ length: N }, (_, i) => tokens[Math.floor(i / PER_POD)] as string),
        32,
        (token) => eventually(() => openStream(op.resolverPort, ca, token), 60_000, 500),
      );
      opened += N;
      await eventually(async () => ((await streamsOpen(op)) === N ? true : undefined), 60_000, 200);
      row(`wave ${wave}: ${N} open (${opened} opened so far)`, N, await sample(op));
      progress(`wave ${wave}: closing them`);
      for (const s of streams) s.destroy();
      await eventually(async () => ((await streamsOpen(op)) === 0 ? true : undefined), 60_000, 200);
      after = await settled(op);
      progress(`wave ${wave}: settled after ${after.waitedS} s`);
      row(`wave ${wave}: all closed, settled (${after.waitedS} s)`, 0, after);
    }
    const ratio = after.rss / base.rss;
    verdicts.push(`${config.name}: after close ${after.rss.toFixed(0)} MiB vs base ${base.rss.toFixed(0)} MiB RSS = ${ratio.toFixed(2)}x (goal <= ${GOAL.toFixed(2)}x): ${ratio <= GOAL ? 'met' : 'NOT MET'}`);
    await op.stop();
    operator = undefined;
  }
  console.log(`operator memory across change streams (${N} per wave, ${WAVES} waves, each its own TLS connection), NODE_OPTIONS ${chart.nodeOptions}, Node ${process.version}`);
  printTable(rows);
  for (const v of verdicts) console.log(v);
} finally {
  await operator?.stop();
  await cp.stop();
}
