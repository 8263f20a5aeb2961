/**
 * All of Orka's cryptography, on node:crypto (native AES-256-GCM and RSA-OAEP-SHA256).
 *
 * Three envelopes, each a byte string with a versioned layout. Integers are unsigned, big endian.
 * Every envelope starts with the same header:
 *
 *   offset  size  field
 *   0       1     kind: 0x53 'S' sealed value, 0x56 'V' stored value, 0x4B 'K' wrapped data key
 *   1       1     layout version: 0x02 for a sealed value (0x01 read, never written), else 0x01
 *   2       1     key id length L (1..255)
 *   3       L     key id (UTF-8): which key opens it (sealing key, data key, key-encryption key)
 *
 * Sealed value, layout 2 (CLI and page -> OrkaSecret.spec.sealedValue; hybrid, as in Bitnami
 * Sealed Secrets):
 *   3+L     2     label length B
 *   5+L     B     label "TENANT/namespace/NAME" (UTF-8): TENANT is the tenant's id (the value of
 *                 the namespace's orka.io/tenant label, which holds no "/"), so a later namespace
 *                 of the same name given to another tenant opens nothing. In clear so the operator
 *                 can say *whom* a value was sealed for; authenticated below, so changing it
 *                 breaks the envelope
 *   5+L+B   2     wrapped session key length W
 *   7+L+B   W     RSA-OAEP-SHA256(OAEP label = the label) of a fresh 32-byte AES key
 *   7+L+B+W 12    nonce
 *   ...     n     AES-256-GCM ciphertext of the value
 *   ...     16    GCM tag; additional data = every byte before the wrapped-key length
 *
 * Sealed value, layout 1 (written by releases before tenant ids; read, never written): the same
 * fields with version 0x01 and the label "namespace/NAME". It names no tenant, so it cannot tell
 * the tenant it was sealed for from a later one given a namespace of the same name: `unseal`
 * opens it only when its caller says the namespace accepts such values (the operator's rule is
 * in docs/upgrade.md). The version byte is in both the GCM additional data and, through the
 * label's form, the OAEP label, so a layout-2 value cannot be passed off as layout 1.
 *
 * Stored value (the storage Secret; one data key per tenant):
 *   3+L     12    nonce, fresh per encryption
 *   15+L    n     AES-256-GCM ciphertext of the value
 *   ...     16    GCM tag; additional data = header || "tenant/NAME/version"
 *
 * Wrapped data key (a tenant's data key under the operator's key-encryption key):
 *   3+L     12    nonce
 *   15+L    32    AES-256-GCM ciphertext of the data key
 *   47+L    16    GCM tag; additional data = header || "tenant"
 *
 * The header is part of the additional data, so a changed kind, version or key id fails, and the
 * binding strings make an envelope copied to another tenant, name or version fail. Whatever is
 * wrong (tampered, truncated, re-labelled, re-targeted, unknown key), opening throws one error,
 * DECRYPT_FAILED, with one fixed message: telling the causes apart would help an attacker.
 *
 * The random source is passed in (tests use a seeded one); RSA-OAEP's own padding randomness
 * comes from OpenSSL and cannot be injected.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  publicEncrypt,
  randomBytes,
  webcrypto,
  type KeyObject,
} from 'node:crypto';
import { OrkaError } from './errors.js';
import { checkSecretName, isNamespaceName, isTenantId } from './names.js';

/** A source of random bytes; defaults to the operating system's CSPRNG. */
export type RandomSource = (size: number) => Buffer;

/** Largest secret value accepted, in bytes: enough for a private key or a certificate chain. */
export const MAX_VALUE_BYTES = 64 * 1024;

/** Envelope kinds (first byte). */
export const EnvelopeKind = { Sealed: 0x53, Stored: 0x56, DataKey: 0x4b } as const;
type Kind = (typeof EnvelopeKind)[keyof typeof EnvelopeKind];

const VERSION = 0x01;
/** Sealed-value layouts: 1 bound to "namespace/NAME" (read only), 2 bound to "TENANT/namespace/NAME". */
const SEALED_NAMESPACE_BOUND = 0x01;
const SEALED_TENANT_BOUND = 0x02;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const AES_KEY_BYTES = 32;
const DECRYPT_FAILED_MESSAGE = 'the encrypted data could not be opened';

/**
 * An AES-256 key: its 32 raw bytes, or a KeyObject made from them once (`aesKey`). A key used for
 * many values (a tenant's data key) should be a KeyObject: node:crypto imports and checks a raw
 * Buffer key on every cipher it makes, which costs several times the AES-GCM work on a short value.
 */
export type AesKey = Buffer | KeyObject;

/** A symmetric key with its id (data keys and key-encryption keys). */
export interface SymmetricKey {
  id: string;
  key: AesKey;
}

/** Finds a key by id; undefined when unknown. */
export type KeyLookup<K> = (id: string) => K | undefined;

function decryptFailed(cause?: unknown): OrkaError {
  // The cause stays on the error for debugging in-process; it is never serialized.
  return new OrkaError('DECRYPT_FAILED', DECRYPT_FAILED_MESSAGE, {}, { cause });
}

function header(kind: Kind, keyId: string, version = VERSION): Buffer {
  const id = Buffer.from(keyId, 'utf8');
  if (id.length < 1 || id.length > 255) {
    throw new OrkaError('INVALID_REQUEST', `key id must be 1 to 255 bytes, got ${id.length}`);
  }
  return Buffer.concat([Buffer.from([kind, version, id.length]), id]);
}

function checkValueSize(value: Buffer): void {
  if (value.length > MAX_VALUE_BYTES) {
    throw new OrkaError('PAYLOAD_TOO_LARGE', `secret value is ${value.length} bytes; at most ${MAX_VALUE_BYTES} are allowed`, { limit: MAX_VALUE_BYTES });
  }
}

/** KeyObjects already found to be AES-256 keys: a KeyObject is immutable, and its getters are calls into C++. */
const checkedKeys = new WeakSet<KeyObject>();

function isAesKey(key: AesKey): boolean {
  if (Buffer.isBuffer(key)) return key.length === AES_KEY_BYTES;
  if (checkedKeys.has(key)) return true;
  if (key.type !== 'secret' || key.symmetricKeySize !== AES_KEY_BYTES) return false;
  checkedKeys.add(key);
  return true;
}

function checkKey(key: AesKey): void {
  if (!isAesKey(key)) throw new OrkaError('INVALID_REQUEST', `an AES-256 key must be ${AES_KEY_BYTES} bytes`);
}

/** The KeyObject of a 32-byte AES key, made once and reused for every value under that key. */
export function aesKey(raw: Buffer): KeyObject {
  checkKey(raw);
  return createSecretKey(raw);
}

/** The layout versions read for each kind. */
function readsVersion(kind: number, version: number | undefined): boolean {
  return kind === EnvelopeKind.Sealed ? version === SEALED_TENANT_BOUND || version === SEALED_NAMESPACE_BOUND : version === VERSION;
}

/** Reads the header; throws DECRYPT_FAILED when it is not an envelope of `kind`. */
function readHeader(data: Buffer, kind: Kind): { keyId: string; header: Buffer; rest: Buffer } {
  if (data.length < 4 || data[0] !== kind || !readsVersion(kind, data[1])) throw decryptFailed();
  const length = data[2] as number;
  if (length < 1 || data.length < 3 + length) throw decryptFailed();
  const headerBytes = data.subarray(0, 3 + length);
  return { keyId: headerBytes.subarray(3).toString('utf8'), header: headerBytes, rest: data.subarray(3 + length) };
}

function gcmSeal(key: AesKey, aad: Buffer, plaintext: Buffer, random: RandomSource): Buffer {
  const nonce = random(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** nonce || ciphertext || tag, split; undefined when too short to hold a nonce and a tag. */
interface GcmParts {
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

function gcmParts(body: Buffer): GcmParts | undefined {
  if (body.length < NONCE_BYTES + TAG_BYTES) return undefined;
  return { nonce: body.subarray(0, NONCE_BYTES), ciphertext: body.subarray(NONCE_BYTES, body.length - TAG_BYTES), tag: body.subarray(body.length - TAG_BYTES) };
}

/** Opens split GCM parts; any failure becomes DECRYPT_FAILED. */
function gcmOpenParts(key: AesKey, aad: Buffer, parts: GcmParts | undefined): Buffer {
  if (parts === undefined) throw decryptFailed();
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, parts.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(parts.tag);
    const plaintext = decipher.update(parts.ciphertext);
    // final() checks the tag (it throws on a mismatch); GCM, a stream mode, has nothing left to give.
    const rest = decipher.final();
    return rest.length === 0 ? plaintext : Buffer.concat([plaintext, rest]);
  } catch (err) {
    throw decryptFailed(err);
  }
}

/** Opens nonce || ciphertext || tag; any failure becomes DECRYPT_FAILED. */
function gcmOpen(key: AesKey, aad: Buffer, body: Buffer): Buffer {
  return gcmOpenParts(key, aad, gcmParts(body));
}

/**
 * What a sealed value is bound to: the tenant's identity (the value of its namespace's
 * `orka.io/tenant` label), the namespace and the secret name. The namespace stays in the binding
 * so a value sealed for one of a tenant's namespaces does not open in another of its namespaces.
 */
export interface SealedBinding {
  tenantId: string;
  namespace: string;
  name: string;
}

/** Whom a sealed value says it is for; no `tenantId`: layout 1, bound to the namespace name only. */
export interface SealedClaim {
  tenantId?: string;
  namespace: string;
  name: string;
}

/** The label of a layout-2 sealed value (its OAEP label, and in clear in the envelope). */
function tenantLabel(b: SealedBinding): string {
  return `${b.tenantId}/${b.namespace}/${b.name}`;
}

/** Returns the id of the key that opens an envelope of any kind, or throws DECRYPT_FAILED. */
export function envelopeKeyId(data: Buffer): string {
  const kind = data[0];
  if (kind !== EnvelopeKind.Sealed && kind !== EnvelopeKind.Stored && kind !== EnvelopeKind.DataKey) throw decryptFailed();
  return readHeader(data, kind).keyId;
}

/** The key id an envelope names, or undefined when it is malformed (for callers that sort, not open). */
export function envelopeKeyIdOf(data: Buffer): string | undefined {
  try {
    return envelopeKeyId(data);
  } catch {
    return undefined;
  }
}

/** Why a binding cannot be sealed for (a caller error), or undefined. */
function bindingProblem(b: SealedBinding): string | undefined {
  if (!isTenantId(b.tenantId)) return 'the tenant id must be the value of the namespace\'s orka.io/tenant label: 1 to 63 letters, digits, -, _ or ., starting and ending with a letter or digit';
  if (!isNamespaceName(b.namespace)) return 'the namespace must be a namespace name';
  const name = checkSecretName(b.name);
  return name.ok ? undefined : name.message;
}

/** Seals a value for one tenant, namespace and secret name with the operator's public sealing key (layout 2). */
export function seal(args: { publicKey: KeyObject | string; keyId: string; value: Buffer } & SealedBinding, random: RandomSource = randomBytes): Buffer {
  checkValueSize(args.value);
  const problem = bindingProblem(args);
  if (problem !== undefined) throw new OrkaError('INVALID_REQUEST', problem);
  const label = Buffer.from(tenantLabel(args), 'utf8');
  const publicKey = typeof args.publicKey === 'string' ? createPublicKey(args.publicKey) : args.publicKey;
  const head = Buffer.concat([header(EnvelopeKind.Sealed, args.keyId, SEALED_TENANT_BOUND), u16(label.length), label]);
  const sessionKey = random(AES_KEY_BYTES);
  const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label }, sessionKey);
  const body = gcmSeal(sessionKey, head, args.value, random);
  sessionKey.fill(0);
  return Buffer.concat([head, u16(wrapped.length), wrapped, body]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** Splits a sealed value into its layout, its authenticated head (with the label) and the rest. */
function readSealed(sealed: Buffer): { keyId: string; layout: number; label: string; head: Buffer; rest: Buffer } {
  const { keyId, header: head, rest } = readHeader(sealed, EnvelopeKind.Sealed);
  if (rest.length < 2) throw decryptFailed();
  const labelLength = rest.readUInt16BE(0);
  if (rest.length < 2 + labelLength) throw decryptFailed();
  const label = rest.subarray(2, 2 + labelLength);
  return { keyId, layout: sealed[1] as number, label: label.toString('utf8'), head: sealed.subarray(0, head.length + 2 + labelLength), rest: rest.subarray(2 + labelLength) };
}

/**
 * Whom a sealed value says it was sealed for. This is a claim, not a proof: it is checked only
 * when the value is opened. It lets the operator tell "sealed for another tenant, namespace or
 * name" apart from "damaged". Undefined when the bytes are not a sealed value, or the label is not
 * a valid claim.
 */
export function sealedFor(sealed: Buffer): SealedClaim | undefined {
  const shape = inspectSealed(sealed);
  return shape.ok ? shape.claim : undefined;
}

/** What the clear-text part of a sealed value says, or why the bytes are not a sealed value. */
export type SealedShape = { ok: true; keyId: string; claim: SealedClaim } | { ok: false; problem: string };

/** The claim of a label in `layout`, or undefined when it is not one of valid names (clear text anyone can write). */
function claimOf(layout: number, label: string): SealedClaim | undefined {
  const parts = label.split('/');
  const [tenantId, namespace, name] = layout === SEALED_TENANT_BOUND ? parts : [undefined, ...parts];
  if (parts.length !== (layout === SEALED_TENANT_BOUND ? 3 : 2) || namespace === undefined || name === undefined) return undefined;
  if ((tenantId !== undefined && !isTenantId(tenantId)) || !isNamespaceName(namespace) || !checkSecretName(name).ok) return undefined;
  return tenantId === undefined ? { namespace, name } : { tenantId, namespace, name };
}

/**
 * Checks the layout of a sealed value without opening it (no key needed): header, label,
 * wrapped key and room for nonce and tag. It lets admission refuse what can never open, with
 * what is wrong; it proves nothing about the ciphertext, which only `unseal` checks. The
 * problems name the layout, never bytes of the value.
 */
export function inspectSealed(data: Buffer): SealedShape {
  const fail = (problem: string): SealedShape => ({ ok: false, problem });
  if (data.length < 3) return fail('it is too short to be a sealed value');
  if (data[0] !== EnvelopeKind.Sealed) return fail('it does not start with the sealed-value marker (was it made by `orka-secrets seal`?)');
  if (!readsVersion(EnvelopeKind.Sealed, data[1])) return fail(`its layout version ${data[1]} is not one this operator reads (${SEALED_NAMESPACE_BOUND} or ${SEALED_TENANT_BOUND})`);
  const keyIdLength = data[2] as number;
  if (keyIdLength < 1 || data.length < 3 + keyIdLength + 2) return fail('it is truncated in its header');
  const keyId = data.subarray(3, 3 + keyIdLength).toString('utf8');
  const rest = data.subarray(3 + keyIdLength);
  const labelLength = rest.readUInt16BE(0);
  if (rest.length < 2 + labelLength + 2) return fail('it is truncated in its label');
  // The label is clear text anyone can write: it is only a claim worth repeating (in a message,
  // a condition or an event) when it is made of a real tenant id, namespace and secret name.
  const claim = claimOf(data[1] as number, rest.subarray(2, 2 + labelLength).toString('utf8'));
  if (claim === undefined) return fail(data[1] === SEALED_TENANT_BOUND ? 'its label is not a valid "tenant/namespace/NAME"' : 'its label is not a valid "namespace/NAME" pair');
  const wrappedLength = rest.readUInt16BE(2 + labelLength);
  const body = rest.length - (4 + labelLength + wrappedLength);
  if (wrappedLength < 1 || body < NONCE_BYTES + TAG_BYTES) return fail('it is truncated: the encrypted part is missing or cut short');
  return { ok: true, keyId, claim };
}

/** RSA-OAEP-SHA256, the WebCrypto way: the algorithm a sealing key is used with. */
const RSA_OAEP = { name: 'RSA-OAEP', hash: 'SHA-256' } as const;

/** Each sealing KeyObject's WebCrypto twin, made once (the key ring keeps its KeyObjects for its life). */
const cryptoKeys = new WeakMap<KeyObject, webcrypto.CryptoKey>();

function decryptingKey(found: KeyObject | string): webcrypto.CryptoKey {
  const keyObject = typeof found === 'string' ? createPrivateKey(found) : found;
  let key = cryptoKeys.get(keyObject);
  if (key === undefined) {
    key = keyObject.toCryptoKey(RSA_OAEP, false, ['decrypt']);
    cryptoKeys.set(keyObject, key);
  }
  return key;
}

/**
 * Opens a sealed value; rejects with DECRYPT_FAILED unless it was sealed for exactly this tenant
 * id, namespace and name. A layout-1 value (bound to namespace and name only) opens only with
 * `openNamespaceBound`, which the caller sets when the namespace accepts such values. The RSA private-key operation (1.5 ms of CPU for a 3072-bit key, the bulk of opening a
 * value) runs through WebCrypto, whose jobs run on libuv's thread pool: an operator storing many
 * values at once keeps its event loop (watches, writes, admission, resolves) free meanwhile, and
 * uses a second core when it has one. node:crypto's privateDecrypt would block the loop.
 */
export async function unseal(args: { privateKeys: KeyLookup<KeyObject | string>; binding: SealedBinding; openNamespaceBound?: boolean; sealed: Buffer }): Promise<Buffer> {
  const { keyId, layout, label, head, rest } = readSealed(args.sealed);
  if (layout === SEALED_NAMESPACE_BOUND && args.openNamespaceBound !== true) throw decryptFailed();
  const { binding } = args;
  if (bindingProblem(binding) !== undefined) throw decryptFailed();
  const expected = layout === SEALED_TENANT_BOUND ? tenantLabel(binding) : `${binding.namespace}/${binding.name}`;
  const found = args.privateKeys(keyId);
  if (found === undefined || label !== expected || rest.length < 2) throw decryptFailed();
  const wrappedLength = rest.readUInt16BE(0);
  if (rest.length < 2 + wrappedLength) throw decryptFailed();
  let sessionKey: Buffer;
  try {
    const oaepLabel = Buffer.from(expected, 'utf8');
    sessionKey = Buffer.from(await webcrypto.subtle.decrypt({ ...RSA_OAEP, label: oaepLabel }, decryptingKey(found), rest.subarray(2, 2 + wrappedLength)));
  } catch (err) {
    throw decryptFailed(err);
  }
  try {
    if (sessionKey.length !== AES_KEY_BYTES) throw decryptFailed();
    return gcmOpen(sessionKey, head, rest.subarray(2 + wrappedLength));
  } finally {
    sessionKey.fill(0);
  }
}

/** A fresh random AES-256 data key. */
export function generateDataKey(random: RandomSource = randomBytes): Buffer {
  return random(AES_KEY_BYTES);
}

/** Wraps a tenant's data key under a key-encryption key; the result is bound to the tenant. */
export function wrapDataKey(args: { kek: SymmetricKey; tenant: string; dataKey: Buffer }, random: RandomSource = randomBytes): Buffer {
  checkKey(args.kek.key);
  checkKey(args.dataKey);
  const head = header(EnvelopeKind.DataKey, args.kek.id);
  return Buffer.concat([head, gcmSeal(args.kek.key, Buffer.concat([head, Buffer.from(args.tenant, 'utf8')]), args.dataKey, random)]);
}

/** Unwraps a tenant's data key; throws DECRYPT_FAILED when it is not this tenant's or the key is unknown. */
export function unwrapDataKey(args: { keks: KeyLookup<Buffer>; tenant: string; wrapped: Buffer }): Buffer {
  const { keyId, header: head, rest } = readHeader(args.wrapped, EnvelopeKind.DataKey);
  const kek = args.keks(keyId);
  if (kek === undefined || kek.length !== AES_KEY_BYTES) throw decryptFailed();
  const dataKey = gcmOpen(kek, Buffer.concat([head, Buffer.from(args.tenant, 'utf8')]), rest);
  if (dataKey.length !== AES_KEY_BYTES) throw decryptFailed();
  return dataKey;
}

function storageBinding(tenant: string, name: string, version: number): Buffer {
  if (!Number.isSafeInteger(version) || version < 0) throw new OrkaError('INVALID_REQUEST', 'version must be a non-negative integer');
  return Buffer.from(`${tenant}/${name}/${version}`, 'utf8');
}

/** Encrypts a value for storage under the tenant's data key, bound to tenant, name and version. */
export function encryptValue(
  args: { dataKey: SymmetricKey; tenant: string; name: string; version: number; value: Buffer },
  random: RandomSource = randomBytes,
): Buffer {
  checkValueSize(args.value);
  checkKey(args.dataKey.key);
  const head = header(EnvelopeKind.Stored, args.dataKey.id);
  const aad = Buffer.concat([head, storageBinding(args.tenant, args.name, args.version)]);
  return Buffer.concat([head, gcmSeal(args.dataKey.key, aad, args.value, random)]);
}

/**
 * A stored value read but not opened: the id of its data key, the additional data that binds it
 * to tenant, name and version, and nonce || ciphertext || tag. Ciphertext only; a reader that
 * opens the same stored value many times (the resolver) reads it once and opens it each time.
 */
export interface StoredValue {
  readonly keyId: string;
  readonly aad: Buffer;
  /** The sealed body split into nonce, ciphertext and tag, once (undefined: too short to open). */
  readonly parts: GcmParts | undefined;
}

/** Reads a stored value for tenant, name and version without opening it; throws DECRYPT_FAILED when it is no stored-value envelope. */
export function readStoredValue(args: { tenant: string; name: string; version: number; stored: Buffer }): StoredValue {
  const { keyId, header: head, rest } = readHeader(args.stored, EnvelopeKind.Stored);
  return { keyId, aad: Buffer.concat([head, storageBinding(args.tenant, args.name, args.version)]), parts: gcmParts(rest) };
}

/** Opens a stored value read by readStoredValue; throws DECRYPT_FAILED unless tenant, name, version and key all match. */
export function openStoredValue(value: StoredValue, dataKeys: KeyLookup<AesKey>): Buffer {
  const key = dataKeys(value.keyId);
  if (key === undefined || !isAesKey(key)) throw decryptFailed();
  return gcmOpenParts(key, value.aad, value.parts);
}

/** Decrypts a stored value; throws DECRYPT_FAILED unless tenant, name, version and key all match. */
export function decryptValue(args: { dataKeys: KeyLookup<AesKey>; tenant: string; name: string; version: number; stored: Buffer }): Buffer {
  return openStoredValue(readStoredValue(args), args.dataKeys);
}
