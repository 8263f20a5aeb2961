import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { seal } from '../../../../src/core/envelope.js';
import { sealedValueProblem } from '../../../../src/operator/admission/sealed.js';

const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const sealed = (tenant: string, name: string): Buffer => seal({ publicKey, keyId: 'k1', tenant, name, value: Buffer.from('s3cr3t-value') });
const b64 = (b: Buffer): string => b.toString('base64');
const osec = (name: string, sealedValue?: unknown) => ({ metadata: { name }, spec: sealedValue === undefined ? {} : { sealedValue } });

describe('sealedValueProblem', () => {
  it('accepts a value sealed for this namespace and name, and objects without one', () => {
    expect(sealedValueProblem(osec('api-key', b64(sealed('acme', 'API_KEY'))), 'acme')).toBeUndefined();
    expect(sealedValueProblem(osec('api-key'), 'acme')).toBeUndefined();
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
  ])('refuses %s, saying what is wrong and how to fix it', (_what, value, message) => {
    const problem = sealedValueProblem(osec('api-key', value), 'acme');
    expect(problem).toMatch(message);
    expect(problem).toContain('orka-secrets -n acme seal API_KEY');
    expect(problem).not.toContain('hunter2');
    expect(problem).not.toContain(value.slice(0, 12));
  });

  it('leaves an invalid object name to its own rule', () => {
    expect(sealedValueProblem(osec('api.key', 'AAAA'), 'acme')).toBeUndefined();
  });
});
