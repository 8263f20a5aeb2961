import { describe, expect, it } from 'vitest';
import type { OrkaSecret } from '../../../src/api/resource.js';
import { exitCodeOf, outcome, parseTimeout } from '../../../src/cli/wait.js';

const object = (observedGeneration: number, ready?: { status: 'True' | 'False'; reason: string }): OrkaSecret => ({
  metadata: { name: 'a', namespace: 'n', generation: 2 },
  status: { observedGeneration, conditions: ready ? [{ type: 'Ready', ...ready, message: 'm', lastTransitionTime: '' }] : [] },
});

describe('--wait', () => {
  it.each([
    ['Stored', 6],
    ['NotATenant', 2],
    ['SealedForAnotherSecret', 2],
    ['ValueTooLarge', 2],
    ['SourceNotFound', 3],
    ['DecryptFailed', 6],
    ['SomeFutureReason', 6],
  ])('exit code for %s is %i', (reason, code) => {
    expect(exitCodeOf(reason)).toBe(code);
  });

  it('waits until the generation it wrote is reconciled', () => {
    expect(outcome(object(1, { status: 'True', reason: 'Stored' }), 2)).toBeUndefined();
    expect(outcome(object(2), 2)).toBeUndefined();
    expect(outcome(object(2, { status: 'True', reason: 'Stored' }), 2)).toEqual({ ready: true, reason: 'Stored', message: 'm' });
    expect(outcome(object(3, { status: 'False', reason: 'SourceNotFound' }), 2)).toEqual({ ready: false, reason: 'SourceNotFound', message: 'm' });
  });

  it('an update whose new value was refused is not a success, though the previous value is still served (Ready stays True)', () => {
    const refused = outcome(object(2, { status: 'True', reason: 'ValueNotUTF8' }), 2);
    expect(refused).toEqual({ ready: false, reason: 'ValueNotUTF8', message: 'm' });
    expect(exitCodeOf('ValueNotUTF8')).toBe(2);
    expect(exitCodeOf('SourceRefused')).toBe(2);
    expect(exitCodeOf('InvalidSource')).toBe(2);
  });

  it.each([
    ['30s', 30_000],
    ['2m', 120_000],
    ['45', 45_000],
    ['500ms', 500],
  ])('--timeout %s is %i ms', (text, ms) => {
    expect(parseTimeout(text)).toBe(ms);
  });

  it.each(['', 'soon', '0', '-5s', '5 minutes'])('refuses --timeout %j', (text) => {
    expect(() => parseTimeout(text)).toThrow(/is not a duration/);
  });
});
