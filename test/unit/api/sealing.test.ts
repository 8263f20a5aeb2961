import { describe, expect, it } from 'vitest';
import { ACCEPT_NAMESPACE_SEALED_ANNOTATION, sealedMismatch, sealingTarget } from '../../../src/api/sealing.js';

const ns = (labels: Record<string, string>, annotations: Record<string, string> = {}, uid = 'uid-2') => ({ metadata: { name: 'acme', uid, labels, annotations } });
const tenantX = { 'orka.io/tenant': 'tenant-x' };

describe('sealingTarget', () => {
  it('binds to the tenant label, the namespace and the name', () => {
    expect(sealingTarget(ns(tenantX), 'API_KEY')).toEqual({ binding: { tenantId: 'tenant-x', namespace: 'acme', name: 'API_KEY' }, openNamespaceBound: false });
  });

  it.each([
    ['no namespace', undefined],
    ['no tenant label', ns({})],
    ['an empty tenant label', ns({ 'orka.io/tenant': '' })],
  ])('has none for %s', (_what, namespace) => {
    expect(sealingTarget(namespace, 'API_KEY')).toBeUndefined();
  });

  it.each([
    ["the namespace's own UID", 'uid-2', true],
    ['the UID of an earlier namespace of the same name', 'uid-1', false],
    ['true', 'true', false],
    ['empty', '', false],
  ])('accepts the namespace-bound format only when the annotation is %s', (_what, value, accepted) => {
    expect(sealingTarget(ns(tenantX, { [ACCEPT_NAMESPACE_SEALED_ANNOTATION]: value }), 'API_KEY')?.openNamespaceBound).toBe(accepted);
  });

  it('accepts nothing from an annotation on a namespace without a UID', () => {
    expect(sealingTarget(ns(tenantX, { [ACCEPT_NAMESPACE_SEALED_ANNOTATION]: '' }, ''), 'API_KEY')?.openNamespaceBound).toBe(false);
  });
});

describe('sealedMismatch', () => {
  const target = { binding: { tenantId: 'tenant-x', namespace: 'acme', name: 'API_KEY' }, openNamespaceBound: false };

  it.each([
    ['its tenant, namespace and name', { tenantId: 'tenant-x', namespace: 'acme', name: 'API_KEY' }, target, undefined],
    ['another tenant in the namespace of the same name', { tenantId: 'tenant-y', namespace: 'acme', name: 'API_KEY' }, target, { kind: 'other-tenant', tenantId: 'tenant-y' }],
    ['another namespace', { tenantId: 'tenant-x', namespace: 'globex', name: 'API_KEY' }, target, { kind: 'other-secret', namespace: 'globex', name: 'API_KEY' }],
    ['the namespace-bound format, not accepted', { namespace: 'acme', name: 'API_KEY' }, target, { kind: 'namespace-bound' }],
    ['the namespace-bound format, accepted', { namespace: 'acme', name: 'API_KEY' }, { ...target, openNamespaceBound: true }, undefined],
    ['the namespace-bound format for another name, accepted or not', { namespace: 'acme', name: 'OTHER' }, { ...target, openNamespaceBound: true }, { kind: 'other-secret', namespace: 'acme', name: 'OTHER' }],
  ])('%s', (_what, claim, t, expected) => {
    expect(sealedMismatch(claim, t)).toEqual(expected);
  });
});
