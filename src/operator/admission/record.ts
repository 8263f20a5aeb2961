/**
 * The valueFrom admission record as the operator uses it (the MAC itself: core/valuefrom-record.ts):
 * its keys from the key ring, the binding of an OrkaSecret, and what each webhook decides about a
 * review, pure. The mutating webhook `authorize.orkasecrets.orka.io` asks the SubjectAccessReview
 * and stamps the record; the validating one refuses a new or changed `valueFrom` without a record
 * that verifies; the reconciler reads a source only when it verifies (reconcile/controller.ts).
 */
import type { KeyRing } from '../../core/keyring.js';
import { deriveRecordKey, verifyRecord, VALUE_FROM_RECORD_ANNOTATION, type RecordBinding, type RecordCheck, type RecordKeys } from '../../core/valuefrom-record.js';
import { isSecretDataKey, isSecretObjectName } from '../../core/names.js';
import type { OrkaSecret, SecretKeyRef } from '../../api/resource.js';

const derived = new WeakMap<KeyRing, Map<string, Buffer>>();

/** The record keys of a ring (one per sealing key; derived once per loaded ring). */
export function recordKeys(ring: KeyRing): RecordKeys {
  let keys = derived.get(ring);
  if (keys === undefined) derived.set(ring, (keys = new Map()));
  const memo = keys;
  return {
    activeId: ring.activeSealing().id,
    key: (id) => {
      let key = memo.get(id);
      if (key === undefined) {
        const sealing = ring.sealingKey(id);
        if (sealing === undefined) return undefined;
        memo.set(id, (key = deriveRecordKey(sealing)));
      }
      return key;
    },
  };
}

/** An object's valueFrom reference when it is a well-formed one (a malformed one is refused by its own rule). */
export function valueFromRef(o: Pick<OrkaSecret, 'spec'> | undefined): SecretKeyRef | undefined {
  const ref = o?.spec?.valueFrom?.secretKeyRef as { name?: unknown; key?: unknown } | undefined;
  return typeof ref?.name === 'string' && typeof ref.key === 'string' && isSecretObjectName(ref.name) && isSecretDataKey(ref.key) ? { name: ref.name, key: ref.key } : undefined;
}

/** What a record of `name` in `namespace` reading `ref` binds. */
export function bindingOf(namespace: { name: string; uid: string }, name: string, ref: SecretKeyRef): RecordBinding {
  return { namespaceUid: namespace.uid, namespace: namespace.name, name, secret: ref.name, key: ref.key };
}

/** The record found on an object, checked against what the object is now. */
export function checkRecordOf(keys: RecordKeys, namespace: { name: string; uid: string }, o: Pick<OrkaSecret, 'metadata' | 'spec'>, ref: SecretKeyRef): RecordCheck {
  return verifyRecord(keys, bindingOf(namespace, o.metadata?.name ?? '', ref), o.metadata?.annotations?.[VALUE_FROM_RECORD_ANNOTATION]);
}

/** What the mutating webhook does with one OrkaSecret review. */
export type AuthorizeStep =
  /** Nothing: no valueFrom (or one its own rule refuses), and no record to remove. */
  | { step: 'pass' }
  /** valueFrom is gone: a record left behind is removed (it could only be replayed). */
  | { step: 'remove' }
  /** The object carries a record that verifies for what it is now. */
  | { step: 'keep' }
  /** An update that leaves valueFrom as it was and dropped or altered the record: the one it had. */
  | { step: 'restore'; annotation: string }
  /**
   * Ask whether the requester may read `ref`, and stamp a record if so. `required`: a new or
   * changed reference, refused if not; otherwise (an unchanged reference without a record, made
   * before the check existed or while it could not answer) a re-check: admitted either way, and
   * recorded only if the requester may read the Secret.
   */
  | { step: 'ask'; ref: SecretKeyRef; binding: RecordBinding; required: boolean };

/** Whether the two objects' valueFrom references are the same. */
function sameRef(a: SecretKeyRef | undefined, b: SecretKeyRef | undefined): boolean {
  return a !== undefined && b !== undefined && a.name === b.name && a.key === b.key;
}

/** Decides the mutating webhook's step for an OrkaSecret create or update. */
export function authorizeStep(
  keys: RecordKeys,
  namespace: { name: string; uid: string },
  request: { operation: 'CREATE' | 'UPDATE'; object: Pick<OrkaSecret, 'metadata' | 'spec'>; oldObject?: Pick<OrkaSecret, 'metadata' | 'spec'> | null },
): AuthorizeStep {
  const { object } = request;
  const ref = valueFromRef(object);
  const annotation = object.metadata?.annotations?.[VALUE_FROM_RECORD_ANNOTATION];
  if (ref === undefined || object.spec?.sealedValue !== undefined) return annotation === undefined ? { step: 'pass' } : { step: 'remove' };
  if (checkRecordOf(keys, namespace, object, ref).ok) return { step: 'keep' };
  const old = request.operation === 'UPDATE' ? (request.oldObject ?? undefined) : undefined;
  const unchanged = old !== undefined && old.metadata?.name === object.metadata?.name && sameRef(valueFromRef(old), ref);
  if (unchanged && checkRecordOf(keys, namespace, old, ref).ok) return { step: 'restore', annotation: old.metadata?.annotations?.[VALUE_FROM_RECORD_ANNOTATION] as string };
  return { step: 'ask', ref, binding: bindingOf(namespace, object.metadata?.name ?? '', ref), required: !unchanged };
}

/** The validating webhook's verdict on the record: undefined when acceptable, else why not. */
export function recordProblem(
  keys: RecordKeys,
  namespace: { name: string; uid: string },
  request: { operation: 'CREATE' | 'UPDATE'; object: Pick<OrkaSecret, 'metadata' | 'spec'>; oldObject?: Pick<OrkaSecret, 'metadata' | 'spec'> | null },
): string | undefined {
  const ref = valueFromRef(request.object);
  if (ref === undefined || checkRecordOf(keys, namespace, request.object, ref).ok) return undefined;
  // An unchanged reference that has no record (older than the check): admitted, and refused by
  // the operator until someone who may read the Secret re-checks it (docs/upgrade.md).
  const old = request.operation === 'UPDATE' ? (request.oldObject ?? undefined) : undefined;
  if (old !== undefined && sameRef(valueFromRef(old), ref)) return undefined;
  return `spec.valueFrom: no admission record that the requester may read Secret ${ref.name} (the annotation ${VALUE_FROM_RECORD_ANNOTATION} is set by the operator's webhook authorize.orkasecrets.orka.io, which must run for every OrkaSecret create and update; it cannot be copied from another object)`;
}
