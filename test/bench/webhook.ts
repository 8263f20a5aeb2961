/**
 * `make bench` part 4: what admission through the operator's webhooks adds to a create, measured
 * against the same create that the webhook configuration skips, in interleaved pairs of the same
 * run; the added latency is the distribution of the per-pair differences.
 *   - pods through the mutating webhook (the object selector skips the unlabelled twin), back to
 *     back and after an idle gap longer than Node's default keep-alive timeout (5 s), where the
 *     apiserver pays a new TLS connection unless the operator keeps it open;
 *   - OrkaSecrets through the validating webhook, with spec.sealedValue (envelope checks) and with
 *     spec.valueFrom (a SubjectAccessReview per create); the twin goes to a tenant namespace that
 *     the webhook's namespace selector skips.
 * BENCH_PODS (default 600) and BENCH_ORKASECRETS (300) pairs after 50 warm-up pairs each;
 * BENCH_IDLE_PAIRS (20, 0 to skip) idle pairs.
 */
import { createPublicKey } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { CERT_CONFIGMAP, type OrkaSecret } from '../../src/api/resource.js';
import { seal } from '../../src/core/envelope.js';
import { sealingKeyIdOf } from '../../src/core/keyring.js';
import { toSecretName } from '../../src/core/names.js';
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

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * Creates timed by `create(hooked)`, in pairs whose order alternates. A create that fails is
 * counted, not timed (its pair is left out), so a refused admission shows in the table.
 */
async function pairs(count: number, create: (hooked: boolean, i: number) => Promise<number>, before?: () => Promise<void>) {
  const without: number[] = [];
  const withHook: number[] = [];
  const added: number[] = [];
  const failed = { hooked: 0, plain: 0, first: undefined as string | undefined };
  const timed = async (hooked: boolean, i: number) => {
    try {
      return await create(hooked, i);
    } catch (err) {
      failed[hooked ? 'hooked' : 'plain']++;
      failed.first ??= ((err as { body?: string }).body ?? (err as Error).message).slice(0, 300);
      return undefined;
    }
  };
  for (let i = 0; i < count; i++) {
    await before?.();
    const hookedFirst = i % 2 === 0;
    const a = await timed(hookedFirst, i);
    const b = await timed(!hookedFirst, i);
    const [hooked, plain] = hookedFirst ? [a, b] : [b, a];
    if (hooked === undefined || plain === undefined) continue;
    withHook.push(hooked);
    without.push(plain);
    added.push(hooked - plain);
  }
  if (failed.first !== undefined) progress(`${failed.hooked} creates through the webhook and ${failed.plain} without failed; the first: ${failed.first}`);
  return { without, withHook, added, failed };
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
const operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: 'orka-system', identity: 'bench', build: 'dist', env: { ORKA_LOG_LEVEL: 'info' } }).catch(async (err: unknown) => {
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
  await installWebhooks(kc, { name: 'orka-secrets', url: `https://127.0.0.1:${operator.resolverPort}`, scope });
  await eventually(async () => ((await caBundlePublished(kc, 'orka-secrets')) ? true : undefined));

  const createPod = async (inject: boolean, name: string) => {
    const labels: Record<string, string> = inject ? { 'orka.io/inject': 'true' } : {};
    const t = performance.now();
    await core.createNamespacedPod({ namespace: hooked, body: { metadata: { name, labels }, spec: { automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'runner:1' }] } } });
    return performance.now() - t;
  };
  const podPair = (prefix: string) => (inject: boolean, i: number) => createPod(inject, `${prefix}-${i}-${inject ? 'hooked' : 'plain'}`);
  // Pairs, interleaved: the same pod without the label (the webhook's object selector skips it,
  // so the apiserver never calls it) and with it, one right after the other, the order
  // alternating. Each pair's difference is what the webhook added at that moment; load that
  // drifts over the run moves both halves of a pair alike. Warm-up pairs (JIT, connections) are
  // not counted.
  await pairs(WARM_UP, podPair('warm'));
  progress(`${N} pairs of pod creates, without and with the webhook, interleaved`);
  const pods = await pairs(N, podPair('pair'));
  const check = await core.readNamespacedPod({ name: 'pair-0-hooked', namespace: hooked });
  if (check.metadata?.annotations?.['orka.io/status'] !== 'injected') throw new Error('the webhook did not inject');
  const plain = await core.readNamespacedPod({ name: 'pair-0-plain', namespace: hooked });
  if (plain.metadata?.annotations?.['orka.io/status'] !== undefined) throw new Error('the webhook was called for the unlabelled pod');
  progress(`${N_IDLE} pairs of pod creates, each after ${IDLE_MS / 1000} s without admission`);
  // After the pause, one read (no admission) before the pair: this client's own idle connection
  // to the apiserver is renewed outside the timed creates, whichever half comes first.
  const idle = await pairs(N_IDLE, podPair('idle'), async () => {
    await new Promise((r) => setTimeout(r, IDLE_MS));
    await core.readNamespace({ name: hooked });
  });

  // OrkaSecrets: the same object in the namespace the validating webhook covers and in one it
  // skips. Sealed values are made before the clock starts (each is for one namespace and name).
  const cm = await eventually(() => core.readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace: 'orka-system' }));
  const certPem = cm.data?.['cert.pem'] as string;
  const sealing = { publicKey: createPublicKey(certPem), keyId: sealingKeyIdOf(certPem) };
  const sealedFor = (ns: string, name: string) => seal({ ...sealing, tenant: ns, name: toSecretName(name), value: Buffer.from('bench') }).toString('base64');
  const createOrkaSecret = async (validated: boolean, name: string, spec: (ns: string) => object) => {
    const namespace = validated ? hooked : skipped;
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
    return await pairs(count, (validated, i) => createOrkaSecret(validated, `${prefix}-${i}`, (ns) => ({ sealedValue: sealed.get(`${ns}/${prefix}-${i}`) })), paced(prefix));
  };
  const valueFromPairs = (prefix: string, count: number) =>
    pairs(count, (validated, i) => createOrkaSecret(validated, `${prefix}-${i}`, () => ({ valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } })), paced(prefix));
  await sealedPairs('warm-sealed', WARM_UP);
  await valueFromPairs('warm-ref', WARM_UP);
  progress(`${N_OSEC} pairs of OrkaSecret creates with sealedValue, then ${N_OSEC} with valueFrom, interleaved${burst ? ', back to back' : ', each pair once the one before is reconciled'}`);
  const sealedRows = await sealedPairs('sealed', N_OSEC);
  const refRows = await valueFromPairs('ref', N_OSEC);
  await removeWebhooks(kc, 'orka-secrets');

  const row = (name: string, s: number[], failed?: number) => ({
    case: name,
    pairs: String(s.length),
    'p50 ms': s.length === 0 ? '-' : percentile(s, 50).toFixed(2),
    'p99 ms': s.length === 0 ? '-' : percentile(s, 99).toFixed(2),
    'failed creates': failed === undefined ? '' : String(failed),
  });
  console.log(`admission through the operator's webhooks, interleaved pairs of sequential creates, Node ${process.version}`);
  console.log('(with few pairs, p99 is the largest difference)');
  printTable([
    row('pod create, webhook not called (baseline)', pods.without, pods.failed.plain),
    row('pod create through the mutating webhook', pods.withHook, pods.failed.hooked),
    row('pod: added by the webhook (per pair: with - without)', pods.added),
    ...(N_IDLE > 0 ? [row(`pod after ${IDLE_MS / 1000} s idle, webhook not called (baseline)`, idle.without, idle.failed.plain), row(`pod after ${IDLE_MS / 1000} s idle: added by the webhook`, idle.added, idle.failed.hooked)] : []),
    row('OrkaSecret sealedValue, webhook not called (baseline)', sealedRows.without, sealedRows.failed.plain),
    row('OrkaSecret sealedValue: added by the validating webhook', sealedRows.added, sealedRows.failed.hooked),
    row('OrkaSecret valueFrom, webhook not called (baseline)', refRows.without, refRows.failed.plain),
    row('OrkaSecret valueFrom: added (with a SubjectAccessReview)', refRows.added, refRows.failed.hooked),
  ]);
} finally {
  await operator.stop();
  await cp.stop();
}
