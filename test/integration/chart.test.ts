/**
 * The Helm chart, rendered by hack/helm-render (Go text/template + Sprig, Helm's engine): values
 * checked against values.schema.json, every object accepted by the real apiserver, RBAC without
 * wildcards, and enough: the operator runs with nothing but the chart's ServiceAccount token.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { AdmissionregistrationV1Api, ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1CustomResourceDefinition, type V1PodSpec } from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OrkaSecret } from '../../src/operator/resource.js';
import { adminKubeConfig, createNamespace, crdManifest, createServiceAccount, installCrd, kubectl, requestToken, uniqueName } from '../env/kube.js';
import { restrictedViolations } from '../env/pod-security.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
const CHART = 'charts/orka-secrets';
let kc: KubeConfig;
let renderer: string;
let dir: string;
let operator: OperatorProcess | undefined;
const release = uniqueName('chart');

type Doc = { kind: string; metadata: { name: string }; rules?: Array<{ apiGroups?: string[]; resources?: string[]; verbs?: string[] }> };

function render(namespace: string, sets: string[] = [], chart = CHART): Doc[] {
  const out = execFileSync(renderer, ['-chart', chart, '-name', release, '-namespace', namespace, ...sets.flatMap((s) => ['-set', s])]).toString();
  return parseAllDocuments(out).map((d) => d.toJS() as Doc).filter((d) => d !== null);
}

/** kubectl's stderr without the warning it gives when applying over the CRD that installCrd created (no last-applied annotation). */
function withoutLastAppliedWarning(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l !== '' && !/missing the kubectl.kubernetes.io\/last-applied-configuration annotation/.test(l))
    .join('\n');
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  renderer = execFileSync('hack/helm-render.sh', { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
  dir = mkdtempSync(join(tmpdir(), 'orka-chart-test-'));
  await installCrd(kc);
});

afterAll(async () => {
  await operator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('values', () => {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(`${CHART}/values.schema.json`, 'utf8')) as object);

  it('the defaults satisfy the schema, and every default is documented', () => {
    const values = parse(readFileSync(`${CHART}/values.yaml`, 'utf8')) as Record<string, unknown>;
    expect(validate(values), JSON.stringify(validate.errors)).toBe(true);
    const text = readFileSync(`${CHART}/values.yaml`, 'utf8');
    for (const key of Object.keys(values)) expect(text, key).toMatch(new RegExp(`# --[^\\n]*\\n(#[^\\n]*\\n)*${key}:|${key}:\\n(\\s+# --)`));
  });

  it.each([
    ['replicaCount: 0', { replicaCount: 0 }],
    ['an unknown key', { replicas: 2 }],
    ['a bad failure policy', { webhook: { failurePolicy: 'Maybe' } }],
    ['a bad duration', { tls: { renewBefore: 'soon' } }],
  ])('refuses %s', (_what, override) => {
    const values = { ...(parse(readFileSync(`${CHART}/values.yaml`, 'utf8')) as object), ...override };
    expect(validate(values)).toBe(false);
  });
});

describe('rendered chart', () => {
  it('renders every object, and the apiserver accepts them all (server-side dry run)', async () => {
    const namespace = await createNamespace(kc, { prefix: 'orka-chart-dry' });
    const docs = render(namespace, ['serviceMonitor.enabled=false']);
    expect(docs.map((d) => d.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Deployment', 'MutatingWebhookConfiguration', 'PodDisruptionBudget', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'ServiceAccount', 'ValidatingWebhookConfiguration']);
    const res = kubectl(cp, ['apply', '--dry-run=server', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));
    expect(withoutLastAppliedWarning(res.stderr)).toBe('');
    expect(res.stdout.trim().split('\n')).toHaveLength(13);
  });

  it('has no wildcard in any RBAC rule', () => {
    for (const doc of render('orka-system').filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole')) {
      for (const rule of doc.rules ?? []) {
        for (const field of [rule.apiGroups, rule.resources, rule.verbs]) expect(field ?? [], `${doc.kind} ${doc.metadata.name}`).not.toContain('*');
      }
    }
  });

  it('passes values through to the Deployment', () => {
    const deployment = render('ns', ['replicaCount=3', 'sidecar.nativeSidecar=true', 'image.tag=9.9.9']).find((d) => d.kind === 'Deployment') as unknown as {
      spec: { replicas: number; template: { spec: { containers: Array<{ image: string; env: Array<{ name: string; value?: string }> }> } } };
    };
    expect(deployment.spec.replicas).toBe(3);
    const container = deployment.spec.template.spec.containers[0];
    expect(container?.image).toBe('orka-secrets:9.9.9');
    expect(container?.env).toContainEqual({ name: 'ORKA_NATIVE_SIDECAR', value: 'true' });
    expect(container?.env).toContainEqual({ name: 'ORKA_SIDECAR_IMAGE', value: 'orka-secrets:9.9.9' });
  });
});

// Kubernetes 1.20 (the test control plane) has no Pod Security admission, so every rule of the
// "restricted" profile is checked field by field on each rendered pod (test/env/pod-security.ts).
describe('Pod Security "restricted"', () => {
  type PodTemplate = { spec: { template: { metadata?: { annotations?: Record<string, string> }; spec: V1PodSpec } } };
  const pods = (docs: Doc[]): Array<[string, V1PodSpec, Record<string, string> | undefined]> =>
    docs.flatMap((d) => {
      if (d.kind === 'Deployment') {
        const t = (d as unknown as PodTemplate).spec.template;
        return [[`${d.kind} ${d.metadata.name}`, t.spec, t.metadata?.annotations]];
      }
      if (d.kind === 'Pod') return [[`Pod ${d.metadata.name}`, (d as unknown as { spec: V1PodSpec }).spec, undefined]];
      return [];
    });

  it.each([
    ['the defaults', []],
    ['no pod-level securityContext (the container settings stand alone)', ['podSecurityContext=null']],
  ])('every pod the chart makes meets it with %s', (_what, sets) => {
    const found = pods(render('orka-system', sets));
    expect(found.length).toBeGreaterThan(0);
    for (const [where, spec, annotations] of found) expect(restrictedViolations(spec, annotations), where).toEqual([]);
  });

  it('a loosened securityContext value is caught (the check can fail)', () => {
    const [[, spec]] = pods(render('orka-system', ['securityContext.allowPrivilegeEscalation=true'])) as [[string, V1PodSpec, unknown]];
    expect(restrictedViolations(spec).map((v) => v.rule)).toEqual(['Privilege Escalation']);
  });
});

describe('the CRD, shipped as a template', () => {
  type Crd = Doc & { metadata: { annotations?: Record<string, string>; labels?: Record<string, string> }; spec: V1CustomResourceDefinition['spec'] };
  const crdOf = (docs: Doc[]): Crd | undefined => docs.find((d) => d.kind === 'CustomResourceDefinition') as Crd | undefined;

  it('is the repository\'s crds/orkasecret.yaml, with the release labels and the keep annotation by default', () => {
    const crd = crdOf(render('orka-system'));
    expect(crd?.spec).toEqual(crdManifest().spec);
    expect(crd?.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(crd?.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': release });
  });

  it('crds.keep=false drops the annotation; crds.install=false leaves the CRD out', () => {
    expect(crdOf(render('orka-system', ['crds.keep=false']))?.metadata.annotations).toBeUndefined();
    expect(crdOf(render('orka-system', ['crds.install=false']))).toBeUndefined();
  });

  it('an upgrade applies a changed CRD through the chart, and existing objects stay', async () => {
    // A copy of the chart whose CRD has its own group, so that this test's upgrade cannot race
    // the other test files, which share the cluster's orkasecrets.orka.io.
    const group = `${uniqueName('upgrade')}.orka.io`;
    const chartAt = (version: string, change: (crd: V1CustomResourceDefinition) => void): string => {
      const copy = join(dir, `chart-${version}`);
      execFileSync('cp', ['-rL', CHART, copy]);
      const crd = crdManifest();
      crd.metadata!.name = `orkasecrets.${group}`;
      crd.spec.group = group;
      change(crd);
      writeFileSync(join(copy, 'files/orkasecret.crd.yaml'), stringify(crd));
      return copy;
    };
    const applyCrd = (chart: string): void => {
      const crd = crdOf(render('orka-system', [], chart));
      const res = kubectl(cp, ['apply', '-f', '-'], stringify(crd));
      expect(res.stderr).toBe('');
    };
    const api = kc.makeApiClient(ApiextensionsV1Api);
    const established = async (check: (crd: V1CustomResourceDefinition) => boolean): Promise<V1CustomResourceDefinition> =>
      await eventually(async () => {
        const crd = await api.readCustomResourceDefinition({ name: `orkasecrets.${group}` });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') && check(crd) ? crd : undefined;
      });
    const namespace = await createNamespace(kc, { prefix: 'crd-upgrade' });
    const custom = kc.makeApiClient(CustomObjectsApi);
    const create = (name: string, spec: object): Promise<object> =>
      custom.createNamespacedCustomObject({ group, version: 'v1alpha1', plural: 'orkasecrets', namespace, body: { apiVersion: `${group}/v1alpha1`, kind: 'OrkaSecret', metadata: { name }, spec } });
    try {
      applyCrd(chartAt('1', () => undefined));
      await established(() => true);
      await create('before-upgrade', { description: 'made under the old schema' });

      // The new chart version: a new optional field and a new printer column.
      applyCrd(
        chartAt('2', (crd) => {
          const version = crd.spec.versions[0]!;
          version.schema!.openAPIV3Schema!.properties!.spec!.properties!.upgradeProbe = { type: 'string', description: 'Added by the upgrade test.' };
          version.additionalPrinterColumns!.push({ name: 'Probe', type: 'string', jsonPath: '.spec.upgradeProbe' });
        }),
      );
      const upgraded = await established((crd) => crd.spec.versions[0]!.additionalPrinterColumns!.some((c) => c.name === 'Probe'));
      expect(upgraded.metadata?.annotations?.['helm.sh/resource-policy']).toBe('keep');
      // The new field is served (an undeclared one would be pruned), and the old object is still there.
      await eventually(async () => {
        try {
          const made = (await create(`after-${Date.now()}`, { upgradeProbe: 'kept' })) as { spec: { upgradeProbe?: string } };
          return made.spec.upgradeProbe === 'kept' ? true : undefined;
        } catch {
          return undefined;
        }
      });
      const before = (await custom.getNamespacedCustomObject({ group, version: 'v1alpha1', plural: 'orkasecrets', namespace, name: 'before-upgrade' })) as { spec: { description: string } };
      expect(before.spec.description).toBe('made under the old schema');
    } finally {
      await api.deleteCustomResourceDefinition({ name: `orkasecrets.${group}` }).catch(() => undefined);
    }
  });
});

describe('least privilege', () => {
  it('the operator does its whole job with only the chart RBAC', async () => {
    const namespace = await createNamespace(kc, { prefix: 'orka-chart' });
    const tenant = await createNamespace(kc, { prefix: 'chart-tenant', tenant: 'chart' });
    const docs = render(namespace).filter((d) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(d.kind));
    const applied = kubectl(cp, ['apply', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));
    expect(applied.stderr).toBe('');
    const fullname = docs.find((d) => d.kind === 'ServiceAccount')?.metadata.name as string;
    // Its own webhook configuration, matching nothing, to see the CA bundle written under RBAC.
    await kc.makeApiClient(AdmissionregistrationV1Api).createValidatingWebhookConfiguration({
      body: {
        metadata: { name: fullname },
        webhooks: [{ name: 'orkasecrets.orka.io', clientConfig: { url: 'https://127.0.0.1:1/x' }, rules: [{ operations: ['CREATE'], apiGroups: ['orka.io'], apiVersions: ['v1alpha1'], resources: ['orkasecrets'] }], namespaceSelector: { matchLabels: { 'orka.io/never': 'true' } }, sideEffects: 'None', admissionReviewVersions: ['v1'] }],
      },
    });
    const token = await requestToken(kc, { namespace, serviceAccount: fullname, audience: 'https://kubernetes.default.svc', expirationSeconds: 3600 });
    const kubeconfig = parse(readFileSync(cp.kubeconfigPath, 'utf8')) as { users: Array<{ user: { token: string } }> };
    kubeconfig.users[0]!.user.token = token;
    const path = join(dir, 'operator-kubeconfig');
    writeFileSync(path, stringify(kubeconfig));
    operator = await startOperator({ kubeconfigPath: path, namespace, identity: 'chart-op', env: { ORKA_WATCH_NAMESPACES: tenant, ORKA_MUTATING_WEBHOOK: fullname, ORKA_VALIDATING_WEBHOOK: fullname } });
    await operator.waitForLog(/resolver API and webhooks listening/);
    // Reconcile: storage, status, events.
    const custom = kc.makeApiClient(CustomObjectsApi);
    const sealedValue = await sealWithPublishedCert(kc, namespace, tenant, 'CHART_KEY', 'chart-value');
    await custom.createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: tenant, body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'chart-key' }, spec: { sealedValue } } });
    await eventually(async () => {
      const o = (await custom.getNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: tenant, name: 'chart-key' })) as OrkaSecret;
      return o.status?.conditions?.[0]?.reason === 'Stored' ? true : undefined;
    });
    // Resolve: TokenReview under the chart's RBAC.
    await createServiceAccount(kc, tenant, 'runner');
    const runner = await requestToken(kc, { namespace: tenant, serviceAccount: 'runner', audience: 'orka-secrets' });
    const tls = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'orka-secrets-tls', namespace });
    const answer = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: operator?.resolverPort, path: '/v1/resolve', method: 'POST', ca: Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64'), headers: { authorization: `Bearer ${runner}`, 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ names: ['CHART_KEY'] }));
    });
    expect(JSON.parse(answer)).toEqual({ values: { CHART_KEY: 'chart-value' }, missing: [] });
    // The CA bundle, written with get/update on that one configuration by name.
    await eventually(async () => {
      const v = await kc.makeApiClient(AdmissionregistrationV1Api).readValidatingWebhookConfiguration({ name: fullname });
      return v.webhooks?.[0]?.clientConfig.caBundle ? true : undefined;
    });
    await kc.makeApiClient(AdmissionregistrationV1Api).deleteValidatingWebhookConfiguration({ name: fullname });
    expect(operator.logs.filter((l) => /forbidden/i.test(l))).toEqual([]);
  });
});
