/**
 * Helpers for integration tests against the real control plane: clients, tenant namespaces,
 * service accounts with real tokens (TokenRequest API), the CRD, and kubectl.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  ApiextensionsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1CustomResourceDefinition,
  type V1Pod,
  type V1TokenReviewStatus,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { PooledKubeConfig } from '../../src/operator/kube/client.js';
import type { OrkaSecret } from '../../src/api/resource.js';
import { eventually } from './operator.js';
import type { ProvidedControlPlane } from './global-setup.js';

/** The label that makes a namespace a tenant. */
export const TENANT_LABEL = 'orka.io/tenant';
/** Path of the CRD manifest. */
export const CRD_PATH = 'crds/orkasecret.yaml';

/** A KubeConfig for the admin of the control plane. */
export function adminKubeConfig(cp: Pick<ProvidedControlPlane, 'kubeconfigPath'>): KubeConfig {
  // The same pooled client as the operator's, so tests (and the benchmark's floor) are not slowed by a TLS handshake per request.
  const kc = new PooledKubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  return kc;
}

/** A DNS-label-safe unique name. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Creates a namespace; with `tenant` it carries the tenant label. Returns its name. */
export async function createNamespace(kc: KubeConfig, options: { prefix?: string; tenant?: string; labels?: Record<string, string> } = {}): Promise<string> {
  const name = uniqueName(options.prefix ?? 'ns');
  const labels = { ...options.labels, ...(options.tenant === undefined ? {} : { [TENANT_LABEL]: options.tenant }) };
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name, labels } } });
  return name;
}

/** Creates a ServiceAccount (no controller-manager runs to make them). */
export async function createServiceAccount(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
}

/** A real, signed service-account token for `audience`, from the TokenRequest API. */
export async function requestToken(
  kc: KubeConfig,
  args: { namespace: string; serviceAccount: string; audience: string; expirationSeconds?: number },
): Promise<string> {
  const result = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: args.serviceAccount,
    namespace: args.namespace,
    body: { spec: { audiences: [args.audience], expirationSeconds: args.expirationSeconds ?? 600 } },
  });
  const token = result.status?.token;
  if (!token) throw new Error('TokenRequest returned no token');
  return token;
}

/**
 * A token bound to a pod, as the kubelet projects it: creates a pod (never started: no kubelet
 * runs here) for the ServiceAccount, then a TokenRequest bound to that pod, so the TokenReview
 * carries the pod's name and uid. Deleting the pod invalidates the token.
 */
export async function podBoundToken(
  kc: KubeConfig,
  args: { namespace: string; serviceAccount: string; audience?: string; expirationSeconds?: number; bindTo?: V1Pod },
): Promise<{ token: string; pod: string }> {
  const core = kc.makeApiClient(CoreV1Api);
  const pod =
    args.bindTo ??
    (await core.createNamespacedPod({
      namespace: args.namespace,
      body: {
        metadata: { name: uniqueName('runner') },
        // No legacy token Secret exists without a controller-manager: do not ask for one.
        spec: { serviceAccountName: args.serviceAccount, automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'runner:1' }] },
      },
    }));
  const name = pod.metadata?.name as string;
  const result = await core.createNamespacedServiceAccountToken({
    name: args.serviceAccount,
    namespace: args.namespace,
    body: {
      spec: {
        audiences: [args.audience ?? 'orka-secrets'],
        expirationSeconds: args.expirationSeconds ?? 600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata?.uid },
      },
    },
  });
  const token = result.status?.token;
  if (!token) throw new Error('TokenRequest returned no token');
  return { token, pod: name };
}

/** Asks the apiserver to review a token for the given audiences. */
export async function reviewToken(kc: KubeConfig, token: string, audiences: string[]): Promise<V1TokenReviewStatus> {
  const review = await kc.makeApiClient(AuthenticationV1Api).createTokenReview({ body: { spec: { token, audiences } } });
  return review.status ?? {};
}

/** The CRD manifest as an object. */
export function crdManifest(): V1CustomResourceDefinition {
  return parse(readFileSync(CRD_PATH, 'utf8')) as V1CustomResourceDefinition;
}

/**
 * Installs (or updates) the OrkaSecret CRD and waits until it is Established. Test files run in
 * parallel and each may call this: a create or replace that loses a race to another file (409)
 * reads again and tries again, so concurrent calls all succeed.
 */
export async function installCrd(kc: KubeConfig, timeoutMs = 30_000): Promise<V1CustomResourceDefinition> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const name = crdManifest().metadata?.name as string;
  const until = Date.now() + timeoutMs;
  // Bounded by rounds as well as the clock: each 409 is another file's write, and there are few.
  for (let round = 0; ; round++) {
    const body = crdManifest();
    try {
      const existing = await api.readCustomResourceDefinition({ name }).catch((err: { code?: number }) => {
        if (err.code === 404) return undefined;
        throw err;
      });
      if (existing === undefined) await api.createCustomResourceDefinition({ body });
      else await api.replaceCustomResourceDefinition({ name, body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion } } });
      break;
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || Date.now() > until || round > 100) throw err;
    }
  }
  for (let round = 0; ; round++) {
    const crd = await api.readCustomResourceDefinition({ name });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return crd;
    if (Date.now() > until || round > timeoutMs / 100) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads an OrkaSecret. */
export async function getOrkaSecret(kc: KubeConfig, namespace: string, name: string): Promise<OrkaSecret> {
  return (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace, name })) as OrkaSecret;
}

/** Waits until the operator has reconciled the object's current generation to the Ready reason (and `check` holds). */
export async function waitForReady(kc: KubeConfig, namespace: string, name: string, reason: string, check: (o: OrkaSecret) => boolean = () => true): Promise<OrkaSecret> {
  return await eventually(async () => {
    const o = await getOrkaSecret(kc, namespace, name);
    const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
    return ready?.reason === reason && o.status?.observedGeneration === o.metadata.generation && check(o) ? o : undefined;
  });
}

/** Whether the storage Secret of OrkaSecret `name` exists in `namespace`. */
export async function storageExists(kc: KubeConfig, namespace: string, name: string): Promise<boolean> {
  try {
    await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: `orkasecret-${name}`, namespace });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return false;
    throw err;
  }
}

/** Result of a kubectl run. */
export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the control plane. */
export function kubectl(cp: Pick<ProvidedControlPlane, 'kubeconfigPath'>, args: string[], input?: string): KubectlResult {
  const res = spawnSync('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], { input, encoding: 'utf8', timeout: 30_000 });
  return { code: res.status ?? -1, stdout: res.stdout ?? '', stderr: res.stderr ?? '' };
}
