/**
 * `make bench`: the Secrets page with 1,000 and 10,000 secrets (BENCH_DASHBOARD_SIZES), in
 * Debian's Chromium, against `kubectl get osec` (the table) and `kubectl get osec -o json` on the
 * same control plane in the same rounds (interleaved, medians):
 *   - first interactive list: from navigation (signed in) until the first row's Actions menu is
 *     open on a click, the table drawn;
 *   - filter keystroke: one character typed into the filter until the updated list is painted
 *     (each keystroke of "number 42", measured in the page);
 *   - the dashboard server's memory (its own process: RSS after the rounds, and the peak), which
 *     the paged API keeps bounded whatever the tenant's size.
 * The rows are settled (a Ready condition written through the status subresource) so the page has
 * nothing to refresh; no operator runs.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { startControlPlane } from '../env/controlplane.js';
import { launchChromium, startDashboard } from '../env/dashboard.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, installCrd } from '../env/kube.js';
import { printTable } from './table.js';

const SIZES = (process.env.BENCH_DASHBOARD_SIZES ?? '1000,10000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_DASHBOARD_RUNS ?? 5);
const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const FILTER = 'number 42';
const progress = (line: string) => process.stderr.write(`[bench dashboard] ${line}\n`);

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** VmRSS and VmHWM (peak) of a process, in MiB. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
const rows: Record<string, string>[] = [];
try {
  const kc = adminKubeConfig(cp);
  await installCrd(kc);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const browser = await launchChromium();
  for (const n of SIZES) {
    const tenant = await createNamespace(kc, { prefix: `bench-${n}`, tenant: 'bench' });
    progress(`creating ${n} OrkaSecrets, each with a Ready condition`);
    const sealedValue = Buffer.alloc(600, 7).toString('base64');
    const width = String(n - 1).length;
    const coords = { group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: tenant };
    for (let i = 0; i < n; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
          const name = `secret-${String(i + j).padStart(width, '0')}`;
          const created = (await custom.createNamespacedCustomObject({
            ...coords,
            body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: { description: `bench secret number ${i + j}`, sealedValue } },
          })) as { metadata: { generation: number } };
          const now = new Date().toISOString();
          const status = {
            observedGeneration: created.metadata.generation,
            version: 1,
            valueUpdatedAt: now,
            conditions: [{ type: 'Ready', status: 'True', reason: 'Stored', message: 'stored', lastTransitionTime: now, observedGeneration: created.metadata.generation }],
          };
          await custom.replaceNamespacedCustomObjectStatus({ ...coords, name, body: { ...created, status } });
        }),
      );
    }

    const kubectl = (output: 'json' | 'table'): number => {
      const t = performance.now();
      const res = spawnSync(KUBECTL, ['--kubeconfig', cp.kubeconfigPath, 'get', 'osec', '-n', tenant, ...(output === 'json' ? ['-o', 'json'] : [])], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
      const ms = performance.now() - t;
      const count = res.status !== 0 ? -1 : output === 'json' ? (JSON.parse(res.stdout) as { items: unknown[] }).items.length : res.stdout.trim().split('\n').length - 1;
      if (count !== n) throw new Error(`kubectl get osec (${output}) failed or listed ${count}: ${res.stderr}`);
      return ms;
    };

    const dashboard = await startDashboard({ kubeconfigPath: cp.kubeconfigPath, operatorNamespace: 'orka-system', namespace: tenant });
    const pid = dashboard.proc.pid as number;
    // One signed-in context for every round (the session cookie); each round is a new page.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const signIn = await context.newPage();
    await signIn.goto(dashboard.signInUrl);
    await signIn.locator('#filter').waitFor();
    await signIn.close();
    const first = `SECRET_${String(0).padStart(width, '0')}`;
    const round = async (): Promise<{ interactive: number; keystrokes: number[] }> => {
      const p = await context.newPage();
      const t = performance.now();
      await p.goto(`${dashboard.url}#tenant=${tenant}`);
      // CSS selectors, not role queries: computing accessible names is Playwright's cost, not the page's.
      await p.locator(`tr:has(#name-${first}) button[aria-label="Actions"]`).click();
      await p.locator('[role="menu"] [role="menuitem"]').first().waitFor();
      const interactive = performance.now() - t;
      await p.keyboard.press('Escape');
      // Typed once the whole list is in (the filter then searches every row).
      await p.locator('#count').filter({ hasNotText: 'loading' }).waitFor({ timeout: 120_000 });
      const keystrokes = await p.evaluate(async (text: string) => {
        const input = document.getElementById('filter') as HTMLInputElement;
        input.focus();
        const times: number[] = [];
        for (let i = 1; i <= text.length; i++) {
          const t0 = performance.now();
          input.value = text.slice(0, i);
          input.dispatchEvent(new InputEvent('input', { bubbles: true, data: text[i - 1] ?? null, inputType: 'insertText' }));
          // The page renders in a microtask after the event; the next frame is painted after it.
          await new Promise<void>((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
          times.push(performance.now() - t0);
        }
        return times;
      }, FILTER);
      const count = await p.locator('#count').innerText();
      if (!count.includes(`matching “${FILTER}”`)) throw new Error(`the filter did not apply: ${count}`);
      await p.close();
      return { interactive, keystrokes };
    };

    progress(`${n}: warming up`);
    kubectl('json');
    kubectl('table');
    await round();
    const k: number[] = [];
    const kt: number[] = [];
    const ready: number[] = [];
    const keys: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      k.push(kubectl('json'));
      kt.push(kubectl('table'));
      const r = await round();
      ready.push(r.interactive);
      keys.push(...r.keystrokes);
      progress(`${n}: round ${i + 1}: kubectl table ${kt.at(-1)?.toFixed(0)} ms, page interactive ${r.interactive.toFixed(0)} ms, keystrokes ${r.keystrokes.map((x) => x.toFixed(0)).join(' ')} ms`);
    }
    const memory = memoryOf(pid);
    await context.close();
    await dashboard.stop();
    const base = median(kt);
    rows.push(
      { secrets: String(n), case: 'kubectl get osec (table; baseline)', 'median ms': median(kt).toFixed(0), 'vs baseline': '1.00x' },
      { secrets: String(n), case: 'kubectl get osec -o json', 'median ms': median(k).toFixed(0), 'vs baseline': `${(median(k) / base).toFixed(2)}x time` },
      { secrets: String(n), case: 'page: first list interactive (Actions menu open)', 'median ms': median(ready).toFixed(0), 'vs baseline': `${(median(ready) / base).toFixed(2)}x time` },
      { secrets: String(n), case: `page: filter keystroke to painted list (max ${Math.max(...keys).toFixed(0)} ms)`, 'median ms': median(keys).toFixed(1), 'vs baseline': 'goal < 50 ms' },
      { secrets: String(n), case: `dashboard server RSS after the rounds (peak ${memory.peak.toFixed(0)} MiB)`, 'median ms': `${memory.rss.toFixed(0)} MiB`, 'vs baseline': '' },
    );
  }
  await browser.close();
  console.log(`the Secrets page vs kubectl, ${SIZES.join(' and ')} secrets, median of ${RUNS} interleaved rounds each, Node ${process.version}`);
  printTable(rows);
} finally {
  await cp.stop();
}
