/**
 * The storage Secret of an OrkaSecret: ciphertext only, fixed type and labels, owned by the
 * OrkaSecret (so Kubernetes' garbage collector removes it too if the operator is not running).
 *
 *   data.value    the stored-value envelope (src/core/envelope.ts), bound to namespace/NAME/version
 *   data.version  the value's version, as decimal text (part of the envelope's additional data)
 */
import type { V1Secret } from '@kubernetes/client-node';
import { API_VERSION, KIND, MANAGED_BY, MANAGED_BY_LABEL, STORAGE_FOR_LABEL, storageName, type OrkaSecret } from './resource.js';

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
