/**
 * The Secrets page as the chart deploys it, on the single-node cluster: the chart installed with
 * `dashboard.enabled`, the page reached through its Service (its ClusterIP, which kube-proxy
 * routes from this host as from any node) in Debian's Chromium, a tenant editor signed in with a
 * token of their own (the built-in `edit` role in their namespace, nothing cluster-wide), and a
 * secret created, edited and deleted on the page while a runner pod with the injected sidecar
 * sees each change. No value is in the page's traffic, any container log, Event, status or etcd
 * (the shared leak finder, with a control canary), and axe-core finds nothing serious.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { CoreV1Api, RbacAuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canaries, etcdText, findLeaks } from '../env/canary.js';
import { launchChromium } from '../env/dashboard.js';
import { IMAGE_TAG, NS, startE2eCluster, type E2eCluster } from '../env/e2e-cluster.js';
import { requestToken } from '../env/kube.js';
import { eventually } from '../env/operator.js';

const TENANT_NS = 'acme';
/** The host name people reach the page under (the chart's dashboard.hosts); Chromium maps it to the Service. */
const HOST = 'secrets.orka.test';
const SHOTS = 'test-results/e2e-dashboard';
let cluster: E2eCluster;
let kc: KubeConfig;
let browser: Browser;
let page: Page;
const timings: Record<string, number> = {};
const planted = canaries('CANARY-e2e-page');
const first = planted.make('first');
const second = planted.make('second');
/** What the page's browser sent and received, for the leak search. */
const traffic: Promise<string>[] = [];

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const rowOf = (name: string) => page.getByRole('row').filter({ has: page.getByRole('rowheader', { name, exact: true }) });

/** Waits for the row of `name`; if it never comes, says what the page showed instead (an error in the dialog, a status). */
async function rowAppears(name: string): Promise<void> {
  try {
    await rowOf(name).waitFor();
  } catch (err) {
    await shot(`failed-${name}`);
    throw new Error(`${(err as Error).message.split('\n')[0]}; the page showed:\n${await page.locator('body').innerText()}`, { cause: err });
  }
}

/** Serious and critical axe-core findings on the page as it is now. */
async function axeFindings(): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

/** What the runner pod's sidecar answers for `name`: the value, or the error code. */
function inPod(name: string): string {
  const id = cluster.containerId('runner', 'runner', TENANT_NS);
  const script = `fetch(process.env.ORKA_SECRETS_URL + '/v1/secrets/${name}', { headers: { 'x-orka-request': 'true' } }).then(async (r) => { const b = await r.json(); console.log(b.error ? b.error.code : b.value); })`;
  return execFileSync('docker', ['exec', id, 'node', '-e', script], { timeout: 30_000 }).toString().trim();
}

/** Waits until the runner pod's sidecar answers `expected` for `name` (every other answer is printed if it never does). */
async function podSees(name: string, expected: string): Promise<void> {
  const seen: string[] = [];
  await eventually(async () => {
    let answer: string;
    try {
      answer = inPod(name);
    } catch (err) {
      answer = `failed: ${(err as Error).message.split('\n')[0]}`;
    }
    if (seen.at(-1) !== answer) seen.push(answer === first || answer === second ? `value ${answer === first ? 'first' : 'second'}` : answer);
    return answer === expected ? true : undefined;
  }, 120_000, 1000).catch((err: Error) => {
    throw new Error(`${err.message}; the pod saw, in order: ${JSON.stringify(seen)}`);
  });
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  cluster = await startE2eCluster((name, started) => (timings[name] = (Date.now() - started) / 1000));
  kc = cluster.kc;
  const t = Date.now();
  // Plain HTTP in the test, so the cookie cannot be a Secure __Host- one (docs/dashboard.md).
  cluster.install(['dashboard.enabled=true', `dashboard.hosts=[${HOST}]`, 'dashboard.secureCookie=false']);
  const core = kc.makeApiClient(CoreV1Api);
  await eventually(async () => {
    const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/component=dashboard' });
    return pods.items.some((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? true : undefined;
  }, 180_000, 1000).catch((err: Error) => {
    throw new Error(`${err.message}: the dashboard pod never became ready\n${cluster.kubectl(['get', 'pods', '-A', '-o', 'wide'])}`);
  });
  timings['dashboard ready (s)'] = (Date.now() - t) / 1000;

  cluster.kubectl(['create', 'namespace', TENANT_NS]);
  cluster.kubectl(['label', 'namespace', TENANT_NS, `orka.io/tenant=${TENANT_NS}`]);
  cluster.kubectl(['-n', TENANT_NS, 'create', 'serviceaccount', 'runner']);
  cluster.kubectl(['-n', TENANT_NS, 'create', 'serviceaccount', 'alice']);
  // A tenant editor as a platform team makes one: Kubernetes' own `edit` role in the namespace
  // (the chart's tenant roles aggregate into it), nothing cluster-wide.
  await kc.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
    namespace: TENANT_NS,
    body: { metadata: { name: 'alice-edit' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, subjects: [{ kind: 'ServiceAccount', name: 'alice', namespace: TENANT_NS }] },
  });
  await core.createNamespacedPod({
    namespace: TENANT_NS,
    body: {
      metadata: { name: 'runner', labels: { 'orka.io/inject': 'true' } },
      spec: { serviceAccountName: 'runner', containers: [{ name: 'runner', image: `orka-secrets:${IMAGE_TAG}`, imagePullPolicy: 'Never', command: ['node', '-e', 'setInterval(() => {}, 1 << 30)'] }] },
    },
  });
  await podSees('PAGE_KEY', 'SECRET_NOT_FOUND');

  const svc = await core.readNamespacedService({ name: 'orka-secrets-dashboard', namespace: NS });
  const ip = svc.spec?.clusterIP;
  const port = svc.spec?.ports?.[0]?.port;
  if (!ip || !port) throw new Error(`the dashboard Service has no cluster IP and port: ${JSON.stringify(svc.spec)}`);
  // The browser resolves the page's host name to the Service, as DNS would in front of an
  // Ingress. The page seals in the browser with WebCrypto, which browsers give only to secure
  // origins (HTTPS, or localhost); in production TLS ends at the Ingress or the proxy, here the
  // plain-HTTP origin is declared secure instead.
  browser = await launchChromium([`--host-resolver-rules=MAP ${HOST} ${ip}`, `--unsafely-treat-insecure-origin-as-secure=http://${HOST}:${port}`]);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.on('response', (r) => traffic.push(r.body().then((b) => `${r.url()}\n${b.toString('utf8')}`, () => r.url())));
  context.on('request', (r) => traffic.push(Promise.resolve(`${r.url()} ${r.postData() ?? ''}`)));
  page = await context.newPage();
  await page.goto(`http://${HOST}:${port}/`);
}, 1_500_000);

afterAll(async () => {
  console.log(`e2e dashboard timings: ${JSON.stringify(timings)}`);
  await browser?.close();
  await cluster?.stop();
});

// One story on one cluster, in order: a step whose predecessor failed stops at once with that reason.
const done = new Set<string>();
function needs(...steps: string[]): void {
  for (const step of steps) if (!done.has(step)) throw new Error(`this step needs "${step}", which did not pass`);
}

describe('the Secrets page deployed by the chart', () => {
  it('signs a tenant editor in with their own token and shows who the cluster says they are', async () => {
    await page.getByLabel('Kubernetes token').waitFor();
    expect(await axeFindings()).toEqual([]);
    const token = await requestToken(kc, { namespace: TENANT_NS, serviceAccount: 'alice', audience: 'https://kubernetes.default.svc', expirationSeconds: 3600 });
    await page.getByLabel('Kubernetes token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Secrets', level: 1 }).waitFor();
    await page.getByText(`Signed in as system:serviceaccount:${TENANT_NS}:alice`, { exact: false }).waitFor();
    // She may not list namespaces: the page asks for her tenant's namespace by name.
    await page.getByLabel('Namespace').fill(TENANT_NS);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await expect.poll(async () => await page.getByLabel('Tenant').locator('option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value)), { timeout: 30_000 }).toContain(TENANT_NS);
    await page.getByLabel('Tenant').selectOption(TENANT_NS);
    await page.getByRole('heading', { name: `No secrets in ${TENANT_NS} yet` }).waitFor();
    await shot('01-signed-in');
    expect(await axeFindings()).toEqual([]);
    done.add('signed in');
  });

  it('creates a secret the runner pod then resolves', async () => {
    needs('signed in');
    await page.getByRole('button', { name: 'New Secret' }).click();
    const dialog = page.getByRole('dialog', { name: 'New Secret' });
    await dialog.getByLabel('Name').fill('PAGE_KEY');
    await dialog.getByLabel('Description').fill('created on the page');
    await dialog.getByLabel('Value').fill(first);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await rowAppears('PAGE_KEY');
    const t = Date.now();
    await podSees('PAGE_KEY', first);
    timings['create on the page to the pod resolving it (s)'] = (Date.now() - t) / 1000;
    await shot('02-created');
    done.add('created');
  });

  it('edits the value: the runner pod resolves the new one', async () => {
    needs('created');
    await rowOf('PAGE_KEY').getByRole('button', { name: 'Actions' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit PAGE_KEY' });
    await dialog.getByLabel('Value').fill(second);
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved PAGE_KEY.').waitFor();
    const t = Date.now();
    await podSees('PAGE_KEY', second);
    timings['edit on the page to the pod resolving the new value (s)'] = (Date.now() - t) / 1000;
    done.add('edited');
  });

  it('deletes it: the runner pod gets SECRET_NOT_FOUND', async () => {
    needs('edited');
    await rowOf('PAGE_KEY').getByRole('button', { name: 'Actions' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete PAGE_KEY?' });
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await rowOf('PAGE_KEY').waitFor({ state: 'detached' });
    const t = Date.now();
    await podSees('PAGE_KEY', 'SECRET_NOT_FOUND');
    timings['delete on the page to the pod answering not found (s)'] = (Date.now() - t) / 1000;
    await shot('03-deleted');
    expect(await axeFindings()).toEqual([]);
    done.add('deleted');
  });

  it('leaves no value in the page traffic, any container log, Event, status or etcd', async () => {
    needs('created');
    // The control: a canary put where it must show (a description, created on the page), so each search is seen to see.
    const control = canaries('CONTROL-e2e-page').make('description');
    await page.getByRole('button', { name: 'New Secret' }).click();
    const dialog = page.getByRole('dialog', { name: 'New Secret' });
    await dialog.getByLabel('Name').fill('CONTROL_CANARY');
    await dialog.getByLabel('Description').fill(control);
    await dialog.getByLabel('Value').fill('not a canary');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await rowAppears('CONTROL_CANARY');
    const containers = execFileSync('docker', ['ps', '-aq', '--filter', 'name=^k8s_']).toString().split('\n').filter(Boolean);
    const logs = containers.map((id) => {
      const res = spawnSync('docker', ['logs', id], { encoding: 'latin1', maxBuffer: 256 * 1024 * 1024 });
      return `${res.stdout}${res.stderr}`;
    });
    const texts: Array<[string, string]> = [
      ['the page traffic', (await Promise.all(traffic)).join('\n')],
      ['container logs', logs.join('\n')],
      ['Events', cluster.kubectl(['get', 'events', '-A', '-o', 'json'])],
      ['OrkaSecrets (statuses)', cluster.kubectl(['get', 'orkasecrets', '-A', '-o', 'json'])],
      ['etcd', etcdText(cluster.cp.etcdUrl)],
    ];
    for (const [where, text] of texts) expect(findLeaks(text, [first, second]), where).toEqual([]);
    // The control shows where it was put: the page's own traffic, the object and etcd...
    for (const [where, text] of [texts[0], texts[3], texts[4]] as Array<[string, string]>) expect(findLeaks(text, [control]), where).not.toEqual([]);
    // ...and the searches of logs and Events see a value written as a JSON log line would hold it.
    for (const [where, text] of texts.slice(1, 3)) expect(findLeaks(`${text}\n${JSON.stringify({ msg: control })}`, [control]), where).toHaveLength(1);
  });
});
