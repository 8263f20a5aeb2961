import { describe, expect, it } from 'vitest';
import { sourceToAuthorize } from '../../../../src/operator/admission/webhook.js';

const osec = (valueFrom?: object) => ({ metadata: { name: 'db-password' }, spec: { ...(valueFrom === undefined ? {} : { valueFrom }) } });
const ref = (name: string, key = 'password') => ({ secretKeyRef: { name, key } });

describe('sourceToAuthorize', () => {
  it.each([
    ['a create with valueFrom', { operation: 'CREATE', object: osec(ref('db-admin')) }, { name: 'db-admin', key: 'password' }],
    ['a create without valueFrom', { operation: 'CREATE', object: osec() }, undefined],
    ['an update that changes the Secret', { operation: 'UPDATE', object: osec(ref('db-admin')), oldObject: osec(ref('db-user')) }, { name: 'db-admin', key: 'password' }],
    ['an update that changes only the key', { operation: 'UPDATE', object: osec(ref('db', 'b')), oldObject: osec(ref('db', 'a')) }, { name: 'db', key: 'b' }],
    ['an update that adds valueFrom', { operation: 'UPDATE', object: osec(ref('db')), oldObject: osec() }, { name: 'db', key: 'password' }],
    ['an update that keeps valueFrom as it was', { operation: 'UPDATE', object: osec(ref('db')), oldObject: osec(ref('db')) }, undefined],
    ['an update that removes valueFrom', { operation: 'UPDATE', object: osec(), oldObject: osec(ref('db')) }, undefined],
  ])('%s', (_what, request, expected) => {
    expect(sourceToAuthorize(request)).toEqual(expected);
  });
});
