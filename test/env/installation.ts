/**
 * The set-up most integration suites begin with: the CRD, an operator namespace, tenant
 * namespaces each with a `runner` ServiceAccount, and one operator watching them, listening; and
 * a sealed OrkaSecret created and stored, as the CLI would.
 */
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { toObjectName } from '../../src/core/names.js';
import { osecCoords } from './canary.js';
import type { ProvidedControlPlane } from './global-setup.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, waitForReady } from './kube.js';
import { sealWithPublishedCert, startOperator, type OperatorProcess } from './operator.js';

/** An operator and its tenants, on the test control plane. */
export interface Installation {
  kc: KubeConfig;
  opNamespace: string;
  /** The first tenant namespace. */
  tenant: string;
  /** The tenant namespaces, in the order their labels were given. */
  tenants: string[];
  operator: OperatorProcess;
}

/** Makes an installation named `label` with a tenant for each of `tenantIds` (default: one, `label`); `env` goes to the operator. */
export async function install(cp: Pick<ProvidedControlPlane, 'kubeconfigPath'>, label: string, options: { tenantIds?: string[]; env?: Record<string, string> } = {}): Promise<Installation> {
  const kc = adminKubeConfig(cp);
  await installCrd(kc);
  const opNamespace = await createNamespace(kc, { prefix: `orka-${label}` });
  const tenants: string[] = [];
  for (const tenant of options.tenantIds ?? [label]) {
    const namespace = await createNamespace(kc, { prefix: `${tenant}-t`, tenant });
    await createServiceAccount(kc, namespace, 'runner');
    tenants.push(namespace);
  }
  const operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: label, env: { ORKA_WATCH_NAMESPACES: tenants.join(','), ...options.env } });
  await operator.waitForLog(/resolver API and webhooks listening/, 60_000);
  return { kc, opNamespace, tenant: tenants[0] as string, tenants, operator };
}

/** Creates the secret NAME in `namespace` from `value`, sealed with the published certificate, and waits until it is stored. */
export async function putSealed(kc: KubeConfig, opNamespace: string, namespace: string, name: string, value: string): Promise<void> {
  const object = toObjectName(name);
  const sealedValue = await sealWithPublishedCert(kc, opNamespace, namespace, name, value);
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...osecCoords(namespace), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: object }, spec: { sealedValue } } });
  await waitForReady(kc, namespace, object, 'Stored');
}
