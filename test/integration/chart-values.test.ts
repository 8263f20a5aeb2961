/**
 * The chart's values against the programs they configure: what values.schema.json and the
 * templates refuse is what the operator (or the dashboard) would refuse at start, at the edges of
 * every setting; the platform values (OpenShift user, hostNetwork, sidecar metrics) and the
 * Secrets page behind an Ingress, rendered.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseEnv } from '../../src/core/config.js';
import { dashboardEnv } from '../../src/dashboard/config.js';
import { loadOperatorConfig } from '../../src/operator/config.js';
import { chartDefaults, chartRenderer, chartSchema, dashboardBehindIngress, literalEnv, one, podSpec, type ChartRenderer, type Doc, type Obj, type RenderOptions } from '../env/chart.js';
import { adminKubeConfig, createNamespace, uniqueName } from '../env/kube.js';
import { startOperator } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let chart: ChartRenderer;
const release = uniqueName('chart-values');
const render = (namespace: string, sets: string[] = [], options: RenderOptions = {}): Doc[] => chart.render(namespace, sets, options);
const DASHBOARD_BEHIND_INGRESS = dashboardBehindIngress();

beforeAll(() => {
  kc = adminKubeConfig(cp);
  chart = chartRenderer(release);
});

afterAll(() => chart.close());

// Helm checks values.schema.json and runs the templates' own checks before it installs anything;
// the operator checks its ORKA_* settings at start and exits on a bad one (a crash-looping pod).
// Both must draw the same line: what the chart lets through, the operator takes. (A value with
// bounds, such as shutdownDrain, is written with one unit in the chart: the schema's range pattern
// refuses a compound 19s999ms the operator would take, never the other way round.)
describe('the chart refuses what the operator refuses', () => {
  const validate = chartSchema();
  const defaults = chartDefaults();
  /** The Secrets page's values need its hosts; its rows render it. */
  const PAGE = { enabled: true, hosts: ['secrets.example.com'] };
  const withValue = (path: string, value: unknown): Obj => {
    const values = structuredClone(defaults);
    if (path.startsWith('dashboard.')) values.dashboard = { ...values.dashboard, ...PAGE };
    const keys = path.split('.');
    let at = values;
    for (const key of keys.slice(0, -1)) at = (at[key] ??= {}) as Obj;
    at[keys.at(-1) as string] = value;
    return values;
  };
  /** The program a value configures: its Deployment's environment as the chart renders it, and the program's own parser. */
  const programOf = (path: string) =>
    path.startsWith('dashboard.')
      ? { env: (docs: Doc[]) => literalEnv((docs.find((d) => d.kind === 'Deployment' && d.metadata.name.endsWith('-dashboard')) as Obj).spec.template.spec), parse: (env: Record<string, string>) => parseEnv(dashboardEnv, env) }
      : { env: (docs: Doc[]) => literalEnv(podSpec(docs)), parse: (env: Record<string, string>) => loadOperatorConfig(env) };
  /** The environment the chart renders (what Kubernetes fills in, valueFrom, left out), or the message of the template check that refused the values. */
  const rendered = (path: string, values: Obj): { env: Record<string, string> } | { refusal: string } => {
    let docs: Doc[];
    try {
      docs = render('orka-system', [], { values });
    } catch (err) {
      return { refusal: (err as Error).message };
    }
    return { env: programOf(path).env(docs) };
  };
  const programAccepts = (path: string, env: Record<string, string>): boolean => {
    try {
      programOf(path).parse(env);
      return true;
    } catch {
      return false;
    }
  };
  /** The operator's environment as the chart renders it (for the start test below). */
  const renderedEnv = (values: Obj): Record<string, string> => {
    const out = rendered('operator', values);
    if ('refusal' in out) throw new Error(out.refusal);
    return out.env;
  };

  // Each value that becomes an ORKA_* setting: values at the edge of what the operator takes, and just past it.
  // A fourth element: the message of the template check that refuses some of the refused values
  // (any other render failure is a broken template, not a refusal).
  const PORTS_DIFFER = /service.port, service.webhookPort and service.metricsPort must differ/;
  const HEADERS_WITHIN_REQUEST = /operator.listeners.headersTimeout must not be longer than operator.listeners.requestTimeout/;
  const edges: Array<[string, unknown[], unknown[], RegExp?]> = [
    ['operator.shutdownDrain', ['0s', '20s', '19.5s', '20000ms'], ['20.5s', '21s', '25s', '20001ms', '20s1ms', '1m', 'soon']],
    ['operator.workers', [1, 64], [0, 65]],
    ['operator.reencryptRate', [1, 10_000], [0, 10_001]],
    ['operator.resolveRate', [0, 1_000_000], [-1, 1_000_001]],
    ['operator.resolveBurst', [1, 1_000_000], [0, 1_000_001]],
    ['operator.logLevel', ['fatal', 'silent'], ['verbose']],
    ['operator.keyRotationPeriod', ['1', '0.5d', '90d', '250ms', '1h30m'], ['0s', '0', '0.0d', '0h0m', '1w', '1h30', '-1d']],
    ['operator.listeners.headersTimeout', ['1s', '30s', '30000ms', '29s500ms'], ['0s', '31s', '1m', '30s1ms', 'x'], HEADERS_WITHIN_REQUEST],
    ['operator.listeners.requestTimeout', ['10s', '1h', '1m30s'], ['0s', '9s', 'x'], HEADERS_WITHIN_REQUEST],
    ['operator.listeners.idleTimeout', ['91s', '2m', '1h'], ['90s', '1.5m', '1m30s', '60s', '0s']],
    ['operator.listeners.resolver.maxConnections', [1001, 1_000_000], [1000, 1_000_001]],
    ['operator.listeners.resolver.bodyBudget', [16_384, 1_073_741_824], [16_383, 1_073_741_825]],
    ['operator.listeners.webhooks.maxConnections', [1, 1_000_000], [0, 1_000_001]],
    ['operator.listeners.webhooks.bodyBudget', [3_145_728, 1_073_741_824], [3_145_727, 1_073_741_825]],
    ['operator.listeners.http.maxConnections', [1, 100_000], [0, 100_001]],
    ['service.port', [1, 65_535], [0, 65_536, 8444], PORTS_DIFFER],
    ['service.webhookPort', [1, 65_535], [0, 65_536, 8080], PORTS_DIFFER],
    ['service.metricsPort', [1, 65_535], [0, 65_536, 8443], PORTS_DIFFER],
    ['sidecar.port', [1, 65_534], [0, 65_535]],
    ['sidecar.resources.requests.cpu', ['10m', '0.5', 1, '1e3'], ['ten', '10 m', '-1', '1.5.1']],
    ['sidecar.resources.requests.memory', ['96Mi', '1Gi', '100M'], ['96MB', 'lots']],
    ['sidecar.resources.limits.memory', ['160Mi'], ['160 Mi']],
    ['sidecar.resources.limits.cpu', ['500m', 2], ['half']],
    ['sidecar.tokenExpiration', ['10m', '1h'], ['0s', 'x']],
    ['sidecar.runAsUser', [1, 1_000_700_000, 'platform'], [0, 'root']],
    ['sidecar.securityContext', [{}, { runAsNonRoot: true, seLinuxOptions: { type: 'spc_t' } }], [{ privileged: true }, { capabilities: { drop: 'ALL' } }]],
    ['webhook.accessReviewCacheTTL', ['0s', '10s'], ['-1s', 'x']],
    ['webhook.accessReviewsPerSecond', [1, 10_000], [0, 10_001]],
    ['tls.certValidity', ['365d'], ['0d']],
    ['tls.renewBefore', ['30d'], ['0s']],
    ['sidecar.metrics.address', ['127.0.0.1', '0.0.0.0', '::', '::1', '10.1.2.3', 'fd00::1'], ['0.0.0.0:8732', 'localhost', 'all', '256.0.0.1', '[::]', ' 0.0.0.0']],
    ['dashboard.sessionTtlHours', [1, 8, 24], [0.5, 1.5, 25, 48, -1]],
  ];
  it.each(edges)('%s', (path, accepted, refused, templateRefusal) => {
    for (const value of accepted) {
      const values = withValue(path, value);
      expect(validate(values), `${path}=${JSON.stringify(value)}: ${JSON.stringify(validate.errors)}`).toBe(true);
      const out = rendered(path, values);
      if ('refusal' in out) throw new Error(`${path}=${JSON.stringify(value)}: the templates refuse it: ${out.refusal}`);
      expect(() => programOf(path).parse(out.env), `${path}=${JSON.stringify(value)}`).not.toThrow();
    }
    for (const value of refused) {
      const values = withValue(path, value);
      const out = rendered(path, values);
      // A template check refused it with its own message (nothing else counts as a refusal) ...
      if ('refusal' in out) expect(out.refusal, `${path}=${JSON.stringify(value)}: not the template check's refusal`).toMatch(templateRefusal ?? /^$/);
      // ... or the schema does; and where it renders, the program would have refused it too.
      else {
        expect(validate(values), `${path}=${JSON.stringify(value)} passes the chart`).toBe(false);
        expect(programAccepts(path, out.env), `${path}=${JSON.stringify(value)}: the program takes it, so the chart need not refuse it`).toBe(false);
      }
    }
  });

  it('starts the operator with the largest values the chart takes; a drain just past them (which the schema refuses) ends the start', async () => {
    const most = {
      operator: {
        shutdownDrain: '20s', workers: 64, reencryptRate: 10_000, resolveRate: 1_000_000, resolveBurst: 1_000_000,
        listeners: { headersTimeout: '30s', requestTimeout: '30s', idleTimeout: '91s', resolver: { maxConnections: 1_000_000, bodyBudget: 1_073_741_824 }, webhooks: { maxConnections: 1_000_000, bodyBudget: 1_073_741_824 }, http: { maxConnections: 100_000 } },
      },
      sidecar: { port: 65_534, runAsUser: 'platform', resources: { requests: { cpu: '1e3', memory: '1Gi' }, limits: { memory: '2Gi', cpu: 4 } } },
      webhook: { accessReviewsPerSecond: 10_000, accessReviewCacheTTL: '0s' },
    };
    const values = { ...structuredClone(defaults), ...most, operator: { ...defaults.operator, ...most.operator } };
    expect(validate(values), JSON.stringify(validate.errors)).toBe(true);
    // The listeners' ports are the test's own free ones; the image's allocator and heap flags are not here.
    const env = Object.fromEntries(Object.entries(renderedEnv(values)).filter(([name]) => !/^(ORKA_(HTTP|RESOLVER|WEBHOOK)_PORT|LD_PRELOAD|MALLOC_CONF|NODE_OPTIONS)$/.test(name)));
    expect(env).toMatchObject({ ORKA_SHUTDOWN_DRAIN: '20s', ORKA_RESOLVER_MAX_CONNECTIONS: '1000000', ORKA_SIDECAR_PORT: '65534' });
    const namespace = await createNamespace(kc, { prefix: 'orka-chart-max' });
    const started = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace, identity: 'chart-max', env });
    try {
      await started.waitForLog(/resolver API and webhooks listening/);
    } finally {
      await started.stop();
    }
    // 25s was the first value found that crashed the pod: the schema now refuses it, and so does the operator.
    expect(validate(withValue('operator.shutdownDrain', '25s'))).toBe(false);
    const past = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace, identity: 'chart-past', env: { ...env, ORKA_SHUTDOWN_DRAIN: '25s' } });
    expect(await past.exited).toBe(2);
    expect(past.logs.join('\n')).toMatch(/ORKA_SHUTDOWN_DRAIN: must leave at least 5s/);
  });
});

describe('platforms', () => {
  const envOf = (docs: Doc[]): Record<string, string> => literalEnv(podSpec(docs));
  it('sidecar.runAsUser: 65532 by default; "platform" leaves user and group to the platform (OpenShift), the rest of the restricted settings kept', () => {
    const byDefault = loadOperatorConfig(envOf(render('orka-system'))).ORKA_SIDECAR_SECURITY_CONTEXT;
    expect(byDefault).toEqual({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    const platform = loadOperatorConfig(envOf(render('orka-system', ['sidecar.runAsUser=platform']))).ORKA_SIDECAR_SECURITY_CONTEXT;
    expect(platform).toEqual({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(loadOperatorConfig(envOf(render('orka-system', ['sidecar.runAsUser=1000700000']))).ORKA_SIDECAR_SECURITY_CONTEXT).toMatchObject({ runAsUser: 1000700000, runAsGroup: 1000700000 });
  });

  it('hostNetwork: the operator on the node\'s network (with cluster DNS), its ports the webhook port the control plane calls', () => {
    const spec = podSpec(render('orka-system', ['hostNetwork=true', 'service.webhookPort=10260']));
    expect(spec).toMatchObject({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' });
    expect(spec.containers[0].ports).toContainEqual({ name: 'webhooks', containerPort: 10260 });
    expect(podSpec(render('orka-system')).hostNetwork).toBeUndefined();
  });

  it('sidecar metrics: the address reaches the operator; a PodMonitor scrapes the named port, and needs an address open to the pod network', () => {
    const docs = render('orka-system', ['sidecar.metrics.address=0.0.0.0', 'sidecar.metrics.podMonitor.enabled=true'], { apiVersions: ['monitoring.coreos.com/v1'] });
    expect(envOf(docs)).toMatchObject({ ORKA_SIDECAR_METRICS_ADDRESS: '0.0.0.0' });
    expect(one(docs, 'PodMonitor')?.spec).toEqual({ namespaceSelector: { any: true }, selector: { matchLabels: { 'orka.io/inject': 'true' } }, podMetricsEndpoints: [{ port: 'orka-metrics', path: '/metrics', interval: '30s' }] });
    expect(one(render('orka-system', ['sidecar.metrics.podMonitor.enabled=true']), 'PodMonitor')).toBeUndefined(); // no API: skipped
    expect(() => render('orka-system', ['sidecar.metrics.podMonitor.enabled=true'], { apiVersions: ['monitoring.coreos.com/v1'] })).toThrow();
  });
});

describe('the Secrets page behind an Ingress', () => {
  it('the oauth2-proxy recipe of docs/install.md renders: the Ingress asks the proxy, proxy sign-in, one rule per host, TLS', () => {
    const docs = render('orka-system', [], { values: { dashboard: DASHBOARD_BEHIND_INGRESS } });
    const ingress = one(docs, 'Ingress') as Obj;
    expect(DASHBOARD_BEHIND_INGRESS).toMatchObject({ auth: 'proxy', ingress: { enabled: true } });
    expect(ingress.metadata.annotations).toMatchObject({ 'nginx.ingress.kubernetes.io/auth-url': expect.stringMatching(/\/oauth2\/auth$/), 'nginx.ingress.kubernetes.io/auth-response-headers': expect.stringMatching(/Authorization/) });
    expect(ingress.spec.rules.map((r: Obj) => r.host)).toEqual(DASHBOARD_BEHIND_INGRESS.hosts);
    const service = docs.find((d) => d.kind === 'Service' && d.metadata.name.endsWith('-dashboard'));
    expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({ name: service?.metadata.name, port: { name: 'http' } });
    expect(ingress.spec.tls).toEqual(DASHBOARD_BEHIND_INGRESS.ingress.tls);
    const deployment = docs.find((d) => d.kind === 'Deployment' && d.metadata.name.endsWith('-dashboard')) as Obj;
    expect(deployment.spec.template.spec.containers[0].env).toContainEqual({ name: 'ORKA_DASHBOARD_AUTH', value: 'proxy' });
  });

  it('className, service type and scheduling values', () => {
    const values = { dashboard: { enabled: true, hosts: ['secrets.example.com'], serviceType: 'LoadBalancer', ingress: { enabled: true, className: 'nginx' }, nodeSelector: { pool: 'tools' }, tolerations: [{ key: 'tools', operator: 'Exists' }], affinity: { podAntiAffinity: {} } } };
    const docs = render('orka-system', [], { values });
    expect(one(docs, 'Ingress')?.spec.ingressClassName).toBe('nginx');
    expect(docs.find((d) => d.kind === 'Service' && d.metadata.name.endsWith('-dashboard')) as Obj).toMatchObject({ spec: { type: 'LoadBalancer' } });
    const spec = (docs.find((d) => d.kind === 'Deployment' && d.metadata.name.endsWith('-dashboard')) as Obj).spec.template.spec;
    expect(spec).toMatchObject({ nodeSelector: { pool: 'tools' }, tolerations: [{ key: 'tools', operator: 'Exists' }], affinity: { podAntiAffinity: {} } });
    expect(one(render('orka-system', [], { values: { dashboard: { enabled: true, hosts: ['a.example.com'] } } }), 'Ingress')).toBeUndefined();
  });
});
