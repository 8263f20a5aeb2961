/**
 * End to end on a real single-node cluster (kubelet + Docker, scheduler, controller-manager,
 * kube-proxy): the image built from the Dockerfile, the chart installed, secrets created with the
 * CLI, a runner pod injected with the sidecar rendering a template over 127.0.0.1, a delete seen
 * as SECRET_NOT_FOUND in the pod (timed), the leader pod deleted, and an upgrade with changed values
 * during which no request in the pod fails.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { BatchV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrkaSecret } from '../../src/api/resource.js';
import { IMAGE_TAG, injectedJob, NS, startE2eCluster, type E2eCluster } from '../env/e2e-cluster.js';
import { eventually } from '../env/operator.js';
import { canaries, etcdText, findLeaks } from '../env/canary.js';

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

/**
 * What a strict poller inside the runner pod saw: for each name, the answers in order, as runs of
 * the same answer ("200 expected", "200 another value", "404 SECRET_NOT_FOUND", "failed: ..."),
 * each with how many asks it lasted and when (ms, the host's clock) it began.
 */
type Runs = Record<string, Array<{ answer: string; count: number; from: number }>>;

/**
 * Starts asking the sidecar for `names` every 25 ms from inside the runner pod until `stop()`,
 * which resolves with every answer as runs. Unlike renderedOk, nothing is swallowed: a test
 * asserts which answers, and which order of them, are allowed.
 */
function pollInPod(names: string[], expected: Record<string, string>): { stop: () => Promise<Runs>; runs: () => Runs } {
  const poller = spawn('docker', ['exec', '-i', '-e', `EXPECTED=${JSON.stringify(expected)}`, containerId('runner', 'runner'), 'node', '-e', `
    const names = ${JSON.stringify(names)}, expected = JSON.parse(process.env.EXPECTED), runs = {};
    let open = true;
    process.stdin.on('end', () => { open = false; }).resume();
    (async () => {
      // A count guard: a test that never calls stop() leaves no poller behind (about 25 minutes).
      for (let round = 0; open && round < 60000; round++) {
        for (const name of names) {
          let answer;
          try {
            const r = await fetch(process.env.ORKA_SECRETS_URL + '/v1/secrets/' + name, { headers: { 'x-orka-request': 'true' } });
            const body = await r.json();
            answer = r.status + (body.error ? ' ' + body.error.code : body.value === expected[name] ? ' expected' : ' another value');
          } catch (err) { answer = 'failed: ' + err.message; }
          const mine = (runs[name] ??= []), last = mine[mine.length - 1];
          if (last && last.answer === answer) last.count++;
          else { mine.push({ answer, count: 1, from: Date.now() }); console.log(JSON.stringify({ name, answer, from: Date.now() })); }
        }
        await new Promise((ok) => setTimeout(ok, 25));
      }
      console.log(JSON.stringify({ done: runs }));
    })();`]);
  let out = '';
  let err = '';
  poller.stdout.on('data', (c: Buffer) => (out += c.toString()));
  poller.stderr.on('data', (c: Buffer) => (err += c.toString()));
  // 'close': stdout has been read to its end.
  const closed = new Promise((ok) => poller.on('close', ok));
  /** The runs so far, from the lines printed at each change of answer (counts are 1 until the end). */
  const runs = (): Runs => {
    const seen: Runs = {};
    for (const line of out.split('\n').filter((l) => l.startsWith('{"name"'))) {
      const { name, answer, from } = JSON.parse(line) as { name: string; answer: string; from: number };
      (seen[name] ??= []).push({ answer, count: 1, from });
    }
    return seen;
  };
  return {
    runs,
    stop: async () => {
      poller.stdin.end();
      await closed;
      const last = out.split('\n').find((l) => l.startsWith('{"done"'));
      if (last === undefined) throw new Error(`the poller printed no result; its stderr: ${err}`);
      return (JSON.parse(last) as { done: Runs }).done;
    },
  };
}

/** The answers of runs, in order (their counts left out). */
const answers = (runs: Runs, name: string) => (runs[name] ?? []).map((r) => r.answer);

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
        // Compared by digest: the value itself in the Job's spec would be stored in etcd.
        const digest = require('node:crypto').createHash('sha256').update(String(body.result)).digest('hex');
        if (digest !== process.env.EXPECTED_SHA256) { console.error('unexpected render: ' + r.status); process.exit(1); }
        const q = await fetch(url + '/v1/quit', { method: 'POST', headers });
        process.exit(q.status === 202 ? 0 : 1);
      })().catch((err) => { console.error(String(err)); process.exit(1); });`;
    const t = Date.now();
    await kc.makeApiClient(BatchV1Api).createNamespacedJob({
      namespace: 'acme',
      body: injectedJob('render-and-quit', {
        containers: [{ name: 'runner', image: `orka-secrets:${IMAGE_TAG}`, imagePullPolicy: 'Never', command: ['node', '-e', script], env: [{ name: 'EXPECTED_SHA256', value: createHash('sha256').update(`Bearer ${value}`).digest('hex') }] }],
      }),
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

  it('answers SECRET_NOT_FOUND in the pod after the delete, having served the value before it, and never the value again', async () => {
    needs('runner pod renders');
    const poller = pollInPod(['API_KEY'], { API_KEY: value });
    let runs: Runs;
    let deletedAt: number;
    try {
      // Wait for the poller to have seen the value (the event itself, not a sleep).
      await eventually(() => (answers(poller.runs(), 'API_KEY').includes('200 expected') ? true : undefined), 60_000, 50);
      // Timed from the delete request itself (the CLI's delete is covered by the integration tests;
      // its own start-up, about a second of Node loading, is not what this measures).
      deletedAt = Date.now();
      await kc.makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: 'acme', name: 'api-key' });
      await eventually(() => (answers(poller.runs(), 'API_KEY').includes('404 SECRET_NOT_FOUND') ? true : undefined), 60_000, 50);
      // Then keep asking: a value served again after the first 404 (another replica, a stale
      // cache) fails the step. Five seconds span several change-stream pings and resolves.
      const goneAt = poller.runs().API_KEY?.find((r) => r.answer.startsWith('404'))?.from as number;
      await eventually(() => (Date.now() - goneAt > 5000 ? true : undefined), 30_000, 100);
    } finally {
      runs = await poller.stop();
    }
    // Served the value until the delete, then SECRET_NOT_FOUND and nothing else, ever.
    expect(answers(runs, 'API_KEY')).toEqual(['200 expected', '404 SECRET_NOT_FOUND']);
    const gone = runs.API_KEY?.[1];
    expect(gone?.from as number).toBeGreaterThanOrEqual(deletedAt);
    expect(gone?.count as number).toBeGreaterThan(20);
    // The bound: push invalidation normally takes about a second; without it the sidecar's own
    // stale limit (ORKA_CACHE_STALE_AFTER, 30 s by default) ends a cached value.
    const tookMs = (gone?.from as number) - deletedAt;
    expect(tookMs).toBeLessThanOrEqual(30_000);
    timings['delete to SECRET_NOT_FOUND in the pod (ms)'] = tookMs;
    done.add('delete seen in the pod');
  });

  it('keeps resolving and reconciling when the leader pod is deleted', async () => {
    needs('runner pod renders', 'delete seen in the pod');
    const leader = await leaseHolder();
    expect(leader).not.toBe('');
    // Asked all through the change of leader: API_KEY (deleted by the previous step, created
    // again below) and a name that never exists, which reaches a replica on every ask.
    const poller = pollInPod(['API_KEY', 'NEVER_CREATED'], { API_KEY: `${value}-2` });
    let runs: Runs;
    let successor: string | undefined;
    try {
      // The poller is asking before the leader goes (its first answers are in).
      await eventually(() => (poller.runs().NEVER_CREATED && poller.runs().API_KEY ? true : undefined), 60_000, 50);
      await kc.makeApiClient(CoreV1Api).deleteNamespacedPod({ name: leader, namespace: NS });
      // A released lease has an empty holder: wait for another replica to actually lead.
      successor = await eventually(async () => {
        const h = await leaseHolder();
        return h !== '' && h !== leader ? h : undefined;
      }, 120_000, 500);
      // Created only now, so the successor stores it.
      expect(orka(['create', 'API_KEY', '--from-stdin'], `${value}-2`).code).toBe(0);
      await eventually(() => (answers(poller.runs(), 'API_KEY').includes('200 expected') ? true : undefined), 120_000, 200);
    } finally {
      runs = await poller.stop();
    }
    // Every answer was one of the two allowed, in order: never a failure, a 503 or a stale value.
    expect(answers(runs, 'API_KEY')).toEqual(['404 SECRET_NOT_FOUND', '200 expected']);
    expect(answers(runs, 'NEVER_CREATED')).toEqual(['404 SECRET_NOT_FOUND']);
    expect(runs.NEVER_CREATED?.[0]?.count as number).toBeGreaterThan(1);
    timings['asks of a missing name in the pod while the leader changed, all 404'] = runs.NEVER_CREATED?.[0]?.count ?? 0;
    expect(render().body.result).toBe(`Bearer ${value}-2`);
    expect(await leaseHolder()).toBe(successor);
    done.add('leader replaced');
  });

  it('upgrades the release with changed values, failing no request in the pod on the way', async () => {
    needs('runner pod renders', 'leader replaced');
    // Asked all through the rollout, from inside the pod: a name the sidecar holds, and one that
    // does not exist (never cached, so every ask reaches a replica through the Service, including
    // replicas being replaced).
    const poller = pollInPod(['API_KEY', 'NEVER_CREATED'], { API_KEY: `${value}-2` });
    let runs: Runs;
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
      runs = await poller.stop();
    }
    expect(answers(runs, 'API_KEY'), JSON.stringify(runs)).toEqual(['200 expected']);
    expect(answers(runs, 'NEVER_CREATED'), JSON.stringify(runs)).toEqual(['404 SECRET_NOT_FOUND']);
    // Enough asks to have spanned the rollout (each pair takes tens of ms).
    const asks = runs.NEVER_CREATED?.[0]?.count ?? 0;
    expect(asks).toBeGreaterThan(20);
    timings['asks of a missing name in the pod during the upgrade, all 404'] = asks;
    expect(render().status).toBe(200);
  });

  it('leaves no value in any container log, Event, status or etcd (debug logs included)', async () => {
    needs('runner pod renders');
    const planted = [value, `${value}-2`];
    // The control: a canary put where it must show (a description), so each search is seen to see.
    const control = canaries('CONTROL-e2e').make('description');
    expect(orka(['create', 'CONTROL_CANARY', '--from-stdin', '-d', control], 'not a canary').code).toBe(0);
    await eventually(async () => {
      const o = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: 'acme', name: 'control-canary' })) as OrkaSecret;
      return o.status?.conditions?.[0]?.reason === 'Stored' ? true : undefined;
    }, 60_000);
    // Every container the kubelet ran, running or exited: operators (the replaced ones too, while
    // Docker keeps them), sidecars, runners.
    const containers = execFileSync('docker', ['ps', '-aq', '--filter', 'name=^k8s_']).toString().split('\n').filter(Boolean);
    expect(containers.length).toBeGreaterThan(5);
    const logs = containers.map((id) => {
      const res = spawnSync('docker', ['logs', id], { encoding: 'latin1', maxBuffer: 256 * 1024 * 1024 });
      return `${res.stdout}${res.stderr}`;
    });
    expect(logs.join('').length, 'the operators log at debug level after the upgrade').toBeGreaterThan(10_000);
    const texts: Array<[string, string]> = [
      ['container logs', logs.join('\n')],
      ['Events', kubectl(['get', 'events', '-A', '-o', 'json'])],
      ['OrkaSecrets (statuses)', kubectl(['get', 'orkasecrets', '-A', '-o', 'json'])],
      ['etcd', etcdText(cluster.cp.etcdUrl)],
    ];
    for (const [where, text] of texts) expect(findLeaks(text, planted), where).toEqual([]);
    // The control shows where it was put, as the apiserver and etcd write it (JSON, Go-escaped)...
    expect(findLeaks(texts[2]?.[1] ?? '', [control])).toHaveLength(1);
    expect(findLeaks(texts[3]?.[1] ?? '', [control])).toHaveLength(1);
    // ...and the searches of logs and Events see a value written as a JSON log line would hold it.
    for (const [where, text] of texts.slice(0, 2)) expect(findLeaks(`${text}\n${JSON.stringify({ msg: control })}`, [control]), where).toHaveLength(1);
  });
});
