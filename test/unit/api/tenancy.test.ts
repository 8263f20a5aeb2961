import { describe, expect, it } from 'vitest';
import { tenancyOf } from '../../../src/api/tenancy.js';

const tenantLabel = { 'orka.io/tenant': 'acme' };

describe('tenancyOf', () => {
  it.each([
    ['a labelled namespace', 'acme', tenantLabel, { tenant: true }],
    ['an unlabelled namespace', 'plain', {}, { tenant: false, never: false, reason: 'namespace plain is not a tenant: it needs the label orka.io/tenant' }],
    ['an empty label', 'plain', { 'orka.io/tenant': '' }, { tenant: false, never: false }],
    ['an unknown namespace', 'gone', undefined, { tenant: false, never: false }],
    ["the operator's namespace, even labelled", 'orka-system', tenantLabel, { tenant: false, never: true, reason: expect.stringContaining("operator's own namespace") }],
    ['kube-system, even labelled', 'kube-system', tenantLabel, { tenant: false, never: true, reason: expect.stringContaining('system namespace') }],
    ['any kube-* namespace', 'kube-node-lease', tenantLabel, { tenant: false, never: true }],
  ])('%s', (_what, name, labels, expected) => {
    expect(tenancyOf(name, labels, 'orka-system')).toMatchObject(expected);
  });
});
