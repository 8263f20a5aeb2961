/**
 * `keys backup|verify|restore`: backups of the operator's keys that can be checked. A backup is
 * one document holding the key ring Secret and every tenant's data-key Secret, copied whole (so
 * whatever the key store records on them travels too). `verify` opens every stored value in the
 * cluster with the backup's keys and names those it cannot (a tenant added, or keys rotated, since
 * it was made; only the namespaces the operator holds data keys for are looked at); `restore` puts the Secrets back into a cluster that has no keys. The backup is as
 * secret as the values themselves: it is written with mode 0600 and never printed.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { V1Secret } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { parse, stringify } from 'yaml';
import { decryptValue, unwrapDataKey } from '../core/envelope.js';
import { toSecretName } from '../core/names.js';
import { KEYRING_DATA_KEY, loadKeyRing, parseKeyRing, type KeyRing } from '../core/keyring.js';
import { wrappedDataKeys } from '../api/datakey.js';
import { DATA_KEY_LABEL, MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL, STORAGE_FOR_LABEL } from '../api/resource.js';
import { readStorage } from '../api/storage.js';
import { connect, type Cluster, type GlobalOptions } from './cluster.js';
import { CliError, EXIT } from './errors.js';
import { clean } from './clean.js';

const FORMAT = 'orka-secrets/keys-backup/v1';
const DATA_KEY_SELECTOR = `${ROLE_LABEL}=data-key`;

/** One Secret as kept in a backup: what is needed to create it again. */
interface KeptSecret {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  type: string;
  data: Record<string, string>;
}

/** A backup document. */
export interface KeysBackup {
  format: typeof FORMAT;
  createdAt: string;
  operatorNamespace: string;
  keyRing: KeptSecret;
  dataKeys: KeptSecret[];
}

function keep(s: V1Secret): KeptSecret {
  return { name: s.metadata?.name ?? '', labels: s.metadata?.labels ?? {}, annotations: s.metadata?.annotations ?? {}, type: s.type ?? 'Opaque', data: s.data ?? {} };
}

function ringOf(secret: KeptSecret | V1Secret): KeyRing {
  const json = Buffer.from(secret.data?.[KEYRING_DATA_KEY] ?? '', 'base64').toString('utf8');
  return loadKeyRing(parseKeyRing(json));
}

/** Reads a backup file; throws CliError (exit 2) when it is not one. */
export function readBackup(file: string): KeysBackup {
  let doc: KeysBackup;
  try {
    doc = parse(readFileSync(file, 'utf8')) as KeysBackup;
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'not YAML or JSON'}`, EXIT.input);
  }
  if (doc?.format !== FORMAT || doc.keyRing === undefined || !Array.isArray(doc.dataKeys)) throw new CliError(`${file} is not an Orka Secrets keys backup (format ${FORMAT})`, EXIT.input);
  try {
    ringOf(doc.keyRing);
  } catch {
    throw new CliError(`${file}: the key ring in it is damaged`, EXIT.input);
  }
  return doc;
}

/** Data keys of a backup by id: every one its key ring can unwrap. */
export function dataKeysOf(backup: KeysBackup): Map<string, Buffer> {
  const ring = ringOf(backup.keyRing);
  const keys = new Map<string, Buffer>();
  for (const dk of backup.dataKeys) {
    const tenant = dk.labels[DATA_KEY_LABEL];
    if (tenant === undefined) continue;
    // The active key and the earlier ones a rotation replaced (values not yet re-encrypted).
    for (const { id, wrapped } of wrappedDataKeys({ metadata: { annotations: dk.annotations }, data: dk.data })) {
      try {
        keys.set(id, unwrapDataKey({ keks: ring.kek, tenant, wrapped }));
      } catch {
        // a data key this ring cannot open: the values under it count as not covered
      }
    }
  }
  return keys;
}

/** What verify found: the values the backup opens and does not, and cluster keys it lacks. */
export interface Verification {
  opened: number;
  notOpened: Array<{ namespace: string; name: string; version: number }>;
  missingKeys: string[];
}

/** Checks a backup against the cluster's stored values and key ring (pure). */
export function verify(backup: KeysBackup, storage: V1Secret[], clusterRing: KeyRing | undefined): Verification {
  const keys = dataKeysOf(backup);
  const result: Verification = { opened: 0, notOpened: [], missingKeys: [] };
  for (const secret of storage) {
    const content = readStorage(secret);
    const objectName = secret.metadata?.labels?.[STORAGE_FOR_LABEL];
    const namespace = secret.metadata?.namespace ?? '';
    if (content === undefined || objectName === undefined) continue;
    let name: string;
    try {
      name = toSecretName(objectName);
    } catch {
      continue;
    }
    try {
      decryptValue({ dataKeys: (id) => keys.get(id), tenant: namespace, name, version: content.version, stored: content.envelope }).fill(0);
      result.opened++;
    } catch {
      result.notOpened.push({ namespace, name, version: content.version });
    }
  }
  if (clusterRing !== undefined) {
    const backupRing = ringOf(backup.keyRing).data;
    const have = new Set([...backupRing.keks.map((k) => k.id), ...backupRing.sealing.map((k) => k.id)]);
    for (const id of [...clusterRing.data.keks.map((k) => k.id), ...clusterRing.data.sealing.map((k) => k.id)]) if (!have.has(id)) result.missingKeys.push(id);
  }
  for (const k of keys.values()) k.fill(0);
  return result;
}

async function readKeySecrets(c: Cluster): Promise<{ ring: V1Secret | undefined; dataKeys: V1Secret[] }> {
  const { KEYS_SECRET } = await import('../api/resource.js');
  const api = c.kc.makeApiClient(c.k8s.CoreV1Api);
  const where = `keys in ${c.operatorNamespace}`;
  const ring = await c.call(where, () => api.readNamespacedSecret({ name: KEYS_SECRET, namespace: c.operatorNamespace })).catch((err: unknown) => {
    if (err instanceof CliError && err.exitCode === EXIT.notFound) return undefined;
    throw err;
  });
  const dataKeys = (await c.call(where, () => api.listNamespacedSecret({ namespace: c.operatorNamespace, labelSelector: DATA_KEY_SELECTOR }))).items;
  return { ring, dataKeys };
}

/** Registers `keys backup|verify|restore`. */
export function registerKeys(cli: Command, g: () => GlobalOptions): void {
  const keys = cli.command('keys').description("back up, check and restore the operator's keys (key ring and every tenant's data key)");

  keys
    .command('backup')
    .description('write one document with the key ring and every data key (mode 0600; keep it as secret as the values)')
    .requiredOption('-o, --output <file>', 'file to write')
    .action(async (opts: { output: string }) => {
      const c = await connect(g());
      const { ring, dataKeys } = await readKeySecrets(c);
      if (ring === undefined) throw new CliError(`no key ring in ${c.operatorNamespace}: nothing to back up (is --operator-namespace right?)`, EXIT.notFound);
      const backup: KeysBackup = { format: FORMAT, createdAt: new Date().toISOString(), operatorNamespace: c.operatorNamespace, keyRing: keep(ring), dataKeys: dataKeys.map(keep) };
      const tmp = `${opts.output}.tmp-${process.pid}`;
      writeFileSync(tmp, stringify(backup), { mode: 0o600 });
      renameSync(tmp, opts.output);
      process.stdout.write(`backed up the key ring and ${dataKeys.length} data key${dataKeys.length === 1 ? '' : 's'} from ${c.operatorNamespace} to ${opts.output}\n`);
    });

  keys
    .command('verify <file>')
    .description('say whether a backup still opens every value stored in the cluster, and which it does not (exit 3 when any)')
    .action(async (file: string) => {
      const backup = readBackup(file);
      const c = await connect(g());
      const { ring, dataKeys } = await readKeySecrets(c);
      // This operator's values live in the namespaces it holds a data key for (now, or when the
      // backup was made): other operators' tenants on the same cluster are none of its business.
      const tenants = new Set([...dataKeys.map((s) => s.metadata?.labels?.[DATA_KEY_LABEL]), ...backup.dataKeys.map((s) => s.labels[DATA_KEY_LABEL])].filter((t): t is string => t !== undefined));
      const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY},${STORAGE_FOR_LABEL}`;
      const api = c.kc.makeApiClient(c.k8s.CoreV1Api);
      const storage: V1Secret[] = [];
      for (const namespace of [...tenants].sort()) {
        const items = await c.call(`stored values in ${namespace}`, () => api.listNamespacedSecret({ namespace, labelSelector: selector })).then(
          (l) => l.items,
          (err: unknown) => {
            if (err instanceof CliError && err.exitCode === EXIT.notFound) return []; // the namespace is gone
            throw err;
          },
        );
        storage.push(...items);
      }
      const v = verify(backup, storage, ring === undefined ? undefined : ringOf(ring));
      const total = v.opened + v.notOpened.length;
      const lines = [`the backup of ${clean(backup.createdAt)} opens ${v.opened} of ${total} stored value${total === 1 ? '' : 's'}`];
      for (const n of v.notOpened) lines.push(`  cannot open ${n.namespace}/${n.name} (version ${n.version})`);
      if (v.missingKeys.length) lines.push(`the cluster has keys the backup lacks (rotated since): ${v.missingKeys.map(clean).join(', ')}`);
      const stale = v.notOpened.length > 0 || v.missingKeys.length > 0;
      lines.push(stale ? 'STALE: make a new backup (orka-secrets keys backup -o FILE)' : 'the backup is current');
      process.stdout.write(`${lines.join('\n')}\n`);
      if (stale) process.exitCode = EXIT.notFound;
    });

  keys
    .command('restore <file>')
    .description('put a backup back into a cluster that has no key ring (before the operator first starts there, or with it stopped)')
    .action(async (file: string) => {
      const backup = readBackup(file);
      const c = await connect(g());
      const { ring } = await readKeySecrets(c);
      if (ring !== undefined) throw new CliError(`${c.operatorNamespace} already has a key ring: restore only into a cluster without one (replacing keys would lose the values stored under them)`, EXIT.exists);
      const api = c.kc.makeApiClient(c.k8s.CoreV1Api);
      const create = (s: KeptSecret) =>
        c.call(`Secret ${c.operatorNamespace}/${s.name}`, () =>
          api.createNamespacedSecret({ namespace: c.operatorNamespace, body: { metadata: { name: s.name, namespace: c.operatorNamespace, labels: s.labels, annotations: s.annotations }, type: s.type, data: s.data } }),
        );
      // Data keys first: an operator that sees the ring appear must find the tenants' keys too.
      for (const dk of backup.dataKeys) await create(dk);
      await create(backup.keyRing);
      process.stdout.write(`restored the key ring and ${backup.dataKeys.length} data key${backup.dataKeys.length === 1 ? '' : 's'} into ${c.operatorNamespace}; start (or restart) the operator\n`);
    });
}
