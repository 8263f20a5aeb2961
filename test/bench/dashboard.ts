/**
 * `make bench` part 5: the Secrets page with 1,000 secrets, rendered and interactive in Debian's
 * Chromium (from navigation until the last row's Actions menu opens on a click), against the
 * same list fetched with kubectl (`kubectl get osec -o json`), in the same run.
 */
import { spawnSync } from 'node:child_process';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { startLocalDashboard } from '../../src/dashboard/command.js';
import { createLogger } from '../../src/core/logger.js';
import { startControlPlane } from '../env/controlplane.js';
import { launchChromium } from '../env/dashboard.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, installCrd } from '../env/kube.js';
import { printTable } from './table.js';

const N = Number(process.env.BENCH_DASHBOARD_SECRETS ?? 1000);
const RUNS = Number(process.env.BENCH_DASHBOARD_RUNS ?? 7);
const progress = (line: string) => process.stderr.write(`[bench dashboard] ${line}\n`);

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
try {
  const kc = adminKubeConfig(cp);
  await installCrd(kc);
  const tenant = await createNamespace(kc, { prefix: 'bench', tenant: 'bench' });
  const custom = kc.makeApiClient(CustomObjectsApi);
  progress(`creating ${N} OrkaSecrets`);
  // The list shows names, descriptions and status only, so no operator is needed: a sealed value
  // of the right size stands in (rows then say Pending).
  const sealedValue = Buffer.alloc(600, 7).toString('base64');
  for (let i = 0; i < N; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, N - i) }, (_, j) =>
        custom.createNamespacedCustomObject({
          group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: tenant,
          body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: `secret-${String(i + j).padStart(4, '0')}` }, spec: { description: `bench secret number ${i + j}`, sealedValue } },
        }),
      ),
    );
  }

  const kubectl = (output: 'json' | 'table'): number => {
    const t = performance.now();
    const res = spawnSync('kubectl', ['--kubeconfig', cp.kubeconfigPath, 'get', 'osec', '-n', tenant, ...(output === 'json' ? ['-o', 'json'] : [])], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const ms = performance.now() - t;
    const count = output === 'json' ? (JSON.parse(res.stdout) as { items: unknown[] }).items.length : res.stdout.trim().split('\n').length - 1;
    if (res.status !== 0 || count !== N) throw new Error(`kubectl failed: ${res.stderr}`);
    return ms;
  };

  const dashboard = await startLocalDashboard({ kubeconfig: cp.kubeconfigPath, operatorNamespace: 'orka-system', log: createLogger({ name: 'bench', level: 'silent' }) });
  const browser = await launchChromium();
  const api: number[] = [];
  const last = `SECRET_${String(N - 1).padStart(4, '0')}`;
  const page = async (): Promise<number> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await context.newPage();
    const link = dashboard.signInLink();
    const t = performance.now();
    await p.goto(link); // signs in, then the page loads the only tenant's list
    // CSS selectors, not role queries: computing accessible names over 1,000 rows is Playwright's
    // cost, not the page's.
    await p.locator(`tr:has(#name-${last}) button[aria-label="Actions"]`).click();
    await p.locator('[role="menu"] [role="menuitem"]').first().waitFor();
    const ms = performance.now() - t;
    const clock = await p.evaluate<{ now: number; list: number; script: number }>(
      `({ now: performance.now(), list: performance.getEntriesByType('resource').find((e) => e.name.includes('/secrets'))?.responseEnd ?? -1, script: performance.getEntriesByType('resource').find((e) => e.name.endsWith('/app.js'))?.responseEnd ?? -1 })`,
    );
    // Where the time goes, by the page's own clock (from navigation start).
    progress(`page clock: app.js loaded ${clock.script.toFixed(0)} ms, list answered ${clock.list.toFixed(0)} ms, last row's menu open ${clock.now.toFixed(0)} ms`);
    if ((await p.locator('tbody th[scope="row"]').count()) !== N) throw new Error('the page did not render every row');
    // The same list through the dashboard's API alone (what the page waits for before rendering).
    const a = performance.now();
    const res = await p.request.get(`${dashboard.url}api/tenants/${tenant}/secrets`);
    if (!res.ok()) throw new Error(`the API answered ${res.status()}`);
    api.push(performance.now() - a);
    await context.close();
    return ms;
  };

  progress('warming up both');
  kubectl('json');
  kubectl('table');
  await page();
  api.length = 0;
  const k: number[] = [];
  const kt: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    k.push(kubectl('json'));
    kt.push(kubectl('table'));
    b.push(await page());
  }
  await browser.close();
  await dashboard.close();
  console.log(`the list of ${N} secrets, median of ${RUNS} runs each, Node ${process.version}`);
  printTable([
    { case: 'kubectl get osec -o json (baseline)', 'median ms': median(k).toFixed(0), 'min ms': Math.min(...k).toFixed(0), 'vs baseline': '1.00x' },
    { case: 'kubectl get osec (table)', 'median ms': median(kt).toFixed(0), 'min ms': Math.min(...kt).toFixed(0), 'vs baseline': `${(median(kt) / median(k)).toFixed(2)}x time` },
    { case: 'dashboard API: GET /api/tenants/NS/secrets', 'median ms': median(api).toFixed(0), 'min ms': Math.min(...api).toFixed(0), 'vs baseline': `${(median(api) / median(k)).toFixed(2)}x time` },
    { case: 'page: sign in, list rendered, last row menu open', 'median ms': median(b).toFixed(0), 'min ms': Math.min(...b).toFixed(0), 'vs baseline': `${(median(b) / median(k)).toFixed(2)}x time` },
  ]);
} finally {
  await cp.stop();
}
