/**
 * Format vectors of the release before: its key ring Secret, a tenant's data-key Secret, storage
 * Secrets, a sealed value and its `keys backup` files (plain and encrypted), made once with that
 * release's code (test/unit/fixtures/release-vectors.generate.ts says how). The current code must
 * read every one of them as it is stored in clusters now: an upgrade opens what is there.
 */
import { readFileSync } from 'node:fs';
import { KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { claimedOwner, readStorage } from '../../../src/api/storage.js';
import { decodeBackup } from '../../../src/cli/backupfile.js';
import { dataKeysToRestore, verify } from '../../../src/cli/keys.js';
import { decryptValue, unseal } from '../../../src/core/envelope.js';
import { KEYRING_DATA_KEY, loadKeyRing, parseKeyRing } from '../../../src/core/keyring.js';
import { createLogger } from '../../../src/core/logger.js';
import { DataKeyStore } from '../../../src/operator/keys/datakeys.js';
import { KeyRingStore } from '../../../src/operator/keys/ring.js';
import type { Watched } from '../../../src/operator/kube/informers.js';

interface Vectors {
  operatorNamespace: string;
  tenant: string;
  values: { object: string; name: string; version: number; value: string }[];
  passphrase: string;
  keyRingSecret: V1Secret;
  dataKeySecret: V1Secret;
  storageSecrets: V1Secret[];
  sealed: { tenantId: string; namespace: string; name: string; value: string; sealedValue: string };
  backup: string;
  encryptedBackup: string;
}
const v = JSON.parse(readFileSync(new URL('../fixtures/release-vectors.json', import.meta.url), 'utf8')) as Vectors;
const log = createLogger({ name: 'release-vectors', level: 'silent' });

/** A cache of the operator namespace's Secrets holding `secrets`, as the operator's informer would. */
function cacheOf(secrets: V1Secret[]): Watched<V1Secret> {
  return {
    get: (name: string, namespace?: string) => secrets.find((s) => s.metadata?.name === name && (namespace === undefined || s.metadata?.namespace === namespace)),
    list: () => secrets,
    on: () => undefined,
  } as unknown as Watched<V1Secret>;
}

/** The operator's own key stores over the release's Secrets (they read the cache: no API call is made). */
function stores() {
  const cache = cacheOf([v.keyRingSecret, v.dataKeySecret]);
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'none', server: 'https://127.0.0.1:1' }], users: [{ name: 'none' }], contexts: [{ name: 'none', cluster: 'none', user: 'none' }], currentContext: 'none' });
  const ring = new KeyRingStore(kc, cache, { namespace: v.operatorNamespace, log });
  const dataKeys = new DataKeyStore(kc, cache, ring, { namespace: v.operatorNamespace, log });
  return { ring, dataKeys };
}

describe("the release before's Secrets open with the current code", () => {
  it('the key ring Secret loads, through the operator\'s own store', () => {
    const ring = stores().ring.current();
    expect(ring).toBeDefined();
    expect(ring?.activeKek().id).toMatch(/^kek-/);
    expect(ring?.data).toEqual(parseKeyRing(Buffer.from(v.keyRingSecret.data?.[KEYRING_DATA_KEY] ?? '', 'base64').toString('utf8')));
  });

  it('the data-key Secret unwraps, and every storage Secret decrypts to its value', async () => {
    const { dataKeys } = stores();
    const uid = v.dataKeySecret.metadata?.annotations?.['orka.io/namespace-uid'];
    expect(uid).toBeDefined();
    const keys = await dataKeys.dataKey(v.tenant, { create: false, namespaceUid: uid });
    expect(keys).toBeDefined();
    expect(v.storageSecrets).toHaveLength(v.values.length);
    for (const [i, expected] of v.values.entries()) {
      const secret = v.storageSecrets[i] as V1Secret;
      const content = readStorage(secret);
      expect(content?.version).toBe(expected.version);
      expect(claimedOwner(secret)).toEqual({ name: expected.object, uid: `uid-of-${expected.object}` });
      const opened = decryptValue({ dataKeys: (id) => keys?.lookup(id), tenant: v.tenant, name: expected.name, version: expected.version, stored: content?.envelope as Buffer });
      expect(opened.toString('utf8')).toBe(expected.value);
    }
  });

  it('a value sealed then opens with the ring\'s sealing key', async () => {
    const ring = loadKeyRing(parseKeyRing(Buffer.from(v.keyRingSecret.data?.[KEYRING_DATA_KEY] ?? '', 'base64').toString('utf8')));
    const { tenantId, namespace, name } = v.sealed;
    const opened = await unseal({ privateKeys: (id) => ring.sealingKey(id), binding: { tenantId, namespace, name }, sealed: Buffer.from(v.sealed.sealedValue, 'base64') });
    expect(opened.toString('utf8')).toBe(v.sealed.value);
  });

  it.each([
    ['plain', 'backup', 'sha256'],
    ['encrypted', 'encryptedBackup', 'passphrase'],
  ] as const)('its %s keys backup reads, and opens every stored value', async (_label, field, protection) => {
    const read = await decodeBackup(v[field], 'release.yaml', () => Promise.resolve(Buffer.from(v.passphrase, 'utf8')));
    expect(read.protection).toBe(protection);
    const clusterRing = stores().ring.current();
    expect(verify(read.backup, v.storageSecrets, clusterRing)).toEqual({ opened: v.values.length, notOpened: [], missingKeys: [] });
    // Restored over a cluster that lost only its ring, the data key there is kept, not recreated.
    expect(dataKeysToRestore(read.backup, [v.dataKeySecret])).toEqual({ create: [], kept: [v.dataKeySecret.metadata?.name], foreign: [] });
  });
});
