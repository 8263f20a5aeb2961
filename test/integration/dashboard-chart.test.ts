/**
 * The chart's dashboard.enabled: rendered by hack/helm-render, accepted by the real apiserver
 * (server dry run), off by default, hosts required, pods within the restricted profile, and a
 * ServiceAccount whose only right is to review tokens (the page acts with each person's own token,
 * and reviews it to show who is signed in).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import { Ajv } from 'ajv';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminKubeConfig, createNamespace, installCrd, kubectl } from '../env/kube.js';
import { parseManifests } from '../env/manifests.js';
import { restrictedViolations } from '../env/pod-security.js';

const cp = inject('controlPlane');
let renderer: string;
let dir: string;

type Doc = { kind: string; metadata: { name: string }; subjects?: Array<{ kind: string; name: string }> } & Record<string, unknown>;

function render(namespace: string, values?: object): { docs: Doc[]; stderr: string; code: number } {
  const args = ['-chart', 'charts/orka-secrets', '-name', 'page', '-namespace', namespace];
  if (values) {
    const file = join(dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, stringify(values));
    args.push('-f', file);
  }
  const res = spawnSync(renderer, args, { encoding: 'utf8' });
  const docs = res.status === 0 ? parseManifests<Doc>(res.stdout) : [];
  return { docs, stderr: res.stderr, code: res.status ?? -1 };
}

const dashboardDocs = (docs: Doc[]) => docs.filter((d) => d.metadata.name.endsWith('-dashboard'));

beforeAll(async () => {
  renderer = execFileSync('hack/helm-render.sh', { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
  dir = mkdtempSync(join(tmpdir(), 'orka-dashboard-chart-'));
  await installCrd(adminKubeConfig(cp));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('chart: dashboard.enabled', () => {
  it('renders nothing of the dashboard by default', () => {
    const { docs, code } = render('orka-system');
    expect(code).toBe(0);
    expect(dashboardDocs(docs)).toEqual([]);
  });

  it('values.schema.json takes the dashboard values (Helm validates --set against it)', () => {
    const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync('charts/orka-secrets/values.schema.json', 'utf8')) as object);
    expect(validate({ dashboard: { enabled: true, hosts: ['secrets.example.com'], auth: 'proxy', replicas: 2 } }), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ dashboard: { enabled: true, auth: 'basic' } })).toBe(false);
  });

  it('refuses to render without the host names the page is served under', () => {
    const { code, stderr } = render('orka-system', { dashboard: { enabled: true } });
    expect(code).not.toBe(0);
    expect(stderr).toContain('dashboard.hosts: the host names people reach the page under');
  });

  it('renders a Deployment, Service and a ServiceAccount that may only review tokens, which the apiserver accepts', async () => {
    const namespace = await createNamespace(adminKubeConfig(cp), { prefix: 'dash-chart' });
    const { docs, code, stderr } = render(namespace, { dashboard: { enabled: true, hosts: ['secrets.example.com', 'secrets.internal'], auth: 'proxy' } });
    expect(code, stderr).toBe(0);
    const mine = dashboardDocs(docs);
    expect(mine.map((d) => d.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Service', 'ServiceAccount']);

    const deployment = mine.find((d) => d.kind === 'Deployment') as unknown as V1Deployment;
    const pod = deployment.spec?.template.spec;
    expect(pod?.containers[0]?.args).toEqual(['dashboard']);
    expect(pod?.containers[0]?.env).toEqual(
      expect.arrayContaining([
        { name: 'ORKA_DASHBOARD_HOSTS', value: 'secrets.example.com,secrets.internal' },
        { name: 'ORKA_DASHBOARD_AUTH', value: 'proxy' },
        { name: 'ORKA_DASHBOARD_SECURE_COOKIE', value: 'true' },
        { name: 'ORKA_NAMESPACE', value: namespace },
      ]),
    );
    expect(pod?.containers[0]?.readinessProbe?.httpGet?.path).toBe('/healthz');
    expect(restrictedViolations(pod ?? { containers: [] })).toEqual([]);
    // The operator's Service must not pick the dashboard's pods, nor the dashboard's the operator's.
    const selectors = docs.filter((d) => d.kind === 'Service').map((d) => (d as unknown as { spec: { selector: Record<string, string> } }).spec.selector['app.kubernetes.io/component']);
    expect(selectors).toEqual(expect.arrayContaining(['operator', 'dashboard']));
    // Its one binding gives it one right: create TokenReviews (to show who is signed in).
    const bindings = docs.filter((d) => (d.kind === 'RoleBinding' || d.kind === 'ClusterRoleBinding') && (d.subjects ?? []).some((s) => s.name.endsWith('-dashboard')));
    expect(bindings.map((b) => `${b.kind}/${b.metadata.name} -> ${(b as unknown as { roleRef: { name: string } }).roleRef.name}`)).toEqual(['ClusterRoleBinding/page-orka-secrets-dashboard -> page-orka-secrets-dashboard']);
    expect(mine.find((d) => d.kind === 'ClusterRole')?.rules).toEqual([{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }]);

    const res = kubectl(cp, ['apply', '--dry-run=server', '-f', '-'], mine.map((d) => stringify(d)).join('---\n'));
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/deployment.apps\/page-orka-secrets-dashboard created \(server dry run\)/);
  });
});
