/**
 * Which namespaces are tenants, pure: the one rule every part asks (reconcile, resolver, webhooks).
 * A namespace takes part when it carries a non-empty `orka.io/tenant` label, except the operator's
 * own namespace (it holds every key) and the system namespaces (`kube-*`, a prefix Kubernetes
 * reserves), which are never tenants whatever their labels: one mistaken `kubectl label ns --all`
 * must not expose the key ring to a token from there.
 */
import { TENANT_LABEL } from './resource.js';

/** Whether a namespace is a tenant, and if not, why (in words fit for a condition). */
export type Tenancy = { tenant: true } | { tenant: false; reason: string; /** true: no label can ever make it one. */ never: boolean };

/** The system namespaces that exist in every cluster (never tenants, never injected). */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'];

/** Whether a namespace name is reserved for the system (never a tenant). */
export function isSystemNamespace(name: string): boolean {
  return name.startsWith('kube-');
}

/** The tenancy of namespace `name` with `labels` (undefined: the namespace is not known). */
export function tenancyOf(name: string, labels: Record<string, string> | undefined, operatorNamespace: string): Tenancy {
  if (name === operatorNamespace) {
    return { tenant: false, never: true, reason: `namespace ${name} is the operator's own namespace (it holds the keys): it is never a tenant, whatever its labels` };
  }
  if (isSystemNamespace(name)) return { tenant: false, never: true, reason: `namespace ${name} is a system namespace: it is never a tenant, whatever its labels` };
  if ((labels?.[TENANT_LABEL] ?? '') === '') return { tenant: false, never: false, reason: `namespace ${name} is not a tenant: it needs the label ${TENANT_LABEL}` };
  return { tenant: true };
}
