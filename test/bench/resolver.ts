/**
 * `make bench` part 4: what a resolve costs the operator, and the numbers the capacity model
 * (docs/design/capacity.md) is made of. Against a baseline of the same run: the apiserver's CPU per GET
 * of one Secret (the cheapest read a runner could make without us).
 *
 * CPU is the process's utime + stime (/proc/PID/stat) over many requests, divided by the
 * requests answered: a loaded machine slows both sides but bills neither. The rounds interleave
 * (apiserver GET, then resolve, then again) so drift in the machine falls on both.
 *   - operator CPU per 5-name resolve: POST /v1/resolve straight to the operator (HTTPS, a pod
 *     token whose review is cached, values from the operator's caches, one audit line each);
 *   - apiserver CPU per GET with the runner's own service-account token (what a runner would do
 *     without us; the baseline above uses the admin's static token, the cheapest to check);
 *   - apiserver CPU per TokenReview: what each review of the token cache's misses costs;
 *   - operator RSS with 0 and with N open change streams: memory per stream.
 * A second operator row runs the same resolves on a second replica with the memo of opened values
 * off (ORKA_RESOLVE_MEMO_TTL=0): every value decrypted on every resolve, the cold path; the first
 * replica runs the chart's default, where a revision resolved again within the memo's TTL is not
 * decrypted again.
 * A third row bounds the operator from below: a bare node:https server (the operator's certificate)
 * answering the same body with a constant of the same size: Node's own cost of a request here.
 * Env: BENCH_SECONDS (per run, default 5), BENCH_ROUNDS (default 3), BENCH_STREAMS (default 500).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import autocannon from 'autocannon';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { freePort, startControlPlane } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, podBoundToken, requestToken } from '../env/kube.js';
import { eventually, sealWithPublishedCert, startOperator } from '../env/operator.js';
import { printTable } from './table.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 500);
const CONNECTIONS = 16;
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const progress = (line: string) => process.stderr.write(`[bench resolver] ${line}\n`);
/** The operator's Node options: BENCH_NODE_OPTIONS, else the chart's default (operator.nodeOptions), as production runs it. */
const NODE_OPTIONS = (process.env.BENCH_NODE_OPTIONS ?? /^\s*nodeOptions:\s*"([^"]*)"/m.exec(readFileSync('charts/orka-secrets/values.yaml', 'utf8'))?.[1] ?? '').split(' ').filter(Boolean);

/** CPU seconds a process has used so far: user + system, and system alone. */
function cpuSeconds(pid: number): { total: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields from after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [user, sys] = [Number(fields[11]) / TICKS_PER_SECOND, Number(fields[12]) / TICKS_PER_SECOND];
  return { total: user + sys, sys };
}

/** VmRSS of a process, in MiB. */
function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Totals of one kind of load over every round: requests answered and CPU seconds per process. */
interface Tally {
  requests: number;
  seconds: number;
  cpu: Record<string, number>;
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
const stops: Array<() => unknown> = [];
try {
  const [etcdPid, apiserverPid] = cp.pids as [number, number];
  const kc = adminKubeConfig(cp);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  await installCrd(kc);
  const opNamespace = await createNamespace(kc, { prefix: 'orka-bench' });
  const tenant = await createNamespace(kc, { prefix: 'bench', tenant: 'bench' });
  await createServiceAccount(kc, tenant, 'runner');
  const startReplica = async (identity: string, env: Record<string, string> = {}) => {
    const replica = await startOperator({
      kubeconfigPath: cp.kubeconfigPath,
      namespace: opNamespace,
      identity,
      build: 'dist',
      nodeOptions: NODE_OPTIONS,
      // info: the audit line of every resolve is written, as in production. One identity holds
      // every stream of the memory measurement, so its per-identity limit is lifted; the tenant's
      // resolve rate too (ORKA_RESOLVE_RATE=0): the bench measures what a resolve costs, far above it.
      env: { ORKA_WATCH_NAMESPACES: tenant, ORKA_LOG_LEVEL: 'info', ORKA_RESOLVE_RATE: '0', ORKA_MAX_STREAMS: String(STREAMS + 10), ORKA_MAX_STREAMS_PER_IDENTITY: String(Math.min(1000, STREAMS + 10)), ...env },
    });
    stops.push(() => replica.stop());
    await replica.waitForLog(/resolver API and webhooks listening/);
    // The operator's stdout is a pipe to this process, which keeps every line: drop the audit lines
    // as they come, or holding them would weigh on this process during the runs.
    const keepLogs = setInterval(() => replica.logs.splice(0, Math.max(0, replica.logs.length - 100)), 1000);
    stops.push(() => clearInterval(keepLogs));
    return replica;
  };
  const operator = await startReplica('bench');
  const operatorPid = operator.proc.pid as number;
  // The same build as a second replica, with the memo of opened values off: the cold path.
  const cold = await startReplica('bench-cold', { ORKA_RESOLVE_MEMO_TTL: '0' });

  const names = ['API_KEY', 'DB_PASSWORD', 'WEBHOOK_URL', 'TOKEN', 'SIGNING_SECRET'];
  progress(`creating ${names.length} OrkaSecrets and a plain Secret`);
  for (const n of names) {
    const name = n.toLowerCase().replaceAll('_', '-');
    const sealedValue = await sealWithPublishedCert(kc, opNamespace, tenant, n, `value-of-${name}-${'x'.repeat(24)}`);
    await custom.createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', namespace: tenant, plural: 'orkasecrets', body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: { sealedValue } } });
  }
  await core.createNamespacedSecret({ namespace: tenant, body: { metadata: { name: 'plain' }, stringData: { value: 'value-of-api-key-xxxxxxxxxxxxxxxxxxxxxxxx' } } });

  // What a runner would do without us: GET the Secret with its own service-account token, which
  // a Role allows (a second baseline; the first uses the admin's static token, the cheapest).
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: tenant, body: { metadata: { name: 'read-plain' }, rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['plain'], verbs: ['get'] }] } });
  await rbac.createNamespacedRoleBinding({ namespace: tenant, body: { metadata: { name: 'read-plain' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-plain' }, subjects: [{ kind: 'ServiceAccount', name: 'runner', namespace: tenant }] } });
  const runnerApiToken = await requestToken(kc, { namespace: tenant, serviceAccount: 'runner', audience: 'https://kubernetes.default.svc', expirationSeconds: 3600 });

  const tls = await core.readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
  const ca = Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64').toString();
  const { token } = await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner' });
  const resolverUrl = `https://127.0.0.1:${operator.resolverPort}`;
  const coldUrl = `https://127.0.0.1:${cold.resolverPort}`;
  const resolveBody = JSON.stringify({ names });
  const agent = new Agent({ ca, keepAlive: false });
  const post = (url: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request(`${url}/v1/resolve`, { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(res.statusCode === 200 && Object.keys((JSON.parse(body) as { values: object }).values).length === names.length ? 200 : (res.statusCode ?? 0)));
      });
      req.on('error', reject);
      req.end(resolveBody);
    });
  progress('waiting until all 5 names resolve, on both replicas');
  for (const url of [resolverUrl, coldUrl]) await eventually(async () => ((await post(url)) === 200 ? true : undefined), 60_000, 250);

  // Node's floor: a bare HTTPS server reading the body and answering a constant of the answer's size.
  const answer = JSON.stringify({ values: Object.fromEntries(names.map((n) => [n, `value-of-${n.toLowerCase().replaceAll('_', '-')}-${'x'.repeat(24)}`])), missing: [], revisions: Object.fromEntries(names.map((n) => [n, '12345'])) });
  const barePort = await freePort();
  const bareSource = `const s=require('https').createServer({cert:process.env.CERT,key:process.env.KEY},(q,r)=>{q.resume();q.on('end',()=>{r.setHeader('content-type','application/json');r.end(process.env.BODY)})});s.keepAliveTimeout=60000;s.listen(${barePort},'127.0.0.1')`;
  const bare = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', process.execPath, '-e', bareSource], {
    stdio: 'ignore',
    env: { CERT: Buffer.from(tls.data?.['tls.crt'] ?? '', 'base64').toString(), KEY: Buffer.from(tls.data?.['tls.key'] ?? '', 'base64').toString(), BODY: answer },
  });
  stops.push(() => bare.kill());
  const bareAgent = new Agent({ ca, keepAlive: false });
  await eventually(
    () =>
      new Promise<true>((resolve, reject) => {
        request(`https://127.0.0.1:${barePort}/`, { agent: bareAgent, method: 'POST' }, (res) => {
          res.resume();
          resolve(true);
        }).on('error', reject).end(resolveBody);
      }),
    30_000,
    100,
  );

  // Memory per change stream: RSS with none open, then with STREAMS open (each its own TLS
  // connection, as each sidecar has), before the load runs fill the heap.
  await settle(3000);
  const rssBefore = rssMiB(operatorPid);
  progress(`opening ${STREAMS} change streams`);
  const streamAgent = new Agent({ ca, keepAlive: false, maxSockets: Infinity });
  const open: Array<() => void> = [];
  await Promise.all(
    Array.from(
      { length: STREAMS },
      () =>
        new Promise<void>((resolve, reject) => {
          const req = request(`${resolverUrl}/v1/changes`, { agent: streamAgent, headers: { authorization: `Bearer ${token}` } }, (res) => {
            if (res.statusCode !== 200) return reject(new Error(`change stream answered ${res.statusCode}`));
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              if (chunk.includes('event: ready')) resolve();
            });
          });
          req.on('error', reject);
          open.push(() => req.destroy());
          req.end();
        }),
    ),
  );
  await settle(3000);
  const rssStreams = rssMiB(operatorPid);
  for (const close of open) close();
  await eventually(async () => (/^orka_operator_resolver_streams_open 0$/m.test(await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text()) ? true : undefined), 30_000, 250);

  const loadsBare = { floor: { title: 'bare node:https, same body in, constant answer out (floor)', opts: { url: '', method: 'POST' as const, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: resolveBody } } };
  const loads = {
    ...loadsBare,
    get: { title: 'apiserver GET Secret (baseline)', opts: { url: `${cp.server}/api/v1/namespaces/${tenant}/secrets/plain`, headers: { authorization: `Bearer ${cp.adminToken}` } } },
    getSa: { title: 'apiserver GET Secret, the runner\'s own token', opts: { url: `${cp.server}/api/v1/namespaces/${tenant}/secrets/plain`, headers: { authorization: `Bearer ${runnerApiToken}` } } },
    resolve: {
      title: 'operator POST /v1/resolve, 5 names',
      opts: { url: `${resolverUrl}/v1/resolve`, method: 'POST' as const, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: resolveBody },
    },
    resolveCold: {
      title: 'the same, memo of opened values off (every value decrypted: cold)',
      opts: { url: `${coldUrl}/v1/resolve`, method: 'POST' as const, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: resolveBody },
    },
    review: {
      title: 'apiserver TokenReview (a token-cache miss)',
      opts: {
        url: `${cp.server}/apis/authentication.k8s.io/v1/tokenreviews`,
        method: 'POST' as const,
        headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: ['orka-secrets'] } }),
      },
    },
  };
  loadsBare.floor.opts.url = `https://127.0.0.1:${barePort}/`;
  const pids = { bare: bare.pid as number, operator: operatorPid, cold: cold.proc.pid as number, apiserver: apiserverPid, etcd: etcdPid };
  const tallies: Record<keyof typeof loads, Tally> = {
    floor: { requests: 0, seconds: 0, cpu: {} },
    get: { requests: 0, seconds: 0, cpu: {} },
    getSa: { requests: 0, seconds: 0, cpu: {} },
    resolve: { requests: 0, seconds: 0, cpu: {} },
    resolveCold: { requests: 0, seconds: 0, cpu: {} },
    review: { requests: 0, seconds: 0, cpu: {} },
  };
  const run = async (kind: keyof typeof loads, seconds: number) => {
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const result = await autocannon({ connections: CONNECTIONS, duration: seconds, ...loads[kind].opts });
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${loads[kind].title}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
    const t = tallies[kind];
    t.requests += result.requests.total;
    t.seconds += seconds;
    for (const [k, pid] of Object.entries(pids)) {
      const now = cpuSeconds(pid);
      const was = before[k] as { total: number; sys: number };
      t.cpu[k] = (t.cpu[k] ?? 0) + now.total - was.total;
      t.cpu[`${k} sys`] = (t.cpu[`${k} sys`] ?? 0) + now.sys - was.sys;
    }
  };
  progress('warm-up: 2 s of each');
  await run('get', 2);
  await run('resolve', 2);
  await run('resolveCold', 2);
  await run('floor', 2);
  for (const t of Object.values(tallies)) Object.assign(t, { requests: 0, seconds: 0, cpu: {} });
  for (let round = 1; round <= ROUNDS; round++) {
    progress(`round ${round}/${ROUNDS}: ${SECONDS} s apiserver GET, ${SECONDS} s resolve, ${SECONDS} s resolve with the memo off, ${SECONDS} s bare node:https, ${Math.ceil(SECONDS / 2)} s TokenReview, ${Math.ceil(SECONDS / 2)} s GET with the runner's token`);
    await run('get', SECONDS);
    await run('resolve', SECONDS);
    await run('resolveCold', SECONDS);
    await run('floor', SECONDS);
    await run('review', Math.ceil(SECONDS / 2));
    await run('getSa', Math.ceil(SECONDS / 2));
  }

  const us = (kind: keyof typeof loads, proc: string) => ((tallies[kind].cpu[proc] ?? 0) / tallies[kind].requests) * 1e6;
  const getUs = us('get', 'apiserver');
  const resolveUs = us('resolve', 'operator');
  console.log(`resolver cost, autocannon ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds x ${SECONDS} s, Node ${process.version}, operator node options: ${NODE_OPTIONS.join(' ') || '(none)'}; CPU from /proc/PID/stat`);
  const proc = (who: string) => ({ 'bare node': 'bare', 'operator, memo off': 'cold' })[who] ?? who;
  const row = (kind: keyof typeof loads, who: string, cpuUs: number, vs: string) => ({
    case: loads[kind].title,
    requests: tallies[kind].requests.toLocaleString('en-US'),
    'req/s': Math.round(tallies[kind].requests / tallies[kind].seconds).toLocaleString('en-US'),
    'CPU of': who,
    'CPU µs/req': cpuUs.toFixed(0),
    'of it system': `${((100 * (tallies[kind].cpu[`${proc(who)} sys`] ?? 0)) / (tallies[kind].cpu[proc(who)] ?? 1)).toFixed(0)}%`,
    'etcd µs/req': us(kind, 'etcd').toFixed(0),
    'vs apiserver GET': vs,
    'per core req/s': Math.round(1e6 / cpuUs).toLocaleString('en-US'),
  });
  printTable([
    row('get', 'apiserver', getUs, '1.00x'),
    row('resolve', 'operator', resolveUs, `${(resolveUs / getUs).toFixed(2)}x`),
    row('resolveCold', 'operator, memo off', us('resolveCold', 'cold'), `${(us('resolveCold', 'cold') / getUs).toFixed(2)}x`),
    row('floor', 'bare node', us('floor', 'bare'), `${(us('floor', 'bare') / getUs).toFixed(2)}x`),
    { ...row('resolve', 'apiserver', us('resolve', 'apiserver'), `${(us('resolve', 'apiserver') / getUs).toFixed(2)}x`), case: '  (the same resolves: apiserver, e.g. usage writes)', 'per core req/s': '' },
    row('getSa', 'apiserver', us('getSa', 'apiserver'), `${(us('getSa', 'apiserver') / getUs).toFixed(2)}x`),
    row('review', 'apiserver', us('review', 'apiserver'), `${(us('review', 'apiserver') / getUs).toFixed(2)}x`),
  ]);
  // What the operator spends with no resolve at all (watches, lease, probes), for reading the row above.
  const idle = tallies.get;
  console.log(`operator CPU with no resolves (during the apiserver GET runs): ${(((idle.cpu.operator ?? 0) / idle.seconds) * 1000).toFixed(1)} ms per second`);
  const memo = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
  const lookups = (result: string) => Number(new RegExp(`^orka_operator_resolve_memo_lookups_total\\{result="${result}"\\} (\\d+)`, 'm').exec(memo)?.[1] ?? 0);
  console.log(`memo of opened values (first replica): ${lookups('hit').toLocaleString('en-US')} hits, ${lookups('miss').toLocaleString('en-US')} misses`);
  printTable([
    { measure: 'operator RSS, no change stream open', 'RSS MiB': rssBefore.toFixed(1), 'per stream KiB': '' },
    { measure: `operator RSS, ${STREAMS} change streams open`, 'RSS MiB': rssStreams.toFixed(1), 'per stream KiB': (((rssStreams - rssBefore) * 1024) / STREAMS).toFixed(1) },
  ]);
} finally {
  for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
  await cp.stop();
}
