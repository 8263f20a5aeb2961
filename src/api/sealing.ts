/**
 * Which sealed values a namespace opens, pure: the one rule admission and reconcile both ask.
 *
 * A sealed value opens only in a namespace whose tenant id (its `orka.io/tenant` label), name and
 * secret name are the ones it was sealed for. A namespace deleted and made again for another
 * tenant (another label value) opens none of the first tenant's values; the same tenant in a new
 * cluster (same namespace name and label, key ring restored) opens them all.
 *
 * Values sealed before tenant ids were bound (layout 1, "namespace/NAME") name no tenant, so
 * nothing in them tells the tenant that sealed them from a later one given a namespace of the
 * same name. They open only where the platform says, namespace object by namespace object, that
 * this namespace is the one they were sealed for: the annotation ACCEPT_NAMESPACE_SEALED_ANNOTATION
 * whose value is the namespace's own UID. A UID is new for every namespace object, so the
 * annotation cannot be carried to a namesake (from a template, a manifest in Git or a backup):
 * there it names another UID and accepts nothing. Tenants cannot set it (namespaces are
 * cluster-scoped; the chart's roles grant no write on them).
 */
import type { V1Namespace } from '@kubernetes/client-node';
import type { SealedBinding, SealedClaim } from '../core/envelope.js';
import { TENANT_LABEL } from './resource.js';

/** Namespace annotation: set to the namespace's own UID, its sealed values of layout 1 (bound to the namespace name only) open. */
export const ACCEPT_NAMESPACE_SEALED_ANNOTATION = 'orka.io/accept-namespace-sealed';

/** What a sealed value must be bound to in one namespace, for one secret, and whether layout 1 opens there. */
export interface SealingTarget {
  binding: SealedBinding;
  openNamespaceBound: boolean;
}

/** The target for secret `name` in namespace object `ns`; undefined when it does not exist or has no tenant id. */
export function sealingTarget(ns: Pick<V1Namespace, 'metadata'> | undefined, name: string): SealingTarget | undefined {
  const tenantId = ns?.metadata?.labels?.[TENANT_LABEL] ?? '';
  const namespace = ns?.metadata?.name;
  if (tenantId === '' || namespace === undefined) return undefined;
  const uid = ns?.metadata?.uid;
  const accepted = ns?.metadata?.annotations?.[ACCEPT_NAMESPACE_SEALED_ANNOTATION];
  return { binding: { tenantId, namespace, name }, openNamespaceBound: uid !== undefined && uid !== '' && accepted === uid };
}

/** Why a sealed value's claim can never open at a target. */
export type SealedMismatch =
  /** Sealed for another namespace or secret name. */
  | { kind: 'other-secret'; namespace: string; name: string }
  /** Sealed for this namespace and name, but for another tenant id. */
  | { kind: 'other-tenant'; tenantId: string }
  /** Layout 1 (no tenant) where the namespace does not accept it. */
  | { kind: 'namespace-bound' };

/** What keeps `claim` from opening at `target`, or undefined when only opening can tell. */
export function sealedMismatch(claim: SealedClaim, target: SealingTarget): SealedMismatch | undefined {
  const { binding } = target;
  if (claim.namespace !== binding.namespace || claim.name !== binding.name) return { kind: 'other-secret', namespace: claim.namespace, name: claim.name };
  if (claim.tenantId === undefined) return target.openNamespaceBound ? undefined : { kind: 'namespace-bound' };
  return claim.tenantId === binding.tenantId ? undefined : { kind: 'other-tenant', tenantId: claim.tenantId };
}

/** Words for a mismatch, for a refusal or a condition; the caller adds the remedy (names and ids only, never a value). */
export function mismatchWords(m: SealedMismatch, binding: SealedBinding): string {
  switch (m.kind) {
    case 'other-secret':
      return `spec.sealedValue was sealed for ${m.name} in namespace ${m.namespace}, not for ${binding.name} in namespace ${binding.namespace}`;
    case 'other-tenant':
      return `spec.sealedValue was sealed for tenant ${m.tenantId}, and namespace ${binding.namespace} belongs to tenant ${binding.tenantId} (its ${TENANT_LABEL} label): a value opens only for the tenant it was sealed for`;
    case 'namespace-bound':
      return `spec.sealedValue is in the format of earlier releases, bound to the namespace name only (a later namespace of the same name could open it), and namespace ${binding.namespace} does not accept that format (annotation ${ACCEPT_NAMESPACE_SEALED_ANNOTATION}, see docs/upgrade.md)`;
  }
}
