/**
 * End to end on the single-node cluster: the reference workflow runner (examples/workflow-runner,
 * its image built on the product's) as a Job with the injected sidecar, in the classic form (the
 * runner's --quit ends the sidecar so that the pod completes). Its http step sends a canary secret
 * to an echo server in the pod (in the runner container, on 127.0.0.1) and its script step prints
 * it plain, base64, JSON-escaped, URL-encoded and split across two writes. The canary is in none
 * of the Job's container logs, the history file, the Events or the statuses (the shared leak
 * finder, with a control canary printed the same way); the echo server did receive it. Then the
 * secret is deleted and the same Job fails at that step with the not-found message.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Job } from '@kubernetes/client-node';
import { GenericContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canaries, canaryWorkflow, findLeaks, osecCoords, PRINT_FORMS_SCRIPT } from '../env/canary.js';
import { IMAGE_TAG, injectedJob, NS, startE2eCluster, type E2eCluster } from '../env/e2e-cluster.js';
import { eventually, sealWithPublishedCert } from '../env/operator.js';

const TENANT = 'flows';
const RUNNER_IMAGE = `orka-workflow-runner:${IMAGE_TAG}`;
let cluster: E2eCluster;
let kc: KubeConfig;
/** A host directory the Job's pods write their history into (hostPath: one node, this machine). */
let historyDir: string;
const secret = canaries().make('e2e-workflow');
const control = canaries('CONTROL').make('e2e-workflow');
const timings: Record<string, number> = {};

/** Echo server: answers each request with what it received and logs the SHA-256 of the token it got (never the token). */
const ECHO = `
require('http').createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c)).on('end', () => {
    const token = JSON.parse(body).token;
    console.log('echo received sha256 ' + require('crypto').createHash('sha256').update(token).digest('hex'));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ got: { url: req.url, authorization: req.headers.authorization, body } }));
  });
}).listen(8080, '127.0.0.1', () => console.log('echo listening'));
`;

const WORKFLOW = canaryWorkflow({ url: 'http://127.0.0.1:8080/hook', control, run: 'node /workflow/printer.cjs' });

/** Creates the Job `name`: the echo server in the background, then the runner, in one container; the sidecar injected. */
async function createJob(name: string): Promise<void> {
  await kc.makeApiClient(BatchV1Api).createNamespacedJob({
    namespace: TENANT,
    body: injectedJob(name, {
      containers: [
        {
          name: 'runner',
          image: RUNNER_IMAGE,
          imagePullPolicy: 'Never',
          command: ['sh', '-c', `node /workflow/echo.cjs & exec node /app/runner.mjs /workflow/workflow.yaml --history /history/${name}.jsonl --quit`],
          // The sidecar may start after the runner: the client and orka-secrets run wait for it.
          env: [{ name: 'ORKA_SECRETS_CONNECT_RETRY_MS', value: '120000' }],
          volumeMounts: [
            { name: 'workflow', mountPath: '/workflow', readOnly: true },
            { name: 'history', mountPath: '/history' },
          ],
        },
      ],
      volumes: [
        { name: 'workflow', configMap: { name: 'workflow' } },
        { name: 'history', hostPath: { path: historyDir, type: 'Directory' } },
      ],
    }),
  });
}

/** Waits for the Job to end; returns it (Complete or Failed). */
async function finished(name: string): Promise<V1Job> {
  return await eventually(async () => {
    const job = await kc.makeApiClient(BatchV1Api).readNamespacedJob({ name, namespace: TENANT });
    return (job.status?.succeeded ?? 0) + (job.status?.failed ?? 0) > 0 ? job : undefined;
  }, 240_000, 1000);
}

/** Everything the cluster shows about the Job: its pods' container logs (from Docker: they have exited), Events and statuses. */
async function shown(name: string): Promise<{ logs: Record<string, string>; everything: string }> {
  const core = kc.makeApiClient(CoreV1Api);
  const pods = await core.listNamespacedPod({ namespace: TENANT, labelSelector: `job-name=${name}` });
  const pod = pods.items[0]?.metadata?.name as string;
  const logs: Record<string, string> = {};
  for (const container of ['runner', 'orka-secrets']) {
    const id = cluster.containerId(pod, container, TENANT, true);
    // docker logs writes the container's stderr to its own stderr: both are taken.
    logs[container] = execFileSync('sh', ['-c', `docker logs ${id} 2>&1`], { encoding: 'latin1', maxBuffer: 64 * 1024 * 1024 });
  }
  const events = await core.listNamespacedEvent({ namespace: TENANT });
  const job = await kc.makeApiClient(BatchV1Api).readNamespacedJob({ name, namespace: TENANT });
  const osecs = await kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject(osecCoords(TENANT));
  const everything = [...Object.values(logs), JSON.stringify(events.items), JSON.stringify(pods.items.map((p) => p.status)), JSON.stringify(job.status), JSON.stringify(osecs)].join('\n');
  return { logs, everything };
}

interface HistoryRecord {
  step: { name: string };
  status: string;
  error?: string;
  reason?: string;
  output?: string;
  response?: { status: number; body: string };
}

const history = (name: string): { text: string; records: HistoryRecord[] } => {
  const text = readFileSync(join(historyDir, `${name}.jsonl`), 'latin1');
  return { text, records: text.trim().split('\n').map((l) => JSON.parse(l) as HistoryRecord) };
};

beforeAll(async () => {
  cluster = await startE2eCluster((name, started) => (timings[name] = (Date.now() - started) / 1000));
  kc = cluster.kc;
  let t = Date.now();
  await GenericContainer.fromDockerfile('.', 'examples/workflow-runner/Dockerfile').withBuildArgs({ BASE: cluster.base, ORKA_IMAGE: `orka-secrets:${IMAGE_TAG}` }).build(RUNNER_IMAGE, { deleteOnExit: false });
  timings['runner image build (s)'] = (Date.now() - t) / 1000;
  cluster.kubectl(['create', 'namespace', TENANT]);
  cluster.kubectl(['label', 'namespace', TENANT, `orka.io/tenant=${TENANT}`]);
  cluster.kubectl(['-n', TENANT, 'create', 'serviceaccount', 'runner']);
  await kc.makeApiClient(CoreV1Api).createNamespacedConfigMap({ namespace: TENANT, body: { metadata: { name: 'workflow' }, data: { 'workflow.yaml': WORKFLOW, 'echo.cjs': ECHO, 'printer.cjs': PRINT_FORMS_SCRIPT } } });
  historyDir = mkdtempSync(join(tmpdir(), 'orka-e2e-history-'));
  // The image's user (65532) writes the history.
  chmodSync(historyDir, 0o777);
  t = Date.now();
  const sealedValue = await sealWithPublishedCert(kc, NS, TENANT, 'API_KEY', secret);
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...osecCoords(TENANT), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'api-key' }, spec: { sealedValue } } });
  await eventually(async () => {
    const o = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ ...osecCoords(TENANT), name: 'api-key' })) as { status?: { conditions?: Array<{ reason?: string }> } };
    return o.status?.conditions?.[0]?.reason === 'Stored' ? true : undefined;
  }, 60_000);
  timings['secret stored (s)'] = (Date.now() - t) / 1000;
}, 1_800_000);

afterAll(async () => {
  console.log(`e2e workflow timings: ${JSON.stringify(timings)}`);
  await cluster?.stop();
  if (historyDir) rmSync(historyDir, { recursive: true, force: true });
});

// One story on one cluster, in order: the second step needs the first's Job to have completed.
const done = new Set<string>();

describe('the reference workflow runner as a Job', () => {
  it('completes with the value used and no form of it in logs, history, Events or statuses', async () => {
    const t = Date.now();
    await createJob('workflow-1');
    const job = await finished('workflow-1');
    timings['Job workflow-1 to completion (s)'] = (Date.now() - t) / 1000;
    const { logs, everything } = await shown('workflow-1');
    expect(job.status?.succeeded, `${JSON.stringify(job.status)}\n${logs.runner}`).toBe(1);
    expect(existsSync(join(historyDir, 'workflow-1.jsonl'))).toBe(true);
    const h = history('workflow-1');
    expect(h.records.map((r) => [r.step.name, r.status])).toEqual([['call', 'succeeded'], ['script', 'succeeded'], ['after', 'succeeded']]);
    expect(h.records[1]?.output).toContain('split: [REDACTED] end');
    // The echo server received the value itself.
    expect(logs.runner).toContain(`echo received sha256 ${createHash('sha256').update(secret).digest('hex')}`);
    // The control canary, printed and echoed the same way, is found in the history and the runner's log; the secret nowhere.
    expect(findLeaks(h.text, [control])).toHaveLength(1);
    expect(findLeaks(logs.runner ?? '', [control])).toHaveLength(1);
    expect(findLeaks(`${h.text}\n${everything}`, [secret])).toEqual([]);
    done.add('workflow-1');
  });

  it('fails the same Job at the step using the secret once it is deleted, with the not-found message', async () => {
    if (!done.has('workflow-1')) throw new Error('this step needs the first Job to have completed, which it did not');
    await kc.makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({ ...osecCoords(TENANT), name: 'api-key' });
    await createJob('workflow-2');
    const job = await finished('workflow-2');
    const { everything } = await shown('workflow-2');
    expect(job.status?.failed).toBe(1);
    const h = history('workflow-2');
    expect(h.records.map((r) => [r.step.name, r.status, r.error ?? r.reason])).toEqual([
      ['call', 'failed', 'secret API_KEY could not be found'],
      ['script', 'skipped', 'step "call" failed'],
      ['after', 'skipped', 'step "call" failed'],
    ]);
    expect(findLeaks(`${h.text}\n${everything}`, [secret])).toEqual([]);
  });
});
