/**
 * The keys backup file, pure: its format, its integrity check and its optional encryption to a
 * passphrase (src/cli/files.ts writes it). No cluster here (src/cli/keys.ts reads and writes the
 * Secrets).
 *
 * Format v2 (YAML, so a person can see what it is):
 *
 *   format: orka-secrets/keys-backup/v2
 *   sha256: <hex SHA-256 of the body's UTF-8 bytes>
 *   body: <JSON text> {createdAt, operatorNamespace, keyIds, and either
 *           secrets: {keyRing, dataKeys}                      (plain)
 *           encrypted: {kdf: scrypt, N, r, p, salt, cipher: aes-256-gcm, iv, tag, ciphertext}}
 *
 * The SHA-256 catches a damaged, truncated or hand-edited file before anything is read from it.
 * It is not a signature: whoever can rewrite the file can recompute it (and already holds the
 * keys). Encrypted, AES-GCM also authenticates the ciphertext and, as associated data, the clear
 * header (date, namespace, key ids), so a changed header or ciphertext does not open.
 * The key ids stay in clear so that `keys restore` can show them before it asks for anything.
 *
 * Format v1 (`orka-secrets/keys-backup/v1`, the whole backup as plain YAML, no check) is still
 * read, so older backups keep restoring.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { CliError, EXIT } from './errors.js';

/** The format written now. */
export const BACKUP_FORMAT = 'orka-secrets/keys-backup/v2';
/** The first format: the whole backup in clear YAML, without an integrity check (still read). */
export const BACKUP_FORMAT_V1 = 'orka-secrets/keys-backup/v1';
/** Shortest passphrase accepted for a new encrypted backup. */
export const MIN_PASSPHRASE_CHARS = 12;

/**
 * scrypt's cost: N=2^17, r=8, p=1 (the OWASP recommendation; 128 MiB and about half a second per
 * guess on a laptop). Written into the file, so a later release may raise it and still read this.
 */
const SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;
/** The most scrypt may use when reading a file (a file naming a larger cost is refused, not run). */
const SCRYPT_MAXMEM = 256 * 1024 * 1024;

const keptSecret = z.object({
  name: z.string().min(1),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()),
  type: z.string(),
  data: z.record(z.string(), z.string()),
});

/** One Secret as kept in a backup: what is needed to create it again. */
export type KeptSecret = z.infer<typeof keptSecret>;

const secretsSchema = z.object({ keyRing: keptSecret, dataKeys: z.array(keptSecret) });

const keyIdsSchema = z.object({
  keyEncryption: z.array(z.string()),
  sealing: z.array(z.string()),
  /** Data key ids by tenant namespace. */
  data: z.record(z.string(), z.array(z.string())),
});

/** The ids of the keys a backup holds (not secret: ids name keys, they do not open anything). */
export type BackupKeyIds = z.infer<typeof keyIdsSchema>;

const encryptedSchema = z.object({
  kdf: z.literal('scrypt'),
  N: z.number().int().positive(),
  r: z.number().int().positive(),
  p: z.number().int().positive(),
  salt: z.string(),
  cipher: z.literal('aes-256-gcm'),
  iv: z.string(),
  tag: z.string(),
  ciphertext: z.string(),
});

const bodySchema = z.object({
  createdAt: z.iso.datetime(),
  operatorNamespace: z.string(),
  keyIds: keyIdsSchema,
  secrets: secretsSchema.optional(),
  encrypted: encryptedSchema.optional(),
});

/** A backup's content. */
export interface KeysBackup {
  createdAt: string;
  operatorNamespace: string;
  keyRing: KeptSecret;
  dataKeys: KeptSecret[];
}

/** A backup file as read: its content and what protected it. */
export interface ReadBackup {
  backup: KeysBackup;
  /** The key ids in it (for v1 files: undefined, the caller derives them from the content). */
  keyIds?: BackupKeyIds;
  /** `sha256`: checked; `passphrase`: checked and decrypted (AES-GCM); `none`: a v1 file, which has no check. */
  protection: 'sha256' | 'passphrase' | 'none';
}

/** The clear header an encrypted body authenticates as associated data. */
function headerOf(b: { createdAt: string; operatorNamespace: string; keyIds: BackupKeyIds }): Buffer {
  return Buffer.from(JSON.stringify({ format: BACKUP_FORMAT, createdAt: b.createdAt, operatorNamespace: b.operatorNamespace, keyIds: b.keyIds }));
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

function deriveKey(passphrase: Buffer, salt: Buffer, cost: { N: number; r: number; p: number }): Buffer {
  try {
    return scryptSync(passphrase, salt, 32, { ...cost, maxmem: SCRYPT_MAXMEM });
  } catch {
    throw new CliError(`the backup asks for a scrypt cost this version does not run (N=${cost.N}, r=${cost.r}, p=${cost.p})`, EXIT.input);
  }
}

/** The text of a v2 backup file; encrypted to `passphrase` when one is given. */
export function encodeBackup(backup: KeysBackup, keyIds: BackupKeyIds, passphrase?: Buffer): string {
  const header = { createdAt: backup.createdAt, operatorNamespace: backup.operatorNamespace, keyIds };
  const secrets = { keyRing: backup.keyRing, dataKeys: backup.dataKeys };
  let body: z.infer<typeof bodySchema>;
  if (passphrase === undefined) body = { ...header, secrets };
  else {
    const salt = randomBytes(16);
    const iv = randomBytes(12);
    const key = deriveKey(passphrase, salt, SCRYPT);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(headerOf(header));
    const plain = Buffer.from(JSON.stringify(secrets));
    const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
    plain.fill(0);
    key.fill(0);
    body = {
      ...header,
      encrypted: { kdf: 'scrypt', ...SCRYPT, salt: salt.toString('base64'), cipher: 'aes-256-gcm', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ciphertext: ciphertext.toString('base64') },
    };
  }
  const text = JSON.stringify(body, null, 1);
  return `# Orka Secrets keys backup: as secret as every value it opens. Check it with: orka-secrets keys verify FILE\n${stringify({ format: BACKUP_FORMAT, sha256: sha256(text), body: text }, { lineWidth: 0 })}`;
}

/** The clear header of a v2 file whose SHA-256 matches (date, namespace, key ids), read without the passphrase. */
function checkedBody(text: string, file: string): z.infer<typeof bodySchema> | undefined {
  let doc: { format?: unknown; sha256?: unknown; body?: unknown; keyRing?: unknown; dataKeys?: unknown };
  try {
    doc = parse(text) as typeof doc;
  } catch {
    throw new CliError(`${file} is not an Orka Secrets keys backup (not YAML)`, EXIT.input);
  }
  if (doc?.format === BACKUP_FORMAT_V1) return undefined;
  if (doc?.format !== BACKUP_FORMAT) throw new CliError(`${file} is not an Orka Secrets keys backup (format ${BACKUP_FORMAT} or ${BACKUP_FORMAT_V1})`, EXIT.input);
  if (typeof doc.body !== 'string' || typeof doc.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(doc.sha256)) throw new CliError(`${file} is damaged: its body or sha256 field is missing`, EXIT.input);
  if (!timingSafeEqual(Buffer.from(sha256(doc.body)), Buffer.from(doc.sha256))) {
    throw new CliError(`${file} failed its integrity check: the SHA-256 of its body does not match (the file is damaged or was changed); use another copy`, EXIT.input);
  }
  let body: z.infer<typeof bodySchema>;
  try {
    body = bodySchema.parse(JSON.parse(doc.body));
  } catch {
    throw new CliError(`${file} is damaged: its body is not a keys backup`, EXIT.input);
  }
  if ((body.secrets === undefined) === (body.encrypted === undefined)) throw new CliError(`${file} is damaged: it must hold either secrets or encrypted`, EXIT.input);
  return body;
}

/**
 * Reads a backup file's text: checks the SHA-256 (v2), decrypts with the passphrase (encrypted
 * v2; `passphrase` is called only then), or reads a v1 file as it is. Throws CliError (exit 2)
 * with a message that names the file and never quotes its content.
 */
export async function decodeBackup(text: string, file: string, passphrase: () => Promise<Buffer>): Promise<ReadBackup> {
  const body = checkedBody(text, file);
  if (body === undefined) {
    const doc = parse(text) as Record<string, unknown>;
    const v1 = secretsSchema.extend({ createdAt: z.string(), operatorNamespace: z.string() }).safeParse(doc);
    if (!v1.success) throw new CliError(`${file} is not an Orka Secrets keys backup (format ${BACKUP_FORMAT_V1}, damaged)`, EXIT.input);
    return { backup: v1.data, protection: 'none' };
  }
  const meta = { createdAt: body.createdAt, operatorNamespace: body.operatorNamespace };
  if (body.secrets !== undefined) return { backup: { ...meta, ...body.secrets }, keyIds: body.keyIds, protection: 'sha256' };
  const e = body.encrypted as z.infer<typeof encryptedSchema>;
  const secret = await passphrase();
  const key = deriveKey(secret, Buffer.from(e.salt, 'base64'), e);
  secret.fill(0);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(e.iv, 'base64'));
    decipher.setAAD(headerOf(body));
    decipher.setAuthTag(Buffer.from(e.tag, 'base64'));
    plain = Buffer.concat([decipher.update(Buffer.from(e.ciphertext, 'base64')), decipher.final()]);
  } catch {
    throw new CliError(`${file} does not open with this passphrase (a wrong passphrase, or the file was changed)`, EXIT.input);
  } finally {
    key.fill(0);
  }
  const secrets = secretsSchema.safeParse(JSON.parse(plain.toString('utf8')));
  plain.fill(0);
  if (!secrets.success) throw new CliError(`${file} is damaged: its encrypted content is not a keys backup`, EXIT.input);
  return { backup: { ...meta, ...secrets.data }, keyIds: body.keyIds, protection: 'passphrase' };
}
