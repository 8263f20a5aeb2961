/**
 * The page's status of an OrkaSecret, against the Ready condition the operator writes: green only
 * for a stored, served current value; amber when a new value was refused and the previous one is
 * still served; red when nothing is served; grey Pending until the current spec is decided. The
 * READY and REASON it carries are those of `kubectl get osec`.
 */
import { describe, expect, it } from 'vitest';
import type { Condition, OrkaSecret } from '../../../src/api/resource.js';
import { reasonWords, REFUSED_LABEL, statusOf, troubleshootingLink } from '../../../src/dashboard/status.js';

const object = (ready: Partial<Condition> | undefined, generation = 2, observed = 2): OrkaSecret => ({
  metadata: { name: 'stripe-api-key', namespace: 'acme', generation },
  spec: { sealedValue: 'U0VBTEVE' },
  status: {
    observedGeneration: observed,
    version: 3,
    conditions: ready === undefined ? [] : [{ type: 'Ready', status: 'True', reason: 'Stored', message: '', lastTransitionTime: '', observedGeneration: observed, ...ready }],
  },
});

describe('statusOf', () => {
  it('is green Ready only for a stored value of the current spec', () => {
    expect(statusOf(object({ message: 'stored; reference it as {{secrets.STRIPE_API_KEY}}' }))).toEqual({
      tone: 'ok',
      label: 'Ready',
      ready: 'True',
      reason: 'Stored',
      message: 'stored; reference it as {{secrets.STRIPE_API_KEY}}',
      settled: true,
    });
  });

  it.each(['DecryptFailed', 'SealedForAnotherSecret', 'SealedForAnotherTenant', 'ValueFromNotAuthorized', 'SourceNotFound', 'ValueTooLarge'])(
    'is amber "%s" with Ready True: the update was refused, the previous value is served',
    (reason) => {
      const message = `refused; nothing new was stored: the previous value (version 3) is still served`;
      expect(statusOf(object({ reason, message }))).toEqual({ tone: 'warn', label: REFUSED_LABEL, ready: 'True', reason, message, settled: true });
      expect(REFUSED_LABEL).toBe('Update refused: previous value in use');
    },
  );

  it('is red with the reason in words when Ready is False: nothing is served', () => {
    expect(statusOf(object({ status: 'False', reason: 'SourceNotFound', message: 'Secret stripe does not exist' }))).toEqual({
      tone: 'error',
      label: 'Source Secret not found',
      ready: 'False',
      reason: 'SourceNotFound',
      message: 'Secret stripe does not exist',
      settled: true,
    });
  });

  it('is Pending and unsettled before any condition, and while the condition is about an older spec', () => {
    expect(statusOf(object(undefined))).toMatchObject({ tone: 'pending', label: 'Pending', ready: '', reason: '', settled: false });
    const stale = statusOf(object({}, 3, 2));
    expect(stale).toMatchObject({ tone: 'pending', label: 'Pending', ready: 'True', reason: 'Stored', settled: false });
    expect(stale.message).toMatch(/the value stored before is served meanwhile/);
    expect(statusOf(object({ status: 'False', reason: 'NoValue' }, 3, 2)).message).not.toMatch(/served/);
  });

  it('takes the condition\'s own observedGeneration over the status\'s', () => {
    const o = object({ observedGeneration: 1 }, 2, 2);
    expect(statusOf(o)).toMatchObject({ tone: 'pending', settled: false });
  });

  it('treats Unknown as not settled', () => {
    expect(statusOf(object({ status: 'Unknown', reason: 'Checking' }))).toMatchObject({ tone: 'pending', ready: 'Unknown', reason: 'Checking', settled: false });
  });
});

describe('words and links', () => {
  it.each([
    ['Stored', 'Ready'],
    ['NotATenant', 'Namespace is not a tenant'],
    ['ValueFromNotAuthorized', 'valueFrom not authorized'],
    ['SomeNewReason', 'Some New Reason'],
  ])('reason %s reads %s', (reason, words) => {
    expect(reasonWords(reason)).toBe(words);
  });

  it('links to the reason\'s row of the troubleshooting page the dashboard serves', () => {
    expect(troubleshootingLink('DecryptFailed')).toBe('/docs/troubleshooting.md#:~:text=%60DecryptFailed%60');
    expect(troubleshootingLink('')).toBe('/docs/troubleshooting.md');
  });
});
