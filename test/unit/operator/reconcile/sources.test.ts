import { describe, expect, it } from 'vitest';
import { MAX_VALUE_BYTES } from '../../../../src/core/envelope.js';
import { SourceIndex, sourceIdentity, sourceValue } from '../../../../src/operator/reconcile/sources.js';

describe('SourceIndex', () => {
  it('finds the OrkaSecrets reading a Secret, in its namespace only', () => {
    const index = new SourceIndex();
    index.set('a', 'one', 'creds');
    index.set('a', 'two', 'creds');
    index.set('b', 'three', 'creds');
    index.set('a', 'four', undefined);
    expect(index.readersOf('a', 'creds').toSorted()).toEqual(['a/one', 'a/two']);
    expect(index.readersOf('b', 'creds')).toEqual(['b/three']);
    expect(index.readersOf('a', 'other')).toEqual([]);
  });

  it('follows an OrkaSecret that changes its source, drops its value source, or is deleted', () => {
    const index = new SourceIndex();
    index.set('a', 'one', 'old');
    index.set('a', 'one', 'new');
    expect(index.readersOf('a', 'old')).toEqual([]);
    expect(index.readersOf('a', 'new')).toEqual(['a/one']);
    index.set('a', 'one', undefined); // now a sealedValue
    expect(index.readersOf('a', 'new')).toEqual([]);
    index.set('a', 'two', 'new');
    index.delete('a', 'two');
    expect(index.readersOf('a', 'new')).toEqual([]);
  });
});

describe('what a source Secret gives', () => {
  const ref = { name: 'creds', key: 'token' };
  const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

  it('is the value of the key, read from base64', () => {
    expect(sourceValue({ type: 'Opaque', data: { token: b64('s3cr3t-value') } }, ref)).toEqual({ kind: 'value', value: Buffer.from('s3cr3t-value'), source: 'valueFrom' });
  });

  it('says which is missing: the Secret, or its key', () => {
    expect(sourceValue(undefined, ref)).toEqual({ kind: 'source-missing', secret: 'creds', key: 'token', missing: 'secret' });
    expect(sourceValue({ data: { other: b64('x') } }, ref)).toEqual({ kind: 'source-missing', secret: 'creds', key: 'token', missing: 'key' });
  });

  it('refuses a service account token as a source, whatever it holds', () => {
    expect(sourceValue({ type: 'kubernetes.io/service-account-token', data: { token: b64('jwt') } }, ref)).toEqual({ kind: 'source-refused', secret: 'creds', type: 'kubernetes.io/service-account-token' });
  });

  it('refuses a value over the size limit, saying only the sizes', () => {
    expect(sourceValue({ data: { token: b64(Buffer.alloc(MAX_VALUE_BYTES + 1, 1)) } }, ref)).toEqual({ kind: 'too-large', bytes: MAX_VALUE_BYTES + 1, limit: MAX_VALUE_BYTES });
    expect(sourceValue({ data: { token: b64(Buffer.alloc(MAX_VALUE_BYTES, 1)) } }, ref)).toMatchObject({ kind: 'value' });
  });

  it('is identified by uid, version and key, without its data', () => {
    const meta = { metadata: { uid: 'u1', resourceVersion: '7' } };
    expect(sourceIdentity(meta, 'token')).toBe('secret:u1:7:token');
    expect(sourceIdentity({ metadata: { uid: 'u1', resourceVersion: '8' } }, 'token')).not.toBe(sourceIdentity(meta, 'token'));
    expect(sourceIdentity(undefined, 'token')).toBe('missing');
  });
});
