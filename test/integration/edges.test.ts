/**
 * Behaviours the README promises that no other file exercises, with real operator and sidecar
 * processes: the sidecar trusts only the operator's CA; it re-reads its token file on every
 * upstream call; it merges concurrent lookups of one name into one resolve; it forgets its cache when the change stream reconnects, even to the same
 * operator address; /v1/changes names only the caller's tenant's secrets; each resolve leaves
 * one audit line with its fields and never a value; storage left without its OrkaSecret (while
 * no operator ran) is removed at start.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OrkaSecretsClient } from '../../src/client/index.js';
import { createCA } from '../../src/core/pki.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { canaries, etcdText, findLeaks, osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace, createServiceAccount, podBoundToken, uniqueName, waitForReady } from '../env/kube.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';
import { startSidecar, type SidecarProcess } from '../env/sidecar.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let custom: CustomObjectsApi;
let opNamespace: string;
let tenantA: string;
let tenantB: string;
/** The leader: reconciles. Sidecars talk to `follower`, which only serves. */
let leader: OperatorProcess;
let follower: OperatorProcess;
const operators: OperatorProcess[] = [];
const sidecars: SidecarProcess[] = [];
let dir: string;
let caFile: string;
let caPem: string;
const planted = canaries();

async function putSecret(namespace: string, name: string, value: string): Promise<number> {
  const secretName = name.toUpperCase().replaceAll('-', '_');
  const sealedValue = await sealWithPublishedCert(kc, opNamespace, namespace, secretName, value);
  let o: { metadata: { generation?: number } };
  try {
    o = (await custom.createNamespacedCustomObject({ ...osecCoords(namespace), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: { sealedValue } } })) as typeof o;
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    o = (await custom.patchNamespacedCustomObject({ ...osecCoords(namespace), name, body: { spec: { sealedValue } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))) as typeof o;
  }
  const generation = o.metadata.generation as number;
  await waitForReady(kc, namespace, name, 'Stored', (x) => (x.metadata.generation as number) >= generation);
  return generation;
}

async function writeToken(file: string, namespace: string): Promise<string> {
  writeFileSync(file, (await podBoundToken(kc, { namespace, serviceAccount: 'runner' })).token);
  return file;
}

async function sidecarFor(namespace: string, options: { caFile?: string; tokenFile?: string; waitForStream?: boolean } = {}): Promise<{ sidecar: SidecarProcess; client: OrkaSecretsClient }> {
  const tokenFile = options.tokenFile ?? (await writeToken(join(dir, `${namespace}-${sidecars.length}.token`), namespace));
  const sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${follower.resolverPort}`, tokenFile, caFile: options.caFile ?? caFile });
  sidecars.push(sidecar);
  if (options.waitForStream ?? true) await streamUp(sidecar);
  return { sidecar, client: new OrkaSecretsClient({ baseUrl: sidecar.url }) };
}

async function streamUp(sidecar: SidecarProcess): Promise<void> {
  await eventually(async () => ((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream === 'up' || undefined, 30_000);
}

function startFollower(ports?: { port: number; resolverPort: number }): Promise<OperatorProcess> {
  return startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: `follower-${operators.length}`, env: { ORKA_WATCH_NAMESPACES: [tenantA, tenantB].join(',') }, ...(ports ? { ports } : {}) });
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  custom = kc.makeApiClient(CustomObjectsApi);
  opNamespace = await createNamespace(kc, { prefix: 'orka-edges' });
  tenantA = await createNamespace(kc, { prefix: 'edges-a', tenant: 'edges-a' });
  tenantB = await createNamespace(kc, { prefix: 'edges-b', tenant: 'edges-b' });
  for (const ns of [tenantA, tenantB]) await createServiceAccount(kc, ns, 'runner');
  await createServiceAccount(kc, tenantA, 'rotated');
  dir = mkdtempSync(join(tmpdir(), 'orka-edges-'));
  // Storage left behind while no operator ran: a storage Secret whose OrkaSecret is gone.
  await kc.makeApiClient(CoreV1Api).createNamespacedSecret({
    namespace: tenantA,
    body: { metadata: { name: 'orkasecret-ghost', labels: { 'app.kubernetes.io/managed-by': 'orka-secrets', 'orka.io/orkasecret': 'ghost' } }, type: 'Opaque', data: { value: 'AAAA', version: 'MQ==' } },
  });
  leader = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'leader', env: { ORKA_WATCH_NAMESPACES: [tenantA, tenantB].join(',') } });
  operators.push(leader);
  await leader.waitForLog(/became leader/);
  await leader.waitForLog(/resolver API and webhooks listening/);
  follower = await startFollower();
  operators.push(follower);
  await follower.waitForLog(/resolver API and webhooks listening/);
  const tls = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
  caPem = Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64').toString();
  caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, caPem);
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  await Promise.all(operators.map((o) => o.stop('SIGKILL')));
  rmSync(dir, { recursive: true, force: true });
});

describe('operator start', () => {
  it('removes storage whose OrkaSecret is gone', async () => {
    await eventually(async () => kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'orkasecret-ghost', namespace: tenantA }).then(() => undefined, (e: { code?: number }) => (e.code === 404 ? true : undefined)), 30_000);
  });
});

describe('the sidecar and the resolver API', () => {
  it('refuses an operator whose certificate comes from another CA', async () => {
    const value = planted.make('ca-probe');
    await putSecret(tenantA, 'ca-probe', value);
    const otherCa = join(dir, 'other-ca.crt');
    writeFileSync(otherCa, createCA({ commonName: 'not-the-operator-ca', now: new Date(), validDays: 1 }).certPem);
    const { sidecar, client } = await sidecarFor(tenantA, { caFile: otherCa, waitForStream: false });
    await expect(client.get('CA_PROBE')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 503 });
    expect(((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream).toBe('down');
    // The same sidecar set-up with the operator's CA does resolve: the CA was the only difference.
    const trusted = await sidecarFor(tenantA);
    expect(await trusted.client.get('CA_PROBE')).toBe(value);
  });

  it('reads its token file on every upstream call: a rotated token is used on the next call, with no refusal before it', async () => {
    const [first, second] = [planted.make('token-first'), planted.make('token-second')];
    await putSecret(tenantA, 'token-first', first);
    await putSecret(tenantA, 'token-second', second);
    const tokenFile = await writeToken(join(dir, 'rotating.token'), tenantA);
    const { client } = await sidecarFor(tenantA, { tokenFile });
    // Which token a call carried, as the resolver saw it: its audit line names the service account.
    const auditedSa = async (name: string, from: number) => {
      const line = await eventually(() => follower.logs.slice(from).find((l) => l.includes('"msg":"resolve"') && l.includes(`"${name}"`)), 30_000);
      return (JSON.parse(line) as { sa?: string }).sa;
    };
    let from = follower.logs.length;
    expect(await client.get('TOKEN_FIRST')).toBe(first);
    expect(await auditedSa('TOKEN_FIRST', from)).toBe('runner');
    // The kubelet rotates the file while the old token is still valid: nothing is refused, so
    // only a read on every call (not a re-read after a refusal) picks the new one up.
    writeFileSync(tokenFile, (await podBoundToken(kc, { namespace: tenantA, serviceAccount: 'rotated' })).token);
    from = follower.logs.length;
    expect(await client.get('TOKEN_SECOND')).toBe(second);
    expect(await auditedSa('TOKEN_SECOND', from)).toBe('rotated');
    // And a token the operator refuses is refused on the very next call, a valid one accepted after it.
    writeFileSync(tokenFile, 'not-a-valid-token');
    await expect(client.get('TOKEN_PROBE_MISSING')).rejects.toMatchObject({ code: 'FORBIDDEN', status: 403 });
    await writeToken(tokenFile, tenantA);
    await expect(client.get('TOKEN_PROBE_MISSING')).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
  });

  it('merges concurrent lookups of one uncached name into one resolve, counted at the resolver', async () => {
    const value = planted.make('merged');
    await putSecret(tenantA, 'merged', value);
    const { client } = await sidecarFor(tenantA);
    const from = follower.logs.length;
    const N = 50;
    expect(await Promise.all(Array.from({ length: N }, () => client.get('MERGED')))).toEqual(Array.from({ length: N }, () => value));
    const resolves = () => follower.logs.slice(from).filter((l) => l.includes('"msg":"resolve"') && l.includes('"MERGED"')).length;
    // The resolver saw the name (positive control: its audit lines are what is counted) ...
    await eventually(() => (resolves() > 0 ? true : undefined), 30_000);
    // ... once, or twice should an answer from a replica behind be asked again: never once per lookup.
    expect(resolves()).toBeLessThanOrEqual(2);
  });

  it('names only the caller tenant’s secrets on /v1/changes', async () => {
    await putSecret(tenantA, 'only-in-a', planted.make('only-a'));
    await putSecret(tenantB, 'only-in-b', planted.make('only-b'));
    /** A change stream of `namespace`'s runner: its `changed` names as they arrive. */
    const follow = async (namespace: string) => {
      const { token } = await podBoundToken(kc, { namespace, serviceAccount: 'runner' });
      const frames: string[] = [];
      let ready!: () => void;
      const subscribed = new Promise<void>((r) => (ready = r));
      const req = request({ host: '127.0.0.1', port: follower.resolverPort, path: '/v1/changes', method: 'GET', ca: caPem, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            frames.push(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (frames.some((f) => f.startsWith('event: ready'))) ready();
          }
        });
      });
      req.on('error', () => undefined);
      req.end();
      await subscribed;
      const named = () => frames.filter((f) => f.startsWith('event: changed')).map((f) => (JSON.parse(/^data: (.*)$/m.exec(f)?.[1] ?? '{}') as { name?: string }).name);
      return { frames, named, close: () => req.destroy() };
    };
    const a = await follow(tenantA);
    const b = await follow(tenantB);
    try {
      // B's change, seen by this replica: B's own stream names it (the witness that it was sent).
      await putSecret(tenantB, 'only-in-b', planted.make('only-b-2'));
      await eventually(() => (b.named().includes('ONLY_IN_B') ? true : undefined), 30_000, 50);
      // Then A's: one stream is one ordered connection, so had B's change been written to A's
      // stream it would have arrived before A's own.
      const before = a.named().length;
      await putSecret(tenantA, 'only-in-a', planted.make('only-a-2'));
      await eventually(() => (a.named().slice(before).includes('ONLY_IN_A') ? true : undefined), 30_000, 50);
      expect(a.named()).not.toContain('ONLY_IN_B');
      expect(b.named()).not.toContain('ONLY_IN_A');
      expect(findLeaks([...a.frames, ...b.frames].join('\n'), planted.all)).toEqual([]);
    } finally {
      a.close();
      b.close();
    }
  });

  it('leaves an audit line per resolve, with tenant, pod, service account, names and outcome, never a value', async () => {
    const value = planted.make('audited');
    await putSecret(tenantA, 'audited', value);
    // A pod-bound token, as the kubelet projects it: the audit line names the pod.
    const core = kc.makeApiClient(CoreV1Api);
    const pod = await core.createNamespacedPod({ namespace: tenantA, body: { metadata: { name: 'audited-runner' }, spec: { serviceAccountName: 'runner', automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'runner:1' }] } } });
    const request_ = await core.createNamespacedServiceAccountToken({
      name: 'runner',
      namespace: tenantA,
      body: { spec: { audiences: ['orka-secrets'], expirationSeconds: 600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'audited-runner', uid: pod.metadata?.uid } } },
    });
    const token = request_.status?.token as string;
    const before = follower.logs.length;
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: follower.resolverPort, path: '/v1/resolve', method: 'POST', ca: caPem, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ names: ['AUDITED', 'NOT_THERE'] }));
    });
    expect(JSON.parse(body)).toMatchObject({ values: { AUDITED: value }, missing: ['NOT_THERE'] });
    const line = await eventually(() => follower.logs.slice(before).find((l) => l.includes('"msg":"resolve"')));
    const audit = JSON.parse(line) as Record<string, unknown>;
    expect(audit).toMatchObject({ tenant: tenantA, pod: 'audited-runner', sa: 'runner', names: ['AUDITED', 'NOT_THERE'], missing: ['NOT_THERE'], outcome: 'partial' });
    expect(findLeaks(follower.logs.join('\n'), planted.all)).toEqual([]);
  });

  it('forgets every cached value when the change stream reconnects, even to the same operator address', async () => {
    const first = planted.make('flush-1');
    await putSecret(tenantA, 'flush-me', first);
    const { sidecar, client } = await sidecarFor(tenantA);
    expect(await client.get('FLUSH_ME')).toBe(first);
    const ports = { port: follower.port, resolverPort: follower.resolverPort };
    await follower.stop('SIGKILL');
    await eventually(async () => ((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream === 'down' || undefined);
    // Changed while the sidecar cannot hear of it: the leader stores it, and the replica that
    // comes back on the same address has it in its cache before the sidecar subscribes again,
    // so no change event will ever name it. Only forgetting everything on reconnect helps.
    const second = planted.make('flush-2');
    await putSecret(tenantA, 'flush-me', second);
    follower = await startFollower(ports);
    operators.push(follower);
    await follower.waitForLog(/resolver API and webhooks listening/);
    await streamUp(sidecar);
    expect(await client.get('FLUSH_ME')).toBe(second);
  });

  it('logs no planted value, in any form, in any process', () => {
    const logs = [...sidecars.flatMap((s) => s.logs), ...operators.flatMap((o) => o.logs)].join('\n');
    expect(logs).toContain('change stream');
    expect(findLeaks(logs, planted.all)).toEqual([]);
  });
});

describe('leak scan', () => {
  it('finds no planted value in any operator or sidecar log, OrkaSecret, Event or in etcd, in any encoded form', async () => {
    expect(planted.all.length).toBeGreaterThan(5);
    // Every value here was sealed (none came from a Kubernetes Secret), so it must exist nowhere in
    // plain form: not even in etcd.
    const core = kc.makeApiClient(CoreV1Api);
    // Control canaries, planted where each search must find them: a description (in the
    // OrkaSecrets and, JSON-escaped, in etcd), an Event's message, a log line.
    const control = canaries('CONTROL').make('description');
    await custom.createNamespacedCustomObject({ ...osecCoords(tenantB), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'leak-control' }, spec: { description: control } } });
    await core.createNamespacedEvent({
      namespace: tenantB,
      body: { metadata: { name: uniqueName('leak-control') }, involvedObject: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', namespace: tenantB, name: 'leak-control' }, reason: 'Control', message: control, type: 'Normal' },
    });

    // The logs of every process this file started, the follower killed midway included.
    expect(operators.length).toBeGreaterThanOrEqual(3);
    const logs = [...operators.flatMap((o) => o.logs), ...sidecars.flatMap((s) => s.logs)].join('\n');
    expect(logs).toContain('"msg":"value stored"');
    expect(logs).toContain('change stream');
    expect(findLeaks(`${logs}\n${JSON.stringify({ msg: control })}`, [control])).toHaveLength(1);
    expect(findLeaks(logs, planted.all), 'in the operator and sidecar logs').toEqual([]);

    // The OrkaSecrets (spec and status) and the Events of every namespace involved.
    const namespaces = [opNamespace, tenantA, tenantB];
    const osecs = JSON.stringify(await Promise.all(namespaces.map((namespace) => custom.listNamespacedCustomObject(osecCoords(namespace)))));
    expect(osecs).toContain('"reason":"Stored"');
    expect(findLeaks(osecs, [control])).toHaveLength(1);
    expect(findLeaks(osecs, planted.all), 'in the OrkaSecrets').toEqual([]);
    const events = JSON.stringify(await Promise.all(namespaces.map(async (namespace) => (await core.listNamespacedEvent({ namespace })).items)));
    expect(events).toContain('value stored as version');
    expect(findLeaks(events, [control])).toHaveLength(1);
    expect(findLeaks(events, planted.all), 'in the Events').toEqual([]);

    // etcd, everything under /registry: the control is there (in the OrkaSecret JSON-escaped, in
    // the Event as it is).
    const etcd = etcdText(cp.etcdUrl);
    expect(findLeaks(etcd, [control])).toHaveLength(1);
    expect(findLeaks(etcd, planted.all), 'in etcd').toEqual([]);
  });
});
