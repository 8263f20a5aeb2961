/**
 * The reconcile decision, pure: what the operator should do for one OrkaSecret, given what
 * `gather` observed. No I/O, no clock of its own, no crypto: the caller hands in the value it
 * opened (or why it could not) and the value currently stored.
 *
 * Level-based: the same observation always gives the same plan, and applying a plan and
 * observing again gives an empty plan.
 */
import { isUtf8 } from 'node:buffer';
import { referenceOf } from '../../core/names.js';
import { MIN_DERIVED } from '../../core/redact.js';
import { READY, Reason, type Condition, type OrkaSecretStatus } from '../../api/resource.js';
import type { Tenancy } from '../../api/tenancy.js';
import { mismatchWords } from '../../api/sealing.js';
import { isStorageSecret } from '../../api/storage.js';
import type { V1Secret } from '@kubernetes/client-node';

/** The syntax of a valueFrom reference, for messages. */
export const SECRET_REF_RULE = 'name: lower-case DNS subdomain of at most 253 characters; key: at most 253 letters, digits, -, _ or .';

/** What the new value is, as far as gather could tell. */
export type Incoming =
  | { kind: 'none' }
  /** gather knows, without opening anything, that the stored value is this source's value. */
  | { kind: 'unchanged'; source: 'sealedValue' | 'valueFrom' }
  | { kind: 'value'; value: Buffer; source: 'sealedValue' | 'valueFrom' }
  | { kind: 'sealed-for-other'; tenant: string; name: string }
  /** Sealed for tenant `sealedFor`, in a namespace whose tenant id is now `tenantId`. */
  | { kind: 'sealed-for-other-tenant'; sealedFor: string; tenantId: string }
  /** Sealed in layout 1 (namespace-bound) where the namespace of tenant `tenantId` does not accept it. */
  | { kind: 'sealed-namespace-bound'; tenantId: string }
  | { kind: 'undecryptable' }
  /** Both sealedValue and valueFrom (the webhook refuses this; without it, nothing is stored). */
  | { kind: 'conflict' }
  | { kind: 'too-large'; bytes: number; limit: number }
  | { kind: 'source-missing'; secret: string; key: string; missing: 'secret' | 'key' }
  /** spec.valueFrom.secretKeyRef names no valid Secret name and key (it is not repeated). */
  | { kind: 'source-invalid' }
  /** The source Secret is of a type the operator never reads (see REFUSED_SOURCE_TYPES). */
  | { kind: 'source-refused'; secret: string; type: string }
  /**
   * spec.valueFrom carries no admission record that verifies (admission/record.ts): the source was
   * not read. `object` and `key` say what a re-check command needs.
   */
  | { kind: 'source-unauthorized'; secret: string; object: string; problem: 'missing' | 'malformed' | 'unknown-key' | 'mismatch' };

/** The value stored now, if any. */
export type Stored =
  | { version: number; value: Buffer }
  | { version: number; undecryptable: true }
  /** Sealed under a data key the tenant no longer has (its data-key Secret was deleted, or the storage was copied from another namespace). */
  | { version: number; undecryptable: true; dataKeyLost: true }
  /** Not decrypted: gather knows it equals the incoming value (see Incoming 'unchanged'). */
  | { version: number; matchesIncoming: true };

/** Everything decide needs. */
export interface Observed {
  namespace: string;
  /** undefined: the OrkaSecret is gone (or being deleted). */
  object?: { generation: number; status?: OrkaSecretStatus };
  /** The secret name, or the reason the object name maps to none. */
  secretName: { ok: true; name: string } | { ok: false; message: string };
  /** Whether the namespace is a tenant, and if not why. */
  tenancy: Tenancy;
  incoming: Incoming;
  stored?: Stored;
  now: Date;
}

/** An Event to record on the OrkaSecret. */
export interface PlannedEvent {
  type: 'Normal' | 'Warning';
  reason: Reason;
  message: string;
}

/** What apply should do. */
export interface Plan {
  storage: { op: 'keep' } | { op: 'write'; version: number; value: Buffer } | { op: 'delete' };
  /** The new status, only when it differs from the current one. */
  status?: OrkaSecretStatus;
  events: PlannedEvent[];
  /** The reason of the Ready condition (or "Deleted"), for metrics and logs. */
  outcome: Reason | 'Deleted' | 'Gone';
}

interface Verdict {
  ready: boolean;
  reason: Reason;
  message: string;
  warning: boolean;
}

/** What a stored value whose data key is gone says about it (one wording for the condition and the Event): the key may have been deleted, or the storage copied from another namespace. */
function namesMissingDataKey(namespace: string): string {
  return `names a data key namespace ${namespace} does not have (its data-key Secret was deleted, or the storage was copied from another namespace)`;
}

function verdictFor(o: Observed): { verdict: Verdict; write?: Buffer } {
  if (!o.secretName.ok) {
    return { verdict: { ready: false, reason: Reason.InvalidName, message: o.secretName.message, warning: true } };
  }
  const name = o.secretName.name;
  if (!o.tenancy.tenant) {
    return { verdict: { ready: false, reason: Reason.NotATenant, message: `${o.tenancy.reason} (nothing is stored or served here)`, warning: true } };
  }
  const incoming = o.incoming;
  switch (incoming.kind) {
    case 'value': {
      if (!isUtf8(incoming.value)) {
        const message = `the value from ${incoming.source} is not UTF-8 text: values are text; store binary data base64-encoded (nothing was stored)`;
        return { verdict: { ready: false, reason: Reason.ValueNotUTF8, message, warning: true } };
      }
      const unchanged = o.stored !== undefined && 'value' in o.stored && o.stored.value.equals(incoming.value);
      const storedMessage = `the value from ${incoming.source} is stored; reference it as ${referenceOf(name)}`;
      return { verdict: { ready: true, reason: Reason.Stored, message: storedMessage, warning: false }, ...(unchanged ? {} : { write: incoming.value }) };
    }
    case 'unchanged':
      return { verdict: { ready: true, reason: Reason.Stored, message: `the value from ${incoming.source} is stored; reference it as ${referenceOf(name)}`, warning: false } };
    case 'none':
      if (o.stored === undefined) {
        return { verdict: { ready: false, reason: Reason.NoValue, message: 'no value yet: set spec.sealedValue or spec.valueFrom.secretKeyRef', warning: true } };
      }
      if ('dataKeyLost' in o.stored) {
        return {
          verdict: {
            ready: false,
            reason: Reason.DataKeyLost,
            message: `the value of ${name} is lost: its stored value ${namesMissingDataKey(o.namespace)} and spec has no source to store it again from; set spec.sealedValue or spec.valueFrom.secretKeyRef`,
            warning: true,
          },
        };
      }
      if ('undecryptable' in o.stored) {
        return { verdict: { ready: false, reason: Reason.DecryptFailed, message: 'the stored value cannot be decrypted with the keys this operator has', warning: true } };
      }
      return { verdict: { ready: true, reason: Reason.Stored, message: `the stored value is kept; reference it as ${referenceOf(name)}`, warning: false } };
    case 'sealed-for-other':
      return {
        verdict: {
          ready: false,
          reason: Reason.SealedForAnotherSecret,
          message: `spec.sealedValue was sealed for ${incoming.name} in ${incoming.tenant}, not for ${name} in ${o.namespace}; seal the value again for this namespace and name (nothing was stored)`,
          warning: true,
        },
      };
    case 'sealed-for-other-tenant':
    case 'sealed-namespace-bound': {
      const binding = { tenantId: incoming.tenantId, namespace: o.namespace, name };
      const other = incoming.kind === 'sealed-for-other-tenant';
      const words = mismatchWords(other ? { kind: 'other-tenant', tenantId: incoming.sealedFor } : { kind: 'namespace-bound' }, binding);
      const message = `${words}; seal the value again for tenant ${incoming.tenantId} (\`orka-secrets -n ${o.namespace} seal ${name}\`; nothing was stored)`;
      return { verdict: { ready: false, reason: other ? Reason.SealedForAnotherTenant : Reason.NamespaceBoundSealedValue, message, warning: true } };
    }
    case 'undecryptable':
      return {
        verdict: { ready: false, reason: Reason.DecryptFailed, message: 'spec.sealedValue could not be opened: it is damaged, or sealed with a key this operator does not have (nothing was stored)', warning: true },
      };
    case 'conflict':
      return {
        verdict: { ready: false, reason: Reason.ConflictingSources, message: 'spec.sealedValue and spec.valueFrom are mutually exclusive: give one of them (nothing was stored)', warning: true },
      };
    case 'too-large':
      return { verdict: { ready: false, reason: Reason.ValueTooLarge, message: `the value is ${incoming.bytes} bytes; at most ${incoming.limit} are allowed (nothing was stored)`, warning: true } };
    case 'source-invalid':
      return {
        verdict: {
          ready: false,
          reason: Reason.InvalidSource,
          message: `spec.valueFrom.secretKeyRef must name a Secret (${SECRET_REF_RULE}); nothing was stored`,
          warning: true,
        },
      };
    case 'source-refused':
      return {
        verdict: {
          ready: false,
          reason: Reason.SourceRefused,
          message: `Secret ${incoming.secret} is of type ${incoming.type}: the operator never reads service-account tokens or Helm release records as a value, whoever asks (they are credentials of the cluster, not of the tenant; nothing was stored)`,
          warning: true,
        },
      };
    case 'source-unauthorized':
      return { verdict: { ready: false, reason: Reason.ValueFromNotAuthorized, message: unauthorizedMessage(o.namespace, incoming), warning: true } };
    case 'source-missing':
      return {
        verdict: {
          ready: false,
          reason: Reason.SourceNotFound,
          message:
            incoming.missing === 'secret'
              ? `Secret ${incoming.secret} does not exist in namespace ${o.namespace}; the value is taken when it appears`
              : `Secret ${incoming.secret} has no key ${incoming.key}; the value is taken when it appears`,
          warning: true,
        },
      };
  }
}

const RECORD_PROBLEMS = {
  missing: 'it has no admission record',
  malformed: 'its admission record is malformed',
  'unknown-key': 'its admission record was made with a key this operator does not have',
  mismatch: 'its admission record was made for another object, reference or namespace',
} as const;

/** The command that re-checks an OrkaSecret's valueFrom (docs/upgrade.md). */
export function recheckCommand(namespace: string, object: string): string {
  return `kubectl -n ${namespace} annotate orkasecret ${object} orka.io/value-from-recheck="$(date +%s)" --overwrite`;
}

function unauthorizedMessage(namespace: string, i: Extract<Incoming, { kind: 'source-unauthorized' }>): string {
  return (
    `spec.valueFrom was not authorized at admission (${RECORD_PROBLEMS[i.problem]}), so Secret ${i.secret} was not read: the operator reads a source only when admission recorded that whoever set valueFrom may read it. ` +
    `Someone who may get Secret ${i.secret} re-checks it with: ${recheckCommand(namespace, i.object)} (nothing was stored)`
  );
}

/** Reasons that refuse a new value while the value stored earlier stays as it was. */
const NEW_VALUE_REFUSED: ReadonlySet<Reason> = new Set([
  Reason.SealedForAnotherSecret,
  Reason.SealedForAnotherTenant,
  Reason.NamespaceBoundSealedValue,
  Reason.DecryptFailed,
  Reason.ConflictingSources,
  Reason.ValueTooLarge,
  Reason.ValueNotUTF8,
  Reason.SourceNotFound,
  Reason.InvalidSource,
  Reason.SourceRefused,
  Reason.ValueFromNotAuthorized,
]);

/**
 * When a new value is refused but an earlier one is stored, workflows still resolve that one: Ready
 * stays True (the column must not read as "nothing resolves"), the reason says what was refused,
 * and the message says which version is still served.
 */
function servingPrevious(o: Observed, result: { verdict: Verdict; write?: Buffer }): { verdict: Verdict; write?: Buffer } {
  const { verdict } = result;
  const served = o.stored !== undefined && !('undecryptable' in o.stored) && o.incoming.kind !== 'none';
  if (verdict.ready || !served || !NEW_VALUE_REFUSED.has(verdict.reason) || !o.secretName.ok || !o.tenancy.tenant) return result;
  const refusal = verdict.message.replace(/ \(nothing was stored\)$/, '').replace(/; nothing was stored(\)?)$/, '$1');
  const message = `${refusal}; nothing new was stored: the previous value (version ${o.stored?.version}) is still served`;
  return { verdict: { ...verdict, ready: true, message } };
}

function sameCondition(a: Condition | undefined, b: Condition): boolean {
  return a !== undefined && a.status === b.status && a.reason === b.reason && a.message === b.message;
}

/** Decides what to do for one OrkaSecret. */
export function decide(o: Observed): Plan {
  if (o.object === undefined) {
    return o.stored === undefined
      ? { storage: { op: 'keep' }, events: [], outcome: 'Gone' }
      : { storage: { op: 'delete' }, events: [], outcome: 'Deleted' };
  }
  const { verdict, write } = servingPrevious(o, verdictFor(o));
  // usage belongs to the resolver's batched writes; status patches are merge patches, so leaving
  // it out here leaves it untouched and a stale cache can never roll it back.
  const { usage, ...current } = o.object.status ?? {};
  const storedVersion = o.stored?.version ?? 0;
  const previous = current.conditions?.find((c) => c.type === READY);
  // The storage Secret is gone (deleted by hand) while the spec is the one whose value was stored:
  // the value written back is that same value, so it keeps its version.
  const restoring = write !== undefined && o.stored === undefined && current.version !== undefined && current.observedGeneration === o.object.generation && previous?.reason === Reason.Stored;
  const version = restoring ? current.version : write ? Math.max(storedVersion, current.version ?? 0) + 1 : o.stored !== undefined ? storedVersion : current.version;
  const condition: Condition = {
    type: READY,
    status: verdict.ready ? 'True' : 'False',
    reason: verdict.reason,
    message: verdict.message,
    lastTransitionTime: o.now.toISOString(),
    observedGeneration: o.object.generation,
  };
  const conditionChanged = !sameCondition(previous, condition);
  if (!conditionChanged && previous !== undefined) condition.lastTransitionTime = previous.lastTransitionTime;

  const status: OrkaSecretStatus = {
    ...current,
    conditions: [...(current.conditions ?? []).filter((c) => c.type !== READY), condition],
    observedGeneration: o.object.generation,
  };
  if (o.secretName.ok) {
    status.secretName = o.secretName.name;
    status.reference = referenceOf(o.secretName.name);
  }
  if (version !== undefined) status.version = version;
  if (write && !restoring) status.valueUpdatedAt = o.now.toISOString();

  const events: PlannedEvent[] = [];
  if (restoring) {
    events.push({ type: 'Warning', reason: Reason.Stored, message: `the storage Secret was missing: value stored again as version ${version}` });
  } else if (write && o.stored !== undefined && 'dataKeyLost' in o.stored) {
    events.push({ type: 'Warning', reason: Reason.DataKeyLost, message: `the stored value ${namesMissingDataKey(o.namespace)}: value stored again from its source under a new data key, as version ${version}` });
  } else if (write) {
    // A first store is routine: the Ready condition says it, and an Event would add a write to
    // every create. A value replaced, or stored after a failure, is a change a person should see.
    if (previous !== undefined) events.push({ type: 'Normal', reason: Reason.Stored, message: `value stored as version ${version}` });
    // The length is not said: only that it is under the line the CLI warns about too.
    if (write.toString('utf8').length < MIN_DERIVED) {
      events.push({ type: 'Warning', reason: Reason.ShortValue, message: `the value is very short (fewer than ${MIN_DERIVED} characters): masking it in logs hides little and can give it away; prefer a longer value` });
    }
  } else if (conditionChanged) {
    events.push({ type: verdict.warning ? 'Warning' : 'Normal', reason: verdict.reason, message: verdict.message });
  }
  return {
    storage: write ? { op: 'write', version: version as number, value: write } : { op: 'keep' },
    ...(statusEquals(current, status) ? {} : { status }),
    events,
    outcome: verdict.reason,
  };
}

/** Deep equality of two statuses (JSON-shaped data). */
export function statusEquals(a: OrkaSecretStatus, b: OrkaSecretStatus): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}

/**
 * What it means that creating a storage Secret found one already there (409), given the one found:
 *   cache-behind  it carries the storage labels, so the cache (which selects storage by them) will
 *                 see it: a write of ours or another replica's that the cache has not caught up
 *                 with yet. Nothing is written: the key is retried and decides on what is stored.
 *                 (Replacing it would store the value a second time, under a new ciphertext.)
 *   hidden        this OrkaSecret's storage with its labels edited away: the cache can never see
 *                 it, so the create would fail forever; it is replaced, labels included.
 *   foreign       not this OrkaSecret's: left alone, and the reconcile fails saying so.
 */
export function createConflict(found: V1Secret, ownerUid: string | undefined): 'cache-behind' | 'hidden' | 'foreign' {
  const owned = ownerUid !== undefined && (found.metadata?.ownerReferences ?? []).some((r) => r.uid === ownerUid && r.controller === true);
  if (!owned) return 'foreign';
  return isStorageSecret(found) ? 'cache-behind' : 'hidden';
}
