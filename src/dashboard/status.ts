/**
 * What the page says about an OrkaSecret's state: the one mapping from the Ready condition the
 * operator writes to a pill, in the same terms as `kubectl get osec`'s READY and REASON columns.
 * Pure (no DOM, no Kubernetes client): the server projects each object with it, and the unit tests
 * pin every case.
 *
 *   - green `Ready`: Ready True, reason Stored, for the current generation: a stored value is served;
 *   - amber `Update refused: previous value in use`: Ready True with any other reason: a new value
 *     was refused and the version stored before is still served (the operator's servingPrevious);
 *   - red (the reason in words): Ready False: nothing is served for this name;
 *   - grey `Pending`: no Ready condition yet, or one about an older generation: not settled, the
 *     page keeps asking until the operator has looked at the current spec.
 */
import { READY, type OrkaSecret } from '../api/resource.js';

/** The pill's colour: ok (green), warn (amber), error (red), pending (grey, not settled). */
export type Tone = 'ok' | 'warn' | 'error' | 'pending';

/** A row's state, as the page shows it. Never holds a value (condition messages never do). */
export interface RowStatus {
  tone: Tone;
  /** The pill's words. */
  label: string;
  /** `kubectl get osec`'s READY column: the Ready condition's status ('' before there is one). */
  ready: string;
  /** `kubectl get osec`'s REASON column: the Ready condition's reason ('' before there is one). */
  reason: string;
  /** The condition's message (what was refused, which version is served), or why it is pending. */
  message?: string;
  /** False while the operator has not yet decided on the current spec: the page asks again. */
  settled: boolean;
}

/** Where a reason is explained: the troubleshooting page the dashboard serves, at that reason's row. */
export const TROUBLESHOOTING_PATH = '/docs/troubleshooting.md';

/** The link to a reason's entry in docs/troubleshooting.md (a text fragment scrolls to its row). */
export function troubleshootingLink(reason: string): string {
  return reason === '' ? TROUBLESHOOTING_PATH : `${TROUBLESHOOTING_PATH}#:~:text=${encodeURIComponent(`\`${reason}\``)}`;
}

/** Label of a refused update whose previous value is still served. */
export const REFUSED_LABEL = 'Update refused: previous value in use';

const REASON_WORDS: Record<string, string> = {
  Stored: 'Ready',
  InvalidName: 'Invalid name',
  NotATenant: 'Namespace is not a tenant',
  NoValue: 'No value given',
  SealedForAnotherSecret: 'Sealed for another secret',
  SealedForAnotherTenant: 'Sealed for another tenant',
  NamespaceBoundSealedValue: 'Sealed in an old format: seal again',
  SourceNotFound: 'Source Secret not found',
  DecryptFailed: 'Sealed value could not be opened',
  DataKeyLost: 'Data key lost: set the value again',
  ValueTooLarge: 'Value too large',
  ValueNotUTF8: 'Value is not UTF-8 text',
  ConflictingSources: 'Two value sources given',
  SourceRefused: 'Source Secret of a refused type',
  InvalidSource: 'Invalid source reference',
  ValueFromNotAuthorized: 'valueFrom not authorized',
  StorageDeleted: 'Storage deleted, restoring',
};

/** A Ready condition's reason in words (an unknown reason is split at its capitals). */
export function reasonWords(reason: string): string {
  return REASON_WORDS[reason] ?? reason.replace(/([a-z])([A-Z])/g, '$1 $2');
}

/** The page's status of one OrkaSecret. */
export function statusOf(o: OrkaSecret): RowStatus {
  const condition = o.status?.conditions?.find((c) => c.type === READY);
  if (condition === undefined) {
    return { tone: 'pending', label: 'Pending', ready: '', reason: '', message: 'the operator has not looked at this secret yet', settled: false };
  }
  const kubectl = { ready: condition.status, reason: condition.reason };
  // The condition speaks of the generation it was written for; a newer spec is not decided yet.
  const observed = condition.observedGeneration ?? o.status?.observedGeneration ?? 0;
  if (observed < (o.metadata.generation ?? 0)) {
    const meanwhile = condition.status === 'True' ? '; the value stored before is served meanwhile' : '';
    return { tone: 'pending', label: 'Pending', ...kubectl, message: `the operator has not yet looked at the latest change${meanwhile}`, settled: false };
  }
  const message = condition.message ? { message: condition.message } : {};
  if (condition.status === 'True') {
    if (condition.reason === 'Stored') return { tone: 'ok', label: 'Ready', ...kubectl, ...message, settled: true };
    return { tone: 'warn', label: REFUSED_LABEL, ...kubectl, ...message, settled: true };
  }
  if (condition.status === 'False') return { tone: 'error', label: reasonWords(condition.reason), ...kubectl, ...message, settled: true };
  return { tone: 'pending', label: 'Pending', ...kubectl, ...message, settled: false };
}
