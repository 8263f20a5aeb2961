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

/** The answer to a resolve request. */
export interface Resolution {
  values: Record<string, string>;
  missing: string[];
}

/** Most names one request may ask for. */
export const MAX_NAMES_PER_REQUEST = 256;

/** Resolves names for tenants and publishes their changes. */
export class Resolver {
  private readonly subscribers = new Map<string, Set<(name: string) => void>>();

  constructor(
    private readonly controller: Controller,
    private readonly keys: KeyStore,
    private readonly log: Logger,
  ) {
    controller.onValueChange((namespace, objectName) => {
      const listeners = this.subscribers.get(namespace);
      if (listeners === undefined || !checkObjectName(objectName).ok) return;
      const name = toSecretName(objectName);
      for (const fn of listeners) fn(name);
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
    const dataKey = await this.keys.dataKey(namespace, { create: false });
    for (const name of new Set(names)) {
      const objectName = toObjectName(name);
      const object = this.controller.orkaSecrets.get(objectName, namespace);
      const content = readStorage(this.controller.secrets.get(storageName(objectName), namespace));
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
    return { values, missing };
  }

  /** Calls `fn` with each secret name of `namespace` that changes or goes away; returns the unsubscribe. */
  subscribe(namespace: string, fn: (name: string) => void): () => void {
    let set = this.subscribers.get(namespace);
    if (set === undefined) this.subscribers.set(namespace, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.subscribers.delete(namespace);
    };
  }
}
