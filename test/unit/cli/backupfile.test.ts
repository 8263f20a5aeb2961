/**
 * The keys backup file without a cluster: the v1 format vector (a backup written by the first
 * format still reads, and its keys open a value stored under them), the v2 integrity check, the
 * passphrase encryption (its header authenticated too), the exclusive 0600 write, and where a
 * passphrase may come from. The commands against a real apiserver: test/integration/cli-keys.test.ts.
 */
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Secret } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { BACKUP_FORMAT, decodeBackup, encodeBackup, type KeysBackup } from '../../../src/cli/backupfile.js';
import { CliError } from '../../../src/cli/errors.js';
import { writeNewFile } from '../../../src/cli/files.js';
import { describeBackup, keyIdsOf, PASSPHRASE_ENV, readBackup, readPassphrase, verify } from '../../../src/cli/keys.js';

const FIXTURE = 'test/unit/fixtures/keys-backup-v1.yaml';
const stored = JSON.parse(readFileSync('test/unit/fixtures/keys-backup-v1.stored.json', 'utf8')) as { namespace: string; name: string; version: number; envelope: string };
/** The storage Secret of the vector's value, as the operator writes it. */
const storageSecret: V1Secret = {
  metadata: { name: 'orkasecret-api-key', namespace: stored.namespace, labels: { 'app.kubernetes.io/managed-by': 'orka-secrets', 'orka.io/orkasecret': 'api-key' } },
  data: { value: stored.envelope, version: Buffer.from(String(stored.version)).toString('base64') },
};
const dir = mkdtempSync(join(tmpdir(), 'orka-backupfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const noPassphrase = async (): Promise<Buffer> => {
  throw new Error('no passphrase should be asked');
};

/** The thrown CliError's message and exit code. */
async function refusal(p: Promise<unknown> | (() => unknown)): Promise<{ message: string; exitCode: number }> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
    throw err;
  }
  throw new Error('not refused');
}

async function v1Backup(): Promise<KeysBackup> {
  return (await readBackup(FIXTURE)).backup;
}

describe('format v1 (the first format: plain YAML, no check)', () => {
  it('still reads, and its keys open the value stored under them', async () => {
    const read = await readBackup(FIXTURE);
    expect(read.protection).toBe('none');
    expect(read.backup.createdAt).toBe('2026-06-01T10:00:00.000Z');
    expect(read.keyIds.data).toEqual({ acme: ['dk-20260601-0a1b2c3d'] });
    expect(verify(read.backup, [storageSecret], undefined)).toEqual({ opened: 1, notOpened: [], missingKeys: [] });
  });

  it('shows its age and key ids, and says it has no integrity check', async () => {
    const read = await readBackup(FIXTURE);
    const lines = describeBackup(read, new Date('2026-06-11T10:00:00.000Z'));
    expect(lines[0]).toBe('backup of orka-system made 2026-06-01T10:00:00.000Z (10 days ago); an older format without an integrity check');
    expect(lines).toContain(`  key-encryption keys: ${read.keyIds.keyEncryption[0]}`);
    expect(lines).toContain('  data keys of acme: dk-20260601-0a1b2c3d');
    const kek = (JSON.parse(Buffer.from(read.backup.keyRing.data['keyring.json'] ?? '', 'base64').toString()) as { keks: { key: string }[] }).keks[0]?.key as string;
    expect(lines.join('\n')).not.toContain(kek);
  });
});

describe('format v2', () => {
  it('round-trips, with a SHA-256 over the body', async () => {
    const backup = await v1Backup();
    const text = encodeBackup(backup, keyIdsOf(backup));
    const doc = parse(text) as { format: string; sha256: string; body: string };
    expect(doc.format).toBe(BACKUP_FORMAT);
    expect(doc.sha256).toMatch(/^[0-9a-f]{64}$/);
    const read = await decodeBackup(text, 'b.yaml', noPassphrase);
    expect(read.protection).toBe('sha256');
    expect(read.backup).toEqual(backup);
    expect(read.keyIds).toEqual(keyIdsOf(backup));
  });

  it('refuses a changed, truncated or unchecked file, naming the file and quoting nothing of it', async () => {
    const backup = await v1Backup();
    const text = encodeBackup(backup, keyIdsOf(backup));
    const doc = parse(text) as { format: string; sha256: string; body: string };
    const wrapped = backup.dataKeys[0]?.data.wrapped as string;
    const flipped = `${wrapped.slice(0, 10)}${wrapped[10] === 'A' ? 'B' : 'A'}${wrapped.slice(11)}`;
    const tampered = [
      stringify({ ...doc, body: doc.body.replace(wrapped, flipped) }),
      stringify({ ...doc, sha256: '0'.repeat(64) }),
      stringify({ ...doc, body: doc.body.slice(0, -40) }),
    ];
    for (const t of tampered) {
      const r = await refusal(decodeBackup(t, 'b.yaml', noPassphrase));
      expect(r.exitCode).toBe(2);
      expect(r.message).toBe('b.yaml failed its integrity check: the SHA-256 of its body does not match (the file is damaged or was changed); use another copy');
    }
    expect((await refusal(decodeBackup(stringify({ format: BACKUP_FORMAT, body: doc.body }), 'b.yaml', noPassphrase))).message).toMatch(/b\.yaml is damaged: its body or sha256 field is missing/);
    expect((await refusal(decodeBackup('{"format": "something/else"}', 'x.json', noPassphrase))).message).toMatch(/x\.json is not an Orka Secrets keys backup/);
  });

  it('encrypted to a passphrase: holds no key in clear, opens with it only, and authenticates its clear header', async () => {
    const backup = await v1Backup();
    const passphrase = Buffer.from('correct horse battery staple');
    const text = encodeBackup(backup, keyIdsOf(backup), passphrase);
    expect(passphrase.toString()).toBe('correct horse battery staple'); // the caller's buffer is the caller's
    expect(text).not.toContain(backup.keyRing.data['keyring.json'] as string);
    expect(text).not.toContain(backup.dataKeys[0]?.data.wrapped as string);
    expect(text).toContain('dk-20260601-0a1b2c3d'); // ids stay readable
    const read = await decodeBackup(text, 'e.yaml', async () => Buffer.from('correct horse battery staple'));
    expect(read.protection).toBe('passphrase');
    expect(read.backup).toEqual(backup);
    expect((await refusal(decodeBackup(text, 'e.yaml', async () => Buffer.from('wrong horse battery staple')))).message).toBe(
      'e.yaml does not open with this passphrase (a wrong passphrase, or the file was changed)',
    );
    // A changed header with a recomputed SHA-256 passes the check but does not open.
    const doc = parse(text) as { format: string; sha256: string; body: string };
    const body = doc.body.replace('2026-06-01T10:00:00.000Z', '2027-06-01T10:00:00.000Z');
    const { createHash } = await import('node:crypto');
    const forged = stringify({ ...doc, body, sha256: createHash('sha256').update(body).digest('hex') });
    expect((await refusal(decodeBackup(forged, 'e.yaml', async () => Buffer.from('correct horse battery staple')))).message).toMatch(/does not open with this passphrase/);
  }, 30_000);
});

describe('writing a new file', () => {
  it('creates it with mode 0600, and never over an existing file or through a symbolic link', async () => {
    const file = join(dir, 'new.yaml');
    writeNewFile(file, 'content', 'a keys backup');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('content');

    const again = await refusal(() => writeNewFile(file, 'other', 'a keys backup'));
    expect(again).toEqual({ exitCode: 5, message: `${file} already exists: a keys backup is written only to a new file, never over one (a symbolic link included); choose a new name` });
    expect(readFileSync(file, 'utf8')).toBe('content');

    const target = join(dir, 'target.txt');
    writeFileSync(target, 'precious');
    const link = join(dir, 'link.yaml');
    symlinkSync(target, link);
    expect((await refusal(() => writeNewFile(link, 'x', 'a keys backup'))).exitCode).toBe(5);
    expect(readFileSync(target, 'utf8')).toBe('precious');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);

    const dangling = join(dir, 'dangling.yaml');
    symlinkSync(join(dir, 'nowhere.yaml'), dangling);
    expect((await refusal(() => writeNewFile(dangling, 'x', 'a keys backup'))).exitCode).toBe(5);
    expect(() => statSync(join(dir, 'nowhere.yaml'))).toThrow();

    expect((await refusal(() => writeNewFile(join(dir, 'no-such-dir', 'b.yaml'), 'x', 'a keys backup'))).message).toMatch(/cannot create .*: ENOENT/);
  });
});

describe('the passphrase', () => {
  it('comes from --passphrase-file (one trailing newline dropped), else the environment, never argv', async () => {
    const file = join(dir, 'passphrase');
    writeFileSync(file, 'from the file, long enough\n');
    expect((await readPassphrase({ passphraseFile: file }, true, { [PASSPHRASE_ENV]: 'from the environment' })).toString()).toBe('from the file, long enough');
    expect((await readPassphrase({}, false, { [PASSPHRASE_ENV]: 'from the environment' })).toString()).toBe('from the environment');
  });

  it('is refused when too short for a new backup, empty, or nowhere to be had', async () => {
    expect((await refusal(readPassphrase({}, true, { [PASSPHRASE_ENV]: 'short' }))).message).toBe('the passphrase is too short: at least 12 characters');
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    expect((await refusal(readPassphrase({ passphraseFile: empty }, false, {}))).message).toBe('the passphrase is empty');
    if (!process.stdin.isTTY) expect((await refusal(readPassphrase({}, false, {}))).message).toMatch(/give --passphrase-file FILE or set ORKA_BACKUP_PASSPHRASE/);
  });
});
