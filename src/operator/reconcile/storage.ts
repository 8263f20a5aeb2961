/**
 * The only writer of storage Secrets. The controller decides from its cache, which can be behind
 * the API (a new leader whose watch has not brought the old leader's last writes yet), so each
 * write is conditional on what that decision saw: created only if there is none, replaced only
 * at the resourceVersion seen, deleted only as seen and once the API says its OrkaSecret is gone.
 * A decision made on a stale view writes nothing: CacheBehind, and the key is retried.
 */
import type { V1Secret } from '@kubernetes/client-node';
import { storageName, type OrkaSecret } from '../../api/resource.js';
import { statusCode } from '../kube/client.js';
import { orkaSecretsPath, secretsPath, type KubeRest } from '../kube/rest.js';
import { createConflict } from './decide.js';

/**
 * The API holds a newer version of something than the cache does: the decision was made on a
 * stale view, so nothing is written and the key is retried once the watch has caught up.
 */
export class CacheBehind extends Error {
  constructor(what: string) {
    super(`${what} is newer than the cache; retrying once the cache has caught up`);
  }
}

/** Writes storage Secrets; `checkFence` throws once this replica may no longer write. */
export class StorageWriter {
  constructor(
    private readonly api: KubeRest,
    private readonly checkFence: () => void,
  ) {}

  /**
   * Stores `body` (a storage Secret of `owner`) over `seen`, the one the decision saw: created
   * when it saw none, else replaced at the version it saw.
   */
  async write(owner: OrkaSecret, body: V1Secret, seen: V1Secret | undefined): Promise<V1Secret> {
    this.checkFence();
    if (seen === undefined) return await this.create(owner, body);
    const name = storageName(owner.metadata.name);
    return await this.replace(owner.metadata.namespace, name, body, seen.metadata?.resourceVersion).catch((err: unknown) => {
      throw statusCode(err) === 409 ? new CacheBehind(`storage Secret ${name}`) : err;
    });
  }

  /** Replaces storage Secret `name` with `body` at `resourceVersion` (a change since fails with 409). */
  private async replace(namespace: string, name: string, body: V1Secret, resourceVersion: string | undefined): Promise<V1Secret> {
    return await this.api.send<V1Secret>({ method: 'PUT', path: secretsPath(namespace, name), body: { ...body, metadata: { ...body.metadata, resourceVersion } } });
  }

  /**
   * Creates a storage Secret. When one is already there (409), the one found says why
   * (`createConflict`): the cache is behind (retry, write nothing), or it is this OrkaSecret's
   * storage with its labels edited away, which the label-selected cache can never see (replaced,
   * labels included, instead of failing with 409 forever), or it is someone else's.
   */
  private async create(owner: OrkaSecret, body: V1Secret): Promise<V1Secret> {
    const namespace = owner.metadata.namespace;
    const name = storageName(owner.metadata.name);
    try {
      return await this.api.send<V1Secret>({ method: 'POST', path: secretsPath(namespace), body });
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      const found = await this.api.send<V1Secret>({ method: 'GET', path: secretsPath(namespace, name) });
      const conflict = createConflict(found, owner.metadata.uid);
      if (conflict === 'cache-behind') throw new CacheBehind(`storage Secret ${name}`);
      if (conflict === 'foreign') throw new Error(`Secret ${name} exists and is not this OrkaSecret's storage`, { cause: err });
      this.checkFence();
      return await this.replace(namespace, name, body, found.metadata?.resourceVersion);
    }
  }

  /**
   * Deletes the storage of OrkaSecret `name`, which the cache no longer has: only once the API
   * says the OrkaSecret is gone or being deleted, and only as the decision saw the storage (uid
   * and resourceVersion as preconditions), so one written meanwhile is never deleted with it.
   * False when it was gone already.
   */
  async delete(namespace: string, name: string, seen: V1Secret): Promise<boolean> {
    const owner = await this.api.send<OrkaSecret>({ method: 'GET', path: orkaSecretsPath(namespace, name) }).catch((err: unknown) => {
      if (statusCode(err) === 404) return undefined;
      throw err;
    });
    if (owner !== undefined && owner.metadata.deletionTimestamp === undefined) throw new CacheBehind(`OrkaSecret ${name}`);
    this.checkFence();
    const preconditions = { uid: seen.metadata?.uid, resourceVersion: seen.metadata?.resourceVersion };
    try {
      await this.api.send({ method: 'DELETE', path: secretsPath(namespace, storageName(name)), body: { preconditions } });
      return true;
    } catch (err) {
      if (statusCode(err) === 409) throw new CacheBehind(`storage Secret ${storageName(name)}`);
      if (statusCode(err) !== 404) throw err;
      return false;
    }
  }
}
