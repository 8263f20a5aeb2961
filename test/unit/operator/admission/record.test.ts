import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveRecordKey, stampRecord, VALUE_FROM_RECORD_ANNOTATION, type RecordKeys } from '../../../../src/core/valuefrom-record.js';
import { authorizeStep, bindingOf, recordProblem } from '../../../../src/operator/admission/record.js';
import type { OrkaSecret } from '../../../../src/api/resource.js';

const keys: RecordKeys = { activeId: 'seal-1', key: ((k) => (id: string) => (id === 'seal-1' ? k : undefined))(deriveRecordKey(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey)) };
const ns = { name: 'acme', uid: 'uid-1' };
const ref = (name: string, key = 'password') => ({ name, key });
const recordFor = (name: string, r: { name: string; key: string }, namespace = ns) => stampRecord(keys, bindingOf(namespace, name, r));

type Obj = Pick<OrkaSecret, 'metadata' | 'spec'>;
function osec(name: string, source?: { name: string; key: string }, annotation?: string, extra: Record<string, unknown> = {}): Obj {
  return {
    metadata: { name, namespace: 'acme', ...(annotation === undefined ? {} : { annotations: { [VALUE_FROM_RECORD_ANNOTATION]: annotation } }) },
    spec: { ...(source === undefined ? {} : { valueFrom: { secretKeyRef: source } }), ...extra },
  };
}
const create = (object: Obj) => ({ operation: 'CREATE' as const, object });
const update = (object: Obj, oldObject: Obj) => ({ operation: 'UPDATE' as const, object, oldObject });

describe('authorizeStep (the mutating webhook)', () => {
  const good = recordFor('db', ref('app-db'));
  it.each([
    ['a create without valueFrom', create(osec('db')), { step: 'pass' }],
    ['a create that brings its own record (copied from another object)', create(osec('db', ref('admin-db'), good)), { step: 'ask', required: true }],
    ['a create with valueFrom', create(osec('db', ref('app-db'))), { step: 'ask', required: true }],
    ['an update that changes the Secret', update(osec('db', ref('admin-db'), good), osec('db', ref('app-db'), good)), { step: 'ask', required: true }],
    ['an update that changes only the key', update(osec('db', ref('app-db', 'admin'), good), osec('db', ref('app-db'), good)), { step: 'ask', required: true }],
    ['an update that adds valueFrom', update(osec('db', ref('app-db')), osec('db')), { step: 'ask', required: true }],
    ['an update that keeps valueFrom and its record', update(osec('db', ref('app-db'), good), osec('db', ref('app-db'), good)), { step: 'keep' }],
    ['an update that keeps valueFrom and drops the record', update(osec('db', ref('app-db')), osec('db', ref('app-db'), good)), { step: 'restore', annotation: good }],
    ['an update that keeps valueFrom and edits the record', update(osec('db', ref('app-db'), 'v1.seal-1.x'), osec('db', ref('app-db'), good)), { step: 'restore', annotation: good }],
    ['an update of an object that never had a record (a re-check)', update(osec('db', ref('app-db')), osec('db', ref('app-db'))), { step: 'ask', required: false }],
    ['an update that removes valueFrom, leaving the record', update(osec('db', undefined, good), osec('db', ref('app-db'), good)), { step: 'remove' }],
    ['a switch to sealedValue, leaving the record', update(osec('db', undefined, good, { sealedValue: 'AAAA' }), osec('db', ref('app-db'), good)), { step: 'remove' }],
  ])('%s', (_what, request, expected) => {
    expect(authorizeStep(keys, ns, request)).toMatchObject(expected);
  });

  it('asks about the Secret of the object as it is now, and binds the record to it', () => {
    expect(authorizeStep(keys, ns, create(osec('db', ref('app-db'))))).toEqual({ step: 'ask', ref: ref('app-db'), binding: bindingOf(ns, 'db', ref('app-db')), required: true });
  });

  it('does not take a record made in a namesake namespace that had another UID', () => {
    const elsewhere = recordFor('db', ref('app-db'), { name: 'acme', uid: 'uid-0' });
    expect(authorizeStep(keys, ns, update(osec('db', ref('app-db'), elsewhere), osec('db', ref('app-db'), elsewhere)))).toMatchObject({ step: 'ask', required: false });
  });
});

describe('recordProblem (the validating webhook)', () => {
  const good = recordFor('db', ref('app-db'));
  it.each([
    ['no valueFrom', create(osec('db')), undefined],
    ['a valueFrom with its record', create(osec('db', ref('app-db'), good)), undefined],
    ['an unchanged valueFrom without a record (older than the check)', update(osec('db', ref('app-db')), osec('db', ref('app-db'))), undefined],
    ['a new valueFrom without a record', create(osec('db', ref('app-db'))), /no admission record that the requester may read Secret app-db/],
    ['a record copied to another name', create(osec('other', ref('app-db'), good)), /cannot be copied from another object/],
    ['a changed valueFrom with the old record', update(osec('db', ref('admin-db'), good), osec('db', ref('app-db'), good)), /Secret admin-db/],
  ])('%s', (_what, request, expected) => {
    const problem = recordProblem(keys, ns, request);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(expected);
  });
});
