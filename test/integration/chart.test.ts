/**
 * The Helm chart, rendered by hack/helm-render (Go text/template + Sprig, Helm's engine): values
 * checked against values.schema.json, every object accepted by the real apiserver, RBAC without
 * wildcards, and enough: the operator runs with nothing but the chart's ServiceAccount token.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { AdmissionregistrationV1Api, ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, SchedulingV1Api, setHeaderOptions, type KubeConfig, type V1CustomResourceDefinition, type V1PodSpec } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OrkaSecret } from '../../src/api/resource.js';
import { adminKubeConfig, createNamespace, crdManifest, waitForReady, createServiceAccount, installCrd, kubectl, podBoundToken, requestToken, uniqueName } from '../env/kube.js';
import { CHART, chartRenderer, dashboardBehindIngress, one, podSpec, type ChartRenderer, type Doc, type Obj, type RenderOptions } from '../env/chart.js';
import { createOperatorMetrics } from '../../src/operator/metrics.js';
import { createSidecarMetrics } from '../../src/sidecar/metrics.js';
import { restrictedViolations } from '../env/pod-security.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';
import { startSidecar, type SidecarProcess } from '../env/sidecar.js';
import { anchorsOf } from '../env/markdown.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let chart: ChartRenderer;
let operator: OperatorProcess | undefined;
const release = uniqueName('chart');

const render = (namespace: string, sets: string[] = [], options: RenderOptions = {}): Doc[] => chart.render(namespace, sets, options);

/** kubectl's stderr without the warning it gives when applying over the CRD that installCrd created (no last-applied annotation). */
function withoutLastAppliedWarning(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l !== '' && !/missing the kubectl.kubernetes.io\/last-applied-configuration annotation/.test(l))
    .join('\n');
}

/** A CRD of `kind` in `group` that takes any content (for dry runs of other projects' kinds). */
async function standInCrd(group: string, kind: string): Promise<void> {
  const plural = `${kind.toLowerCase()}s`;
  const body = {
    metadata: { name: `${plural}.${group}` },
    spec: { group, scope: 'Namespaced', names: { kind, plural }, versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } }] },
  };
  const api = kc.makeApiClient(ApiextensionsV1Api);
  await api.createCustomResourceDefinition({ body }).catch((err: { code?: number }) => {
    if (err.code !== 409) throw err;
  });
  await eventually(async () => ((await api.readCustomResourceDefinition({ name: body.metadata.name })).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined));
  // kubectl validates manifests against the server's OpenAPI, which publishes a new CRD a little
  // after it is Established: wait until kubectl knows the kind.
  await eventually(async () => (kubectl(cp, ['explain', `${plural}.${group}`]).code === 0 ? true : undefined));
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  chart = chartRenderer(release);
  await installCrd(kc);
});

afterAll(async () => {
  await operator?.stop();
  chart.close();
});

describe('values', () => {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(`${CHART}/values.schema.json`, 'utf8')) as object);

  it('the defaults satisfy the schema, and every default is documented', () => {
    const values = parse(readFileSync(`${CHART}/values.yaml`, 'utf8')) as Record<string, unknown>;
    expect(validate(values), JSON.stringify(validate.errors)).toBe(true);
    const text = readFileSync(`${CHART}/values.yaml`, 'utf8');
    for (const key of Object.keys(values)) expect(text, key).toMatch(new RegExp(`# --[^\\n]*\\n(#[^\\n]*\\n)*${key}:|${key}:\\n(\\s+# --)`));
  });

  it('accepts what a parent chart passes to a subchart (global, of any shape, and enabled), and renders with it', () => {
    const values = { ...(parse(readFileSync(`${CHART}/values.yaml`, 'utf8')) as object), global: { imageRegistry: 'registry.example.com', storageClass: { name: 'fast' } }, enabled: true };
    expect(validate(values), JSON.stringify(validate.errors)).toBe(true);
    expect(render('orka-system', [], { values: { global: { imageRegistry: 'registry.example.com', labels: { team: 'platform' } }, enabled: true } }).map((x) => x.kind)).toContain('Deployment');
  });

  it.each([
    ['global that is not an object', { global: 'everything' }],
    ['replicaCount: 0', { replicaCount: 0 }],
    ['an unknown key', { replicas: 2 }],
    ['a bad failure policy', { webhook: { failurePolicy: 'Maybe' } }],
    ['a webhook body budget smaller than one AdmissionReview', { operator: { listeners: { webhooks: { bodyBudget: 1024 } } } }],
    ['a bad duration', { tls: { renewBefore: 'soon' } }],
    ['a runbook base that is not an http(s) URL (Alertmanager could not follow it)', { prometheusRule: { enabled: true, runbookBaseURL: 'docs/troubleshooting.md' } }],
  ])('refuses %s', (_what, override) => {
    const values = { ...(parse(readFileSync(`${CHART}/values.yaml`, 'utf8')) as object), ...override };
    expect(validate(values)).toBe(false);
  });
});

/** A control plane's addresses, for networkPolicy.apiserver. */
const CONTROL_PLANE = [{ ipBlock: { cidr: '10.0.0.0/28' } }];

describe('every value, rendered', () => {
  it('every value has a description in values.schema.json', () => {
    const missing: string[] = [];
    const walk = (node: Obj, path: string): void => {
      if (path && typeof node.description !== 'string') missing.push(path);
      for (const [key, child] of Object.entries((node.properties ?? {}) as Obj)) walk(child as Obj, path ? `${path}.${key}` : key);
    };
    walk(JSON.parse(readFileSync(`${CHART}/values.schema.json`, 'utf8')) as Obj, '');
    expect(missing).toEqual([]);
  });

  const fullnameOf = (docs: Doc[]): string | undefined => one(docs, 'Deployment')?.metadata.name as string | undefined;
  it.each<[string, string[], RenderOptions, (docs: Doc[]) => void]>([
    ['replicaCount=1: no PodDisruptionBudget (it would block every drain)', ['replicaCount=1'], {}, (d) => expect(one(d, 'PodDisruptionBudget')).toBeUndefined()],
    ['replicaCount=2: a PodDisruptionBudget', ['replicaCount=2'], {}, (d) => expect(one(d, 'PodDisruptionBudget')?.spec.minAvailable).toBe(1)],
    ['podDisruptionBudget.enabled=false', ['replicaCount=3', 'podDisruptionBudget.enabled=false'], {}, (d) => expect(one(d, 'PodDisruptionBudget')).toBeUndefined()],
    ['priorityClassName', ['priorityClassName=system-cluster-critical'], {}, (d) => expect(podSpec(d).priorityClassName).toBe('system-cluster-critical')],
    ['imagePullSecrets', [], { values: { imagePullSecrets: [{ name: 'regcred' }] } }, (d) => {
      expect(podSpec(d).imagePullSecrets).toEqual([{ name: 'regcred' }]);
      expect((one(d, 'Pod')?.spec as Obj).imagePullSecrets).toEqual([{ name: 'regcred' }]);
    }],
    ['podLabels (the chart\'s own labels win)', [], { values: { podLabels: { team: 'payments', 'app.kubernetes.io/component': 'mine' } } }, (d) => {
      expect(one(d, 'Deployment')?.spec.template.metadata.labels).toMatchObject({ team: 'payments', 'app.kubernetes.io/component': 'operator' });
    }],
    ['podAnnotations', [], { values: { podAnnotations: { 'example.com/owner': 'platform' } } }, (d) => expect(one(d, 'Deployment')?.spec.template.metadata.annotations).toEqual({ 'example.com/owner': 'platform' })],
    ['nameOverride', ['nameOverride=vault'], {}, (d) => {
      expect(fullnameOf(d)).toBe(`${release}-vault`);
      expect(one(d, 'Deployment')?.spec.selector.matchLabels['app.kubernetes.io/name']).toBe('vault');
    }],
    ['fullnameOverride (every name, the webhooks and the env that names them)', ['fullnameOverride=secrets'], {}, (d) => {
      expect(fullnameOf(d)).toBe('secrets');
      expect(one(d, 'Service')?.metadata.name).toBe('secrets-operator');
      expect(one(d, 'MutatingWebhookConfiguration')?.webhooks[0].clientConfig.service.name).toBe('secrets-operator');
      expect(podSpec(d).containers[0].env).toContainEqual({ name: 'ORKA_VALIDATING_WEBHOOK', value: 'secrets' });
      expect(podSpec(d).containers[0].env).toContainEqual({ name: 'ORKA_SERVING_HOSTS', value: 'secrets-operator.orka-system.svc,secrets-operator.orka-system.svc.cluster.local' });
    }],
    ['serviceAccount.create=false with a name', ['serviceAccount.create=false', 'serviceAccount.name=byo'], {}, (d) => {
      expect(one(d, 'ServiceAccount')).toBeUndefined();
      expect(podSpec(d).serviceAccountName).toBe('byo');
      for (const b of d.filter((x) => x.kind.endsWith('Binding') && !x.metadata.name.endsWith('sealing-cert-reader'))) expect((b as Obj).subjects[0].name).toBe('byo');
    }],
    ['serviceAccount.name and annotations', ['serviceAccount.name=orka'], { values: { serviceAccount: { annotations: { 'iam.example.com/role': 'x' } } } }, (d) => {
      expect(one(d, 'ServiceAccount')?.metadata).toMatchObject({ name: 'orka', annotations: { 'iam.example.com/role': 'x' } });
      expect(podSpec(d).serviceAccountName).toBe('orka');
    }],
    // The tenants' roles are not the operator's: they stay (rbac.tenantRoles) unless turned off too.
    ['rbac.create=false', ['rbac.create=false'], {}, (d) => expect(d.filter((x) => /Role/.test(x.kind)).map((x) => x.metadata.name)).toEqual([`${release}-orka-secrets-tenant-edit`, `${release}-orka-secrets-tenant-view`])],
    ['rbac.tenantRoles=false', ['rbac.create=false', 'rbac.tenantRoles=false'], {}, (d) => expect(d.filter((x) => /Role/.test(x.kind))).toEqual([])],
    ['networkPolicy.enabled', ['networkPolicy.enabled=true'], { values: { networkPolicy: { apiserver: CONTROL_PLANE, metricsNamespaceSelector: { matchLabels: { team: 'obs' } } } } }, (d) => {
      const np = one(d, 'NetworkPolicy') as Obj;
      expect(np.spec.podSelector.matchLabels).toEqual(one(d, 'Deployment')?.spec.selector.matchLabels);
      expect(np.spec.ingress[0]).toEqual({ from: [{ namespaceSelector: { matchExpressions: [{ key: 'orka.io/tenant', operator: 'Exists' }] } }], ports: [{ port: 'https', protocol: 'TCP' }] });
      expect(np.spec.ingress[2].from).toEqual([{ namespaceSelector: { matchLabels: { team: 'obs' } } }]);
    }],
    ['networkPolicy: the webhook port from networkPolicy.apiserver only, the resolver port from tenant namespaces only', ['networkPolicy.enabled=true'], { values: { networkPolicy: { apiserver: [{ ipBlock: { cidr: '10.0.0.0/28' } }] } } }, (d) => {
      const np = one(d, 'NetworkPolicy') as Obj;
      expect(np.spec.ingress[1]).toEqual({ from: [{ ipBlock: { cidr: '10.0.0.0/28' } }], ports: [{ port: 'webhooks', protocol: 'TCP' }] });
      // Only the apiserver's rule names the webhook port; only the tenants' rule names the resolver's.
      expect(np.spec.ingress.filter((r: Obj) => r.ports.some((p: Obj) => p.port === 'webhooks'))).toHaveLength(1);
      expect(np.spec.ingress.filter((r: Obj) => r.ports.some((p: Obj) => p.port === 'https'))).toEqual([np.spec.ingress[0]]);
      // The named ports exist on the container.
      expect(podSpec(d).containers[0].ports.map((p: Obj) => p.name)).toEqual(expect.arrayContaining(['https', 'webhooks', 'http-metrics']));
    }],
    ['networkPolicy: the helm test pod of the release may reach the port it asks (and only that one)', ['networkPolicy.enabled=true'], { values: { networkPolicy: { apiserver: CONTROL_PLANE } } }, (d) => {
      const test = one(d, 'Pod') as Obj;
      const script = test.spec.containers[0].args[0] as string;
      const port = Number(/:(\d+)';/.exec(script)?.[1]);
      const portName = (podSpec(d).containers[0].ports as Obj[]).find((p) => p.containerPort === port)?.name as string;
      expect(portName).toBe('http-metrics');
      const admits = (np: Obj): Obj[] =>
        (np.spec.ingress as Obj[]).filter((rule) => (rule.from as Obj[]).some((peer) => peer.podSelector && !peer.namespaceSelector && Object.entries(peer.podSelector.matchLabels as Record<string, string>).every(([k, v]) => test.metadata.labels[k] === v)));
      const rules = admits(one(d, 'NetworkPolicy') as Obj);
      expect(rules.flatMap((r) => r.ports.map((p: Obj) => p.port))).toEqual([portName]);
      // The check can fail: without the test pod, no rule admits it.
      expect(admits(one(render('orka-system', ['networkPolicy.enabled=true', 'helmTest.enabled=false'], { values: { networkPolicy: { apiserver: CONTROL_PLANE } } }), 'NetworkPolicy') as Obj)).toEqual([]);
    }],
    ['the webhooks on their own port: container, Service and both webhook configurations', ['service.webhookPort=9444'], {}, (d) => {
      expect(podSpec(d).containers[0].ports).toContainEqual({ name: 'webhooks', containerPort: 9444 });
      expect(podSpec(d).containers[0].env).toContainEqual({ name: 'ORKA_WEBHOOK_PORT', value: '9444' });
      expect(one(d, 'Service')?.spec.ports).toContainEqual({ name: 'webhooks', port: 9444, targetPort: 'webhooks' });
      for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) expect(one(d, kind)?.webhooks[0].clientConfig.service.port, kind).toBe(9444);
      // Sidecars still reach the resolver on its own port.
      expect(podSpec(d).containers[0].env.find((e: Obj) => e.name === 'ORKA_OPERATOR_SERVICE_URL').value).toMatch(/:8443$/);
    }],
    ['operator.listeners: timeouts, connection caps and body budgets as env', [], { values: { operator: { listeners: { headersTimeout: '5s', requestTimeout: '20s', idleTimeout: '150s', resolver: { maxConnections: 4000, bodyBudget: 8388608 }, webhooks: { maxConnections: 100, bodyBudget: 33554432 }, http: { maxConnections: 32 } } } } }, (d) => {
      const env = podSpec(d).containers[0].env as Obj[];
      expect(env).toEqual(expect.arrayContaining([
        { name: 'ORKA_HTTP_HEADERS_TIMEOUT', value: '5s' }, { name: 'ORKA_HTTP_REQUEST_TIMEOUT', value: '20s' }, { name: 'ORKA_HTTP_IDLE_TIMEOUT', value: '150s' },
        { name: 'ORKA_RESOLVER_MAX_CONNECTIONS', value: '4000' }, { name: 'ORKA_RESOLVER_BODY_BUDGET', value: '8388608' },
        { name: 'ORKA_WEBHOOK_MAX_CONNECTIONS', value: '100' }, { name: 'ORKA_WEBHOOK_BODY_BUDGET', value: '33554432' }, { name: 'ORKA_HTTP_MAX_CONNECTIONS', value: '32' },
      ]));
    }],
    ['webhook.clientCAConfigMap: the CA mounted and named to the operator; none by default', ['webhook.clientCAConfigMap=apiserver-client-ca'], {}, (d) => {
      expect(podSpec(d).volumes).toEqual([{ name: 'webhook-client-ca', configMap: { name: 'apiserver-client-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }]);
      expect(podSpec(d).containers[0].volumeMounts).toEqual([{ name: 'webhook-client-ca', mountPath: '/etc/orka-secrets/webhook-client-ca', readOnly: true }]);
      expect(podSpec(d).containers[0].env).toContainEqual({ name: 'ORKA_WEBHOOK_CLIENT_CA', value: '/etc/orka-secrets/webhook-client-ca/ca.crt' });
      const byDefault = podSpec(render('orka-system'));
      expect(byDefault.volumes).toBeUndefined();
      expect(byDefault.containers[0].env.map((e: Obj) => e.name)).not.toContain('ORKA_WEBHOOK_CLIENT_CA');
    }],
    ['networkPolicy.metricsNamespace', ['networkPolicy.enabled=true', 'networkPolicy.metricsNamespace=prom'], { values: { networkPolicy: { apiserver: CONTROL_PLANE } } }, (d) => {
      expect((one(d, 'NetworkPolicy') as Obj).spec.ingress[2].from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prom' } } }]);
    }],
    ['networkPolicy off by default', [], {}, (d) => expect(one(d, 'NetworkPolicy')).toBeUndefined()],
    // The OrkaSecret webhooks check that whoever sets valueFrom may read that Secret: Ignore would
    // admit an unchecked one whenever no replica answers. Their policy is their own, always Fail.
    ...(['Fail', 'Ignore'] as const).map((policy): [string, string[], RenderOptions, (docs: Doc[]) => void] => [
      `webhook.failurePolicy=${policy}: injection ${policy}, the OrkaSecret webhooks always Fail`,
      [`webhook.failurePolicy=${policy}`],
      {},
      (d) => {
        const policies = (kind: string) => Object.fromEntries((one(d, kind)?.webhooks as Obj[]).map((w) => [w.name, w.failurePolicy]));
        expect(policies('ValidatingWebhookConfiguration')).toEqual({ 'orkasecrets.orka.io': 'Fail' });
        expect(policies('MutatingWebhookConfiguration')).toEqual({ 'pods.orka.io': policy, 'authorize.orkasecrets.orka.io': 'Fail' });
      },
    ]),
    ['serviceMonitor.enabled where the API is missing: skipped', ['serviceMonitor.enabled=true'], {}, (d) => expect(one(d, 'ServiceMonitor')).toBeUndefined()],
    ['serviceMonitor.enabled where the API exists', ['serviceMonitor.enabled=true', 'serviceMonitor.interval=15s'], { apiVersions: ['monitoring.coreos.com/v1'] }, (d) => expect(one(d, 'ServiceMonitor')?.spec.endpoints[0]).toMatchObject({ port: 'http-metrics', interval: '15s' })],
    ['tls.certManager.enabled: a self-signed CA, and a Certificate for the Secret the operator loads', ['tls.managed=false', 'tls.certManager.enabled=true', 'service.clusterIP=10.96.0.50'], {}, (d) => {
      expect(d.filter((x) => x.metadata && (x as Obj).apiVersion === 'cert-manager.io/v1').map((x) => x.kind)).toEqual(['Issuer', 'Certificate', 'Issuer', 'Certificate']);
      const serving = d.find((x) => x.kind === 'Certificate' && x.metadata.name.endsWith('-serving')) as Obj;
      expect(serving.spec).toMatchObject({ secretName: 'orka-secrets-tls', ipAddresses: ['10.96.0.50'], issuerRef: { name: `${fullnameOf(d)}-ca`, kind: 'Issuer' } });
      expect(serving.spec.dnsNames).toEqual([`${fullnameOf(d)}-operator.orka-system.svc`, `${fullnameOf(d)}-operator.orka-system.svc.cluster.local`]);
      expect(podSpec(d).containers[0].env).toContainEqual({ name: 'ORKA_TLS_MANAGED', value: 'false' });
    }],
    ['tls.certManager.issuerRef: only the serving Certificate', ['tls.managed=false', 'tls.certManager.enabled=true'], { values: { tls: { certManager: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' } } } } }, (d) => {
      expect(d.filter((x) => (x as Obj).apiVersion === 'cert-manager.io/v1').map((x) => x.kind)).toEqual(['Certificate']);
      expect(one(d, 'Certificate')?.spec.issuerRef).toEqual({ name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
    }],
    ['helmTest: a test hook pod asking the operator', ['service.clusterIP=10.96.0.50'], {}, (d) => {
      const pod = one(d, 'Pod') as Obj;
      expect(pod.metadata.annotations['helm.sh/hook']).toBe('test');
      expect(pod.spec.containers[0].args[0]).toContain("'http://10.96.0.50:8080'");
    }],
    ['helmTest.enabled=false', ['helmTest.enabled=false'], {}, (d) => expect(one(d, 'Pod')).toBeUndefined()],
    ['sidecar.nativeSidecar: auto by default, or forced either way', [], {}, (d) => expect(podSpec(d).containers[0].env).toContainEqual({ name: 'ORKA_NATIVE_SIDECAR', value: 'auto' })],
    ['sidecar.nativeSidecar=false', ['sidecar.nativeSidecar=false'], {}, (d) => expect(podSpec(d).containers[0].env).toContainEqual({ name: 'ORKA_NATIVE_SIDECAR', value: 'false' })],
    ['podSecurityContext and securityContext', [], { values: { podSecurityContext: { runAsUser: 1001, fsGroup: 1001 }, securityContext: { readOnlyRootFilesystem: true } } }, (d) => {
      expect(podSpec(d).securityContext).toMatchObject({ runAsUser: 1001, fsGroup: 1001 });
      expect(podSpec(d).containers[0].securityContext).toMatchObject({ readOnlyRootFilesystem: true });
    }],
  ])('%s', (_what, sets, options, check) => {
    check(render('orka-system', sets, options));
  });

  it('networkPolicy.enabled without networkPolicy.apiserver is refused: any address would make the webhook rule admit every pod', () => {
    expect(() => render('x', ['networkPolicy.enabled=true'])).toThrow(/networkPolicy.apiserver: name the addresses/);
  });

  it('refuses cert-manager while the operator also manages the certificate', () => {
    expect(() => render('x', ['tls.certManager.enabled=true'])).toThrow(/tls.certManager.enabled needs tls.managed=false/);
  });

  it('every value at once, and the apiserver accepts every object (server-side dry run)', async () => {
    // The cert-manager and Prometheus Operator kinds exist only where those are installed: stand-in
    // CRDs (any content) let the apiserver check the objects' envelopes; their schemas are not checked.
    for (const [group, kinds] of [['cert-manager.io', ['Issuer', 'Certificate']], ['monitoring.coreos.com', ['ServiceMonitor', 'PodMonitor', 'PrometheusRule']]] as const) {
      for (const kind of kinds) await standInCrd(group, kind);
    }
    await kc.makeApiClient(SchedulingV1Api).createPriorityClass({ body: { metadata: { name: `${release}-prio` }, value: 1000 } }).catch(() => undefined);
    const namespace = await createNamespace(kc, { prefix: 'orka-chart-all' });
    await createServiceAccount(kc, namespace, 'default');
    const values = {
      replicaCount: 3, nameOverride: 'orka', priorityClassName: `${release}-prio`, imagePullSecrets: [{ name: 'regcred' }],
      podLabels: { team: 'platform' }, podAnnotations: { 'example.com/a': 'b' }, serviceAccount: { name: 'orka-op', annotations: { a: 'b' } },
      webhook: { clientCAConfigMap: 'apiserver-client-ca' },
      networkPolicy: { enabled: true, apiserver: CONTROL_PLANE }, serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true }, tls: { managed: false, certManager: { enabled: true } }, service: { clusterIP: '' },
      sidecar: { runAsUser: 'platform', resources: { requests: { cpu: '10m', memory: '96Mi' }, limits: { memory: '160Mi', cpu: '500m' } }, metrics: { address: '0.0.0.0', podMonitor: { enabled: true } } },
      dashboard: dashboardBehindIngress(),
    };
    const docs = render(namespace, [], { values, apiVersions: ['monitoring.coreos.com/v1'] });
    for (const kind of ['PrometheusRule', 'ConfigMap', 'NetworkPolicy', 'ServiceMonitor', 'PodMonitor', 'Ingress', 'Certificate', 'Issuer', 'PodDisruptionBudget', 'Pod', 'CustomResourceDefinition']) expect(one(docs, kind), kind).toBeDefined();
    const res = kubectl(cp, ['apply', '--dry-run=server', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));
    expect(withoutLastAppliedWarning(res.stderr), res.stderr).toBe('');
    expect(res.stdout.trim().split('\n')).toHaveLength(docs.length);
  });
});

describe('alerts and dashboard', () => {
  // What /metrics serves: a scrape of a running operator and of a running sidecar (every family is
  // announced by its # TYPE line, series or not; histograms as _bucket, _sum, _count), with the
  // label names of each metric: those of its samples, those the operator's registry declares (a
  // labelled series appears only once counted), and the target labels Prometheus adds.
  const exported = new Map<string, Set<string>>();
  const scrapes: Record<'operator' | 'sidecar', string> = { operator: '', sidecar: '' };
  const TARGET_LABELS = ['namespace', 'service', 'pod', 'job', 'instance', 'endpoint', 'container'];
  let scraped: { operator: OperatorProcess; sidecar: SidecarProcess } | undefined;
  beforeAll(async () => {
    const namespace = await createNamespace(kc, { prefix: 'orka-chart-scrape' });
    const op = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace, identity: 'chart-scrape' });
    await op.waitForLog(/resolver API and webhooks listening/);
    const tls = await eventually(async () => (await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'orka-secrets-tls', namespace }).catch(() => undefined))?.data?.['ca.crt']);
    writeFileSync(join(chart.dir, 'scrape-ca.crt'), Buffer.from(tls, 'base64'));
    writeFileSync(join(chart.dir, 'scrape-token'), 'not-a-token');
    const sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${op.resolverPort}`, tokenFile: join(chart.dir, 'scrape-token'), caFile: join(chart.dir, 'scrape-ca.crt') });
    scraped = { operator: op, sidecar };
    scrapes.operator = await (await fetch(`http://127.0.0.1:${op.port}/metrics`)).text();
    scrapes.sidecar = await (await fetch(`http://127.0.0.1:${sidecar.metricsPort}/metrics`)).text();
    const { registry } = createOperatorMetrics();
    const declared = (name: string): string[] => (registry.getSingleMetric(name) as unknown as { labelNames?: string[] } | undefined)?.labelNames ?? [];
    for (const text of Object.values(scrapes)) {
      for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm) as Iterable<[string, string, string]>) {
        const samples = [...text.matchAll(new RegExp(`^${name}(?:_bucket|_sum|_count)?\\{([^}]*)\\}`, 'gm'))].flatMap((m) => [...(m[1] as string).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)].map((l) => l[1] as string));
        const labels = new Set([...TARGET_LABELS, ...samples, ...declared(name)]);
        const names = type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
        for (const n of names) exported.set(n, n.endsWith('_bucket') ? new Set([...labels, 'le']) : labels);
      }
    }
    exported.set('up', new Set(TARGET_LABELS)); // Prometheus' own, per scrape target
  });
  afterAll(async () => {
    await scraped?.sidecar.stop();
    await scraped?.operator.stop();
  });

  /** Every selector `metric{label="..."}` and bare metric name in a PromQL expression. */
  function seriesOf(expr: string): Array<{ metric: string; labels: string[] }> {
    const withoutStrings = expr.replace(/"[^"]*"/g, '""');
    const out: Array<{ metric: string; labels: string[] }> = [];
    for (const m of withoutStrings.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g)) {
      const [, name, matchers] = m as unknown as [string, string, string | undefined];
      if (!name.startsWith('orka_') && name !== 'up') continue;
      out.push({ metric: name, labels: [...(matchers ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)/g)].map((l) => l[1] as string) });
    }
    return out;
  }

  const check = (where: string, expr: string): void => {
    const series = seriesOf(expr);
    expect(series.length, `${where}: ${expr}`).toBeGreaterThan(0);
    for (const { metric, labels } of series) {
      expect(exported.has(metric), `${where} names ${metric}, which no scrape of the operator or a sidecar shows`).toBe(true);
      for (const label of labels) expect([...(exported.get(metric) ?? [])], `${where}: ${metric} has no label ${label}`).toContain(label);
    }
  };

  it('every alert expression names metrics (and labels) the operator exports', () => {
    const docs = render('orka-system', ['prometheusRule.enabled=true'], { apiVersions: ['monitoring.coreos.com/v1'] });
    const rules = (one(docs, 'PrometheusRule') as Obj).spec.groups.flatMap((g: Obj) => g.rules) as Array<{ alert: string; expr: string }>;
    expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining(['OrkaSecretsOperatorDown', 'OrkaSecretsNoLeader', 'OrkaSecretsReconcileErrors', 'OrkaSecretsCertificateExpiring', 'OrkaSecretsResolverErrors']));
    for (const rule of rules) check(rule.alert, rule.expr);
  });

  // promtool, Prometheus' own checker (Debian's prometheus package, installed by make
  // test-integration): the rules load, and each alert fires on series that mean trouble and stays
  // quiet on healthy ones.
  describe('with promtool', () => {
    const rulesOf = (docs: Doc[]) => (one(docs, 'PrometheusRule') as Obj).spec as { groups: Array<{ rules: Array<{ alert: string; expr: string; annotations: Record<string, string>; labels: Record<string, string> }> }> };
    const promtool = (args: string[], input?: string) => spawnSync('promtool', args, { input, encoding: 'utf8' });

    it('check rules: the rendered PrometheusRule loads', () => {
      const file = join(chart.dir, 'rules.yaml');
      writeFileSync(file, stringify(rulesOf(render('orka-system', ['prometheusRule.enabled=true'], { apiVersions: ['monitoring.coreos.com/v1'] }))));
      const res = promtool(['check', 'rules', file]);
      expect(res.status, res.stdout + res.stderr).toBe(0);
      expect(res.stdout).toMatch(/SUCCESS: 7 rules found/);
    });

    it('test rules: every alert fires on its trouble, and none on a healthy operator', () => {
      const docs = render('orka-system', ['prometheusRule.enabled=true'], { apiVersions: ['monitoring.coreos.com/v1'] });
      const service = (docs.find((x) => x.kind === 'Service' && x.metadata.name.endsWith('-operator')) as Doc).metadata.name;
      const sel = `namespace="orka-system",service="${service}"`;
      const rules = rulesOf(docs).groups.flatMap((g) => g.rules);
      const rulesFile = join(chart.dir, 'alert-rules.yaml');
      writeFileSync(rulesFile, stringify(rulesOf(docs)));
      // Series at one-minute steps: each alert's trouble, and when it has lasted past its `for`.
      const trouble: Record<string, { series: Array<[string, string]>; at: string }> = {
        OrkaSecretsOperatorDown: { series: [[`up{${sel}}`, '0x20']], at: '10m' },
        OrkaSecretsNoLeader: { series: [[`orka_operator_is_leader{${sel},pod="a"}`, '0x20']], at: '10m' },
        OrkaSecretsReconcileErrors: { series: [[`orka_operator_reconciles_total{${sel},result="Error"}`, '0+10x40']], at: '30m' },
        OrkaSecretsCertificateExpiring: { series: [[`orka_operator_certificate_expiry_timestamp_seconds{${sel}}`, '86400x180']], at: '2h' },
        OrkaSecretsResolverErrors: { series: [[`orka_operator_resolver_requests_total{${sel},outcome="error"}`, '0+10x40'], [`orka_operator_resolver_requests_total{${sel},outcome="ok"}`, '0+10x40']], at: '30m' },
        OrkaSecretsAdmissionErrors: { series: [[`orka_operator_admissions_total{${sel},result="error"}`, '0+1x40']], at: '30m' },
        OrkaSecretsReencryptionStalled: { series: [[`orka_operator_reencryption_pending{${sel},tenant="t"}`, '5x120'], [`orka_operator_values_reencrypted_total{${sel}}`, '3x120']], at: '90m' },
      };
      expect(Object.keys(trouble).sort()).toEqual(rules.map((r) => r.alert).sort());
      // Healthy: up, a leader, no errors, a certificate a year away, re-encryption done.
      const healthy: Array<[string, string]> = [
        [`up{${sel}}`, '1x120'],
        [`orka_operator_is_leader{${sel},pod="a"}`, '1x120'],
        [`orka_operator_reconciles_total{${sel},result="Error"}`, '0x120'],
        [`orka_operator_certificate_expiry_timestamp_seconds{${sel}}`, `${365 * 86400}x120`],
        [`orka_operator_resolver_requests_total{${sel},outcome="ok"}`, '0+10x120'],
        [`orka_operator_resolver_requests_total{${sel},outcome="error"}`, '0x120'],
        [`orka_operator_admissions_total{${sel},result="error"}`, '0x120'],
        [`orka_operator_reencryption_pending{${sel},tenant="t"}`, '0x120'],
      ];
      const tests = [
        ...rules.map((rule) => ({
          interval: '1m',
          input_series: (trouble[rule.alert]?.series ?? []).map(([series, values]) => ({ series, values })),
          alert_rule_test: [{ eval_time: trouble[rule.alert]?.at, alertname: rule.alert, exp_alerts: [{ exp_labels: rule.labels, exp_annotations: rule.annotations }] }],
        })),
        { interval: '1m', input_series: healthy.map(([series, values]) => ({ series, values })), alert_rule_test: rules.map((rule) => ({ eval_time: '110m', alertname: rule.alert, exp_alerts: [] })) },
      ];
      const testFile = join(chart.dir, 'alert-tests.yaml');
      writeFileSync(testFile, stringify({ rule_files: [rulesFile], evaluation_interval: '1m', tests }));
      const res = promtool(['test', 'rules', testFile]);
      expect(res.status, res.stdout + res.stderr).toBe(0);
      // The check can fail: the trouble of one alert left out, it does not fire and promtool says so.
      const admission = tests[rules.findIndex((r) => r.alert === 'OrkaSecretsAdmissionErrors')];
      writeFileSync(testFile, stringify({ rule_files: [rulesFile], evaluation_interval: '1m', tests: [{ ...admission, input_series: [] }] }));
      expect(promtool(['test', 'rules', testFile]).status).not.toBe(0);
    });

    it('check metrics: what a running operator and a running sidecar serve on /metrics lints clean', () => {
      // prom-client's default Node.js collectors name three gauges with _total (active handles,
      // requests, resources): that is the library's naming, reported and left as it is.
      const known = /^orka_operator_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
      expect(scrapes.operator).toMatch(/^# TYPE orka_operator_is_leader gauge$/m);
      expect(scrapes.sidecar).toMatch(/^# TYPE orka_sidecar_requests_total counter$/m);
      for (const [who, text] of Object.entries(scrapes)) {
        const res = promtool(['check', 'metrics'], text);
        const problems = `${res.stdout}${res.stderr}`.split('\n').filter((l) => l.trim() !== '' && !known.test(l.trim()));
        expect(problems, who).toEqual([]);
      }
    });
  });

  it('runbook_url only with prometheusRule.runbookBaseURL (a relative link is dead in Alertmanager); then on every alert, to a heading of docs/troubleshooting.md', () => {
    const rules = (sets: string[]) => (one(render('orka-system', ['prometheusRule.enabled=true', ...sets], { apiVersions: ['monitoring.coreos.com/v1'] }), 'PrometheusRule') as Obj).spec.groups.flatMap((g: Obj) => g.rules) as Array<{ alert: string; annotations: Record<string, string> }>;
    expect(rules([]).filter((r) => 'runbook_url' in r.annotations).map((r) => r.alert)).toEqual([]);
    const anchors = anchorsOf(readFileSync('docs/troubleshooting.md', 'utf8'));
    const base = 'https://git.example.com/orka-secrets/blob/v1/docs/troubleshooting.md';
    const linked = rules([`prometheusRule.runbookBaseURL=${base}`]);
    expect(linked.length).toBeGreaterThan(0);
    for (const rule of linked) {
      const [url, anchor] = (rule.annotations.runbook_url ?? '').split('#') as [string, string | undefined];
      expect(url, rule.alert).toBe(base);
      expect(anchor, rule.alert).toBe(rule.alert.toLowerCase());
      expect([...anchors], `${rule.alert}: docs/troubleshooting.md has no heading #${anchor}`).toContain(anchor);
    }
  });

  it('the ServiceMonitor selects the operator Service by labels an upgrade keeps (not the version or the chart)', () => {
    const docs = render('orka-system', ['serviceMonitor.enabled=true'], { apiVersions: ['monitoring.coreos.com/v1'], values: { dashboard: { enabled: true, hosts: ['a.example.com'] } } });
    const selector = (one(docs, 'ServiceMonitor') as Obj).spec.selector.matchLabels as Record<string, string>;
    expect(Object.keys(selector).sort()).toEqual(['app.kubernetes.io/component', 'app.kubernetes.io/instance', 'app.kubernetes.io/name']);
    const matched = docs.filter((d) => d.kind === 'Service' && Object.entries(selector).every(([k, v]) => (d as Obj).metadata.labels?.[k] === v));
    expect(matched.map((d) => d.metadata.name)).toEqual([`${release}-orka-secrets-operator`]);
  });

  it('the check can fail: a misspelt metric or label is caught', () => {
    expect(() => check('test', 'sum(orka_operator_reconcile_total{result="Error"})')).toThrow(/no scrape of the operator or a sidecar shows/);
    expect(() => check('test', 'sum(orka_operator_reconciles_total{outcome="Error"})')).toThrow(/has no label outcome/);
  });

  it('every dashboard query names metrics the operator exports, and the ConfigMap carries valid JSON', () => {
    const docs = render('orka-system', ['grafanaDashboard.enabled=true']);
    const cm = d(docs);
    const dashboard = JSON.parse(cm.data['orka-secrets.json'] as string) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    expect(dashboard.panels.length).toBeGreaterThan(5);
    for (const panel of dashboard.panels) for (const t of panel.targets) check(panel.title, t.expr.replaceAll('$namespace', 'ns'));
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    function d(x: Doc[]): Obj {
      return x.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-grafana-dashboard')) as Obj;
    }
  });

  it('docs/metrics.md lists every metric the operator and the sidecar export (besides process and Node.js ones)', async () => {
    const doc = readFileSync('docs/metrics.md', 'utf8');
    const names = [...(await createOperatorMetrics().registry.getMetricsAsJSON()), ...(await createSidecarMetrics().registry.getMetricsAsJSON())].map((m) => m.name);
    const own = names.filter((n) => !/^orka_(operator|sidecar)_(process|nodejs)_/.test(n));
    expect(own.length).toBeGreaterThan(15);
    expect(own.filter((n) => !doc.includes(`| \`${n}\` |`))).toEqual([]);
  });

  it('the PrometheusRule only where its API exists; both off by default', () => {
    expect(one(render('orka-system', ['prometheusRule.enabled=true']), 'PrometheusRule')).toBeUndefined();
    const defaults = render('orka-system', [], { apiVersions: ['monitoring.coreos.com/v1'] });
    expect(one(defaults, 'PrometheusRule')).toBeUndefined();
    expect(one(defaults, 'ConfigMap')).toBeUndefined();
  });
});

describe('rendered chart', () => {
  it('renders every object, and the apiserver accepts them all (server-side dry run)', async () => {
    const namespace = await createNamespace(kc, { prefix: 'orka-chart-dry' });
    // No controller-manager here to make the "default" ServiceAccount the helm test pod is admitted under.
    await createServiceAccount(kc, namespace, 'default');
    const docs = render(namespace, ['serviceMonitor.enabled=false']);
    expect(docs.map((d) => d.kind).sort()).toEqual(['ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Deployment', 'MutatingWebhookConfiguration', 'Pod', 'PodDisruptionBudget', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'ServiceAccount', 'ValidatingWebhookConfiguration']);
    const res = kubectl(cp, ['apply', '--dry-run=server', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));
    expect(withoutLastAppliedWarning(res.stderr)).toBe('');
    expect(res.stdout.trim().split('\n')).toHaveLength(16);
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

  it('has validation rules (CEL) naming `orka-secrets seal` only where the apiserver has them (>= 1.25)', () => {
    type Rules = Array<{ rule: string; message: string }>;
    const rulesOf = (kubeVersion: string): Rules | undefined =>
      (crdOf(render('orka-system', [], { kubeVersion }))?.spec.versions[0]?.schema?.openAPIV3Schema?.properties?.spec as { 'x-kubernetes-validations'?: Rules } | undefined)?.['x-kubernetes-validations'];
    // 1.20: kubectl and Helm validate manifests against the server's OpenAPI, which lacks the field.
    expect(rulesOf('v1.24.9')).toBeUndefined();
    const rules = rulesOf('v1.25.0');
    expect(rules?.find((r) => r.rule === '!has(self.value)')?.message).toMatch(/`orka-secrets seal`/);
    expect(rules?.map((r) => r.rule)).toContain('!(has(self.sealedValue) && has(self.valueFrom))');
    expect(rulesOf('v1.31.2')).toEqual(rules);
  });

  it('kubectl get osec has a REASON column', () => {
    const columns = crdManifest().spec.versions[0]!.additionalPrinterColumns!.map((c) => c.name);
    expect(columns.slice(0, columns.indexOf('Age'))).toEqual(['Secret', 'Description', 'Reference', 'Ready', 'Reason']);
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
      const copy = join(chart.dir, `chart-${version}`);
      execFileSync('cp', ['-rL', CHART, copy]);
      const crd = crdManifest();
      crd.metadata!.name = `orkasecrets.${group}`;
      crd.spec.group = group;
      change(crd);
      writeFileSync(join(copy, 'files/orkasecret.crd.yaml'), stringify(crd));
      return copy;
    };
    const applyCrd = (chart: string): void => {
      const crd = crdOf(render('orka-system', [], { chart }));
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
    const path = join(chart.dir, 'operator-kubeconfig');
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
    // A new value that cannot be stored: the status and `kubectl get osec` say the previous one is still served.
    const wrongName = await sealWithPublishedCert(kc, namespace, tenant, 'OTHER_KEY', 'other-value');
    await custom.patchNamespacedCustomObject(
      { group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: tenant, name: 'chart-key', body: { spec: { sealedValue: wrongName } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const refused = await waitForReady(kc, tenant, 'chart-key', 'SealedForAnotherSecret');
    expect(refused.status?.conditions?.[0]).toMatchObject({ status: 'True', message: expect.stringMatching(/the previous value \(version 1\) is still served/) });
    const listed = kubectl(cp, ['get', 'osec', '-n', tenant]).stdout.split('\n');
    expect(listed[0]).toMatch(/^NAME\s+SECRET\s+DESCRIPTION\s+REFERENCE\s+READY\s+REASON\s+AGE/);
    expect(listed[1]).toMatch(/^chart-key\s+CHART_KEY\s+\S+\s+True\s+SealedForAnotherSecret\s/);
    // Resolve: TokenReview under the chart's RBAC.
    await createServiceAccount(kc, tenant, 'runner');
    const { token: runner } = await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner' });
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
    expect(JSON.parse(answer)).toMatchObject({ values: { CHART_KEY: 'chart-value' }, missing: [] });
    // The CA bundle, written with get/update on that one configuration by name.
    await eventually(async () => {
      const v = await kc.makeApiClient(AdmissionregistrationV1Api).readValidatingWebhookConfiguration({ name: fullname });
      return v.webhooks?.[0]?.clientConfig.caBundle ? true : undefined;
    });
    await kc.makeApiClient(AdmissionregistrationV1Api).deleteValidatingWebhookConfiguration({ name: fullname });
    expect(operator.logs.filter((l) => /forbidden/i.test(l))).toEqual([]);
  });
});
