/**
 * Admission checks of spec.sealedValue, pure: what can be told without the private key. A value
 * that is not a sealed envelope, or whose clear-text label names another namespace or name, can
 * never be stored; refusing it at `kubectl apply` puts the error where people (and GitOps tools)
 * look, instead of a Ready=False found later. Whether it opens is still the operator's to say.
 */
import { inspectSealed } from '../../core/envelope.js';
import { checkObjectName, toSecretName } from '../../core/names.js';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Why this object's spec.sealedValue can never be stored in `namespace`, or undefined. Never quotes the value. */
export function sealedValueProblem(o: { metadata?: { name?: string }; spec?: { sealedValue?: unknown } }, namespace: string): string | undefined {
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
  if (shape.tenant !== namespace || shape.name !== name) {
    return `spec.sealedValue was sealed for ${shape.name} in namespace ${shape.tenant}, not for ${name} in namespace ${namespace}, so it can never open here: ${again}`;
  }
  return undefined;
}
