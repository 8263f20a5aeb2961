import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { seal } from '../../../../src/core/envelope.js';
import { sealedValueProblem } from '../../../../src/operator/admission/sealed.js';
import { ACCEPT_NAMESPACE_SEALED_ANNOTATION } from '../../../../src/api/sealing.js';
import { sealNamespaceBound } from '../../../env/raw-seal.js';

const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const sealed = (namespace: string, name: string, tenantId = 'tenant-x'): Buffer => seal({ publicKey, keyId: 'k1', tenantId, namespace, name, value: Buffer.from('s3cr3t-value') });
const b64 = (b: Buffer): string => b.toString('base64');
const osec = (name: string, sealedValue?: unknown) => ({ metadata: { name }, spec: sealedValue === undefined ? {} : { sealedValue } });
/** Namespace acme as the cache holds it. */
const acme = (tenantId = 'tenant-x', annotations: Record<string, string> = {}) => ({ metadata: { name: 'acme', uid: 'uid-acme-2', labels: { 'orka.io/tenant': tenantId }, annotations } });

/** A value as releases before tenant ids sealed it (layout 1: "namespace/NAME"). */
const sealedLayout1 = (namespace: string, name: string): Buffer => sealNamespaceBound({ publicKey, keyId: 'k1', namespace, name, value: Buffer.from('v') });

describe('sealedValueProblem', () => {
  it('accepts a value sealed for this tenant, namespace and name, and objects without one', () => {
    expect(sealedValueProblem(osec('api-key', b64(sealed('acme', 'API_KEY'))), 'acme', acme())).toBeUndefined();
    expect(sealedValueProblem(osec('api-key'), 'acme', acme())).toBeUndefined();
  });

  const good = sealed('acme', 'API_KEY');
  const withByte = (i: number, v: number): Buffer => {
    const b = Buffer.from(good);
    b[i] = v;
    return b;
  };
  it.each([
    ['not base64', 'not base64!', /is not base64/],
    ['base64 of something else', b64(Buffer.from('{"value":"hunter2"}')), /not a well-formed sealed value: it does not start with the sealed-value marker/],
    ['too short', b64(Buffer.from([0x53])), /too short/],
    ['an unknown layout version', b64(withByte(1, 9)), /layout version 9/],
    ['a truncated header', b64(good.subarray(0, 4)), /truncated in its header/],
    ['a truncated label', b64(good.subarray(0, 8)), /truncated in its label/],
    ['a cut-off body', b64(good.subarray(0, good.length - 200 - 40 - 16)), /truncated: the encrypted part/],
    ['another namespace', b64(sealed('other', 'API_KEY')), /sealed for API_KEY in namespace other, not for API_KEY in namespace acme/],
    ['another name', b64(sealed('acme', 'DB_PASSWORD')), /sealed for DB_PASSWORD in namespace acme, not for API_KEY in namespace acme/],
    // The namesake: namespace acme made again for another tenant.
    ['another tenant in a namespace of the same name', b64(sealed('acme', 'API_KEY', 'tenant-y')), /sealed for tenant tenant-y, and namespace acme belongs to tenant tenant-x/],
    ['the format of earlier releases (namespace-bound)', b64(sealedLayout1('acme', 'API_KEY')), /format of earlier releases, bound to the namespace name only.*does not accept/],
  ])('refuses %s, saying what is wrong and how to fix it', (_what, value, message) => {
    const problem = sealedValueProblem(osec('api-key', value), 'acme', acme());
    expect(problem).toMatch(message);
    expect(problem).toContain('orka-secrets -n acme seal API_KEY');
    expect(problem).not.toContain('hunter2');
    expect(problem).not.toContain(value.slice(0, 12));
  });

  it('accepts the format of earlier releases only where the annotation names this namespace object (its UID)', () => {
    const old = b64(sealedLayout1('acme', 'API_KEY'));
    expect(sealedValueProblem(osec('api-key', old), 'acme', acme('tenant-x', { [ACCEPT_NAMESPACE_SEALED_ANNOTATION]: 'uid-acme-2' }))).toBeUndefined();
    // Copied from the namespace of the same name this one replaced (a template, Git, a backup).
    expect(sealedValueProblem(osec('api-key', old), 'acme', acme('tenant-x', { [ACCEPT_NAMESPACE_SEALED_ANNOTATION]: 'uid-acme-1' }))).toMatch(/does not accept/);
    expect(sealedValueProblem(osec('api-key', old), 'acme', acme('tenant-x', { [ACCEPT_NAMESPACE_SEALED_ANNOTATION]: 'true' }))).toMatch(/does not accept/);
    // Whatever the tenant id is, even the namespace's name: a namesake may be labelled so too.
    expect(sealedValueProblem(osec('api-key', old), 'acme', acme('acme'))).toMatch(/does not accept/);
  });

  it('checks only the namespace and name where the namespace is not (yet) a tenant: the operator says the rest', () => {
    expect(sealedValueProblem(osec('api-key', b64(sealed('acme', 'API_KEY', 'anyone'))), 'acme', undefined)).toBeUndefined();
    expect(sealedValueProblem(osec('api-key', b64(sealed('other', 'API_KEY'))), 'acme', undefined)).toMatch(/namespace other/);
  });

  it('leaves an invalid object name to its own rule', () => {
    expect(sealedValueProblem(osec('api.key', 'AAAA'), 'acme', acme())).toBeUndefined();
  });
});
