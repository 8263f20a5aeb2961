/**
 * Resolution goes on from every replica while the leader is lost: two replicas, the leader either
 * stopped without releasing its lease (SIGSTOP: the lease stays held until it expires) or cut off
 * from the apiserver (a freezing proxy between it and the apiserver). The other replica answers
 * every resolve with the value, from the moment the leader is lost until it leads itself, and
 * after. Real operator processes, real apiserver.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { canaries } from '../env/canary.js';
import { expectNoValueReported } from '../env/leak-scan.js';
import { putSealed } from '../env/installation.js';
import { hostPort, kubeconfigThrough, startFreezingProxy, type FreezingProxy } from '../env/freezer.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd } from '../env/kube.js';
import { eventually, podCredentials, resolveExchange, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let dir: string;
const started: OperatorProcess[] = [];
const proxies: FreezingProxy[] = [];
const planted = canaries('CANARY-leaderloss');
/** The namespaces of every installation made, for the leak scan at the end. */
const namespaces: string[] = [];

/** Two replicas of one installation (each through its own freezing proxy), a tenant, and one stored value. */
async function installTwo(prefix: string) {
  const opNamespace = await createNamespace(kc, { prefix: `orka-${prefix}` });
  const tenant = await createNamespace(kc, { prefix: `${prefix}-t`, tenant: prefix });
  await createServiceAccount(kc, tenant, 'runner');
  namespaces.push(opNamespace, tenant);
  const replicas: { op: OperatorProcess; proxy: FreezingProxy }[] = [];
  for (const identity of ['replica-a', 'replica-b']) {
    const proxy = await startFreezingProxy(hostPort(cp.server));
    proxies.push(proxy);
    const kubeconfigPath = kubeconfigThrough(cp.kubeconfigPath, proxy, join(dir, `${opNamespace}-${identity}.kubeconfig`));
    const op = await startOperator({ kubeconfigPath, namespace: opNamespace, identity, env: { ORKA_WATCH_NAMESPACES: tenant } });
    started.push(op);
    replicas.push({ op, proxy });
  }
  const leader = await eventually(async () => {
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'orka-secrets-operator', namespace: opNamespace });
    return replicas.find((r) => r.op.identity === lease.spec?.holderIdentity);
  }, 60_000);
  await leader.op.waitForLog(/became leader/);
  const other = replicas.find((r) => r !== leader) as (typeof replicas)[number];
  const value = planted.make(prefix);
  await putSealed(kc, opNamespace, tenant, 'KEPT_SERVED', value);
  const credentials = await podCredentials(kc, opNamespace, tenant);
  // Both replicas serve it before anything is lost.
  for (const r of replicas) await eventually(async () => ((await resolveExchange(credentials, r.op, ['KEPT_SERVED'])).body.values?.KEPT_SERVED === value ? true : undefined));
  return { leader, other, value, credentials };
}

/**
 * Resolves on `replica` until `done` holds (checked between answers) and `after` more answers:
 * every answer, each on a connection of its own, must be 200 with the value.
 */
async function everyAnswerServes(replica: OperatorProcess, credentials: { token: string; ca: string }, value: string, done: () => boolean, after = 10): Promise<number> {
  const bad: unknown[] = [];
  let answers = 0;
  let extra = 0;
  const until = Date.now() + 90_000;
  while (extra < after) {
    if (Date.now() > until) throw new Error(`the loss was not followed by the expected event in 90 s (${answers} answers)`);
    if (done()) extra++;
    const answer = await resolveExchange(credentials, replica, ['KEPT_SERVED']).catch((err: Error) => ({ status: 0, body: { error: err.message } }));
    answers++;
    if (answer.status !== 200 || (answer.body as { values?: Record<string, string> }).values?.KEPT_SERVED !== value) bad.push({ status: answer.status, body: answer.body });
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(bad).toEqual([]);
  return answers;
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  dir = mkdtempSync(join(tmpdir(), 'orka-leaderloss-'));
});

afterAll(async () => {
  for (const p of started) if (p.proc.signalCode === null && p.proc.exitCode === null) p.proc.kill('SIGCONT');
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  await Promise.all(proxies.map((p) => p.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('resolution while the leader is lost', () => {
  it('the other replica answers every resolve while the leader is stopped holding its lease, and once it leads', { timeout: 180_000 }, async () => {
    const { leader, other, value, credentials } = await installTwo('stopped');
    const from = other.op.logs.length;
    leader.op.proc.kill('SIGSTOP');
    const tookOver = () => other.op.logs.slice(from).some((l) => l.includes('became leader'));
    const answers = await everyAnswerServes(other.op, credentials, value, tookOver);
    expect(tookOver()).toBe(true);
    expect(answers).toBeGreaterThan(10);
  });

  it('the other replica answers every resolve while the leader is cut off from the apiserver, and once it leads', { timeout: 180_000 }, async () => {
    const { leader, other, value, credentials } = await installTwo('cutoff');
    const from = other.op.logs.length;
    leader.proxy.freeze();
    const tookOver = () => other.op.logs.slice(from).some((l) => l.includes('became leader'));
    const answers = await everyAnswerServes(other.op, credentials, value, tookOver);
    expect(tookOver()).toBe(true);
    // The cut-off leader stepped down at its renew deadline: never two leaders.
    expect(leader.op.logs.some((l) => l.includes('stopped leading'))).toBe(true);
    expect(answers).toBeGreaterThan(10);
  });

  it('no value in any replica\'s logs, the conditions or the Events', async () => {
    expect(planted.all).toHaveLength(2);
    await expectNoValueReported({ kc, namespaces, logs: started.flatMap((p) => p.logs), planted: planted.all, control: canaries('CONTROL').make('control') });
  });
});
