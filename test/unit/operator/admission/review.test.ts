import { describe, expect, it } from 'vitest';
import { parseOrkaSecretReview } from '../../../../src/operator/admission/review.js';

const object = { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'db' }, spec: { valueFrom: { secretKeyRef: { name: 's', key: 'k' } } } };
const request = {
  uid: 'u1',
  kind: { group: 'orka.io', version: 'v1alpha1', kind: 'OrkaSecret' },
  resource: { group: 'orka.io', version: 'v1alpha1', resource: 'orkasecrets' },
  operation: 'CREATE',
  namespace: 'acme',
  userInfo: { username: 'alice', groups: ['system:authenticated'] },
  object,
};
const review = (over: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { ...request, ...over }, ...top });

describe('parseOrkaSecretReview', () => {
  it('takes what the apiserver sends for a create and an update', () => {
    expect(parseOrkaSecretReview(review())).toMatchObject({ ok: true, request: { uid: 'u1', operation: 'CREATE', userInfo: { username: 'alice' } } });
    expect(parseOrkaSecretReview(review({ operation: 'UPDATE', oldObject: object, dryRun: false, options: {} }))).toMatchObject({ ok: true });
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', 'text', /\(the body\)/],
    ['no apiVersion', { ...review(), apiVersion: undefined }, /apiVersion/],
    ['admission v1beta1', review({}, { apiVersion: 'admission.k8s.io/v1beta1' }), /apiVersion/],
    ['another kind', review({}, { kind: 'TokenReview' }), /kind/],
    ['no request uid', review({ uid: undefined }), /request\.uid/],
    ['an empty request uid', review({ uid: '' }), /request\.uid/],
    ['a review of pods', review({ resource: { group: '', version: 'v1', resource: 'pods' } }), /request\.resource/],
    ['a review of the status subresource', review({ subResource: 'status' }), /request\.subResource/],
    ['a DELETE', review({ operation: 'DELETE' }), /request\.operation/],
    ['a CONNECT', review({ operation: 'CONNECT' }), /request\.operation/],
    ['no namespace', review({ namespace: undefined }), /request\.namespace/],
    ['no userInfo', review({ userInfo: undefined }), /request\.userInfo/],
    ['a userInfo without a username', review({ userInfo: { groups: ['system:masters'] } }), /request\.userInfo\.username/],
    ['groups that are not strings', review({ userInfo: { username: 'a', groups: [1] } }), /request\.userInfo\.groups/],
    ['an object that is not an OrkaSecret', review({ object: { kind: 'Pod', metadata: { name: 'p' } } }), /request\.object\.kind/],
    ['no object', review({ object: undefined }), /request\.object/],
    ['annotations that are not strings', review({ object: { ...object, metadata: { name: 'db', annotations: { a: 1 } } } }), /request\.object\.metadata\.annotations/],
    ['an update without the old object', review({ operation: 'UPDATE' }), /request\.oldObject/],
  ])('refuses %s, naming the field and never a value', (_what, body, field) => {
    const parsed = parseOrkaSecretReview(body);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.problem).toMatch(field);
      expect(parsed.problem).not.toMatch(/alice|system:masters/);
    }
  });
});
