/**
 * Sealed values written by hand from the layout in src/core/envelope.ts's doc comment, not with
 * the product's code: values the product no longer writes (layout 1, "namespace/NAME", as releases
 * before tenant ids sealed them) and labels it refuses to write (hostile text), for tests of what
 * the operator does with them. test/unit/core/vectors.test.ts holds a layout-1 value an earlier
 * release made itself.
 */
import { constants, createCipheriv, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';

/** A sealed value of `value` in layout `layout` whose label (and OAEP label) is `label`, under the sealing key `keyId`. */
export function sealWithLabel(args: { publicKey: KeyObject | string; keyId: string; layout: 1 | 2; label: string; value: Buffer }): Buffer {
  const label = Buffer.from(args.label, 'utf8');
  const keyId = Buffer.from(args.keyId, 'utf8');
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const head = Buffer.concat([Buffer.from([0x53, args.layout, keyId.length]), keyId, u16(label.length), label]);
  const sessionKey = randomBytes(32);
  const wrapped = publicEncrypt({ key: args.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label }, sessionKey);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sessionKey, nonce).setAAD(head);
  return Buffer.concat([head, u16(wrapped.length), wrapped, nonce, cipher.update(args.value), cipher.final(), cipher.getAuthTag()]);
}

/** A layout-1 sealed value (bound to namespace/name only), as releases before tenant ids wrote it. */
export function sealNamespaceBound(args: { publicKey: KeyObject | string; keyId: string; namespace: string; name: string; value: Buffer }): Buffer {
  return sealWithLabel({ ...args, layout: 1, label: `${args.namespace}/${args.name}` });
}
