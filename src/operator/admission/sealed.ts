/**
 * Admission checks of spec.sealedValue, pure: what can be told without the private key. A value
 * that is not a sealed envelope, or whose clear-text label names another tenant, namespace or
 * name, or that is in the namespace-bound format where the namespace does not accept it, can
 * never be stored; refusing it at `kubectl apply` puts the error where people (and GitOps tools)
 * look, instead of a Ready=False found later. Whether it opens is still the operator's to say
 * (the rule is src/api/sealing.ts, which the reconciler asks too).
 */
import type { V1Namespace } from '@kubernetes/client-node';
import { inspectSealed } from '../../core/envelope.js';
import { checkObjectName, toSecretName } from '../../core/names.js';
import { mismatchWords, sealedMismatch, sealingTarget } from '../../api/sealing.js';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Why this object's spec.sealedValue can never be stored in `namespace`, or undefined. `ns` is the
 * namespace object as cached (undefined, or without a tenant label: only the namespace and name
 * are checked, and the operator says the rest). Never quotes the value.
 */
export function sealedValueProblem(o: { metadata?: { name?: string }; spec?: { sealedValue?: unknown } }, namespace: string, ns: Pick<V1Namespace, 'metadata'> | undefined): string | undefined {
  const sealedValue = o.spec?.sealedValue;
  if (sealedValue === undefined) return undefined;
  const objectName = o.metadata?.name ?? '';
  // An object name that maps to no secret name is refused by its own rule, first.
  if (!checkObjectName(objectName).ok) return undefined;
  const name = toSecretName(objectName);
  const again = `seal it again with \`orka-secrets -n ${namespace} seal ${name}\``;
  if (typeof sealedValue !== 'string' || !BASE64.test(sealedValue) || sealedValue.length % 4 !== 0) {
    return `spec.sealedValue is not base64: ${again}`;
  }
  const shape = inspectSealed(Buffer.from(sealedValue, 'base64'));
  if (!shape.ok) return `spec.sealedValue is not a well-formed sealed value: ${shape.problem}; ${again}`;
  // A cached namespace of another name (never expected) is no target: the name check stands alone.
  const target = ns?.metadata?.name === namespace ? sealingTarget(ns, name) : undefined;
  const binding = target?.binding ?? { tenantId: '', namespace, name };
  const claim = shape.claim;
  const mismatch =
    target !== undefined ? sealedMismatch(claim, target) : claim.namespace !== namespace || claim.name !== name ? ({ kind: 'other-secret', namespace: claim.namespace, name: claim.name } as const) : undefined;
  return mismatch === undefined ? undefined : `${mismatchWords(mismatch, binding)}, so it can never open here: ${again}`;
}
