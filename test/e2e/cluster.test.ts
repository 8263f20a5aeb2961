/**
 * End to end on a real single-node cluster (kubelet + Docker, scheduler, controller-manager,
 * kube-proxy): the image built from the Dockerfile, the chart installed, secrets created with the
 * CLI, a runner pod injected with the sidecar rendering a template over 127.0.0.1, a delete seen
 * as SECRET_NOT_FOUND in the pod (timed), the leader pod deleted, and an upgrade with changed values
 * during which no request in the pod fails.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { BatchV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrkaSecret } from '../../src/api/resource.js';
import { IMAGE_TAG, NS, startE2eCluster, type E2eCluster } from '../env/e2e-cluster.js';
import { eventually } from '../env/operator.js';

let cluster: E2eCluster;
let kc: KubeConfig;
const timings: Record<string, number> = {};

function timed<T>(name: string, started: number, value: T): T {
  timings[name] = (Date.now() - started) / 1000;
  return value;
}

const kubectl = (args: string[], input?: string) => cluster.kubectl(args, input);
const install = (sets: string[]) => cluster.install(sets);
const operatorReady = (replicas: number) => cluster.operatorReady(replicas);
const containerId = (pod: string, container: string, namespace = 'acme') => cluster.containerId(pod, container, namespace);

function orka(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['dist/src/cli/main.js', '--kubeconfig', cluster.cp.kubeconfigPath, '--operator-namespace', NS, '-n', 'acme', ...args], { input, encoding: 'utf8', timeout: 60_000 });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** Runs JavaScript in the runner container, where the sidecar is on 127.0.0.1. */
function inRunner(script: string): string {
  return execFileSync('docker', ['exec', containerId('runner', 'runner'), 'node', '-e', script], { timeout: 30_000 }).toString().trim();
}

const RENDER = `fetch(process.env.ORKA_SECRETS_URL + '/v1/render', { method: 'POST', headers: { 'x-orka-request': 'true', 'content-type': 'application/json' }, body: JSON.stringify({ template: 'Bearer {{secrets.API_KEY}}' }) }).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.json() })))`;

function render(): { status: number; body: { result?: string; error?: { code: string; message: string } } } {
  return JSON.parse(inRunner(RENDER)) as never;
}

/** The first successful render (the sidecar may still be starting, or a replica going away). */
async function renderedOk(): Promise<ReturnType<typeof render>> {
  return await eventually(async () => {
    try {
      const x = render();
      return x.status === 200 ? x : undefined;
    } catch {
      return undefined;
    }
  }, 120_000, 1000);
}

beforeAll(async () => {
  cluster = await startE2eCluster((name, started) => timed(name, started, undefined));
  kc = cluster.kc;
  kubectl(['create', 'namespace', 'acme']);
  kubectl(['label', 'namespace', 'acme', 'orka.io/tenant=acme']);
  kubectl(['-n', 'acme', 'create', 'serviceaccount', 'runner']);
}, 1_200_000);

afterAll(async () => {
  console.log(`e2e timings: ${JSON.stringify(timings)}`);
  await cluster?.stop();
});

// The steps are one story on one cluster, in order, and say what they need from earlier ones:
// a step whose predecessor failed stops at once with that reason instead of failing obscurely.
const done = new Set<string>();
function needs(...steps: string[]): void {
  for (const step of steps) if (!done.has(step)) throw new Error(`this step needs "${step}", which did not pass`);
}

/** Leader of the operator's lease now ('' when none: a released lease has an empty holder). */
async function leaseHolder(): Promise<string> {
  const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'orka-secrets-operator', namespace: NS });
  return lease.spec?.holderIdentity ?? '';
}

describe('on a single-node cluster', () => {
  const value = `sk_e2e_${randomBytes(8).toString('hex')}`;

  it('creates secrets with the CLI and renders a template in an injected runner pod', async () => {
    const created = orka(['create', 'API_KEY', '--from-stdin', '-d', 'e2e key'], value);
    expect(created.stderr).toBe('');
    await eventually(async () => {
      const o = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: 'acme', name: 'api-key' })) as OrkaSecret;
      return o.status?.conditions?.[0]?.reason === 'Stored' ? true : undefined;
    }, 60_000);
    const pod = await kc.makeApiClient(CoreV1Api).createNamespacedPod({
      namespace: 'acme',
      body: {
        metadata: { name: 'runner', labels: { 'orka.io/inject': 'true' } },
        spec: { serviceAccountName: 'runner', containers: [{ name: 'runner', image: `orka-secrets:${IMAGE_TAG}`, imagePullPolicy: 'Never', command: ['node', '-e', 'setInterval(() => {}, 1 << 30)'] }] },
      },
    });
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['runner', 'orka-secrets']);
    const t = Date.now();
    const first = await renderedOk();
    timed('runner pod to first render (s)', t, undefined);
    expect(first.body.result).toBe(`Bearer ${value}`);
    done.add('runner pod renders');
  });

  // 1.20 has no native sidecars, so the injected sidecar is a regular container: the Job's pod
  // completes only because its runner ends the sidecar with POST /v1/quit when it is done.
  it('completes a Job whose runner renders a template and quits the sidecar', async () => {
    needs('runner pod renders');
    const script = `
      const url = process.env.ORKA_SECRETS_URL, headers = { 'x-orka-request': 'true', 'content-type': 'application/json' };
      (async () => {
        let r;
        for (const until = Date.now() + 60000; ; await new Promise((ok) => setTimeout(ok, 200))) {
          try { r = await fetch(url + '/v1/render', { method: 'POST', headers, body: JSON.stringify({ template: 'Bearer {{secrets.API_KEY}}' }) }); break; }
          catch (err) { if (Date.now() > until) throw err; }  // the sidecar may start after the runner
        }
        const body = await r.json();
        if (body.result !== 'Bearer ' + process.env.EXPECTED) { console.error('unexpected render: ' + r.status); process.exit(1); }
        const q = await fetch(url + '/v1/quit', { method: 'POST', headers });
        process.exit(q.status === 202 ? 0 : 1);
      })().catch((err) => { console.error(String(err)); process.exit(1); });`;
    const t = Date.now();
    await kc.makeApiClient(BatchV1Api).createNamespacedJob({
      namespace: 'acme',
      body: {
        metadata: { name: 'render-and-quit' },
        spec: {
          backoffLimit: 0,
          template: {
            metadata: { labels: { 'orka.io/inject': 'true' } },
            spec: {
              restartPolicy: 'Never',
              serviceAccountName: 'runner',
              containers: [{ name: 'runner', image: `orka-secrets:${IMAGE_TAG}`, imagePullPolicy: 'Never', command: ['node', '-e', script], env: [{ name: 'EXPECTED', value }] }],
            },
          },
        },
      },
    });
    const job = await eventually(async () => {
      const j = await kc.makeApiClient(BatchV1Api).readNamespacedJob({ name: 'render-and-quit', namespace: 'acme' });
      if ((j.status?.failed ?? 0) > 0) throw new Error(`the Job failed: ${JSON.stringify(j.status?.conditions)}`);
      return (j.status?.succeeded ?? 0) === 1 ? j : undefined;
    }, 180_000, 1000);
    timed('Job render-and-quit to completion (s)', t, undefined);
    expect(job.status?.conditions).toContainEqual(expect.objectContaining({ type: 'Complete', status: 'True' }));
    // Both containers ended on their own, with 0: the runner after rendering, the sidecar on quit.
    const pods = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'acme', labelSelector: 'job-name=render-and-quit' });
    const statuses = pods.items[0]?.status?.containerStatuses ?? [];
    expect(statuses.map((c) => [c.name, c.state?.terminated?.exitCode]).sort()).toEqual([['orka-secrets', 0], ['runner', 0]]);
  });

  it('answers SECRET_NOT_FOUND in the pod after the delete, having served the value before it', async () => {
    needs('runner pod renders');
    // A poller inside the pod reports, as JSON lines, the first 200 with the right value, then the
    // first 404 and when it came (wall clock of the same host). Neither status nor order is assumed.
    const poller = spawn('docker', ['exec', '-e', `EXPECTED=${value}`, containerId('runner', 'runner'), 'node', '-e', `
      const deadline = Date.now() + 120000;
      let okAt;
      (async () => { while (Date.now() < deadline) {
        const r = await fetch(process.env.ORKA_SECRETS_URL + '/v1/secrets/API_KEY', { headers: { 'x-orka-request': 'true' } });
        const body = await r.json();
        if (r.status === 200 && body.value === process.env.EXPECTED) {
          if (okAt === undefined) console.log(JSON.stringify({ event: 'served' }));
          okAt = Date.now();
        } else if (r.status === 404) { console.log(JSON.stringify({ event: 'gone', at: Date.now(), lastServedAt: okAt ?? null, body })); return; }
        else console.log(JSON.stringify({ event: 'other', status: r.status }));
        await new Promise((ok) => setTimeout(ok, 10));
      } console.log(JSON.stringify({ event: 'timeout' })); })();`]);
    const events: Array<{ event: string; at?: number; lastServedAt?: number | null; status?: number; body?: { error: { code: string; message: string } } }> = [];
    let partial = '';
    poller.stdout.on('data', (c: Buffer) => {
      const lines = (partial + c.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) events.push(JSON.parse(line) as (typeof events)[number]);
    });
    const exited = new Promise((ok) => poller.on('exit', ok));
    try {
      // Wait for the poller to have seen the value (the event itself, not a sleep).
      await eventually(() => (events.some((e) => e.event === 'served') ? true : undefined), 60_000, 50);
      expect(events.find((e) => e.event === 'gone'), 'a 404 before the delete').toBeUndefined();
      // Timed from the delete request itself (the CLI's delete is covered by the integration tests;
      // its own start-up, about a second of Node loading, is not what this measures).
      const deletedAt = Date.now();
      await kc.makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: 'acme', name: 'api-key' });
      await exited;
      const gone = events.find((e) => e.event === 'gone');
      expect(gone, JSON.stringify(events.slice(-3))).toBeDefined();
      expect(gone?.body?.error).toMatchObject({ code: 'SECRET_NOT_FOUND', message: 'secret API_KEY could not be found' });
      expect(gone?.at as number).toBeGreaterThanOrEqual(deletedAt);
      // Served the value until the delete, then never again: no other status in between.
      expect(gone?.lastServedAt).toBeTypeOf('number');
      expect(events.filter((e) => e.event === 'other')).toEqual([]);
      timings['delete to SECRET_NOT_FOUND in the pod (ms)'] = (gone?.at as number) - deletedAt;
      done.add('delete seen in the pod');
    } finally {
      poller.kill();
    }
  });

  it('keeps resolving and reconciling when the leader pod is deleted', async () => {
    needs('runner pod renders', 'delete seen in the pod');
    const leader = await leaseHolder();
    expect(leader).not.toBe('');
    await kc.makeApiClient(CoreV1Api).deleteNamespacedPod({ name: leader, namespace: NS });
    // A released lease has an empty holder: wait for another replica to actually lead.
    const successor = await eventually(async () => {
      const h = await leaseHolder();
      return h !== '' && h !== leader ? h : undefined;
    }, 120_000, 500);
    // Created only now (API_KEY was deleted by the previous step), so the successor stores it.
    expect(orka(['create', 'API_KEY', '--from-stdin'], `${value}-2`).code).toBe(0);
    const r = await eventually(async () => {
      const x = await renderedOk();
      return x.body.result === `Bearer ${value}-2` ? x : undefined;
    }, 120_000, 1000);
    expect(r.body.result).toBe(`Bearer ${value}-2`);
    expect(await leaseHolder()).toBe(successor);
    done.add('leader replaced');
  });

  it('upgrades the release with changed values, failing no request in the pod on the way', async () => {
    needs('runner pod renders');
    // Asked all through the rollout, from inside the pod: a name the sidecar holds, and one that
    // does not exist (never cached, so every ask reaches a replica through the Service, including
    // replicas being replaced). Counts of "NAME status code" come back when stdin closes.
    const poller = spawn('docker', ['exec', '-i', containerId('runner', 'runner'), 'node', '-e', `
      const counts = {};
      let open = true;
      process.stdin.on('end', () => { open = false; }).resume();
      (async () => {
        while (open) {
          for (const name of ['API_KEY', 'NEVER_CREATED']) {
            let key;
            try {
              const r = await fetch(process.env.ORKA_SECRETS_URL + '/v1/secrets/' + name, { headers: { 'x-orka-request': 'true' } });
              const body = await r.json();
              key = name + ' ' + r.status + (body.error ? ' ' + body.error.code : '');
            } catch (err) { key = name + ' failed: ' + err.message; }
            counts[key] = (counts[key] ?? 0) + 1;
          }
          await new Promise((ok) => setTimeout(ok, 25));
        }
        console.log(JSON.stringify(counts));
      })();`]);
    let out = '';
    let err = '';
    poller.stdout.on('data', (c: Buffer) => (out += c.toString()));
    poller.stderr.on('data', (c: Buffer) => (err += c.toString()));
    // 'close': stdout has been read to its end.
    const exited = new Promise((ok) => poller.on('close', ok));
    try {
      const t = Date.now();
      install(['replicaCount=3', 'operator.logLevel=debug']);
      await operatorReady(3);
      timed('upgrade to 3 ready replicas (s)', t, undefined);
      // The rollout is over when the replaced replicas are gone, not merely unready.
      const core = kc.makeApiClient(CoreV1Api);
      const running = await eventually(async () => {
        const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/component=operator' });
        return pods.items.length === 3 && pods.items.every((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp) ? pods.items : undefined;
      }, 120_000, 500);
      timed('upgrade to the replaced replicas gone (s)', t, undefined);
      for (const p of running) expect(p.spec?.containers[0]?.env).toContainEqual({ name: 'ORKA_LOG_LEVEL', value: 'debug' });
    } finally {
      poller.stdin.end();
      await exited;
    }
    expect(out, `the poller printed nothing; its stderr: ${err}`).not.toBe('');
    const counts = JSON.parse(out) as Record<string, number>;
    expect(Object.keys(counts).sort(), out).toEqual(['API_KEY 200', 'NEVER_CREATED 404 SECRET_NOT_FOUND']);
    // Enough asks to have spanned the rollout (each pair takes tens of ms).
    expect(counts['NEVER_CREATED 404 SECRET_NOT_FOUND']).toBeGreaterThan(20);
    timings['asks of a missing name in the pod during the upgrade, all 404'] = counts['NEVER_CREATED 404 SECRET_NOT_FOUND'] ?? 0;
    expect(render().status).toBe(200);
  });
});
