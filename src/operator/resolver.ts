/**
 * The resolver: answers a tenant's requests for secret values from the informer caches (the
 * storage Secrets, decrypted with the tenant's data key) and tells subscribed sidecars, per
 * tenant, which names changed so they forget them at once. Every replica serves it.
 */
import { decryptValue } from '../core/envelope.js';
import { isOrkaError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { assertSecretName, checkObjectName, toObjectName, toSecretName } from '../core/names.js';
import type { Controller } from './controller.js';
import type { KeyStore } from './keys.js';
import { storageName } from './resource.js';
import { readStorage } from './storage.js';
import type { Tenancy } from './tenancy.js';

/**
 * The answer to a resolve request. `revisions` holds, for each asked name whose storage Secret this
 * replica holds, that Secret's resourceVersion: the state the answer reflects. A sidecar compares
 * it with the revisions of the change events it saw, whichever replica sent them.
 */
export interface Resolution {
  values: Record<string, string>;
  missing: string[];
  revisions: Record<string, string>;
}

/** A change event for sidecars: a name changed or went away at `revision` (a resourceVersion). */
export interface NameChange {
  name: string;
  revision: string | undefined;
  deleted: boolean;
}

/** Most names one request may ask for. */
export const MAX_NAMES_PER_REQUEST = 256;

/** Resolves names for tenants and publishes their changes. */
export class Resolver {
  private readonly subscribers = new Map<string, Set<(change: NameChange) => void>>();

  constructor(
    private readonly controller: Controller,
    private readonly keys: KeyStore,
    private readonly log: Logger,
  ) {
    controller.onValueChange((namespace, objectName, change) => {
      const listeners = this.subscribers.get(namespace);
      if (listeners === undefined || !checkObjectName(objectName).ok) return;
      const event = { name: toSecretName(objectName), ...change };
      for (const fn of listeners) fn(event);
    });
  }

  /** Whether a namespace is a tenant now, and if not why. */
  tenancy(namespace: string): Tenancy {
    return this.controller.tenancy(namespace);
  }

  /** The values of `names` that exist in `namespace`, and the names that do not. */
  async resolve(namespace: string, names: readonly string[]): Promise<Resolution> {
    for (const name of names) assertSecretName(name);
    const values: Record<string, string> = {};
    const missing: string[] = [];
    const revisions: Record<string, string> = {};
    const dataKey = await this.keys.dataKey(namespace, { create: false, namespaceUid: this.controller.namespaceUid(namespace) });
    for (const name of new Set(names)) {
      const objectName = toObjectName(name);
      const object = this.controller.orkaSecrets.get(objectName, namespace);
      const storage = this.controller.secrets.get(storageName(objectName), namespace);
      const revision = storage?.metadata?.resourceVersion;
      if (revision !== undefined) revisions[name] = revision;
      const content = readStorage(storage);
      if (object === undefined || object.metadata.deletionTimestamp || content === undefined || dataKey === undefined) {
        missing.push(name);
        continue;
      }
      try {
        values[name] = decryptValue({ dataKeys: (id) => (id === dataKey.id ? dataKey.key : undefined), tenant: namespace, name, version: content.version, stored: content.envelope }).toString('utf8');
      } catch (err) {
        if (!isOrkaError(err, 'DECRYPT_FAILED')) throw err;
        this.log.warn({ tenant: namespace, secret: name }, 'stored value cannot be decrypted; answered as missing');
        missing.push(name);
      }
    }
    return { values, missing, revisions };
  }

  /** Calls `fn` with each secret name of `namespace` that changes or goes away; returns the unsubscribe. */
  subscribe(namespace: string, fn: (change: NameChange) => void): () => void {
    let set = this.subscribers.get(namespace);
    if (set === undefined) this.subscribers.set(namespace, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.subscribers.delete(namespace);
    };
  }
}
