/**
 * `keys backup|verify|restore`: backups of the operator's keys that can be checked. A backup is
 * one document holding the key ring Secret and every tenant's data-key Secret, copied whole (so
 * whatever the key store records on them travels too). `verify` opens every stored value in the
 * cluster with the backup's keys and names those it cannot (a tenant added, or keys rotated, since
 * it was made; only the namespaces the operator holds data keys for are looked at); `restore` puts
 * the Secrets back into a cluster that has no keys, after showing the backup's age and key ids,
 * and refuses (without --force) a backup that does not open what the cluster stores now. The
 * backup is as secret as the values themselves: it is written to a new file only (mode 0600,
 * exclusive, no symlink), carries an integrity check, may be encrypted to a passphrase
 * (src/cli/backupfile.ts), and is never printed.
 */
import { readFileSync } from 'node:fs';
import type { V1Secret } from '@kubernetes/client-node';
import { type Command, Option } from 'commander';
import { decryptValue, unwrapDataKey } from '../core/envelope.js';
import { toSecretName } from '../core/names.js';
import { KEYRING_DATA_KEY, loadKeyRing, parseKeyRing, type KeyRing } from '../core/keyring.js';
import { wrappedDataKeys } from '../api/datakey.js';
import { DATA_KEY_LABEL, MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL, STORAGE_FOR_LABEL } from '../api/resource.js';
import { readStorage } from '../api/storage.js';
import { decodeBackup, encodeBackup, MIN_PASSPHRASE_CHARS, type BackupKeyIds, type KeptSecret, type KeysBackup, type ReadBackup } from './backupfile.js';
import { connect, type Cluster, type GlobalOptions } from './cluster.js';
import { writeNewFile } from './files.js';
import { CliError, EXIT } from './errors.js';
import { clean } from './clean.js';
import { timeAgo } from '../core/relative-time.js';
import { promptHidden } from './prompt.js';
import { stripNewline } from './value.js';

const DATA_KEY_SELECTOR = `${ROLE_LABEL}=data-key`;
/** Environment variable a passphrase may come from (never a command-line argument: others can read those). */
export const PASSPHRASE_ENV = 'ORKA_BACKUP_PASSPHRASE';

function keep(s: V1Secret): KeptSecret {
  return { name: s.metadata?.name ?? '', labels: s.metadata?.labels ?? {}, annotations: s.metadata?.annotations ?? {}, type: s.type ?? 'Opaque', data: s.data ?? {} };
}

function ringOf(secret: KeptSecret | V1Secret): KeyRing {
  const json = Buffer.from(secret.data?.[KEYRING_DATA_KEY] ?? '', 'base64').toString('utf8');
  return loadKeyRing(parseKeyRing(json));
}

/** The key ids a backup holds (ids only: they open nothing). */
export function keyIdsOf(backup: Pick<KeysBackup, 'keyRing' | 'dataKeys'>): BackupKeyIds {
  const ring = ringOf(backup.keyRing).data;
  const data: Record<string, string[]> = {};
  for (const dk of backup.dataKeys) {
    const tenant = dk.labels[DATA_KEY_LABEL];
    if (tenant !== undefined) data[tenant] = wrappedDataKeys({ metadata: { annotations: dk.annotations }, data: dk.data }).map((k) => k.id);
  }
  return { keyEncryption: ring.keks.map((k) => k.id), sealing: ring.sealing.map((k) => k.id), data };
}

/** Where a passphrase comes from: --passphrase-file, else $ORKA_BACKUP_PASSPHRASE, else a hidden prompt (asked twice when `confirm`). */
export async function readPassphrase(opts: { passphraseFile?: string }, confirm: boolean, env: NodeJS.ProcessEnv = process.env): Promise<Buffer> {
  let passphrase: Buffer;
  if (opts.passphraseFile !== undefined) {
    try {
      passphrase = stripNewline(readFileSync(opts.passphraseFile));
    } catch (err) {
      throw new CliError(`cannot read ${opts.passphraseFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, EXIT.input);
    }
  } else if (env[PASSPHRASE_ENV] !== undefined && env[PASSPHRASE_ENV] !== '') passphrase = Buffer.from(env[PASSPHRASE_ENV], 'utf8');
  else {
    if (!process.stdin.isTTY) throw new CliError(`no passphrase: give --passphrase-file FILE or set ${PASSPHRASE_ENV} (there is no terminal to ask on)`, EXIT.input);
    passphrase = await promptHidden('Backup passphrase (not shown):');
    if (confirm && !passphrase.equals(await promptHidden('The same passphrase again:'))) throw new CliError('the two passphrases differ', EXIT.input);
  }
  if (passphrase.length === 0) throw new CliError('the passphrase is empty', EXIT.input);
  if (confirm && [...passphrase.toString('utf8')].length < MIN_PASSPHRASE_CHARS) throw new CliError(`the passphrase is too short: at least ${MIN_PASSPHRASE_CHARS} characters`, EXIT.input);
  return passphrase;
}

/** Reads and checks a backup file (integrity; decryption with a passphrase when encrypted); throws CliError (exit 2) when it is not a sound one. */
export async function readBackup(file: string, opts: { passphraseFile?: string } = {}): Promise<ReadBackup & { keyIds: BackupKeyIds }> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, EXIT.input);
  }
  const read = await decodeBackup(text, file, () => readPassphrase(opts, false));
  let keyIds: BackupKeyIds;
  try {
    keyIds = keyIdsOf(read.backup);
  } catch {
    throw new CliError(`${file}: the key ring in it is damaged`, EXIT.input);
  }
  return { ...read, keyIds };
}

/** What restore shows before acting: when the backup was made (and how long ago), and the ids of the keys in it. */
export function describeBackup(read: ReadBackup & { keyIds: BackupKeyIds }, now: Date): string[] {
  const age = timeAgo(read.backup.createdAt, now.getTime(), { style: 'long' }) ?? 'at an unreadable time';
  const ids = read.keyIds;
  const check = { sha256: 'integrity checked (SHA-256)', passphrase: 'decrypted and authenticated (passphrase)', none: 'an older format without an integrity check' }[read.protection];
  return [
    `backup of ${clean(read.backup.operatorNamespace)} made ${clean(read.backup.createdAt)} (${age}); ${check}`,
    `  key-encryption keys: ${ids.keyEncryption.map(clean).join(', ')}`,
    `  sealing keys: ${ids.sealing.map(clean).join(', ')}`,
    ...Object.entries(ids.data).sort(([a], [b]) => a.localeCompare(b)).map(([tenant, dk]) => `  data keys of ${clean(tenant)}: ${dk.map(clean).join(', ')}`),
  ];
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

/**
 * Which of a backup's data-key Secrets to create, given those the cluster has (pure). A key ring
 * lost on its own leaves the data keys in place: one the cluster still has is kept (never
 * replaced: it may hold keys made since the backup) when the backup's ring unwraps every key in
 * it; one it cannot unwrap (wrapped by a ring made since) is named in `foreign`.
 */
export function dataKeysToRestore(backup: KeysBackup, cluster: readonly V1Secret[]): { create: KeptSecret[]; kept: string[]; foreign: string[] } {
  const ring = ringOf(backup.keyRing);
  const present = new Map(cluster.map((s) => [s.metadata?.name ?? '', s]));
  const result: { create: KeptSecret[]; kept: string[]; foreign: string[] } = { create: [], kept: [], foreign: [] };
  for (const dk of backup.dataKeys) {
    const existing = present.get(dk.name);
    if (existing === undefined) {
      result.create.push(dk);
      continue;
    }
    const tenant = existing.metadata?.labels?.[DATA_KEY_LABEL] ?? '';
    const opens = wrappedDataKeys(existing).every(({ wrapped }) => {
      try {
        unwrapDataKey({ keks: ring.kek, tenant, wrapped }).fill(0);
        return true;
      } catch {
        return false;
      }
    });
    (opens ? result.kept : result.foreign).push(dk.name);
  }
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

/** The stored values of this operator's tenants (those it holds a data key for, in the cluster or in the backup). */
async function storedValues(c: Cluster, backup: KeysBackup, dataKeys: V1Secret[]): Promise<V1Secret[]> {
  // Other operators' tenants on the same cluster are none of this one's business.
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
  return storage;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Registers `keys backup|verify|restore`. */
export function registerKeys(cli: Command, g: () => GlobalOptions): void {
  const keys = cli.command('keys').description("back up, check and restore the operator's keys (key ring and every tenant's data key)");
  const passphraseHelp = `file holding the passphrase of an encrypted backup (else $${PASSPHRASE_ENV}, else a prompt; never on the command line)`;

  keys
    .command('backup')
    .description('write one document with the key ring and every data key to a new file (mode 0600, never overwritten; keep it as secret as the values)')
    .option('-f, --file <file>', 'new file to write (refused when it exists)')
    // -o is an output format in every command; the file was -o once: say where it went.
    .addOption(new Option('-o, --output <value>').hideHelp())
    .option('--encrypt', `encrypt the backup to a passphrase (scrypt + AES-256-GCM; at least ${MIN_PASSPHRASE_CHARS} characters)`)
    .option('--passphrase-file <file>', passphraseHelp)
    .action(async (opts: { file?: string; output?: string; encrypt?: boolean; passphraseFile?: string }) => {
      if (opts.output !== undefined) throw new CliError(`-o is an output format in every command; the backup file is -f/--file: keys backup -f ${opts.output}`, EXIT.input);
      if (opts.file === undefined) throw new CliError('keys backup needs -f/--file FILE, the new file to write', EXIT.input);
      const file = opts.file;
      if (opts.passphraseFile !== undefined && !opts.encrypt) throw new CliError('--passphrase-file is for --encrypt: give both, or neither', EXIT.input);
      // Asked first: a refused passphrase should not cost a round trip to the cluster.
      const passphrase = opts.encrypt ? await readPassphrase(opts, true) : undefined;
      const c = await connect(g());
      const { ring, dataKeys } = await readKeySecrets(c);
      if (ring === undefined) throw new CliError(`no key ring in ${c.operatorNamespace}: nothing to back up (is --operator-namespace right?)`, EXIT.notFound);
      const backup: KeysBackup = { createdAt: new Date().toISOString(), operatorNamespace: c.operatorNamespace, keyRing: keep(ring), dataKeys: dataKeys.map(keep) };
      const text = encodeBackup(backup, keyIdsOf(backup), passphrase);
      passphrase?.fill(0);
      writeNewFile(file, text, 'a keys backup');
      process.stdout.write(`backed up the key ring and ${plural(dataKeys.length, 'data key')} from ${c.operatorNamespace} to ${file}${opts.encrypt ? ' (encrypted)' : ''}\n`);
    });

  keys
    .command('verify <file>')
    .description("check a backup's integrity, and say whether it still opens every value stored in the cluster and which it does not (exit 3 when any)")
    .option('--passphrase-file <file>', passphraseHelp)
    .action(async (file: string, opts: { passphraseFile?: string }) => {
      const { backup } = await readBackup(file, opts);
      const c = await connect(g());
      const { ring, dataKeys } = await readKeySecrets(c);
      const v = verify(backup, await storedValues(c, backup, dataKeys), ring === undefined ? undefined : ringOf(ring));
      const total = v.opened + v.notOpened.length;
      const lines = [`the backup of ${clean(backup.createdAt)} opens ${v.opened} of ${plural(total, 'stored value')}`];
      for (const n of v.notOpened) lines.push(`  cannot open ${n.namespace}/${n.name} (version ${n.version})`);
      if (v.missingKeys.length) lines.push(`the cluster has keys the backup lacks (rotated since): ${v.missingKeys.map(clean).join(', ')}`);
      const stale = v.notOpened.length > 0 || v.missingKeys.length > 0;
      lines.push(stale ? 'STALE: make a new backup (orka-secrets keys backup -f FILE)' : 'the backup is current');
      process.stdout.write(`${lines.join('\n')}\n`);
      if (stale) process.exitCode = EXIT.notFound;
    });

  keys
    .command('restore <file>')
    .description('put a backup back into a cluster that has no key ring (before the operator first starts there, or with it stopped); shows its age and key ids first')
    .option('--passphrase-file <file>', passphraseHelp)
    .option('--force', 'restore even a backup that does not open the values the cluster stores now (made before the last rotation)')
    .action(async (file: string, opts: { passphraseFile?: string; force?: boolean }) => {
      const read = await readBackup(file, opts);
      const backup = read.backup;
      process.stdout.write(`${describeBackup(read, new Date()).join('\n')}\n`);
      const c = await connect(g());
      const { ring, dataKeys } = await readKeySecrets(c);
      if (ring !== undefined) throw new CliError(`${c.operatorNamespace} already has a key ring: restore only into a cluster without one (replacing keys would lose the values stored under them)`, EXIT.exists);
      // The values stored now name the data keys they were written with: one the backup cannot
      // open was written after it was made (a rotation, or a new tenant), and would be lost.
      const { notOpened } = verify(backup, await storedValues(c, backup, dataKeys), undefined);
      if (notOpened.length > 0) {
        const names = notOpened.slice(0, 5).map((n) => `${n.namespace}/${n.name}`).join(', ');
        const why = `the backup is older than the cluster's last key rotation (or a tenant added since): it cannot open ${plural(notOpened.length, 'stored value')} (${names}${notOpened.length > 5 ? ', ...' : ''})`;
        if (!opts.force) throw new CliError(`${why}; restore a newer backup, or give --force to restore this one anyway (those values stay unreadable)`, EXIT.input);
        process.stderr.write(`orka-secrets: warning: ${why}; restoring anyway (--force)\n`);
      }
      const plan = dataKeysToRestore(backup, dataKeys);
      if (plan.foreign.length > 0) {
        throw new CliError(`the cluster's data keys ${plan.foreign.join(', ')} are wrapped by a key ring this backup does not hold (made since it was taken): restore a newer backup`, EXIT.input);
      }
      const api = c.kc.makeApiClient(c.k8s.CoreV1Api);
      const create = (s: KeptSecret) =>
        c.call(`Secret ${c.operatorNamespace}/${s.name}`, () =>
          api.createNamespacedSecret({ namespace: c.operatorNamespace, body: { metadata: { name: s.name, namespace: c.operatorNamespace, labels: s.labels, annotations: s.annotations }, type: s.type, data: s.data } }),
        );
      // Data keys first: an operator that sees the ring appear must find the tenants' keys too.
      for (const dk of plan.create) await create(dk);
      await create(backup.keyRing);
      const kept = plan.kept.length > 0 ? ` (${plural(plan.kept.length, 'data key')} already there, kept: the backup's ring opens them)` : '';
      process.stdout.write(`restored the key ring and ${plural(plan.create.length, 'data key')} into ${c.operatorNamespace}${kept}; start (or restart) the operator\n`);
    });
}
