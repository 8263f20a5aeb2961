/**
 * The storage Secret of an OrkaSecret: ciphertext only, fixed type and labels, owned by the
 * OrkaSecret (so Kubernetes' garbage collector removes it too if the operator is not running).
 *
 *   data.value    the stored-value envelope (src/core/envelope.ts), bound to namespace/NAME/version
 *   data.version  the value's version, as decimal text (part of the envelope's additional data)
 */
import type { V1Secret } from '@kubernetes/client-node';
import { MAX_VALUE_BYTES } from '../core/envelope.js';
import { API_VERSION, GROUP, KIND, MANAGED_BY, MANAGED_BY_LABEL, STORAGE_FOR_LABEL, storageName, type OrkaSecret } from './resource.js';
import type { Tenancy } from './tenancy.js';

/** What a storage Secret holds. */
export interface StorageContent {
  version: number;
  envelope: Buffer;
}

/** Builds the storage Secret for an OrkaSecret. */
export function storageSecret(owner: OrkaSecret, content: StorageContent, resourceVersion?: string): V1Secret {
  const { name, namespace, uid } = owner.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: storageName(name),
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [STORAGE_FOR_LABEL]: name },
      ownerReferences: uid === undefined ? [] : [{ apiVersion: API_VERSION, kind: KIND, name, uid, controller: true, blockOwnerDeletion: false }],
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
    type: 'Opaque',
    data: { value: content.envelope.toString('base64'), version: Buffer.from(String(content.version)).toString('base64') },
  };
}

/** Whether a Secret is a storage Secret made by the operator. */
export function isStorageSecret(secret: V1Secret): boolean {
  return secret.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY && secret.metadata.labels[STORAGE_FOR_LABEL] !== undefined;
}

/** Reads a storage Secret; undefined when it is not one or is malformed. */
export function readStorage(secret: V1Secret | undefined): StorageContent | undefined {
  if (secret === undefined || !isStorageSecret(secret)) return undefined;
  const value = secret.data?.value;
  const version = Number(Buffer.from(secret.data?.version ?? '', 'base64').toString());
  if (value === undefined || !Number.isSafeInteger(version) || version < 1) return undefined;
  return { version, envelope: Buffer.from(value, 'base64') };
}

/**
 * Bytes of the largest stored-value envelope (src/core/envelope.ts): header (kind, layout, key-id
 * length, a key id of at most 255 bytes), nonce (12), the largest value (MAX_VALUE_BYTES) and the
 * GCM tag (16). test/unit/api/storage.test.ts checks it against a real envelope.
 */
export const MAX_STORED_ENVELOPE_BYTES = 3 + 255 + 12 + MAX_VALUE_BYTES + 16;

/** Room for a storage Secret's metadata (names, labels, owner, timestamps, and annotations tools add). */
const METADATA_ALLOWANCE = 16 * 1024;

/**
 * Largest storage Secret the operator's cache holds with its data, as JSON characters: the largest
 * envelope in base64 plus the metadata allowance (about 102 KiB). A larger one is no storage the
 * operator wrote: the cache keeps its metadata only, and the reconciler writes it again.
 */
export const MAX_STORAGE_OBJECT_BYTES = 4 * Math.ceil(MAX_STORED_ENVELOPE_BYTES / 3) + METADATA_ALLOWANCE;

/**
 * Why a Secret matching the storage labels is not held with its data:
 *   not-storage  not the shape the operator writes (name, labels, controller owner), or in a
 *                namespace that can never be a tenant: nothing can make it storage but a change
 *   not-tenant   its namespace is not a tenant (yet: the label may come, or the cache may not know it yet)
 *   no-owner     no OrkaSecret of that name and UID is known (yet: it may arrive after its storage)
 *   oversize     larger than MAX_STORAGE_OBJECT_BYTES
 */
export type Withheld = 'not-storage' | 'not-tenant' | 'no-owner' | 'oversize';

/** What the cache knows when a storage-labelled Secret arrives. */
export interface StorageContext {
  /** The tenancy of the Secret's namespace, as the cache knows it now. */
  tenancy: Tenancy;
  /** The UID of the OrkaSecret `name` in the Secret's namespace, as the cache knows it now (undefined: none). */
  ownerUid(name: string): string | undefined;
}

/**
 * The OrkaSecret a Secret claims to be the storage of, from its shape alone: labelled as storage
 * for X, named storageName(X), and controlled by an OrkaSecret named X. undefined: not storage.
 */
export function claimedOwner(secret: V1Secret): { name: string; uid: string } | undefined {
  if (!isStorageSecret(secret)) return undefined;
  const name = secret.metadata?.labels?.[STORAGE_FOR_LABEL] ?? '';
  if (secret.metadata?.name !== storageName(name)) return undefined;
  const owner = (secret.metadata.ownerReferences ?? []).find((r) => r.controller === true);
  if (owner === undefined || owner.kind !== KIND || owner.apiVersion.split('/')[0] !== GROUP || owner.name !== name || !owner.uid) return undefined;
  return { name, uid: owner.uid };
}

/**
 * Whether the cache may hold a storage-labelled Secret with its data (undefined), or why not. Pure:
 * `bytes` is the object's size as JSON. Anyone who can create a Secret can set the labels; only
 * the operator writes storage Secrets in a tenant namespace under an OrkaSecret's storage name with
 * that OrkaSecret as controller, and never larger than the largest envelope.
 */
export function withheld(secret: V1Secret, bytes: number, context: StorageContext): Withheld | undefined {
  const owner = claimedOwner(secret);
  if (owner === undefined) return 'not-storage';
  if (!context.tenancy.tenant) return context.tenancy.never ? 'not-storage' : 'not-tenant';
  if (context.ownerUid(owner.name) !== owner.uid) return 'no-owner';
  if (bytes > MAX_STORAGE_OBJECT_BYTES) return 'oversize';
  return undefined;
}

/** Whether a reason to withhold may pass without the Secret changing (its namespace or owner may arrive). */
export function mayBeAdmittedLater(reason: Withheld): boolean {
  return reason === 'not-tenant' || reason === 'no-owner';
}

/**
 * Reduces a withheld Secret, in place, to what the operator still reads of it: its identity and
 * version (to notice it change, and to delete an orphan on conditions), the storage labels and the
 * controller owner (to tell whether it may be admitted later). No data, no type, no annotations.
 */
export function toStorageMetadata(secret: V1Secret): void {
  const meta = secret.metadata ?? {};
  const { name, namespace, uid, resourceVersion, deletionTimestamp } = meta;
  const labels = meta.labels === undefined ? undefined : Object.fromEntries([MANAGED_BY_LABEL, STORAGE_FOR_LABEL].flatMap((k) => (meta.labels?.[k] === undefined ? [] : [[k, meta.labels[k]]])));
  const owner = (meta.ownerReferences ?? []).find((r) => r.controller === true);
  for (const key of Object.keys(secret)) if (key !== 'metadata' && key !== 'apiVersion' && key !== 'kind') delete (secret as Record<string, unknown>)[key];
  secret.metadata = {
    name,
    namespace,
    uid,
    resourceVersion,
    ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }),
    ...(labels === undefined ? {} : { labels }),
    ...(owner === undefined ? {} : { ownerReferences: [owner] }),
  };
}
