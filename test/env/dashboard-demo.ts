/**
 * `make dashboard`: the Secrets page for a person to try. Starts a local control plane, the
 * operator, the tenant `acme` with a few sample secrets (and an empty tenant `globex`), then the
 * dashboard as the admin, and prints its sign-in link. Ctrl-C stops and removes everything.
 *
 * With ORKA_DASHBOARD_SCREENSHOT=FILE it instead signs in with Debian's Chromium, saves a
 * screenshot of the list to FILE (the README's picture) and stops.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { createLogger } from '../../src/core/logger.js';
import { startLocalDashboard, type LocalDashboard } from '../../src/dashboard/command.js';
import { startControlPlane, type ControlPlane } from './controlplane.js';
import { launchChromium } from './dashboard.js';
import { kubernetesBinDir } from './global-setup.js';
import { adminKubeConfig, installCrd, waitForReady } from './kube.js';
import { sealWithPublishedCert, startOperator, type OperatorProcess } from './operator.js';

const SAMPLES: [name: string, description: string][] = [
  ['STRIPE_API_KEY', 'Stripe live key (payments)'],
  ['SLACK_WEBHOOK_URL', 'Alerts channel #ops'],
  ['GITHUB_TOKEN', 'Release workflow, repo scope'],
  ['DATABASE_URL', ''],
];

let cp: ControlPlane | undefined;
let operator: OperatorProcess | undefined;
let dashboard: LocalDashboard | undefined;

async function cleanup(): Promise<void> {
  await dashboard?.close().catch(() => undefined);
  await operator?.stop().catch(() => undefined);
  await cp?.stop().catch(() => undefined);
}

async function main(): Promise<void> {
  console.log('>> starting a local control plane (etcd + kube-apiserver)');
  cp = await startControlPlane({ binDir: kubernetesBinDir() });
  const kc = adminKubeConfig(cp);
  await installCrd(kc);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'orka-system' } } });
  for (const tenant of ['acme', 'globex']) await core.createNamespace({ body: { metadata: { name: tenant, labels: { 'orka.io/tenant': tenant } } } });
  console.log('>> starting the operator');
  operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: 'orka-system', identity: 'orka-secrets-operator-0', build: 'dist', env: { ORKA_LOG_LEVEL: 'warn' } });
  console.log('>> creating sample secrets in the tenant acme (random values, sealed like the CLI does)');
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (const [name, description] of SAMPLES) {
    const sealedValue = await sealWithPublishedCert(kc, 'orka-system', 'acme', name, `sample-${randomBytes(16).toString('hex')}`);
    const objectName = name.toLowerCase().replaceAll('_', '-');
    await custom.createNamespacedCustomObject({
      group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: 'acme',
      body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: objectName }, spec: { ...(description ? { description } : {}), sealedValue } },
    });
    await waitForReady(kc, 'acme', objectName, 'Stored');
  }
  const screenshot = process.env.ORKA_DASHBOARD_SCREENSHOT;
  dashboard = await startLocalDashboard({ kubeconfig: cp.kubeconfigPath, operatorNamespace: 'orka-system', onSignOut: () => console.log(`Signed out. To sign in again, open ${dashboard?.signInPage() ?? ''}`), log: createLogger({ name: 'orka-dashboard', level: 'warn' }) });
  if (screenshot) {
    const browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 560 } });
    await page.goto(dashboard.signInLink());
    await page.getByRole('rowheader', { name: 'STRIPE_API_KEY' }).waitFor();
    await page.screenshot({ path: screenshot });
    await browser.close();
    console.log(`>> screenshot of the list saved to ${screenshot}`);
    await cleanup();
    return;
  }
  console.log(`\nThe Secrets page, as the control plane's admin: open this sign-in page (it works once, within 60 s):\n\n  ${dashboard.signInPage()}\n`);
  console.log(`kubectl works too: export KUBECONFIG=${cp.kubeconfigPath}; kubectl get osec -n acme`);
  console.log('Ctrl-C stops the dashboard, the operator and the control plane.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log('\n>> stopping');
  await cleanup();
}

main().catch(async (err: unknown) => {
  console.error(`make dashboard failed: ${(err as Error).message}`);
  await cleanup();
  process.exit(1);
});
