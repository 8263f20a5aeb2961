/**
 * orka-secrets keys backup / verify / restore against the control plane and a running operator:
 * a backup is written only to a new file (never over one, never through a symbolic link, mode
 * 0600); a changed file fails its integrity check; an encrypted one opens with its passphrase
 * only; a backup made before a rotation and a new tenant is reported stale (naming the value it
 * cannot open and the keys it lacks) and restore refuses it without --force, after showing its age
 * and key ids; a fresh backup restored into a cluster whose keys were wiped opens every stored
 * value again and the operator works with it.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decryptValue, unwrapDataKey } from '../../src/core/envelope.js';
import { toObjectName } from '../../src/core/names.js';
import { loadKeyRing, parseKeyRing, type KeyRingData } from '../../src/core/keyring.js';
import { wrappedDataKeys } from '../../src/api/datakey.js';
import { canaries, findLeaks } from '../env/canary.js';
import { adminKubeConfig, createNamespace, installCrd, waitForReady } from '../env/kube.js';
import { eventually, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let opNamespace: string;
let first: string;
let second: string;
let operator: OperatorProcess | undefined;
let dir: string;
const outputs: string[] = [];
const planted = canaries('CANARY-keys');
const values = new Map<string, string>();
/** Every key-encryption and sealing key the cluster held, read from its key ring (never from the CLI). */
const ringsSeen: KeyRingData[] = [];

/** Reads the cluster's key ring and remembers its keys for the scan of everything printed. */
async function keepRing(): Promise<void> {
  const s = await core.readNamespacedSecret({ name: 'orka-secrets-keys', namespace: opNamespace });
  ringsSeen.push(parseKeyRing(Buffer.from(s.data?.['keyring.json'] ?? '', 'base64').toString()));
}

/** The base64 lines of a PEM, without its armour. */
const pemBody = (pem: string) => pem.split('\n').filter((l) => l.length > 0 && !l.startsWith('-----'));

/**
 * The key material of a ring as text the leak finder searches in every encoding: each KEK as
 * stored (base64) and as hex of its bytes; each sealing private key's PEM and, so that a
 * re-wrapped or partial print is found too, each line of its base64 body and its DER as hex.
 */
function keyMaterial(rings: readonly KeyRingData[]): string[] {
  const out = new Set<string>();
  for (const ring of rings) {
    for (const k of ring.keks) out.add(k.key).add(Buffer.from(k.key, 'base64').toString('hex'));
    for (const k of ring.sealing) {
      out.add(k.privateKeyPem.trim());
      const body = pemBody(k.privateKeyPem);
      for (const line of body) out.add(line);
      out.add(Buffer.from(body.join(''), 'base64').toString('hex'));
    }
  }
  return [...out];
}

function cli(args: string[], input?: string, env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['dist/src/cli/main.js', '--kubeconfig', cp.kubeconfigPath, '--operator-namespace', opNamespace, ...args], { input, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  outputs.push(res.stdout, res.stderr);
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

async function create(namespace: string, name: string): Promise<void> {
  const value = planted.make(name);
  values.set(`${namespace}/${name}`, value);
  const res = cli(['-n', namespace, 'create', name, '--from-stdin', '--wait'], value);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
}

const start = (identity: string) => startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity, env: { ORKA_WATCH_NAMESPACES: `${first},${second}` } });

/** Every planted value, opened with the keys the cluster holds now (what the resolver does). */
async function openAllWithClusterKeys(): Promise<Map<string, string>> {
  const ringSecret = await core.readNamespacedSecret({ name: 'orka-secrets-keys', namespace: opNamespace });
  const ring = loadKeyRing(parseKeyRing(Buffer.from(ringSecret.data?.['keyring.json'] ?? '', 'base64').toString()));
  const opened = new Map<string, string>();
  for (const key of values.keys()) {
    const [namespace, name] = key.split('/') as [string, string];
    const dk = await core.readNamespacedSecret({ name: `orka-dk-${namespace}`, namespace: opNamespace });
    const dataKeys = new Map(wrappedDataKeys(dk).map((k) => [k.id, unwrapDataKey({ keks: ring.kek, tenant: namespace, wrapped: k.wrapped })]));
    const stored = await core.readNamespacedSecret({ name: `orkasecret-${toObjectName(name)}`, namespace });
    const version = Number(Buffer.from(stored.data?.version ?? '', 'base64').toString());
    opened.set(key, decryptValue({ dataKeys: (k) => dataKeys.get(k), tenant: namespace, name, version, stored: Buffer.from(stored.data?.value ?? '', 'base64') }).toString());
  }
  return opened;
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-keys' });
  first = await createNamespace(kc, { prefix: 'keys-first', tenant: 'first' });
  second = await createNamespace(kc, { prefix: 'keys-second', tenant: 'second' });
  operator = await start('keys-op');
  await operator.waitForLog(/key ring created/);
  dir = mkdtempSync(join(tmpdir(), 'orka-keys-test-'));
});

afterAll(async () => {
  await operator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('orka-secrets keys', () => {
  it('a backup goes stale after a rotation and a new tenant; a fresh one restores a wiped cluster', async () => {
    await create(first, 'FIRST_KEY');
    const old = join(dir, 'old-backup.yaml');
    const backedUp = cli(['keys', 'backup', '-f', old]);
    expect(backedUp.code).toBe(0);
    expect(backedUp.stdout).toMatch(/backed up the key ring and 1 data key/);
    expect(statSync(old).mode & 0o777).toBe(0o600);
    expect(cli(['keys', 'verify', old]).stdout).toMatch(/opens 1 of 1 stored value\n.*the backup is current/s);
    // -o is an output format everywhere: the file's old flag is refused in words, nothing written.
    const oldForm = cli(['keys', 'backup', '-o', join(dir, 'old-form.yaml')]);
    expect(oldForm.code).toBe(2);
    expect(oldForm.stderr).toBe(`orka-secrets: -o is an output format in every command; the backup file is -f/--file: keys backup -f ${join(dir, 'old-form.yaml')}\n`);
    expect(() => statSync(join(dir, 'old-form.yaml'))).toThrow();

    // Never over a file, never through a symbolic link (a dangling one included).
    const before = readFileSync(old, 'utf8');
    const over = cli(['keys', 'backup', '-f', old]);
    expect(over.code).toBe(5);
    expect(over.stderr).toContain(`${old} already exists: a keys backup is written only to a new file`);
    expect(readFileSync(old, 'utf8')).toBe(before);
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'not yours');
    const link = join(dir, 'link.yaml');
    symlinkSync(victim, link);
    expect(cli(['keys', 'backup', '-f', link]).code).toBe(5);
    expect(readFileSync(victim, 'utf8')).toBe('not yours');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    symlinkSync(join(dir, 'elsewhere.yaml'), join(dir, 'dangling.yaml'));
    expect(cli(['keys', 'backup', '-f', join(dir, 'dangling.yaml')]).code).toBe(5);
    expect(() => statSync(join(dir, 'elsewhere.yaml'))).toThrow();

    // One changed character fails the integrity check, before anything is read from the file or the cluster.
    const tampered = join(dir, 'tampered.yaml');
    const wrapped = /"wrapped": "([A-Za-z0-9+/=]+)"/.exec(before)?.[1] as string;
    writeFileSync(tampered, before.replace(wrapped, `${wrapped[0] === 'A' ? 'B' : 'A'}${wrapped.slice(1)}`), { mode: 0o600 });
    for (const command of ['verify', 'restore']) {
      const refused = cli(['keys', command, tampered]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`${tampered} failed its integrity check`);
    }

    // Encrypted to a passphrase (from the environment or a file, never argv): opens with it only.
    const encrypted = join(dir, 'encrypted.yaml');
    const passphrase = 'a passphrase long enough';
    expect(cli(['keys', 'backup', '--encrypt', '-f', encrypted], undefined, { ORKA_BACKUP_PASSPHRASE: passphrase }).stdout).toMatch(/to .*encrypted\.yaml \(encrypted\)/);
    expect(statSync(encrypted).mode & 0o777).toBe(0o600);
    expect(readFileSync(encrypted, 'utf8')).not.toContain(wrapped);
    const passphraseFile = join(dir, 'passphrase.txt');
    writeFileSync(passphraseFile, `${passphrase}\n`, { mode: 0o600 });
    expect(cli(['keys', 'verify', encrypted, '--passphrase-file', passphraseFile]).stdout).toMatch(/opens 1 of 1 stored value\n.*the backup is current/s);
    const wrong = cli(['keys', 'verify', encrypted], undefined, { ORKA_BACKUP_PASSPHRASE: 'not the passphrase' });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('does not open with this passphrase');
    expect(cli(['keys', 'verify', encrypted], undefined, { ORKA_BACKUP_PASSPHRASE: '' }).stderr).toMatch(/no passphrase: give --passphrase-file FILE or set ORKA_BACKUP_PASSPHRASE/);

    await keepRing();
    // Rotate, then add a tenant's first value: the old backup covers neither. (Rotation gives
    // each tenant a new data key and re-encrypts its values to it: wait until that is done.)
    const activeBefore = parseKeyRing(Buffer.from((await core.readNamespacedSecret({ name: 'orka-secrets-keys', namespace: opNamespace })).data?.['keyring.json'] ?? '', 'base64').toString()).activeKek;
    await core.patchNamespacedSecret({ name: 'orka-secrets-keys', namespace: opNamespace, body: { metadata: { annotations: { 'orka.io/rotate': 'now' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await eventually(async () => {
      const s = await core.readNamespacedSecret({ name: 'orka-secrets-keys', namespace: opNamespace });
      return parseKeyRing(Buffer.from(s.data?.['keyring.json'] ?? '', 'base64').toString()).activeKek !== activeBefore ? true : undefined;
    }, 60_000);
    await operator?.waitForLog(/re-encryption complete/, 120_000);
    // The rotated ring: the fresh backup and the restore carry it.
    await keepRing();
    await create(second, 'SECOND_KEY');
    const stale = cli(['keys', 'verify', old]);
    expect(stale.code).toBe(3);
    expect(stale.stdout).toMatch(/opens 0 of 2 stored values/);
    expect(stale.stdout).toContain(`cannot open ${first}/FIRST_KEY (version 1)`);
    expect(stale.stdout).toContain(`cannot open ${second}/SECOND_KEY (version 1)`);
    expect(stale.stdout).toMatch(/the cluster has keys the backup lacks \(rotated since\): \S+/);
    expect(stale.stdout).toMatch(/STALE: make a new backup/);

    const fresh = join(dir, 'backup.yaml');
    expect(cli(['keys', 'backup', '-f', fresh]).code).toBe(0);
    expect(cli(['keys', 'verify', fresh]).stdout).toMatch(/opens 2 of 2 stored values\n.*the backup is current/s);

    // Wipe the cluster's keys with the operator stopped, then restore.
    await operator?.stop();
    operator = undefined;
    await core.deleteNamespacedSecret({ name: 'orka-secrets-keys', namespace: opNamespace });
    for (const ns of [first, second]) await core.deleteNamespacedSecret({ name: `orka-dk-${ns}`, namespace: opNamespace });
    // The backup from before the rotation would lose every value stored since: refused, after
    // showing what it is, and nothing is created.
    const older = cli(['keys', 'restore', old]);
    expect(older.code).toBe(2);
    expect(older.stdout).toMatch(new RegExp(`^backup of ${opNamespace} made \\S+ \\(\\d+ seconds? ago\\); integrity checked \\(SHA-256\\)\n  key-encryption keys: kek-\\S+\n  sealing keys: seal-\\S+\n  data keys of ${first}: \\S+\n$`));
    // Only the tenants it names are looked at (the data keys are gone): other operators' tenants may share the cluster.
    expect(older.stderr).toContain(`the backup is older than the cluster's last key rotation (or a tenant added since): it cannot open 1 stored value (${first}/FIRST_KEY); restore a newer backup, or give --force`);
    expect((await core.listNamespacedSecret({ namespace: opNamespace, labelSelector: 'orka.io/role=data-key' })).items).toEqual([]);
    // --force restores it anyway, saying what stays unreadable; wiped again for the fresh one.
    const forced = cli(['keys', 'restore', old, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/warning: the backup is older than the cluster's last key rotation .* restoring anyway \(--force\)/);
    await core.deleteNamespacedSecret({ name: 'orka-secrets-keys', namespace: opNamespace });
    await core.deleteNamespacedSecret({ name: `orka-dk-${first}`, namespace: opNamespace });
    const restored = cli(['keys', 'restore', fresh]);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    expect(restored.stdout).toMatch(/^backup of .* made .*; integrity checked \(SHA-256\)\n/);
    expect(restored.stdout).toMatch(/restored the key ring and 2 data keys/);
    const again = cli(['keys', 'restore', fresh]);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/already has a key ring/);

    // Every value opens with the restored keys, and the operator works with them.
    expect(Object.fromEntries(await openAllWithClusterKeys())).toEqual(Object.fromEntries(values));
    operator = await start('keys-op-2');
    const update = cli(['-n', first, 'update', 'FIRST_KEY', '--from-stdin', '--wait'], planted.make('after-restore'));
    expect(update.stderr).toBe('');
    expect(update.stdout).toMatch(/FIRST_KEY is Ready \(Stored, version 2\)/);
    await waitForReady(kc, second, 'second-key', 'Stored');
    // Two operator starts (RSA key generation), a rotation and a restore: minutes on a loaded machine.
  }, 360_000);

  it('refuses what is not a backup', () => {
    const res = cli(['keys', 'verify', 'package.json']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/is not an Orka Secrets keys backup/);
  });

  it('never printed a key or a value', () => {
    const all = outputs.join('\n');
    expect(outputs.length).toBeGreaterThan(20);
    expect(findLeaks(all, planted.all)).toEqual([]);
    const backup = readFileSync(join(dir, 'backup.yaml'), 'utf8');
    const wrapped = /"wrapped": "([A-Za-z0-9+/=]+)"/.exec(backup)?.[1] as string;
    expect(wrapped.length).toBeGreaterThan(40);
    expect(findLeaks(all, [wrapped])).toEqual([]);
    // The keys themselves, from the cluster's ring before and after the rotation: two of each kind.
    expect(new Set(ringsSeen.flatMap((r) => r.keks.map((k) => k.id))).size).toBe(2);
    expect(new Set(ringsSeen.flatMap((r) => r.sealing.map((k) => k.id))).size).toBe(2);
    const keys = keyMaterial(ringsSeen);
    // Self-check: the fresh backup holds the rotated ring's keys (inside its base64 key ring), and
    // the finder sees each of them there.
    const rotated = ringsSeen.at(-1) as KeyRingData;
    const stored = [...rotated.keks.map((k) => k.key), ...rotated.sealing.flatMap((k) => pemBody(k.privateKeyPem))];
    expect(findLeaks(backup, stored)).toHaveLength(stored.length);
    expect(findLeaks(all, keys), 'key material in the CLI output').toEqual([]);
  });
});
