/**
 * `make bench` part 4: pod admission latency through the mutating webhook, against the same
 * create that the webhook's object selector skips, in interleaved pairs of the same run; the
 * webhook's added latency is the distribution of the per-pair differences.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { startControlPlane } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd } from '../env/kube.js';
import { eventually, startOperator } from '../env/operator.js';
import { caBundlePublished, installWebhooks, removeWebhooks } from '../env/webhooks.js';
import { printTable } from './table.js';

const N = Number(process.env.BENCH_PODS ?? 300);
const progress = (line: string) => process.stderr.write(`[bench webhook] ${line}\n`);

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
const operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: 'orka-system', identity: 'bench', build: 'dist', env: { ORKA_LOG_LEVEL: 'info' } }).catch(async (err: unknown) => {
  await cp.stop();
  throw err;
});
try {
  const kc = adminKubeConfig(cp);
  const core = kc.makeApiClient(CoreV1Api);
  await installCrd(kc);
  await core.createNamespace({ body: { metadata: { name: 'orka-system' } } }).catch(() => undefined);
  await operator.waitForLog(/resolver API and webhooks listening/);
  const tenant = await createNamespace(kc, { prefix: 'bench', tenant: 'bench' });
  await createServiceAccount(kc, tenant, 'default');
  const create = async (name: string, inject: boolean) => {
    const labels: Record<string, string> = inject ? { 'orka.io/inject': 'true' } : {};
    const t = performance.now();
    await core.createNamespacedPod({ namespace: tenant, body: { metadata: { name, labels }, spec: { automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'runner:1' }] } } });
    return performance.now() - t;
  };
  await installWebhooks(kc, { name: 'orka-secrets', url: `https://127.0.0.1:${operator.resolverPort}` });
  await eventually(async () => ((await caBundlePublished(kc, 'orka-secrets')) ? true : undefined));
  // Pairs, interleaved: the same pod without the label (the webhook's object selector skips it,
  // so the apiserver never calls it) and with it, one right after the other, the order
  // alternating. Each pair's difference is what the webhook added at that moment; load that
  // drifts over the run moves both halves of a pair alike.
  for (let i = 0; i < 20; i++) await create(`warm-${i}`, i % 2 === 0);
  progress(`${N} pairs of pod creates, without and with the webhook, interleaved`);
  const without: number[] = [];
  const withHook: number[] = [];
  const added: number[] = [];
  for (let i = 0; i < N; i++) {
    const first = i % 2 === 0;
    const a = await create(`pair-${i}-${first ? 'hooked' : 'plain'}`, first);
    const b = await create(`pair-${i}-${first ? 'plain' : 'hooked'}`, !first);
    const [hooked, plain] = first ? [a, b] : [b, a];
    withHook.push(hooked);
    without.push(plain);
    added.push(hooked - plain);
  }
  const check = await core.readNamespacedPod({ name: 'pair-0-hooked', namespace: tenant });
  if (check.metadata?.annotations?.['orka.io/status'] !== 'injected') throw new Error('the webhook did not inject');
  const skipped = await core.readNamespacedPod({ name: 'pair-0-plain', namespace: tenant });
  if (skipped.metadata?.annotations?.['orka.io/status'] !== undefined) throw new Error('the webhook was called for the unlabelled pod');
  await removeWebhooks(kc, 'orka-secrets');
  const row = (name: string, s: number[]) => ({ case: name, 'p50 ms': percentile(s, 50).toFixed(2), 'p99 ms': percentile(s, 99).toFixed(2) });
  console.log(`pod admission, ${N} interleaved pairs of sequential creates, Node ${process.version}`);
  printTable([
    row('create, webhook not called (baseline)', without),
    row('create through the mutating webhook', withHook),
    row('added by the webhook (per pair: with - without)', added),
  ]);
} finally {
  await operator.stop();
  await cp.stop();
}
