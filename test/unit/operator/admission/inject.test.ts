import type { V1Pod } from '@kubernetes/client-node';
import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { inject, nativeSidecarFor, type InjectConfig } from '../../../../src/operator/admission/inject.js';
import { validateOrkaSecret } from '../../../../src/operator/admission/webhook.js';
import { restrictedViolations } from '../../../env/pod-security.js';
import { tenancyOf } from '../../../../src/api/tenancy.js';

const config: InjectConfig = {
  image: 'orka-secrets:test',
  imagePullPolicy: 'Never',
  operatorUrl: 'https://orka-secrets-operator.orka-system.svc:8443',
  caPem: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
  port: 8731,
  metricsPort: 8732,
  tokenAudience: 'orka-secrets',
  tokenExpirationSeconds: 600,
  resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '160Mi' } },
  nativeSidecar: false,
};

function pod(labels: Record<string, string> = { 'orka.io/inject': 'true' }): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'runner', labels },
    spec: { containers: [{ name: 'runner', image: 'runner:1', env: [{ name: 'A', value: '1' }] }, { name: 'helper', image: 'h:1' }], initContainers: [{ name: 'setup', image: 's:1' }] },
  };
}

/** Where a pod is admitted, by the real tenancy rule (the operator runs in orka-system). */
const at = (namespace: string, labels?: Record<string, string>) => ({ namespace, tenancy: tenancyOf(namespace, labels, 'orka-system') });
const tenant = at('acme', { 'orka.io/tenant': 'acme' });

describe('inject', () => {
  it('adds the sidecar, its token volume, ORKA_SECRETS_URL and the status annotation', () => {
    const { pod: out, outcome } = inject(pod(), tenant, config);
    expect(outcome).toBe('injected');
    const sidecar = out.spec?.containers.find((c) => c.name === 'orka-secrets');
    expect(sidecar).toMatchObject({
      image: 'orka-secrets:test',
      // The image's Node and bundle, with the sidecar's measured V8 flags (V8 refuses them in NODE_OPTIONS).
      command: ['/usr/local/bin/node', '--max-semi-space-size=1', '--no-concurrent-recompilation', '/app/dist/bundle/entrypoint.mjs'],
      args: ['sidecar'],
      securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      resources: { requests: { cpu: '10m', memory: '64Mi' } },
      volumeMounts: [{ name: 'orka-secrets-token', mountPath: '/var/run/secrets/orka', readOnly: true }],
    });
    expect(sidecar?.env).toContainEqual({ name: 'ORKA_OPERATOR_URL', value: config.operatorUrl });
    expect(out.spec?.volumes).toEqual([{ name: 'orka-secrets-token', projected: { sources: [{ serviceAccountToken: { audience: 'orka-secrets', expirationSeconds: 600, path: 'token' } }] } }]);
    for (const c of out.spec?.containers.filter((c) => c.name !== 'orka-secrets') ?? []) {
      expect(c.env).toContainEqual({ name: 'ORKA_SECRETS_URL', value: 'http://127.0.0.1:8731' });
      expect(c.volumeMounts ?? []).toEqual([]); // the token is mounted into the sidecar only
    }
    expect(out.spec?.containers[0]?.env?.[0]).toEqual({ name: 'A', value: '1' });
    // Classic form: init containers run before the sidecar exists, so they get no URL.
    expect(out.spec?.initContainers).toEqual([{ name: 'setup', image: 's:1' }]);
    expect(out.metadata?.annotations).toEqual({ 'orka.io/status': 'injected' });
  });

  it('does not touch its input', () => {
    const input = pod();
    const copy = structuredClone(input);
    inject(input, tenant, config);
    expect(input).toEqual(copy);
  });

  it('shares with its input every part it does not change, so the diff skips them by identity', () => {
    const input = pod();
    input.metadata!.managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': {} } }];
    input.status = { phase: 'Pending' };
    const { pod: out } = inject(input, tenant, config);
    expect(out.metadata?.managedFields).toBe(input.metadata?.managedFields);
    expect(out.status).toBe(input.status);
    expect(out.spec?.initContainers).toBe(input.spec?.initContainers);
    expect(out.spec?.containers[1]?.image).toBe('h:1');
  });

  it('is idempotent: a second admission changes nothing', () => {
    const once = inject(pod(), tenant, config).pod;
    const twice = inject(once, tenant, config);
    expect(twice.outcome).toBe('already-injected');
    expect(jsonpatch.compare(once, twice.pod)).toEqual([]);
  });

  it.each([
    ['no label', pod({}), tenant, 'not-requested'],
    ['label not "true"', pod({ 'orka.io/inject': 'yes' }), tenant, 'not-requested'],
    ['a namespace that is not a tenant', pod(), at('plain'), 'not-a-tenant'],
    ["the operator's namespace, even labelled as a tenant", pod(), at('orka-system', { 'orka.io/tenant': 'x' }), 'excluded-namespace'],
    ['a system namespace, even labelled as a tenant', pod(), at('kube-system', { 'orka.io/tenant': 'x' }), 'excluded-namespace'],
    ['any kube-* namespace', pod(), at('kube-custom', { 'orka.io/tenant': 'x' }), 'excluded-namespace'],
  ])('leaves a pod alone with %s', (_what, input, context, outcome) => {
    const result = inject(input, context, config);
    expect(result.outcome).toBe(outcome);
    expect(jsonpatch.compare(input, result.pod)).toEqual([]);
  });

  it('refuses a host-network pod, even one that brings its own sidecar, but only where it would inject', () => {
    const host = pod();
    (host.spec as { hostNetwork?: boolean }).hostNetwork = true;
    expect(inject(host, tenant, config).outcome).toBe('host-network');
    host.spec?.containers.push({ name: 'orka-secrets', image: 'custom' });
    expect(inject(host, tenant, config).outcome).toBe('host-network');
    expect(inject(host, at('plain'), config).outcome).toBe('not-a-tenant');
  });

  it('leaves a pod that already has a container named orka-secrets', () => {
    const input = pod();
    input.spec?.containers.push({ name: 'orka-secrets', image: 'custom' });
    expect(inject(input, tenant, config).outcome).toBe('already-injected');
  });

  it('injects the native-sidecar form: first init container with restartPolicy Always', () => {
    const { pod: out } = inject(pod(), tenant, { ...config, nativeSidecar: true });
    expect(out.spec?.initContainers?.[0]).toMatchObject({ name: 'orka-secrets', restartPolicy: 'Always' });
    expect(out.spec?.initContainers?.[1]?.env).toContainEqual({ name: 'ORKA_SECRETS_URL', value: 'http://127.0.0.1:8731' });
    expect(out.spec?.containers.map((c) => c.name)).toEqual(['runner', 'helper']);
  });

  // Pod Security admission is not in Kubernetes 1.20 (the test control plane), so the profile's
  // rules are checked field by field (test/env/pod-security.ts).
  it.each([
    ['classic', false],
    ['native', true],
  ])('keeps a pod that meets Pod Security "restricted" within it (%s form), with or without pod-level settings', (_form, nativeSidecar) => {
    const restricted = { allowPrivilegeEscalation: false, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' }, capabilities: { drop: ['ALL'] } };
    const perContainer = pod();
    for (const c of [...(perContainer.spec?.containers ?? []), ...(perContainer.spec?.initContainers ?? [])]) c.securityContext = structuredClone(restricted);
    expect(restrictedViolations(perContainer.spec!)).toEqual([]);
    expect(restrictedViolations(inject(perContainer, tenant, { ...config, nativeSidecar }).pod.spec!)).toEqual([]);
    // Pod-level settings that a user container relies on must not be loosened by the sidecar.
    const podLevel = pod();
    podLevel.spec!.securityContext = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
    for (const c of [...(podLevel.spec?.containers ?? []), ...(podLevel.spec?.initContainers ?? [])]) c.securityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
    expect(restrictedViolations(inject(podLevel, tenant, { ...config, nativeSidecar }).pod.spec!)).toEqual([]);
  });

  it('the sidecar meets Pod Security "restricted" on its own, whatever the pod around it says', () => {
    const { pod: out } = inject(pod(), tenant, config);
    const sidecarOnly = { ...out.spec!, initContainers: [], containers: out.spec!.containers.filter((c) => c.name === 'orka-secrets') };
    expect(restrictedViolations(sidecarOnly)).toEqual([]);
    // A pod-level Unconfined profile (baseline allows none) does not reach the sidecar: its own setting wins.
    const loose = { ...sidecarOnly, securityContext: { seccompProfile: { type: 'Unconfined' } } };
    expect(restrictedViolations(loose).filter((v) => v.where.includes('orka-secrets'))).toEqual([]);
  });

  it('the sidecar\'s securityContext is the configured one; without runAsUser (OpenShift\'s restricted SCC) the platform picks the user', () => {
    const byDefault = inject(pod(), tenant, config).pod.spec!.containers.find((c) => c.name === 'orka-secrets')!;
    expect(byDefault.securityContext).toMatchObject({ runAsUser: 65532, runAsGroup: 65532 });
    const platform = { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } };
    const { pod: out } = inject(pod(), tenant, { ...config, securityContext: platform });
    const sidecar = out.spec!.containers.find((c) => c.name === 'orka-secrets')!;
    expect(sidecar.securityContext).toEqual(platform);
    expect(sidecar.securityContext).not.toBe(platform); // a copy: one admission cannot change the next
    expect(restrictedViolations({ ...out.spec!, initContainers: [], containers: [sidecar] })).toEqual([]);
  });

  it('the sidecar\'s metrics stay on loopback and undeclared, unless an address open to the pod network is set', () => {
    const closed = inject(pod(), tenant, config).pod.spec!.containers.find((c) => c.name === 'orka-secrets')!;
    expect(closed.ports).toBeUndefined();
    expect(closed.env!.map((e) => e.name)).not.toContain('ORKA_SIDECAR_METRICS_ADDRESS');
    const open = inject(pod(), tenant, { ...config, metricsAddress: '0.0.0.0' }).pod.spec!.containers.find((c) => c.name === 'orka-secrets')!;
    expect(open.ports).toEqual([{ name: 'orka-metrics', containerPort: 8732, protocol: 'TCP' }]);
    expect(open.env).toContainEqual({ name: 'ORKA_SIDECAR_METRICS_ADDRESS', value: '0.0.0.0' });
  });

  it('makes a JSON patch that turns the pod into the injected pod', () => {
    const input = pod();
    const { pod: out } = inject(input, tenant, config);
    const patch = jsonpatch.compare(input, out);
    expect(patch.length).toBeGreaterThan(0);
    expect(jsonpatch.applyPatch(structuredClone(input), patch).newDocument).toEqual(out);
  });
});

describe('validateOrkaSecret', () => {
  it.each([
    ['stripe-api-key', { sealedValue: 'AAAA' }],
    ['a', {}],
    ['db-password', { valueFrom: { secretKeyRef: { name: 'x', key: 'y' } } }],
  ])('accepts %s', (name, spec) => {
    expect(validateOrkaSecret({ metadata: { name }, spec })).toBeUndefined();
  });

  it.each([
    ['api.key', {}, /"\." at position 4.*lower case with - for _/],
    ['Api-key', {}, /must start with a lower-case letter/],
    ['api--key', {}, /two hyphens in a row/],
    ['both', { sealedValue: 'AAAA', valueFrom: { secretKeyRef: { name: 'x', key: 'y' } } }, /mutually exclusive/],
    ['plain', { value: 'hunter2' }, /plain-text values are refused/],
  ])('refuses %s with the rule', (name, spec, message) => {
    const problem = validateOrkaSecret({ metadata: { name }, spec });
    expect(problem).toMatch(message);
    expect(problem).not.toContain('hunter2');
  });
});

describe('nativeSidecarFor', () => {
  it.each([
    ['auto', { major: '1', minor: '29' }, true],
    ['auto', { major: '1', minor: '31+' }, true],
    ['auto', { major: '1', minor: '28' }, false],
    ['auto', { major: '1', minor: '20' }, false],
    ['auto', { major: '2', minor: '0' }, true],
    ['auto', undefined, false],
    ['auto', { major: '', minor: '' }, false],
    ['true', { major: '1', minor: '20' }, true],
    ['false', { major: '1', minor: '31' }, false],
  ] as const)('%s on %j -> native %s', (setting, server, native) => {
    expect(nativeSidecarFor(setting, server)).toBe(native);
  });
});
