/**
 * The pure parts of the dashboard's cluster adapter: Kubernetes failures in words for a person,
 * and OrkaSecrets as rows (never a value, not even the sealed one).
 */
import { describe, expect, it } from 'vitest';
import { statusWords } from '../../../src/dashboard/api.js';
import { clusterError, toRow } from '../../../src/dashboard/cluster.js';
import type { OrkaSecret } from '../../../src/api/resource.js';

const at = { namespace: 'acme', name: 'API_KEY', server: 'https://k8s.example:6443' };

describe('clusterError', () => {
  it.each([
    [403, 'create', 'FORBIDDEN', 'Kubernetes RBAC does not allow you to create secret API_KEY in namespace acme (verb "create" on orkasecrets.orka.io)'],
    [403, 'delete', 'FORBIDDEN', 'Kubernetes RBAC does not allow you to delete secret API_KEY in namespace acme (verb "delete" on orkasecrets.orka.io)'],
    [409, 'create', 'ALREADY_EXISTS', 'a secret named API_KEY already exists in namespace acme: choose another name, or edit that one'],
    [404, 'update', 'SECRET_NOT_FOUND', 'secret API_KEY in namespace acme could not be found (deleted meanwhile?)'],
    [401, 'list', 'UNAUTHENTICATED', 'the cluster did not accept your credentials (expired or revoked?): sign in again'],
    [undefined, 'list', 'UPSTREAM_UNAVAILABLE', 'the cluster at https://k8s.example:6443 cannot be reached; check that it is up and that your kubeconfig points at it'],
  ] as const)('HTTP %s on %s is %s', (code, verb, expected, message) => {
    const err = clusterError(Object.assign(new Error('connect ECONNREFUSED'), code === undefined ? {} : { code }), { ...at, verb });
    expect(err.code).toBe(expected);
    expect(err.message).toBe(message);
    if (code === 403) expect(err.details.verb).toBe(verb);
  });

  it("quotes the apiserver's own refusal for invalid objects", () => {
    const err = clusterError({ code: 422, body: JSON.stringify({ message: 'OrkaSecret "x" is invalid: spec.description: Too long' }) }, { ...at, verb: 'create' });
    expect(err).toMatchObject({ code: 'INVALID_REQUEST', message: 'the cluster refused it: OrkaSecret "x" is invalid: spec.description: Too long' });
  });
});

describe('toRow', () => {
  const base: OrkaSecret = {
    metadata: { name: 'stripe-api-key', namespace: 'acme', generation: 2, creationTimestamp: new Date('2026-11-01T00:00:00Z') },
    spec: { description: 'Stripe', sealedValue: 'U0VBTEVE' },
    status: {
      observedGeneration: 2,
      version: 3,
      reference: '{{secrets.STRIPE_API_KEY}}',
      usage: { lastResolvedAt: '2026-11-27T10:00:00Z', resolveCount: 4 },
      conditions: [{ type: 'Ready', status: 'True', reason: 'Stored', message: 'stored', lastTransitionTime: '' }],
    },
  };

  it('shows names, dates, status and usage, and no sealed value', () => {
    const row = toRow(base);
    expect(row).toEqual({
      name: 'STRIPE_API_KEY',
      description: 'Stripe',
      created: '2026-11-01T00:00:00.000Z',
      reference: '{{secrets.STRIPE_API_KEY}}',
      status: 'Ready',
      ready: true,
      lastUsed: '2026-11-27T10:00:00Z',
      version: 3,
    });
    expect(JSON.stringify(row)).not.toContain('U0VBTEVE');
  });

  it('says Pending until the operator has seen the current generation, and the reason in words otherwise', () => {
    expect(toRow({ ...base, metadata: { ...base.metadata, generation: 3 } })).toMatchObject({ status: 'Pending', ready: false });
    const failed = toRow({ ...base, status: { ...base.status, conditions: [{ type: 'Ready', status: 'False', reason: 'SealedForAnotherSecret', message: 'sealed for acme/OTHER', lastTransitionTime: '' }] } });
    expect(failed).toMatchObject({ status: 'Sealed for another secret', ready: false, statusMessage: 'sealed for acme/OTHER' });
  });

  it.each([
    ['Stored', 'Ready'],
    ['NotATenant', 'Namespace is not a tenant'],
    ['SomeNewReason', 'Some New Reason'],
    [undefined, 'Pending'],
  ])('reason %s reads %s', (reason, words) => {
    expect(statusWords(reason)).toBe(words);
  });
});
