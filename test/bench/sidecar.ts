/**
 * `make bench` part 3: the sidecar, with autocannon at concurrency 32, against two baselines of
 * the same run: a bare node:http server answering a constant body (the limit for Node here) and
 * a direct GET of a Kubernetes Secret from the apiserver (what a runner would do without us).
 * The four run in BENCH_ROUNDS (3) interleaved rounds of BENCH_SECONDS (5) each: medians, the
 * spread, per-round ratios, and the CPU each request cost the serving process (a shared machine
 * slows a process but does not bill it); a note when the baseline moved more than the ratios.
 * Then cold resolves (cache miss, through the operator), update-to-visible and delete-to-404
 * latencies, and the sidecar's RSS idle, after the runs and 20 s later, against a bare Node
 * process and the floor of any Node sidecar (an HTTP server and one HTTPS request), all started in
 * this run. The sidecar runs with the injected Node flags (src/sidecar/node-flags.ts), or
 * BENCH_SIDECAR_NODE_FLAGS ("" for none). Last, memory while the operator flaps: one sidecar whose
 * operator is killed and restarted BENCH_FLAP_RESTARTS (30) times, against a control sidecar on a
 * stable operator in the same run. BENCH_SIDECAR_PARTS=load or =flap runs one part only.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { OrkaSecretsClient } from '../../src/client/index.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { freePort, startControlPlane } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, podBoundToken } from '../env/kube.js';
import { eventually, sealWithPublishedCert, startOperator } from '../env/operator.js';
import { SIDECAR_NODE_FLAGS } from '../../src/sidecar/node-flags.js';
import { startSidecar } from '../env/sidecar.js';
import { baselineNote, interleavedRounds, median, medianCell, printTable, ratioCell } from './table.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const CONNECTIONS = 32;
/** The sidecar's Node flags: BENCH_SIDECAR_NODE_FLAGS ("" for none), else the injected ones. */
const NODE_FLAGS = process.env.BENCH_SIDECAR_NODE_FLAGS === undefined ? SIDECAR_NODE_FLAGS : process.env.BENCH_SIDECAR_NODE_FLAGS.split(' ').filter(Boolean);
const PARTS = new Set((process.env.BENCH_SIDECAR_PARTS ?? 'load,flap').split(','));
const FLAPS = Number(process.env.BENCH_FLAP_RESTARTS ?? 30);
/** How long the flapping operator stays down each time: about a pod's restart, in which the sidecar retries many times. */
const FLAP_DOWN_MS = Number(process.env.BENCH_FLAP_DOWN_MS ?? 8000);
const progress = (line: string) => process.stderr.write(`[bench sidecar] ${line}\n`);

type Row = Record<string, string>;

async function load(title: string, opts: autocannon.Options): Promise<{ row: Row; rps: number; p99: number }> {
  progress(`${title}: ${CONNECTIONS} connections for ${SECONDS} s`);
  const result = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...opts });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${title}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  const rps = result.requests.average;
  return { rps, p99: result.latency.p99, row: { case: title, 'req/s': Math.round(rps).toLocaleString('en-US'), 'p50 ms': String(result.latency.p50), 'p99 ms': String(result.latency.p99) } };
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields from after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** VmRSS, VmHWM (peak), RssAnon and RssFile (pages of the binary and libraries) of a process, in MiB. */
function rssOf(pid: number): { rss: number; peak: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]) / 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM'), anon: kib('RssAnon'), file: kib('RssFile') };
}

/** Lets a fresh process finish starting up (JIT, first GCs) before its RSS is read. */
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
const dir = mkdtempSync(join(tmpdir(), 'orka-bench-sidecar-'));
const children: Array<{ stop: (s?: NodeJS.Signals) => Promise<unknown> }> = [];
try {
  const kc = adminKubeConfig(cp);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  await installCrd(kc);
  const opNamespace = await createNamespace(kc, { prefix: 'orka-bench' });
  const tenant = await createNamespace(kc, { prefix: 'bench', tenant: 'bench' });
  await createServiceAccount(kc, tenant, 'runner');
  const operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'bench', build: 'dist', env: { ORKA_WATCH_NAMESPACES: tenant, ORKA_LOG_LEVEL: 'info' } });
  children.push(operator);
  await operator.waitForLog(/resolver API and webhooks listening/);

  const osec = { group: 'orka.io', version: 'v1alpha1', namespace: tenant, plural: 'orkasecrets' };
  const sealFor = (name: string, value: string) => sealWithPublishedCert(kc, opNamespace, tenant, name.toUpperCase().replaceAll('-', '_'), value);
  /** Creates or updates with a value sealed beforehand, so timing it measures the system, not sealing. */
  const apply = async (name: string, sealedValue: string) => {
    try {
      await custom.createNamespacedCustomObject({ ...osec, body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: { sealedValue } } });
    } catch {
      await custom.patchNamespacedCustomObject({ ...osec, name, body: { spec: { sealedValue } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    }
  };
  const put = async (name: string, value: string) => apply(name, await sealFor(name, value));
  const names = ['api-key', 'db-password', 'webhook-url', 'token', 'signing-secret'];
  const COLD = 200;
  progress(`creating ${names.length + COLD} secrets`);
  for (const n of names) await put(n, `value-of-${n}-${'x'.repeat(24)}`);
  if (PARTS.has('load')) for (let i = 0; i < COLD; i++) await put(`cold-${i}`, `cold-value-${i}`);
  await core.createNamespacedSecret({ namespace: tenant, body: { metadata: { name: 'plain' }, stringData: { value: 'value-of-api-key' } } });

  const tls = await core.readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, (await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner' })).token);
  /**
   * Memory while the operator flaps: a sidecar whose operator replica is killed (SIGKILL) and
   * started again on the same address FLAPS times after FLAP_DOWN_MS, so it retries and reconnects each time, against a control
   * sidecar on the stable replica. Both reach their operator by name (`localhost`), as in a pod
   * (a Service name), so each connection does a lookup. Both are warmed under load first (the
   * optimizing compiler's code and output are then in both), and each round both get a name
   * neither has cached: the same call to the operator, so the only difference is the reconnects.
   */
  const flapPart = async () => {
    const flapOptions = { kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'bench-flapping', build: 'dist' as const, env: { ORKA_WATCH_NAMESPACES: tenant, ORKA_LOG_LEVEL: 'info' } };
    let flapping = await startOperator(flapOptions);
    children.push({ stop: () => flapping.stop() });
    await flapping.waitForLog(/resolver API and webhooks listening/, 60_000);
    const env = { ORKA_LOG_LEVEL: 'warn', ...(JSON.parse(process.env.BENCH_FLAP_SIDECAR_ENV ?? '{}') as Record<string, string>) };
    const control = await startSidecar({ operatorUrl: `https://localhost:${operator.resolverPort}`, tokenFile, caFile, env });
    children.push(control);
    const flapped = await startSidecar({ operatorUrl: `https://localhost:${flapping.resolverPort}`, tokenFile, caFile, env });
    children.push(flapped);
    const stream = async (url: string) => ((await (await fetch(`${url}/readyz`)).json()) as { changeStream: string }).changeStream;
    progress(`creating ${FLAPS + 1} secrets for the flap rounds`);
    for (let i = 0; i <= FLAPS; i++) await put(`flap-${i}`, `flap-value-${i}`);
    let round = 0;
    const work = async () => {
      const i = round++;
      for (const s of [control, flapped]) {
        const client = new OrkaSecretsClient({ baseUrl: s.url });
        await eventually(async () => ((await client.get(`FLAP_${i}`)) === `flap-value-${i}` ? true : undefined), 30_000);
      }
    };
    await eventually(async () => ((await stream(control.url)) === 'up' && (await stream(flapped.url)) === 'up' ? true : undefined), 30_000);
    await work();
    const headers = { 'x-orka-request': 'true' };
    for (const s of [control, flapped]) await load(`warm-up ${s === control ? 'control' : 'flapping'} sidecar`, { url: `${s.url}/v1/secrets/FLAP_0`, headers });
    // V8 gives back the young generation the load grew only after some quiet seconds (about 15
    // here, seen with v8.getHeapSpaceStatistics()); read before that, "before" is inflated.
    await settle(20_000);
    const before = { control: rssOf(control.proc.pid as number), flapped: rssOf(flapped.proc.pid as number) };
    const started = performance.now();
    for (let i = 1; i <= FLAPS; i++) {
      await flapping.stop('SIGKILL');
      await eventually(async () => ((await stream(flapped.url)) === 'down' ? true : undefined), 30_000, 20);
      // The scenario, not a wait for an event: the operator is away this long, as during a pod restart.
      await settle(FLAP_DOWN_MS);
      flapping = await startOperator({ ...flapOptions, ports: { port: flapping.port, resolverPort: flapping.resolverPort } });
      await flapping.waitForLog(/resolver API and webhooks listening/, 60_000);
      await eventually(async () => ((await stream(flapped.url)) === 'up' ? true : undefined), 30_000, 20);
      await work();
      if (i % 5 === 0) progress(`operator restarts: ${i}/${FLAPS}: RSS of the flapping sidecar ${rssOf(flapped.proc.pid as number).rss.toFixed(1)} MiB, of the control ${rssOf(control.proc.pid as number).rss.toFixed(1)} MiB`);
    }
    const minutes = (performance.now() - started) / 60_000;
    await settle(20_000);
    const after = { control: rssOf(control.proc.pid as number), flapped: rssOf(flapped.proc.pid as number) };
    const row = (title: string, k: 'control' | 'flapped', goal: string) => ({
      sidecar: title,
      'RSS before MiB': before[k].rss.toFixed(1),
      'RSS after MiB': after[k].rss.toFixed(1),
      growth: `${(after[k].rss / before[k].rss).toFixed(2)}x`,
      'anon before -> after MiB': `${before[k].anon.toFixed(1)} -> ${after[k].anon.toFixed(1)}`,
      'file before -> after MiB': `${before[k].file.toFixed(1)} -> ${after[k].file.toFixed(1)}`,
      goal,
    });
    const held = after.flapped.rss / before.flapped.rss <= 1.1;
    console.log(`sidecar RSS while its operator restarts ${FLAPS} times, ${FLAP_DOWN_MS / 1000} s down each (${minutes.toFixed(1)} min), against a control sidecar on a stable operator, same run`);
    printTable([row('control: stable operator (baseline)', 'control', ''), row(`operator killed and restarted ${FLAPS} times`, 'flapped', `within 10%: ${held ? 'yes' : 'NO'}`)]);
  };
  if (PARTS.has('load')) {
    const sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${operator.resolverPort}`, tokenFile, caFile, env: { ORKA_LOG_LEVEL: 'warn' }, nodeFlags: NODE_FLAGS });
    children.push(sidecar);
    const client = new OrkaSecretsClient({ baseUrl: sidecar.url });
    await eventually(async () => ((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream === 'up' || undefined);
    // Idle footprint, against Node processes started now, in this run: an empty event loop (the
    // baseline), and the floor of any Node sidecar: an HTTP server listening and one HTTPS request
    // made (Node's TLS and OpenSSL loaded, which alone cost about 10 MiB).
    const idleBare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const floorSource = `require('http').createServer(()=>{}).listen(0,'127.0.0.1');require('https').get(${JSON.stringify(`https://127.0.0.1:${operator.resolverPort}/`)},{rejectUnauthorized:false},(r)=>r.resume()).on('error',()=>{});setInterval(()=>{},1000)`;
    const idleFloor = spawn(process.execPath, ['-e', floorSource], { stdio: 'ignore' });
    children.push({ stop: async () => idleBare.kill() }, { stop: async () => idleFloor.kill() });
    await settle(2000);
    const idle = { sidecar: rssOf(sidecar.proc.pid as number), bare: rssOf(idleBare.pid as number), floor: rssOf(idleFloor.pid as number) };
    idleBare.kill();
    idleFloor.kill();
    await eventually(async () => ((await client.render(names.map((n) => `{{secrets.${n.toUpperCase().replaceAll('-', '_')}}}`).join(' '))).length > 0 ? true : undefined), 30_000);
    await eventually(async () => ((await client.get(`COLD_${COLD - 1}`)) ? true : undefined), 30_000);
    // Cold: each name once, so each is a miss that goes through the operator (the last one above warmed only itself).
    progress(`cold resolves: ${COLD - 1} cache misses`);
    const cold: number[] = [];
    for (let i = 0; i < COLD - 1; i++) {
      const t = performance.now();
      await client.get(`COLD_${i}`);
      cold.push(performance.now() - t);
    }

    const barePort = await freePort();
    const body = JSON.stringify({ name: 'API_KEY', value: 'value-of-api-key' });
    const bare = spawn(process.execPath, ['-e', `require('http').createServer((q,s)=>{s.setHeader('content-type','application/json');s.end(${JSON.stringify(body)})}).listen(${barePort},'127.0.0.1')`], { stdio: 'ignore' });
    children.push({ stop: async () => bare.kill() });
    await eventually(async () => ((await fetch(`http://127.0.0.1:${barePort}/`)).ok ? true : undefined));

    const headers = { 'x-orka-request': 'true', 'content-type': 'application/json' };
    let doc = `{"url":"https://api/?k={{ secrets.API_KEY }}","auth":"Bearer {{ secrets.TOKEN }}","db":"{{ secrets.DB_PASSWORD }}","hook":"{{ secrets.WEBHOOK_URL }}","sig":"{{ secrets.SIGNING_SECRET }}","note":"`;
    while (doc.length < 1000) doc += 'lorem ipsum dolor sit amet ';
    doc = `${doc.slice(0, 1021)}"}`;
    const renderBody = JSON.stringify({ template: doc });

    // Interleaved rounds (bare, GET, render, apiserver, again), so drift in a shared machine falls on
    // every case alike; per round also the CPU each request cost the serving process (bare Node or
    // the sidecar), which a busy machine slows but does not bill.
    const cases = {
      bare: { title: 'bare node:http, constant body (baseline)', pid: bare.pid as number, opts: { url: `http://127.0.0.1:${barePort}/` } },
      get: { title: 'sidecar GET /v1/secrets/API_KEY (cached)', pid: sidecar.proc.pid as number, opts: { url: `${sidecar.url}/v1/secrets/API_KEY`, headers } },
      render: { title: 'sidecar POST /v1/render, 1 KiB, 5 refs', pid: sidecar.proc.pid as number, opts: { url: `${sidecar.url}/v1/render`, method: 'POST' as const, headers, body: renderBody } },
      api: { title: 'apiserver GET Secret', pid: undefined, opts: { url: `${cp.server}/api/v1/namespaces/${tenant}/secrets/plain`, headers: { authorization: `Bearer ${cp.adminToken}` } } },
    };
    type Kind = keyof typeof cases;
    const kinds = Object.keys(cases) as Kind[];
    const cpuUs = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<Kind, number[]>;
    const p99 = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<Kind, number[]>;
    for (const k of kinds) await load(`warm-up: ${cases[k].title}`, { ...cases[k].opts, duration: 1 });
    const rps = await interleavedRounds(ROUNDS, kinds, async (k) => {
      const pid = cases[k].pid;
      const before = pid === undefined ? 0 : cpuSeconds(pid);
      const run = await load(cases[k].title, cases[k].opts);
      if (pid !== undefined) cpuUs[k].push(((cpuSeconds(pid) - before) / (run.rps * SECONDS)) * 1e6);
      p99[k].push(run.p99);
      return run.rps;
    }, progress);
    progress('update-to-visible and delete-to-404, 20 each');
    const update: number[] = [];
    const del: number[] = [];
    for (let i = 0; i < 20; i++) {
      const name = `prop-${i}`;
      await put(name, `first-${i}`);
      const secretName = name.toUpperCase().replaceAll('-', '_');
      await eventually(async () => ((await client.get(secretName)) === `first-${i}` ? true : undefined), 10_000, 20);
      // The clock starts once the new value is sealed (the CLI's work, on the person's machine).
      const sealed = await sealFor(name, `second-${i}`);
      let t = performance.now();
      await apply(name, sealed);
      await eventually(async () => ((await client.get(secretName)) === `second-${i}` ? true : undefined), 10_000, 5);
      update.push(performance.now() - t);
      t = performance.now();
      await custom.deleteNamespacedCustomObject({ ...osec, name });
      await eventually(async () => client.get(secretName).then(() => undefined, (e: { code?: string }) => (e.code === 'SECRET_NOT_FOUND' ? true : undefined)), 10_000, 5);
      del.push(performance.now() - t);
    }
    const after = rssOf(sidecar.proc.pid as number);

    // Quiet for a while after the load: how much of what the load grew is given back.
    await settle(20_000);
    const quiet = rssOf(sidecar.proc.pid as number);

    console.log(`sidecar, autocannon ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds x ${SECONDS} s, medians (± half the range), ratios per round; Node ${process.version}, sidecar flags: ${NODE_FLAGS.join(' ') || '(none)'}`);
    printTable(
      kinds.map((k) => ({
        case: cases[k].title,
        'req/s': medianCell(rps[k]),
        'p99 ms': median(p99[k]).toFixed(1),
        'vs bare': k === 'bare' ? '1.00x' : ratioCell(rps[k], rps.bare),
        'vs apiserver': ratioCell(rps[k], rps.api),
        'CPU µs/req': cpuUs[k].length > 0 ? medianCell(cpuUs[k]) : '',
        'CPU vs bare': cpuUs[k].length === 0 ? '' : k === 'bare' ? '1.00x' : ratioCell(cpuUs[k], cpuUs.bare),
      })),
    );
    const note = baselineNote('bare node:http req/s', rps.bare, [rps.get, rps.render]);
    if (note !== undefined) console.log(note);
    printTable([
      { measure: 'cold resolve (miss, via operator), 199 sequential', 'p50 ms': percentile(cold, 50).toFixed(2), 'p99 ms': percentile(cold, 99).toFixed(2) },
      { measure: 'update (sealed beforehand) -> new value served, 20 runs', 'p50 ms': percentile(update, 50).toFixed(0), 'p99 ms': percentile(update, 99).toFixed(0) },
      { measure: 'delete -> SECRET_NOT_FOUND, 20 runs', 'p50 ms': percentile(del, 50).toFixed(0), 'p99 ms': percentile(del, 99).toFixed(0) },
    ]);
    const memRow = (measure: string, m: { rss: number; peak: number; anon: number; file: number }) => ({
      measure,
      'RSS MiB': m.rss.toFixed(1),
      'vs bare': `${(m.rss / idle.bare.rss).toFixed(2)}x`,
      'anonymous MiB': m.anon.toFixed(1),
      'file MiB (node binary pages)': m.file.toFixed(1),
      'peak RSS MiB': m.peak.toFixed(1),
    });
    printTable([
      memRow('bare Node process, idle (baseline)', idle.bare),
      memRow('floor: Node with an HTTP server and one HTTPS request made', idle.floor),
      memRow('sidecar idle (stream up, nothing cached)', idle.sidecar),
      memRow('sidecar after the runs', after),
      memRow('sidecar 20 s after the runs', quiet),
    ]);
  }
  if (PARTS.has('flap')) await flapPart();
} finally {
  for (const c of children.reverse()) await c.stop().catch(() => undefined);
  await cp.stop();
  rmSync(dir, { recursive: true, force: true });
}
