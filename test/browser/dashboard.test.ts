/**
 * The Secrets page in a real browser (Debian's Chromium through Playwright) against the real
 * control plane, a real operator and a real sidecar: what is created, edited and deleted on the
 * page is what the sidecar serves; bad names, RBAC refusals and an unreachable cluster get clear
 * messages; no value ever comes back in an HTTP response or a dashboard log line; keyboard-only
 * use and axe-core's checks pass. A screenshot of each screen goes to test-results/dashboard/.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import AxeBuilder from '@axe-core/playwright';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OrkaSecretsClient, isOrkaError } from '../../src/client/index.js';
import { createLogger } from '../../src/core/logger.js';
import { Cluster, personKubeConfig } from '../../src/dashboard/cluster.js';
import { assetsDir } from '../../src/dashboard/command.js';
import { createDashboardApp } from '../../src/dashboard/server.js';
import { Sessions } from '../../src/dashboard/sessions.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { canaries, findLeaks } from '../env/canary.js';
import { launchChromium, startDashboard, writeTokenKubeconfig, type DashboardProcess } from '../env/dashboard.js';
import { adminKubeConfig, createNamespace, createServiceAccount, getOrkaSecret, installCrd, podBoundToken, requestToken, waitForReady } from '../env/kube.js';
import { eventually, startOperator, type OperatorProcess } from '../env/operator.js';
import { startSidecar, type SidecarProcess } from '../env/sidecar.js';

const cp = inject('controlPlane');
const SHOTS = 'test-results/dashboard';
let kc: KubeConfig;
let dir: string;
let opNamespace: string;
let acme: string;
let globex: string;
let plain: string;
let operator: OperatorProcess;
let sidecar: SidecarProcess;
let runner: OrkaSecretsClient;
let browser: Browser;
const dashboards: DashboardProcess[] = [];
let admin: DashboardProcess;
const contexts: BrowserContext[] = [];
/** Every response body and every request body the pages exchanged. */
const responses: Promise<string>[] = [];
const requestBodies: string[] = [];
const planted = canaries('CANARY-page');
/** Alice's Kubernetes token (RBAC: acme only), for the in-cluster sign-in. */
let aliceToken = '';
/** Log lines of dashboards run in this process. */
const dashboardLogs: string[] = [];

/** A browser context whose every response and request is kept for the canary search. */
async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  context.on('response', (r) => {
    responses.push(
      r.body().then(
        (b) => `${r.url()} ${JSON.stringify(r.headers())}\n${b.toString('utf8')}`,
        () => `${r.url()} ${JSON.stringify(r.headers())}`,
      ),
    );
  });
  context.on('request', (r) => requestBodies.push(`${r.url()} ${r.postData() ?? ''}`));
  return await context.newPage();
}

async function signIn(dashboard: DashboardProcess): Promise<Page> {
  const page = await newPage();
  await page.goto(dashboard.signInUrl);
  await page.getByRole('heading', { name: 'Secrets', level: 1 }).waitFor();
  return page;
}

async function pickTenant(page: Page, namespace: string): Promise<void> {
  await page.getByLabel('Tenant').selectOption(namespace);
  await page.locator('main').getByText(/Loading secrets/).waitFor({ state: 'detached' });
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const rowOf = (page: Page, name: string) => page.getByRole('row').filter({ has: page.getByRole('rowheader', { name, exact: true }) });

async function openAction(page: Page, name: string, item: 'Edit' | 'Delete'): Promise<void> {
  await rowOf(page, name).getByRole('button', { name: 'Actions' }).click();
  await page.getByRole('menuitem', { name: item }).click();
}

/** A property of the element that has the focus. */
async function focused(page: Page, property: 'textContent' | 'ariaLabel'): Promise<string | null> {
  return await page.evaluate<string | null>(`document.activeElement?.${property} ?? null`);
}

/** Serious and critical axe-core findings on the page as it is now. */
async function axeFindings(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

/** Calls the dashboard's API from inside the page, with its session and CSRF token (what a tampered page could send). */
async function apiFromPage(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; error?: { code: string; message: string; verb?: string } }> {
  return await page.evaluate(
    async ([m, p, b]) => {
      const session = (await (await fetch('/api/session')).json()) as { csrfToken: string };
      const res = await fetch(p as string, { method: m as string, headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken }, ...(b === undefined ? {} : { body: JSON.stringify(b) }) });
      const text = await res.text();
      return { status: res.status, ...(text ? (JSON.parse(text) as object) : {}) };
    },
    [method, path, body] as const,
  );
}

/**
 * What the sidecar answers for a name. Polled after Ready: the resolver reads the operator's
 * informer cache of storage Secrets, which can trail the status write by a moment under load.
 */
async function sidecarValue(name: string): Promise<string | 'SECRET_NOT_FOUND'> {
  try {
    return await runner.get(name);
  } catch (err) {
    if (isOrkaError(err) && err.code === 'SECRET_NOT_FOUND') return 'SECRET_NOT_FOUND';
    throw err;
  }
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'orka-page-test-'));
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-page' });
  acme = await createNamespace(kc, { prefix: 'acme', tenant: 'acme' });
  globex = await createNamespace(kc, { prefix: 'globex', tenant: 'globex' });
  plain = await createNamespace(kc, { prefix: 'plain' });
  await createServiceAccount(kc, acme, 'runner');
  operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'page-op', env: { ORKA_WATCH_NAMESPACES: [acme, globex].join(',') } });
  // The first leader makes the key ring and the certificates (RSA key generation): slow on a
  // loaded machine.
  await operator.waitForLog(/resolver API and webhooks listening/, 120_000);
  const tls = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64'));
  const tokenFile = join(dir, 'runner.token');
  // The resolver accepts only pod-bound tokens, as the kubelet projects them.
  writeFileSync(tokenFile, (await podBoundToken(kc, { namespace: acme, serviceAccount: 'runner', audience: 'orka-secrets' })).token);
  sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${operator.resolverPort}`, tokenFile, caFile });
  await eventually(async () => ((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream === 'up' || undefined).catch((err: Error) => {
    throw new Error(`${err.message}: the sidecar's change stream is not up; its last lines:\n${sidecar.logs.slice(-10).join('\n')}`);
  });
  runner = new OrkaSecretsClient({ baseUrl: sidecar.url });
  admin = await startDashboard({ kubeconfigPath: cp.kubeconfigPath, operatorNamespace: opNamespace });
  dashboards.push(admin);
  browser = await launchChromium();
});

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
  await browser?.close();
  await Promise.all(dashboards.map((d) => d.stop()));
  await sidecar?.stop('SIGKILL');
  await operator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the Secrets page', () => {
  const first = planted.make('first');
  const second = planted.make('second\nline two');
  let page: Page;

  it('signs in through the sign-in page it wrote (a 0600 file that sends the browser on); a second use is refused', async () => {
    expect(admin.signInUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/login\?token=[A-Za-z0-9_-]{43}$/);
    expect(statSync(admin.signInFile).mode & 0o777).toBe(0o600);
    // What the command hands the browser: the file, whose refresh goes on to the one-time link.
    page = await newPage();
    await page.goto(pathToFileURL(admin.signInFile).href);
    await page.getByRole('heading', { name: 'Secrets', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    // The header names who the cluster says is signed in (the control plane's token user).
    await page.getByText(/^Signed in as admin · https:\/\/127\.0\.0\.1:\d+$/).waitFor();
    const again = await newPage();
    await again.goto(admin.signInUrl);
    await again.getByText('That sign-in link was already used or has expired.').waitFor();
    await shot(again, '08-signed-out-link-used');
  });

  it('shows the empty state of a tenant, then creates a secret that the sidecar resolves exactly', async () => {
    await pickTenant(page, acme);
    await page.getByRole('heading', { name: `No secrets in ${acme} yet` }).waitFor();
    await shot(page, '01-empty');
    expect(await axeFindings(page)).toEqual([]);

    await page.getByRole('button', { name: 'New Secret' }).click();
    const dialog = page.getByRole('dialog', { name: 'New Secret' });
    await dialog.getByLabel('Name').fill('STRIPE_API_KEY');
    await dialog.getByLabel('Description').fill('Stripe live key');
    await expect.poll(() => dialog.getByText('15 / 1024').count()).toBe(1);
    await dialog.getByLabel('Value').fill(first);
    await shot(page, '02-new-secret');
    expect(await axeFindings(page)).toEqual([]);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await rowOf(page, 'STRIPE_API_KEY').waitFor();
    await page.getByRole('status').getByText('Created STRIPE_API_KEY. Reference it as {{secrets.STRIPE_API_KEY}}.').waitFor();

    await waitForReady(kc, acme, 'stripe-api-key', 'Stored');
    await expect.poll(() => sidecarValue('STRIPE_API_KEY'), { timeout: 20_000 }).toBe(first);
    // Live rows: the new row turns Ready without a reload, the focus stays where the dialog left
    // it, and the outcome is announced in the live region.
    const row = rowOf(page, 'STRIPE_API_KEY');
    await expect.poll(() => row.getByText('Ready', { exact: true }).count(), { timeout: 30_000 }).toBe(1);
    await page.getByRole('status').getByText('STRIPE_API_KEY: Ready.').waitFor();
    expect(await focused(page, 'textContent')).toBe('New Secret');
    expect(await row.innerText()).toMatch(/STRIPE_API_KEY\s+Stripe live key\s+.+\s+\{\{secrets\.STRIPE_API_KEY\}\}[\s\S]*Ready\s+Never/);
    for (const header of ['Name', 'Description', 'Created', 'Reference']) await page.getByRole('columnheader', { name: header, exact: true }).waitFor();
    await shot(page, '03-list');
    expect(await axeFindings(page)).toEqual([]);
  });

  it('edits the description only: value and status.version stay', async () => {
    const before = await getOrkaSecret(kc, acme, 'stripe-api-key');
    await openAction(page, 'STRIPE_API_KEY', 'Edit');
    const dialog = page.getByRole('dialog', { name: 'Edit STRIPE_API_KEY' });
    await dialog.getByText('Leave empty to keep the existing value.', { exact: false }).waitFor();
    await dialog.getByLabel('Description').fill('Stripe live key (payments)');
    await shot(page, '04-edit');
    expect(await axeFindings(page)).toEqual([]);
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved STRIPE_API_KEY.').waitFor();
    await rowOf(page, 'STRIPE_API_KEY').getByText('Stripe live key (payments)').waitFor();
    const after = await waitForReady(kc, acme, 'stripe-api-key', 'Stored', (o) => o.spec?.description === 'Stripe live key (payments)');
    expect(after.status?.version).toBe(before.status?.version);
    expect(after.spec?.sealedValue).toBe(before.spec?.sealedValue);
    await expect.poll(() => sidecarValue('STRIPE_API_KEY'), { timeout: 20_000 }).toBe(first);
  });

  it('edits the value: the sidecar serves the new one', async () => {
    const before = await getOrkaSecret(kc, acme, 'stripe-api-key');
    await openAction(page, 'STRIPE_API_KEY', 'Edit');
    const dialog = page.getByRole('dialog', { name: 'Edit STRIPE_API_KEY' });
    await dialog.getByLabel('Value').fill(second);
    await dialog.getByRole('button', { name: 'Show value' }).click();
    await dialog.getByRole('button', { name: 'Hide value', pressed: true }).waitFor();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved STRIPE_API_KEY.').waitFor();
    await waitForReady(kc, acme, 'stripe-api-key', 'Stored', (o) => o.status?.version === (before.status?.version ?? 0) + 1);
    await eventually(async () => ((await sidecarValue('STRIPE_API_KEY')) === second ? true : undefined));
  });

  it('shows a refused update whose previous value is served in amber, with the reason, the message and what to do', async () => {
    const before = await getOrkaSecret(kc, acme, 'stripe-api-key');
    // A valueFrom set around the webhook (no admission record): refused, the stored value kept.
    const custom = kc.makeApiClient(CustomObjectsApi);
    const coords = { group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: acme, name: 'stripe-api-key' };
    const patch = (spec: object) => custom.patchNamespacedCustomObject({ ...coords, body: { spec } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await patch({ sealedValue: null, valueFrom: { secretKeyRef: { name: 'stripe', key: 'live' } } });
    const refused = await waitForReady(kc, acme, 'stripe-api-key', 'ValueFromNotAuthorized');
    expect(refused.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    await pickTenant(page, globex);
    await pickTenant(page, acme);
    const status = rowOf(page, 'STRIPE_API_KEY').getByRole('cell').filter({ has: page.locator('.badge') });
    await status.locator('.badge.warn').getByText('Update refused: previous value in use', { exact: true }).waitFor();
    // kubectl get osec's READY and REASON, and the operator's message, inline (not a tooltip).
    await status.getByText('Ready True · ValueFromNotAuthorized', { exact: false }).waitFor();
    await status.getByText(`the previous value (version ${before.status?.version}) is still served`, { exact: false }).waitFor();
    const link = status.getByRole('link', { name: 'What to do about ValueFromNotAuthorized' });
    const help = await page.request.get(new URL((await link.getAttribute('href')) ?? '', admin.url).toString());
    expect(help.status()).toBe(200);
    expect(await help.text()).toContain('| False (True with the previous value) | `ValueFromNotAuthorized` |');
    await shot(page, '12-update-refused');
    expect(await axeFindings(page)).toEqual([]);
    expect(await sidecarValue('STRIPE_API_KEY')).toBe(second);

    // The detail panel: version, source (never a value), conditions and the Events.
    await rowOf(page, 'STRIPE_API_KEY').getByRole('button', { name: 'STRIPE_API_KEY', exact: true }).click();
    const details = page.getByRole('dialog', { name: 'Details of STRIPE_API_KEY' });
    await details.getByText('Key live of Secret stripe (spec.valueFrom)').waitFor();
    await details.getByRole('row').filter({ hasText: 'ValueFromNotAuthorized' }).first().waitFor();
    await details.getByText(`value stored as version ${before.status?.version}`, { exact: false }).waitFor();
    expect(await details.innerText()).toMatch(new RegExp(`Version\\s+${before.status?.version}`));
    await shot(page, '13-details');
    expect(await axeFindings(page)).toEqual([]);
    await page.keyboard.press('Escape');
    await details.waitFor({ state: 'detached' });
    expect(await focused(page, 'textContent')).toBe('STRIPE_API_KEY');

    // Back to the sealed value: the same value, so the same version, Ready again.
    await patch({ sealedValue: before.spec?.sealedValue, valueFrom: null });
    await waitForReady(kc, acme, 'stripe-api-key', 'Stored');
  });

  it('refuses invalid names inline, on the server, and a taken name with a message', async () => {
    await page.getByRole('button', { name: 'New Secret' }).click();
    const dialog = page.getByRole('dialog', { name: 'New Secret' });
    const name = dialog.getByLabel('Name');
    await name.fill('stripe-key');
    await dialog.getByText('secret name "stripe-key" must start with an upper-case letter').waitFor();
    await expect.poll(() => name.getAttribute('aria-invalid')).toBe('true');
    await name.fill('API__KEY');
    await dialog.getByText(/has two underscores in a row/).waitFor();
    await dialog.getByLabel('Value').fill(planted.make('never-sent'));
    const sent = requestBodies.length;
    await dialog.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => page.evaluate<boolean>("document.activeElement === document.querySelector('dialog input')")).toBe(true);
    expect(requestBodies.slice(sent).filter((r) => r.includes('/api/tenants/'))).toEqual([]);
    await shot(page, '05-new-invalid-name');
    expect(await axeFindings(page)).toEqual([]);

    await name.fill('STRIPE_API_KEY');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.getByText(`a secret named STRIPE_API_KEY already exists in namespace ${acme}`, { exact: false }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    for (const bad of ['stripe-key', 'API__KEY', '_KEY', 'KEY_', 'A'.repeat(64), 'KEY NAME']) {
      const answer = await apiFromPage(page, 'POST', `/api/tenants/${acme}/secrets`, { name: bad, sealedValue: 'UwE=' });
      expect(answer.status, bad).toBe(400);
      expect(answer.error?.code).toBe('INVALID_SECRET_NAME');
    }
    const notTenant = await apiFromPage(page, 'GET', `/api/tenants/${plain}/secrets`);
    expect(notTenant.error).toMatchObject({ code: 'NOT_A_TENANT', message: `namespace ${plain} is not a tenant: it has no orka.io/tenant label` });
    const wrongLabel = await apiFromPage(page, 'PATCH', `/api/tenants/${acme}/secrets/STRIPE_API_KEY`, { sealedValue: 'UwE=' });
    expect(wrongLabel.error?.message).toMatch(/was not sealed for/);
  });

  it('creates a secret with the keyboard only', async () => {
    const value = planted.make('keyboard');
    await page.goto(admin.url);
    await page.getByRole('heading', { name: 'Secrets', level: 1 }).waitFor();
    await rowOf(page, 'STRIPE_API_KEY').waitFor();
    // From the top of the page: Tab through the header and the tenant picker to New Secret.
    const visited: (string | null)[] = [];
    while (visited.length < 10 && visited.at(-1) !== 'New Secret') {
      await page.keyboard.press('Tab');
      visited.push(await focused(page, 'textContent'));
    }
    expect(visited.at(-1), `focus went through ${JSON.stringify(visited)}`).toBe('New Secret');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'New Secret' });
    await dialog.waitFor();
    await expect.poll(() => page.evaluate<string | null>("document.activeElement?.closest('.field')?.querySelector('label')?.textContent ?? null")).toBe('Name');
    await page.keyboard.type('WEBHOOK_URL');
    await page.keyboard.press('Tab');
    await page.keyboard.type('Slack hook');
    await page.keyboard.press('Tab'); // Show value
    await page.keyboard.press('Tab'); // Value
    await page.keyboard.type(value);
    await page.keyboard.press('Tab'); // Cancel
    await page.keyboard.press('Tab'); // Create
    await expect.poll(() => focused(page, 'textContent')).toBe('Create');
    await page.keyboard.press('Enter');
    await rowOf(page, 'WEBHOOK_URL').waitFor();
    await expect.poll(() => focused(page, 'textContent')).toBe('New Secret');
    await waitForReady(kc, acme, 'webhook-url', 'Stored');
    await expect.poll(() => sidecarValue('WEBHOOK_URL'), { timeout: 20_000 }).toBe(value);

    // The Actions menu by keyboard: open, arrow to Delete, Escape returns to the button.
    await rowOf(page, 'WEBHOOK_URL').getByRole('button', { name: 'Actions' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => focused(page, 'textContent')).toBe('Edit');
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => focused(page, 'textContent')).toBe('Delete');
    await page.keyboard.press('Escape');
    await expect.poll(() => focused(page, 'ariaLabel')).toBe('Actions');
    // Edit by keyboard, then Escape: the dialog closes and focus is back on that row's Actions.
    await page.keyboard.press('Enter');
    await expect.poll(() => focused(page, 'textContent')).toBe('Edit');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Edit WEBHOOK_URL' }).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await expect.poll(() => page.evaluate<string | null>(`document.activeElement?.closest('tr')?.querySelector('th')?.textContent ?? null`)).toBe('WEBHOOK_URL');
  });

  it('filters by name and description, and sorts by a column', async () => {
    const filter = page.getByRole('searchbox', { name: 'Filter' });
    await filter.fill('slack');
    await rowOf(page, 'STRIPE_API_KEY').waitFor({ state: 'detached' });
    await rowOf(page, 'WEBHOOK_URL').waitFor();
    await page.getByText('Showing 1–1 of 1 matching “slack”').waitFor();
    await filter.fill('nothing like it');
    await page.getByText('No secret matches “nothing like it”.').waitFor();
    await filter.fill('');
    await rowOf(page, 'STRIPE_API_KEY').waitFor();
    const order = async () => await page.locator('tbody th[scope="row"]').allTextContents();
    expect(await order()).toEqual(['STRIPE_API_KEY', 'WEBHOOK_URL']);
    await page.getByRole('button', { name: 'Name', exact: true }).click();
    await expect.poll(order).toEqual(['WEBHOOK_URL', 'STRIPE_API_KEY']);
    await page.getByRole('columnheader', { name: 'Name', exact: true }).and(page.locator('[aria-sort="descending"]')).waitFor();
    await page.getByRole('button', { name: 'Created', exact: true }).click();
    await expect.poll(order).toEqual(['WEBHOOK_URL', 'STRIPE_API_KEY']);
    await page.getByRole('button', { name: 'Name', exact: true }).click();
    await expect.poll(order).toEqual(['STRIPE_API_KEY', 'WEBHOOK_URL']);
    expect(await axeFindings(page)).toEqual([]);
  });

  it('deletes through the dialog that names the secret; the sidecar then answers SECRET_NOT_FOUND', async () => {
    await openAction(page, 'STRIPE_API_KEY', 'Delete');
    const dialog = page.getByRole('dialog', { name: 'Delete STRIPE_API_KEY?' });
    await dialog.getByText('Workflows that reference {{secrets.STRIPE_API_KEY}} will fail', { exact: false }).waitFor();
    await shot(page, '06-delete');
    expect(await axeFindings(page)).toEqual([]);
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('status').getByText('Deleted STRIPE_API_KEY.').waitFor();
    await rowOf(page, 'STRIPE_API_KEY').waitFor({ state: 'detached' });
    await eventually(async () => ((await sidecarValue('STRIPE_API_KEY')) === 'SECRET_NOT_FOUND' ? true : undefined));
  });

  it('shows a person whose RBAC allows only acme only acme, and says which verb is refused', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const people = await createNamespace(kc, { prefix: 'people' });
    await createServiceAccount(kc, people, 'alice');
    const subject = [{ kind: 'ServiceAccount', name: 'alice', namespace: people }];
    const nsLister = `page-ns-lister-${people}`;
    await rbac.createClusterRole({ body: { metadata: { name: nsLister }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['list'] }] } });
    await rbac.createClusterRoleBinding({ body: { metadata: { name: nsLister }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: nsLister }, subjects: subject } });
    // In acme: everything but delete. In the operator's namespace: the sealing certificate only.
    await rbac.createNamespacedRole({ namespace: acme, body: { metadata: { name: 'secrets-editor' }, rules: [{ apiGroups: ['orka.io'], resources: ['orkasecrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] }, { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }] } });
    await rbac.createNamespacedRoleBinding({ namespace: acme, body: { metadata: { name: 'alice' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secrets-editor' }, subjects: subject } });
    await rbac.createNamespacedRole({ namespace: opNamespace, body: { metadata: { name: 'sealing-cert' }, rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['orka-secrets-sealing-cert'], verbs: ['get'] }] } });
    await rbac.createNamespacedRoleBinding({ namespace: opNamespace, body: { metadata: { name: 'alice' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'sealing-cert' }, subjects: subject } });
    const token = await requestToken(kc, { namespace: people, serviceAccount: 'alice', audience: 'https://kubernetes.default.svc', expirationSeconds: 3600 });
    aliceToken = token;
    const kubeconfig = writeTokenKubeconfig(join(dir, 'alice.kubeconfig'), { server: cp.server, caPem: cp.caPem, token, user: 'alice' });
    // RBAC's authorizer learns of new bindings through a watch: wait until alice may list in acme.
    const aliceKc = new KubeConfig();
    aliceKc.loadFromFile(kubeconfig);
    await eventually(async () => ((await aliceKc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: acme })) ? true : undefined));
    const alice = await startDashboard({ kubeconfigPath: kubeconfig, operatorNamespace: opNamespace });
    dashboards.push(alice);

    const p = await signIn(alice);
    // The cluster's name for the token (its ServiceAccount), not the kubeconfig entry's ("alice").
    await p.getByText(`Signed in as system:serviceaccount:${people}:alice · `, { exact: false }).waitFor();
    await expect.poll(async () => await p.getByLabel('Tenant').locator('option').allTextContents()).toEqual([`${acme} (acme)`]);
    await p.locator('main').getByText(/Loading secrets/).waitFor({ state: 'detached' });
    await rowOf(p, 'WEBHOOK_URL').waitFor();

    const value = planted.make('alice');
    await p.getByRole('button', { name: 'New Secret' }).click();
    const create = p.getByRole('dialog', { name: 'New Secret' });
    await create.getByLabel('Name').fill('ALICE_TOKEN');
    await create.getByLabel('Value').fill(value);
    await create.getByRole('button', { name: 'Create' }).click();
    await rowOf(p, 'ALICE_TOKEN').waitFor();
    await waitForReady(kc, acme, 'alice-token', 'Stored');
    await expect.poll(() => sidecarValue('ALICE_TOKEN'), { timeout: 20_000 }).toBe(value);

    await openAction(p, 'ALICE_TOKEN', 'Delete');
    const dialog = p.getByRole('dialog', { name: 'Delete ALICE_TOKEN?' });
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('alert').getByText(`Kubernetes RBAC does not allow you to delete secret ALICE_TOKEN in namespace ${acme}`, { exact: false }).waitFor();
    await shot(p, '07-rbac-refused');
    expect(await axeFindings(p)).toEqual([]);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await getOrkaSecret(kc, acme, 'alice-token')).metadata.name).toBe('alice-token');

    const other = await apiFromPage(p, 'GET', `/api/tenants/${globex}/secrets`);
    expect(other.status).toBe(403);
    expect(other.error).toMatchObject({ code: 'FORBIDDEN', verb: 'list' });
  });

  it('in a cluster: signs a person in with their own Kubernetes token, and refuses a bad one', async () => {
    const base = new KubeConfig();
    base.loadFromFile(cp.kubeconfigPath);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as AddressInfo).port;
    const lines: string[] = [];
    server.on(
      'request',
      createDashboardApp<string>({
        sessions: new Sessions<string>({ sessionTtlMs: 3_600_000, loginTtlMs: 60_000 }),
        clusterFor: (token) => new Cluster(personKubeConfig(base, token), { operatorNamespace: opNamespace, fallbackNamespaces: [] }),
        assetsDir: assetsDir(),
        hosts: [`127.0.0.1:${port}`],
        origins: [`http://127.0.0.1:${port}`],
        secureCookie: false,
        log: createLogger({ name: 'in-cluster', level: 'info' }, { write: (l: string) => void lines.push(l) }),
        bearer: { mode: 'token', verifyToken: async (token) => (await new Cluster(personKubeConfig(base, token), { operatorNamespace: opNamespace, fallbackNamespaces: [] }).verify(), token) },
      }),
    );
    try {
      const p = await newPage();
      await p.goto(`http://127.0.0.1:${port}/`);
      const field = p.getByLabel('Kubernetes token');
      await field.fill('not-a-real-token-at-all');
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('alert').getByText('the cluster did not accept this token', { exact: false }).waitFor();
      await shot(p, '11-in-cluster-sign-in');
      expect(await axeFindings(p)).toEqual([]);
      await field.fill(aliceToken);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(async () => await p.getByLabel('Tenant').locator('option').allTextContents()).toEqual([`${acme} (acme)`]);
      await rowOf(p, 'ALICE_TOKEN').waitFor();
      expect(lines.filter((l) => l.includes(aliceToken))).toEqual([]);
      dashboardLogs.push(...lines);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('says so when the cluster cannot be reached', async () => {
    const kubeconfig = writeTokenKubeconfig(join(dir, 'down.kubeconfig'), { server: 'https://127.0.0.1:1', caPem: cp.caPem, token: 'x', user: 'bob' });
    const down = await startDashboard({ kubeconfigPath: kubeconfig, operatorNamespace: opNamespace });
    dashboards.push(down);
    const p = await signIn(down);
    await p.getByRole('alert').getByText('the cluster at https://127.0.0.1:1 cannot be reached', { exact: false }).waitFor();
    await p.getByRole('heading', { name: 'Cluster unreachable' }).waitFor();
    await shot(p, '09-cluster-unreachable');
  });

  it('signs out: the session ends and the page says how to sign in again', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
    await shot(page, '10-signed-out');
    expect(await axeFindings(page)).toEqual([]);
    expect((await page.request.get(new URL('/api/session', admin.url).toString())).status()).toBe(401);
    await eventually(() => (admin.logs.some((l) => /^Signed out\. To sign in again, open \/\S+\/sign-in-\d+\.html$/.test(l)) ? true : undefined));
  });

  it('never let a value reach an HTTP response, a request other than sealed, or a dashboard log', async () => {
    const bodies = await Promise.all(responses);
    expect(bodies.length).toBeGreaterThan(20);
    const logs = [...dashboards.flatMap((d) => d.logs), ...dashboardLogs];
    expect(logs.length).toBeGreaterThan(10);
    // The shared finder searches every encoded form (a page that POSTed a value as JSON would
    // send it escaped); the control canary, planted JSON-escaped in the same texts, proves it sees.
    const control = canaries('CONTROL-page').make('control');
    for (const [where, texts] of [['responses', bodies], ['requests', requestBodies], ['logs', logs]] as const) {
      // A multi-line value is searched whole and by its first line (a page that sent one line of it).
      expect(findLeaks(texts.join('\n'), planted.all.flatMap((v) => [v, v.split('\n')[0] as string])), where).toEqual([]);
      expect(findLeaks([...texts, JSON.stringify({ v: control })].join('\n'), [control]), `${where}: the finder sees a planted control`).toHaveLength(1);
    }
    // The page did submit values: sealed ones.
    expect(requestBodies.some((r) => /"sealedValue":"Uw/.test(r))).toBe(true);
  });
});
