/**
 * `make demo`: the whole flow on a real local control plane, narrated step by step.
 * Brings up etcd + kube-apiserver, installs the CRD and the webhooks, starts the operator,
 * makes a tenant, creates a secret with the CLI, shows the webhook injecting a runner pod,
 * renders a template through a sidecar holding a real token, deletes the secret and shows the
 * step failing with `secret ... could not be found`. Cleans up after itself, also on Ctrl-C.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { OrkaSecretsClient, isOrkaError } from '../../src/client/index.js';
import type { OrkaSecret } from '../../src/api/resource.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { startControlPlane, type ControlPlane } from './controlplane.js';
import { kubernetesBinDir } from './global-setup.js';
import { adminKubeConfig, createServiceAccount, installCrd, podBoundToken } from './kube.js';
import { eventually, startOperator, type OperatorProcess } from './operator.js';
import { startSidecar, type SidecarProcess } from './sidecar.js';
import { caBundlePublished, installWebhooks } from './webhooks.js';

const TOTAL = 9;
let step = 0;
const say = (text: string) => console.log(`\n[${++step}/${TOTAL}] ${text}`);
const show = (text: string) => console.log(text.trimEnd().replace(/^/gm, '      '));

const dir = mkdtempSync(join(tmpdir(), 'orka-demo-'));
let cp: ControlPlane | undefined;
let operator: OperatorProcess | undefined;
let sidecar: SidecarProcess | undefined;

async function cleanup(): Promise<void> {
  await sidecar?.stop().catch(() => undefined);
  await operator?.stop().catch(() => undefined);
  await cp?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}

process.on('SIGINT', () => {
  console.log('\ninterrupted: cleaning up');
  void cleanup().then(() => process.exit(130));
});

function run(command: string, args: string[], input?: string): string {
  const res = spawnSync(command, args, { input, encoding: 'utf8', env: { ...process.env, PATH: `${resolve('bin')}:${process.env.PATH}` } });
  if (res.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${res.status}):\n${res.stderr}`);
  return res.stdout;
}

async function main(): Promise<void> {
  say('Kubernetes binaries (built once from Debian sources, then cached)');
  const binDir = kubernetesBinDir();
  show(binDir);

  say('Starting a local control plane: etcd + kube-apiserver 1.20');
  const started = Date.now();
  cp = await startControlPlane({ binDir });
  show(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${cp.server}`);
  const kubeconfig = cp.kubeconfigPath;
  const kubectl = (...args: string[]) => run('kubectl', ['--kubeconfig', kubeconfig, ...args]);
  const orka = (args: string[], input?: string) => run('orka-secrets', ['--kubeconfig', kubeconfig, ...args], input);
  const kc = adminKubeConfig(cp);

  say('Installing the OrkaSecret CRD, starting the operator, registering its webhooks');
  await installCrd(kc);
  show(kubectl('create', 'namespace', 'orka-system'));
  operator = await startOperator({ kubeconfigPath: kubeconfig, namespace: 'orka-system', identity: 'orka-secrets-operator-0', build: 'dist', env: { ORKA_LOG_LEVEL: 'info', ORKA_SIDECAR_IMAGE: 'orka-secrets:0.1.0' } });
  await operator.waitForLog(/resolver API and webhooks listening/);
  await installWebhooks(kc, { name: 'orka-secrets', url: `https://127.0.0.1:${operator.webhookPort}` });
  await eventually(async () => ((await caBundlePublished(kc, 'orka-secrets')) ? true : undefined));
  show(`operator leading, keys created, webhooks trusted (CA bundle published) on https://127.0.0.1:${operator.webhookPort}`);

  say('Making the tenant "acme": a namespace labelled orka.io/tenant, and a runner ServiceAccount');
  show(kubectl('create', 'namespace', 'acme'));
  show(kubectl('label', 'namespace', 'acme', 'orka.io/tenant=acme'));
  await createServiceAccount(kc, 'acme', 'runner');
  await createServiceAccount(kc, 'acme', 'default');

  say('A tenant admin creates a secret with the CLI (the value is sealed locally, never shown)');
  const value = `sk_test_${randomBytes(12).toString('hex')}`;
  show('$ echo "$STRIPE_KEY" | kubectl orka -n acme create STRIPE_API_KEY --from-stdin -d "Stripe test key"');
  // Run as a kubectl plugin for real: kubectl finds bin/kubectl-orka on PATH.
  show(run('kubectl', ['orka', '--kubeconfig', kubeconfig, '-n', 'acme', 'create', 'STRIPE_API_KEY', '--from-stdin', '-d', 'Stripe test key'], `${value}\n`));
  const custom = kc.makeApiClient(CustomObjectsApi);
  await eventually(async () => {
    const o = (await custom.getNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: 'acme', name: 'stripe-api-key' })) as OrkaSecret;
    return o.status?.conditions?.[0]?.reason === 'Stored' ? true : undefined;
  });
  show('$ kubectl get osec -n acme');
  show(kubectl('get', 'osec', '-n', 'acme'));
  show('$ orka-secrets -n acme list');
  show(orka(['-n', 'acme', 'list']));

  say('A workflow-runner pod labelled orka.io/inject=true gets the sidecar from the webhook');
  const core = kc.makeApiClient(CoreV1Api);
  const pod = await core.createNamespacedPod({
    namespace: 'acme',
    body: { metadata: { name: 'runner', labels: { 'orka.io/inject': 'true' } }, spec: { serviceAccountName: 'runner', automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'workflow-runner:1' }] } },
  });
  show(`containers: ${pod.spec?.containers.map((c) => c.name).join(', ')}; annotation orka.io/status=${pod.metadata?.annotations?.['orka.io/status']}`);
  show('(no kubelet runs in this control-plane-only demo; the sidecar runs next as a local process with a real token)');

  say('The step renders its template through the sidecar on 127.0.0.1, with a real projected-style token');
  const tls = await core.readNamespacedSecret({ name: TLS_SECRET, namespace: 'orka-system' });
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64'));
  const tokenFile = join(dir, 'token');
  // Bound to the runner pod, as the kubelet would project it.
  writeFileSync(tokenFile, (await podBoundToken(kc, { namespace: 'acme', serviceAccount: 'runner', bindTo: pod })).token);
  sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${operator.resolverPort}`, tokenFile, caFile, env: { ORKA_LOG_LEVEL: 'warn' } });
  const client = new OrkaSecretsClient({ baseUrl: sidecar.url });
  const template = 'Authorization: Bearer {{ secrets.STRIPE_API_KEY }}';
  const rendered = await client.render(template);
  show(`template: ${template}`);
  show(`rendered: ${await client.redact(rendered)}   (masked for this screen with /v1/redact)`);
  show(`the rendered value is the one sealed: ${rendered === `Authorization: Bearer ${value}` ? 'yes' : 'NO'}`);
  if (rendered !== `Authorization: Bearer ${value}`) throw new Error('rendering returned the wrong value');

  say('The secret is deleted; the same step now fails the way a workflow sees it');
  show('$ orka-secrets -n acme delete STRIPE_API_KEY --yes');
  show(orka(['-n', 'acme', 'delete', 'STRIPE_API_KEY', '--yes']));
  const failure = await eventually(async () => client.render(template).then(() => undefined, (err: unknown) => (isOrkaError(err) ? err : undefined)), 5000, 50);
  show(`step failed: ${failure.code}: ${failure.message}`);
  if (failure.message !== 'secret STRIPE_API_KEY could not be found') throw new Error(`unexpected failure: ${failure.message}`);

  say('Cleaning up');
  await cleanup();
  show('sidecar, operator and control plane stopped; temporary files removed');
  console.log('\ndemo finished');
}

main().catch(async (err: unknown) => {
  console.error(`\ndemo failed: ${(err as Error).message}`);
  await cleanup();
  process.exit(1);
});
