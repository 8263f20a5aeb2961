import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../../src/core/redact.js';
import { AWKWARD, canaries, findLeaks, leakForms } from '../../env/canary.js';

// The leak finder is the oracle of every "no value anywhere" test: it keeps its own list of
// encodings, and the product's redactor must mask each of them.
const values = [
  canaries('UNIT').make('awkward'),
  `päss-wörd-✓-${AWKWARD}-tail`,
  "it's <b>&amp; \\ \"quoted\" line\nnext",
  'Zm9vYmFy-short-ascii',
  "it's a 'single-quoted' key",
];

describe('the leak finder', () => {
  it.each(values)('finds every form of %j it lists, and none in text that does not hold one', (value) => {
    const forms = leakForms(value);
    expect(forms.length).toBeGreaterThanOrEqual(8);
    for (const form of forms) expect(findLeaks(`line before ${form} line after`, [value]), form).toHaveLength(1);
    expect(findLeaks('an ordinary log line with a CONTROL value', [value])).toEqual([]);
  });

  it('lists the forms a test cannot afford to miss, each computed without the product', () => {
    const value = 'a/b+c"d&e';
    const forms = leakForms(value);
    for (const expected of [
      'a/b+c\\"d&e', // JSON
      'a/b+c\\\\\\"d&e', // JSON twice
      'a/b+c\\"d\\u0026e', // Go
      'a%2Fb%2Bc%22d%26e', // percent
      'a%2fb%2bc%22d%26e', // percent, lower case
      Buffer.from(value).toString('hex'),
      Buffer.from(value).toString('hex').toUpperCase(),
      Buffer.from(value).toString('base64'),
      Buffer.from(value).toString('base64url'),
    ])
      expect(forms).toContain(expected);
  });

  it.each(values)('every form of %j is masked by the redactor, alone and inside a longer blob', (value) => {
    const redactor = createRedactor([value]);
    for (const form of leakForms(value)) {
      const masked = redactor.redact(`{"msg":"sent ${form} to the server"}`);
      expect(findLeaks(masked, [value]), `form ${JSON.stringify(form)} survived: ${masked}`).toEqual([]);
    }
    // Inside a longer base64 blob at each alignment (a Basic auth header).
    for (const lead of ['', 'u', 'us']) {
      const blob = Buffer.from(`${lead}:${value}:trailer`).toString('base64');
      expect(findLeaks(redactor.redact(`Authorization: Basic ${blob}`), [value])).toEqual([]);
    }
  });
});
