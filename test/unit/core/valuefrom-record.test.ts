import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveRecordKey, stampRecord, verifyRecord, type RecordBinding, type RecordKeys } from '../../../src/core/valuefrom-record.js';

const pair = () => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
const oldKey = deriveRecordKey(pair());
const newKey = deriveRecordKey(pair());
const keys = (activeId: string, ids: Record<string, Buffer>): RecordKeys => ({ activeId, key: (id) => ids[id] });
const before = keys('seal-old', { 'seal-old': oldKey });
const after = keys('seal-new', { 'seal-old': oldKey, 'seal-new': newKey });

const binding: RecordBinding = { namespaceUid: 'uid-1', namespace: 'acme', name: 'db-password', secret: 'db-creds', key: 'password' };

describe('valueFrom admission records', () => {
  it('verify for exactly what they were made for', () => {
    expect(verifyRecord(before, binding, stampRecord(before, binding))).toEqual({ ok: true, active: true });
  });

  it.each<[string, Partial<RecordBinding>]>([
    ['another namespace UID (a namesake namespace made later)', { namespaceUid: 'uid-2' }],
    ['another namespace', { namespace: 'globex' }],
    ['another OrkaSecret', { name: 'other-password' }],
    ['another Secret', { secret: 'db-admin' }],
    ['another key', { key: 'admin-password' }],
    // Fields are not concatenated: moving a character from one to the next changes the record.
    ['the same characters split differently', { name: 'db-password-db', secret: 'creds' }],
  ])('verify nothing when copied to %s', (_what, change) => {
    expect(verifyRecord(before, { ...binding, ...change }, stampRecord(before, binding))).toEqual({ ok: false, problem: 'mismatch' });
  });

  it.each([
    ['no annotation', undefined, 'missing'],
    ['an empty one', '', 'missing'],
    ['another version', `v2.seal-old.${'A'.repeat(43)}`, 'malformed'],
    ['no MAC', 'v1.seal-old.', 'malformed'],
    ['a MAC that is not base64url', `v1.seal-old.${'!'.repeat(43)}`, 'malformed'],
    ['a key this ring does not have', `v1.seal-gone.${'A'.repeat(43)}`, 'unknown-key'],
    ['a MAC of the right shape made by anyone else', `v1.seal-old.${'A'.repeat(43)}`, 'mismatch'],
  ])('refuse %s', (_what, annotation, problem) => {
    expect(verifyRecord(before, binding, annotation)).toEqual({ ok: false, problem });
  });

  it('made with a replaced key, still verify after a rotation, and say they are not made with the active key', () => {
    const made = stampRecord(before, binding);
    expect(verifyRecord(after, binding, made)).toEqual({ ok: true, active: false });
    expect(verifyRecord(after, binding, stampRecord(after, binding))).toEqual({ ok: true, active: true });
    expect(verifyRecord(keys('seal-new', { 'seal-new': newKey }), binding, made)).toEqual({ ok: false, problem: 'unknown-key' });
  });

  it('use a key derived from the sealing key, never the same for two sealing keys', () => {
    const key = pair();
    expect(deriveRecordKey(key)).toEqual(deriveRecordKey(key));
    expect(oldKey.equals(newKey)).toBe(false);
    expect(oldKey).toHaveLength(32);
  });
});
