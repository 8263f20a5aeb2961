/**
 * The data-key Secret of a tenant (`orka-dk-<namespace>` in the operator's namespace): the
 * tenant's data keys, each wrapped by a key-encryption key (src/core/envelope.ts).
 *
 *   data.wrapped            the active data key: every new value is encrypted with it
 *   data["previous.<id>"]   earlier data keys, replaced by a rotation: they still open the values
 *                           not yet re-encrypted, and are removed once no stored value names them
 *   annotations
 *     orka.io/data-key-id   the active data key's id (stored envelopes name theirs)
 *
 * One Secret per tenant, rather than one per data key, so that a tenant's keys are created,
 * bound to the namespace, backed up and deleted together, and a rotation swaps them in one write.
 */

/** Data field of the active wrapped data key. */
export const ACTIVE_DATA_KEY_FIELD = 'wrapped';
/** Prefix of the data fields holding earlier data keys (the id follows). */
export const PREVIOUS_DATA_KEY_PREFIX = 'previous.';
/** Annotation naming the active data key's id. */
export const DATA_KEY_ID_ANNOTATION = 'orka.io/data-key-id';

/** One wrapped data key of a tenant. */
export interface WrappedDataKey {
  id: string;
  wrapped: Buffer;
  active: boolean;
}

/** The parts of a data-key Secret this layout reads. */
interface DataKeySecretLike {
  metadata?: { annotations?: Record<string, string> };
  data?: Record<string, string>;
}

/** Every data key a data-key Secret holds, the active one first; an entry without an id is skipped. */
export function wrappedDataKeys(secret: DataKeySecretLike): WrappedDataKey[] {
  const data = secret.data ?? {};
  const keys: WrappedDataKey[] = [];
  const activeId = secret.metadata?.annotations?.[DATA_KEY_ID_ANNOTATION];
  const active = data[ACTIVE_DATA_KEY_FIELD];
  if (activeId !== undefined && active !== undefined) keys.push({ id: activeId, wrapped: Buffer.from(active, 'base64'), active: true });
  for (const [field, value] of Object.entries(data)) {
    if (!field.startsWith(PREVIOUS_DATA_KEY_PREFIX)) continue;
    const id = field.slice(PREVIOUS_DATA_KEY_PREFIX.length);
    if (id.length > 0 && id !== activeId) keys.push({ id, wrapped: Buffer.from(value, 'base64'), active: false });
  }
  return keys;
}

/** The data field that holds the earlier data key `id`. */
export function previousDataKeyField(id: string): string {
  return `${PREVIOUS_DATA_KEY_PREFIX}${id}`;
}
