/**
 * `make bench` part 4: pod admission latency through the mutating webhook, against the same
 * create with the webhook configurations removed, in the same run (sequential creates).
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
  const create = async (name: string) => {
    const t = performance.now();
    await core.createNamespacedPod({ namespace: tenant, body: { metadata: { name, labels: { 'orka.io/inject': 'true' } }, spec: { automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'runner:1' }] } } });
    return performance.now() - t;
  };
  const measure = async (prefix: string) => {
    for (let i = 0; i < 20; i++) await create(`${prefix}-warm-${i}`);
    const samples: number[] = [];
    for (let i = 0; i < N; i++) samples.push(await create(`${prefix}-${i}`));
    return samples;
  };
  progress(`${N} pod creates without the webhook`);
  const without = await measure('plain');
  await installWebhooks(kc, { name: 'orka-secrets', url: `https://127.0.0.1:${operator.resolverPort}` });
  await eventually(async () => ((await caBundlePublished(kc, 'orka-secrets')) ? true : undefined));
  progress(`${N} pod creates through the webhook`);
  const withHook = await measure('hooked');
  const check = await core.readNamespacedPod({ name: 'hooked-0', namespace: tenant });
  if (check.metadata?.annotations?.['orka.io/status'] !== 'injected') throw new Error('the webhook did not inject');
  await removeWebhooks(kc, 'orka-secrets');
  const row = (name: string, s: number[]) => ({ case: name, 'p50 ms': percentile(s, 50).toFixed(2), 'p99 ms': percentile(s, 99).toFixed(2) });
  console.log(`pod admission, ${N} sequential creates each, Node ${process.version}`);
  printTable([
    row('create without webhook (baseline)', without),
    row('create through the mutating webhook', withHook),
    { case: 'added by the webhook', 'p50 ms': (percentile(withHook, 50) - percentile(without, 50)).toFixed(2), 'p99 ms': (percentile(withHook, 99) - percentile(without, 99)).toFixed(2) },
  ]);
} finally {
  await operator.stop();
  await cp.stop();
}
