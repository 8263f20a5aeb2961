/**
 * `make bench` part 4: what admission through the operator's webhooks adds to a create, measured
 * against the same create that the webhook configuration skips, interleaved in the same run (each
 * round makes every variant once, the order rotating); the added latency is the distribution of
 * the per-round differences.
 *   - pods through the mutating webhook (the object selector skips the unlabelled twin), and
 *     through a minimal webhook served by this script (bare node:https, allows, no patch): the
 *     floor that any webhook pays on this apiserver and machine;
 *   - pods after an idle gap longer than Node's default keep-alive timeout (5 s + 1 s), where the
 *     apiserver pays a new TLS connection, or fails the call, unless the operator keeps it open;
 *   - OrkaSecrets through the validating webhook, with spec.sealedValue (envelope checks) and with
 *     spec.valueFrom (a SubjectAccessReview per create); the twin goes to a tenant namespace that
 *     the webhook's namespace selector skips;
 *   - the operator's CPU per pod admission review, which a loaded machine does not blur.
 * BENCH_PODS (default 600) and BENCH_ORKASECRETS (300) rounds after 50 warm-up rounds each;
 * BENCH_IDLE_PAIRS (20, 0 to skip) idle rounds.
 * The operator runs as the chart runs it: the chart's NODE_OPTIONS (BENCH_NODE_OPTIONS replaces
 * them, e.g. to add `--cpu-prof`) and the default lease timing (the test harness shortens it).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createPublicKey } from 'node:crypto';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { AdmissionregistrationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { CERT_CONFIGMAP, type OrkaSecret } from '../../src/api/resource.js';
import { seal } from '../../src/core/envelope.js';
import { sealingKeyIdOf } from '../../src/core/sealing-cert.js';
import { toSecretName } from '../../src/core/names.js';
import { createCA, issueServingCert } from '../../src/core/pki.js';
import { loadOperatorConfig } from '../../src/operator/config.js';
import { startControlPlane } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd } from '../env/kube.js';
import { eventually, startOperator } from '../env/operator.js';
import { caBundlePublished, installWebhooks, removeWebhooks, SCOPE_LABEL } from '../env/webhooks.js';
import { printTable } from './table.js';

const N = Number(process.env.BENCH_PODS ?? 600);
const N_OSEC = Number(process.env.BENCH_ORKASECRETS ?? 300);
const N_IDLE = Number(process.env.BENCH_IDLE_PAIRS ?? 20);
const WARM_UP = 50;
/** Longer than Node's default server keep-alive timeout (5 s), shorter than the apiserver's client idle timeout (90 s). */
const IDLE_MS = 6_000;
const progress = (line: string) => process.stderr.write(`[bench webhook] ${line}\n`);
/** The operator's Node options: BENCH_NODE_OPTIONS, else the chart's (operator.nodeOptions), as production runs it. */
const NODE_OPTIONS = (process.env.BENCH_NODE_OPTIONS ?? /^\s*nodeOptions:\s*"([^"]*)"/m.exec(readFileSync('charts/orka-secrets/values.yaml', 'utf8'))?.[1] ?? '').split(' ').filter(Boolean);
/** The lease timing the chart runs with (the defaults): its renewals are part of the load admission shares the event loop with. */
const DEFAULTS = loadOperatorConfig({});
const LEASE_ENV = { ORKA_LEASE_DURATION: `${DEFAULTS.ORKA_LEASE_DURATION}s`, ORKA_LEASE_RENEW_DEADLINE: `${DEFAULTS.ORKA_LEASE_RENEW_DEADLINE}s`, ORKA_LEASE_RETRY_PERIOD: `${DEFAULTS.ORKA_LEASE_RETRY_PERIOD}s` };

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Per-round samples of each variant, and the creates that failed. */
interface Rounds<V extends string> {
  times: Record<V, number[]>;
  failed: Record<V, number>;
}

/**
 * `count` rounds; each makes every variant once, timed by `create`, the order rotating from round
 * to round. A create that fails is counted, not timed (its round is left out), so a refused
 * admission shows in the table.
 */
async function rounds<V extends string>(count: number, variants: readonly V[], create: (variant: V, i: number) => Promise<number>, before?: () => Promise<void>): Promise<Rounds<V>> {
  const times = Object.fromEntries(variants.map((v) => [v, [] as number[]])) as Record<V, number[]>;
  const failed = Object.fromEntries(variants.map((v) => [v, 0])) as Record<V, number>;
  let first: string | undefined;
  for (let i = 0; i < count; i++) {
    await before?.();
    const round = new Map<V, number>();
    for (let k = 0; k < variants.length; k++) {
      const variant = variants[(i + k) % variants.length] as V;
      try {
        round.set(variant, await create(variant, i));
      } catch (err) {
        failed[variant]++;
        first ??= ((err as { body?: string }).body ?? (err as Error).message).slice(0, 300);
      }
    }
    if (round.size < variants.length) continue;
    for (const [variant, t] of round) times[variant].push(t);
  }
  if (first !== undefined) progress(`failed creates ${JSON.stringify(failed)}; the first: ${first}`);
  return { times, failed };
}

/** Per-round differences `a - b`. */
function minus(a: number[], b: number[]): number[] {
  return a.map((t, i) => t - (b[i] as number));
}

/**
 * A minimal mutating webhook on 127.0.0.1: reads the review, allows, and patches nothing (pods
 * labelled `floor`) or answers a fixed patch (pods labelled `floor-patch`: the operator's own
 * patch for such a pod, so the apiserver's part of applying it and storing the larger pod is
 * told apart from the operator's). What the apiserver adds for it is the floor of any webhook
 * here; its keep-alive is the operator's.
 */
async function startFloorWebhook(kc: KubeConfig, scope: string, patch: string): Promise<{ label: string; connections: () => number; stop: () => Promise<void> }> {
  const ca = createCA({ commonName: 'bench-floor-ca', now: new Date(), validDays: 1 });
  const serving = issueServingCert({ ca, hosts: ['127.0.0.1'], now: new Date(), validDays: 1 });
  const label = 'bench.orka.io/floor';
  const server = createHttpsServer({ cert: serving.certPem, key: serving.keyPem, keepAliveTimeout: 120_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { request } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string; object: { metadata: { labels: Record<string, string> } } } };
      const patched = request.object.metadata.labels[label] === 'floor-patch' ? { patchType: 'JSONPatch', patch } : {};
      const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: request.uid, allowed: true, ...patched } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  // How often the apiserver opens a new connection (a TLS handshake) to a webhook in these rounds.
  let connections = 0;
  server.on('secureConnection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  await api.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: 'bench-floor' },
      webhooks: [
        {
          name: 'floor.bench.orka.io',
          clientConfig: { url: `https://127.0.0.1:${port}/`, caBundle: Buffer.from(ca.certPem).toString('base64') },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
          namespaceSelector: { matchExpressions: [{ key: SCOPE_LABEL, operator: 'In', values: [scope] }] },
          objectSelector: { matchExpressions: [{ key: label, operator: 'In', values: ['floor', 'floor-patch'] }] },
          failurePolicy: 'Fail',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 5,
        },
      ],
    },
  });
  return {
    label,
    connections: () => connections,
    stop: async () => {
      await api.deleteMutatingWebhookConfiguration({ name: 'bench-floor' }).catch(() => undefined);
      server.close();
      server.closeAllConnections();
    },
  };
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
const operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: 'orka-system', identity: 'bench', build: 'dist', nodeOptions: NODE_OPTIONS, env: { ORKA_LOG_LEVEL: 'info', ...LEASE_ENV } }).catch(async (err: unknown) => {
  await cp.stop();
  throw err;
});
try {
  const kc = adminKubeConfig(cp);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  await installCrd(kc);
  await core.createNamespace({ body: { metadata: { name: 'orka-system' } } }).catch(() => undefined);
  await operator.waitForLog(/resolver API and webhooks listening/);
  // Both namespaces are tenants; only the first is in the webhooks' scope.
  const scope = 'bench';
  const hooked = await createNamespace(kc, { prefix: 'bench', tenant: 'bench', labels: { [SCOPE_LABEL]: scope } });
  const skipped = await createNamespace(kc, { prefix: 'bench-skipped', tenant: 'bench' });
  for (const ns of [hooked, skipped]) {
    await createServiceAccount(kc, ns, 'default');
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'db' }, stringData: { password: 'bench' } } });
  }
  await installWebhooks(kc, { name: 'orka-secrets', url: `https://127.0.0.1:${operator.webhookPort}`, scope });
  await eventually(async () => ((await caBundlePublished(kc, 'orka-secrets')) ? true : undefined));

  const podBody = (name: string, labels: Record<string, string>) => ({ metadata: { name, labels }, spec: { automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'runner:1' }] } });
  // The operator's patch for the bench's pod, asked for directly (the same for every such pod).
  const operatorPatch = await new Promise<string>((resolve, reject) => {
    const review = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'bench', namespace: hooked, object: podBody('x', { 'orka.io/inject': 'true' }) } });
    const req = httpsRequest({ host: '127.0.0.1', port: operator.webhookPort, path: '/webhooks/mutate-pods', method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve((JSON.parse(text) as { response: { patch: string } }).response.patch));
    });
    req.on('error', reject);
    req.end(review);
  });
  const floor = await startFloorWebhook(kc, scope, operatorPatch);
  const variants = ['plain', 'orka', 'floor', 'floor-patch'] as const;
  type PodVariant = (typeof variants)[number];
  const podLabels: Record<PodVariant, Record<string, string>> = { plain: {}, orka: { 'orka.io/inject': 'true' }, floor: { [floor.label]: 'floor' }, 'floor-patch': { [floor.label]: 'floor-patch' } };
  const podRound = (prefix: string) => async (variant: PodVariant, i: number) => {
    const body = podBody(`${prefix}-${i}-${variant}`, podLabels[variant]);
    const t = performance.now();
    await core.createNamespacedPod({ namespace: hooked, body });
    return performance.now() - t;
  };
  // Rounds, interleaved: the same pod without a label (no webhook's object selector matches, so
  // the apiserver calls none), with the operator's label and with the minimal webhook's, one right
  // after the other, the order rotating. Each round's difference is what a webhook added at that
  // moment; load that drifts over the run moves every create of a round alike. Warm-up rounds
  // (JIT, connections) are not counted.
  await rounds(WARM_UP, variants, podRound('warm'));
  // The operator's CPU per admission review: robust where latency is not (a loaded machine's
  // scheduling delays land in latency, not in CPU time). Its idle rate (lease renewals, timers),
  // measured just before, is taken out. Over 10 s: five lease renewals and two CA bundle checks,
  // so that one timer more or less in the window does not move the rate much.
  const operatorCpu = async () => {
    const text = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
    return Number(/^orka_operator_process_cpu_seconds_total (\S+)$/m.exec(text)?.[1]);
  };
  const idleFrom = { cpu: await operatorCpu(), t: performance.now() };
  await new Promise((r) => setTimeout(r, 10_000));
  const loopFrom = { cpu: await operatorCpu(), t: performance.now() };
  const idleRate = (loopFrom.cpu - idleFrom.cpu) / (loopFrom.t - idleFrom.t);
  progress(`${N} rounds of pod creates: no webhook, the operator's, the minimal one without and with the operator's patch`);
  const connectionsFrom = floor.connections();
  const pods = await rounds(N, variants, podRound('pair'));
  const cpuPerReview = ((await operatorCpu()) - loopFrom.cpu - idleRate * (performance.now() - loopFrom.t)) / (N - pods.failed.orka);
  const podConnections = floor.connections() - connectionsFrom;
  const check = await core.readNamespacedPod({ name: 'pair-0-orka', namespace: hooked });
  if (check.metadata?.annotations?.['orka.io/status'] !== 'injected') throw new Error('the webhook did not inject');
  const plain = await core.readNamespacedPod({ name: 'pair-0-plain', namespace: hooked });
  if (plain.metadata?.annotations?.['orka.io/status'] !== undefined) throw new Error('the webhook was called for the unlabelled pod');
  progress(`${N_IDLE} rounds of pod creates, each after ${IDLE_MS / 1000} s without admission: no webhook, the operator's, the minimal one`);
  // After the pause, one read (no admission) before the round: this client's own idle connection
  // to the apiserver is renewed outside the timed creates, whichever create comes first. The
  // minimal webhook is in these rounds too, so that what a pause costs any webhook here (the
  // apiserver's side, the machine waking up) is told apart from what it costs the operator.
  const idleConnectionsFrom = floor.connections();
  const idle = await rounds(N_IDLE, ['plain', 'orka', 'floor'] as const, podRound('idle'), async () => {
    await new Promise((r) => setTimeout(r, IDLE_MS));
    await core.readNamespace({ name: hooked });
  });
  const idleConnections = floor.connections() - idleConnectionsFrom;
  await floor.stop();

  // OrkaSecrets: the same object in the namespace the validating webhook covers and in one it
  // skips. Sealed values are made before the clock starts (each is for one namespace and name).
  const cm = await eventually(() => core.readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace: 'orka-system' }));
  const certPem = cm.data?.['cert.pem'] as string;
  const sealing = { publicKey: createPublicKey(certPem), keyId: sealingKeyIdOf(certPem) };
  const sealedFor = (ns: string, name: string) => seal({ ...sealing, tenantId: 'bench', namespace: ns, name: toSecretName(name), value: Buffer.from('bench') }).toString('base64');
  type OrkaSecretVariant = 'plain' | 'validated';
  const createOrkaSecret = async (variant: OrkaSecretVariant, name: string, spec: (ns: string) => object) => {
    const namespace = variant === 'validated' ? hooked : skipped;
    const body = { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: spec(namespace) };
    const t = performance.now();
    await custom.createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', namespace, plural: 'orkasecrets', body });
    return performance.now() - t;
  };
  // Paced: each pair starts once the operator has reconciled the pair before it, so the numbers
  // are admission's own, not a backlog of reconciles that the creates themselves cause (the
  // webhook shares the operator's event loop with them; BENCH_ORKASECRETS_BURST=1 leaves it in).
  const burst = process.env.BENCH_ORKASECRETS_BURST === '1';
  const reconciled = async (name: string) => {
    for (const ns of [hooked, skipped]) {
      await eventually(async () => {
        const o = (await custom.getNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: ns, name })) as OrkaSecret;
        return o.status?.observedGeneration === o.metadata.generation && o.status?.conditions?.some((c) => c.type === 'Ready') ? true : undefined;
      }, 60_000, 20);
    }
  };
  const paced = (prefix: string) => {
    let i = 0;
    return async () => {
      if (!burst && i > 0) await reconciled(`${prefix}-${i - 1}`);
      i++;
    };
  };
  const sealedPairs = async (prefix: string, count: number) => {
    const sealed = new Map<string, string>();
    for (let i = 0; i < count; i++) for (const ns of [hooked, skipped]) sealed.set(`${ns}/${prefix}-${i}`, sealedFor(ns, `${prefix}-${i}`));
    return await rounds(count, ['plain', 'validated'] as const, (variant, i) => createOrkaSecret(variant, `${prefix}-${i}`, (ns) => ({ sealedValue: sealed.get(`${ns}/${prefix}-${i}`) })), paced(prefix));
  };
  const valueFromPairs = (prefix: string, count: number) =>
    rounds(count, ['plain', 'validated'] as const, (variant, i) => createOrkaSecret(variant, `${prefix}-${i}`, () => ({ valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } })), paced(prefix));
  await sealedPairs('warm-sealed', WARM_UP);
  await valueFromPairs('warm-ref', WARM_UP);
  progress(`${N_OSEC} pairs of OrkaSecret creates with sealedValue, then ${N_OSEC} with valueFrom, interleaved${burst ? ', back to back' : ', each pair once the one before is reconciled'}`);
  const sealedRows = await sealedPairs('sealed', N_OSEC);
  const refRows = await valueFromPairs('ref', N_OSEC);
  await removeWebhooks(kc, 'orka-secrets');

  const row = (name: string, s: number[], failed?: number) => ({
    case: name,
    rounds: String(s.length),
    'p50 ms': s.length === 0 ? '-' : percentile(s, 50).toFixed(2),
    'p99 ms': s.length === 0 ? '-' : percentile(s, 99).toFixed(2),
    'failed creates': failed === undefined ? '' : String(failed),
  });
  const idleFor = `after ${IDLE_MS / 1000} s idle`;
  console.log(`admission through the operator's webhooks, interleaved rounds of sequential creates, Node ${process.version}`);
  console.log('("added": per round, the create through the webhook minus the same create that no webhook sees; with few rounds, p99 is the largest)');
  printTable([
    row('pod create, no webhook called (baseline)', pods.times.plain, pods.failed.plain),
    row('pod create through the mutating webhook', pods.times.orka, pods.failed.orka),
    row('pod: added by the mutating webhook', minus(pods.times.orka, pods.times.plain)),
    row('pod: added by a minimal webhook (floor: allows, no patch)', minus(pods.times.floor, pods.times.plain), pods.failed.floor),
    row("pod: added by a minimal webhook answering the operator's patch", minus(pods.times['floor-patch'], pods.times.plain), pods.failed['floor-patch']),
    row('pod: the mutating webhook minus the minimal one with the same patch', minus(pods.times.orka, pods.times['floor-patch'])),
    ...(N_IDLE > 0
      ? [
          row(`pod ${idleFor}, no webhook called (baseline)`, idle.times.plain, idle.failed.plain),
          row(`pod ${idleFor}: added by the mutating webhook`, minus(idle.times.orka, idle.times.plain), idle.failed.orka),
          row(`pod ${idleFor}: added by the minimal webhook (floor)`, minus(idle.times.floor, idle.times.plain), idle.failed.floor),
        ]
      : []),
    row('OrkaSecret sealedValue, no webhook called (baseline)', sealedRows.times.plain, sealedRows.failed.plain),
    row('OrkaSecret sealedValue: added by the validating webhook', minus(sealedRows.times.validated, sealedRows.times.plain), sealedRows.failed.validated),
    row('OrkaSecret valueFrom, no webhook called (baseline)', refRows.times.plain, refRows.failed.plain),
    row('OrkaSecret valueFrom: added (with a SubjectAccessReview)', minus(refRows.times.validated, refRows.times.plain), refRows.failed.validated),
  ]);
  printTable([
    { case: 'operator CPU per pod admission review (idle rate taken out)', 'µs': (cpuPerReview * 1e6).toFixed(0) },
    { case: 'operator CPU when idle, per second', 'µs': (idleRate * 1e9).toFixed(0) },
  ]);
  console.log(`new TLS connections from the apiserver to the minimal webhook: ${podConnections} in ${N} pod rounds, ${idleConnections} in ${N_IDLE} rounds after a pause`);
  console.log(`operator NODE_OPTIONS: ${NODE_OPTIONS.join(' ') || '(none)'}; lease renewal every ${DEFAULTS.ORKA_LEASE_RETRY_PERIOD} s; load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  await operator.stop();
  await cp.stop();
}
