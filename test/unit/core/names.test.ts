import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isOrkaError } from '../../../src/core/errors.js';
import {
  isNamespaceName,
  isSecretDataKey,
  isSecretObjectName,
  assertSecretName,
  checkObjectName,
  checkSecretName,
  MAX_NAME_LENGTH,
  referenceOf,
  toObjectName,
  secretNamesOf,
  toSecretName,
} from '../../../src/core/names.js';

describe('checkSecretName', () => {
  it.each(['A', 'API_KEY', 'STRIPE_API_KEY', 'A1', 'X_1_2', 'V2_TOKEN', 'A'.repeat(MAX_NAME_LENGTH)])('accepts %s', (name) => {
    expect(checkSecretName(name)).toEqual({ ok: true });
  });

  it.each([
    ['', 'empty', 'must not be empty'],
    ['A'.repeat(MAX_NAME_LENGTH + 1), 'too-long', 'at most 63'],
    ['1ABC', 'first-character', 'must start with an upper-case letter'],
    ['_ABC', 'first-character', 'must start with an upper-case letter'],
    ['api_key', 'first-character', 'must start with an upper-case letter'],
    ['API_key', 'character', '"k" at position 5'],
    ['API-KEY', 'character', '"-" at position 4'],
    ['API KEY', 'character', '" " at position 4'],
    ['API_KEY_', 'separator', 'must not end with an underscore'],
    ['API__KEY', 'separator', 'two underscores in a row at position 4'],
    ['APÏ', 'character', 'position 3'],
  ])('refuses %j by rule %s', (name, rule, message) => {
    const result = checkSecretName(name);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rule).toBe(rule);
    expect(result.message).toContain(message);
  });

  it('matches the documented regular expression on any string', () => {
    const rule = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/;
    const alphabet = fc.constantFrom('A', 'Z', 'a', '0', '9', '_', '-', ' ', '.', 'É');
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 70 }), (name) => {
        expect(checkSecretName(name).ok).toBe(rule.test(name) && name.length <= MAX_NAME_LENGTH);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('object names', () => {
  it.each([
    ['STRIPE_API_KEY', 'stripe-api-key'],
    ['A', 'a'],
    ['V2_TOKEN_3', 'v2-token-3'],
  ])('%s <-> %s', (secret, object) => {
    expect(toObjectName(secret)).toBe(object);
    expect(toSecretName(object)).toBe(secret);
  });

  it.each([
    ['Stripe-api-key', 'must start with a lower-case letter'],
    ['stripe_api_key', '"_" at position 7'],
    ['stripe--key', 'two hyphens in a row'],
    ['stripe-', 'must not end with a hyphen'],
    ['9lives', 'must start with a lower-case letter'],
    ['a'.repeat(64), 'at most 63'],
  ])('refuses the object name %j with the rule', (object, message) => {
    expect(checkObjectName(object).ok).toBe(false);
    expect(() => toSecretName(object)).toThrow(message);
    try {
      toSecretName(object);
    } catch (err) {
      expect(isOrkaError(err, 'INVALID_SECRET_NAME')).toBe(true);
    }
  });

  it('maps one to one: every valid name round-trips and distinct names stay distinct', () => {
    const word = fc.string({ unit: fc.constantFrom(...'ABCXYZ0189'), minLength: 1, maxLength: 6 });
    const secretName = fc
      .tuple(fc.constantFrom(...'ABQZ'), fc.array(word, { maxLength: 5 }))
      .map(([first, words]) => [first, ...words].join('_'))
      .filter((n) => n.length <= MAX_NAME_LENGTH);
    fc.assert(
      fc.property(secretName, secretName, (a, b) => {
        expect(checkSecretName(a).ok).toBe(true);
        expect(toSecretName(toObjectName(a))).toBe(a);
        expect(toObjectName(a) === toObjectName(b)).toBe(a === b);
      }),
    );
  });

  it('never throws anything but INVALID_SECRET_NAME on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (s) => {
        for (const f of [toObjectName, toSecretName, assertSecretName]) {
          try {
            f(s);
          } catch (err) {
            expect(isOrkaError(err, 'INVALID_SECRET_NAME')).toBe(true);
          }
        }
      }),
    );
  });
});

it('builds the reference a workflow writes', () => {
  expect(referenceOf('API_KEY')).toBe('{{secrets.API_KEY}}');
});

describe('Kubernetes names that may be repeated in messages', () => {
  it.each([
    [isNamespaceName, 'acme-prod', true],
    [isNamespaceName, 'a'.repeat(64), false],
    [isNamespaceName, 'Acme', false],
    [isNamespaceName, 'a.b', false],
    [isSecretObjectName, 'db.creds-1', true],
    [isSecretObjectName, '\u001b[31mdb', false],
    [isSecretObjectName, 'a'.repeat(254), false],
    [isSecretDataKey, 'tls.crt', true],
    [isSecretDataKey, 'PASSWORD_1', true],
    [isSecretDataKey, 'pass word', false],
    [isSecretDataKey, 'x\nNormal Stored', false],
  ])('%o(%j) is %s', (fn, input, expected) => {
    expect(fn(input)).toBe(expected);
  });
});

describe('secretNamesOf', () => {
  it('maps OrkaSecret object names to secret names, leaving out those that map to none', () => {
    expect(secretNamesOf(['stripe-api-key', 'Not_An_Object', 'db-password', '-x'])).toEqual(['STRIPE_API_KEY', 'DB_PASSWORD']);
  });
});
