import { describe, expect, it } from 'vitest';
import { CliError } from '../../../src/cli/errors.js';
import { parseSecretName } from '../../../src/cli/names.js';

describe('parseSecretName', () => {
  it.each([
    ['STRIPE_API_KEY', 'STRIPE_API_KEY'],
    ['stripe-api-key', 'STRIPE_API_KEY'],
    ['A1', 'A1'],
    ['a1', 'A1'],
  ])('accepts %s as %s', (raw, expected) => {
    expect(parseSecretName(raw)).toBe(expected);
  });

  it.each([
    ['api_key', /did you mean API_KEY\?/],
    ['Api_Key', /did you mean API_KEY\?/],
    ['Stripe-Api-Key', /did you mean STRIPE_API_KEY\?/],
    ['BAD NAME!', /" " at position 4/],
    ['bad name', /must start with an upper-case letter/],
    ['', /must not be empty/],
  ])('refuses %j with exit 2', (raw, message) => {
    let err: unknown;
    try {
      parseSecretName(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    expect((err as CliError).message).toMatch(message);
    expect((err as CliError).message).toMatch(/upper-case letters, digits and single underscores/);
  });
});
