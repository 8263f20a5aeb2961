import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRedactor, MASK, valueForms } from '../../../src/core/redact.js';
import { StreamRedactor } from '../../../src/core/stream-redact.js';

const SECRET = 'p@ss w/rd+"q"&é-1';
const TOKEN = 'tok_12345';
const VALUES = [SECRET, TOKEN, 'ab'];

/** The stream's whole output for `input` cut into the given pieces; checks the hold-back bound after every push. */
function streamed(values: string[], pieces: Buffer[]): Buffer {
  const r = new StreamRedactor(values);
  const out: Buffer[] = [];
  for (const piece of pieces) {
    out.push(r.push(piece));
    expect(r.held).toBeLessThanOrEqual(r.maxHold);
  }
  out.push(r.end());
  expect(r.held).toBe(0);
  return Buffer.concat(out);
}

/** What `redact` makes of the whole text at once, as bytes. */
const batch = (values: string[], text: string) => Buffer.from(createRedactor(values).redact(text), 'utf8');

const split = (buf: Buffer, at: number[]) => [0, ...at, buf.length].slice(1).map((end, i, ends) => buf.subarray(i === 0 ? 0 : ends[i - 1], end));

describe('StreamRedactor', () => {
  const texts: Array<[string, string]> = [
    ['the value', `key=${SECRET}\n`],
    ['JSON-escaped', `${JSON.stringify({ v: SECRET })}\n`],
    ['URL-encoded', `GET /?q=${encodeURIComponent(SECRET)} HTTP/1.1\n`],
    ['base64', `Authorization: Basic ${Buffer.from(`u:${SECRET}`).toString('base64')}\n`],
    ['hex', `${Buffer.from(SECRET).toString('hex')}\n`],
    ['two values adjacent', `${TOKEN}${TOKEN} and ${SECRET}${TOKEN}`],
    ['a short value', 'ab cd ab\n'],
    ['no value', 'nothing to see here\n'],
  ];

  it.each(texts)('masks %s split at every offset as redact does on the whole text', (_name, text) => {
    const input = Buffer.from(text, 'utf8');
    const expected = batch(VALUES, text);
    expect(expected.toString()).not.toBe(text === 'nothing to see here\n' ? 'x' : text);
    for (let at = 0; at <= input.length; at++) expect(streamed(VALUES, split(input, [at])).toString(), `split at ${at}`).toBe(expected.toString());
    // And one byte at a time.
    expect(streamed(VALUES, split(input, Array.from({ length: input.length - 1 }, (_, i) => i + 1))).toString()).toBe(expected.toString());
  });

  it('masks a value split across three chunks at every pair of offsets', () => {
    const input = Buffer.from(`[${SECRET}]`, 'utf8');
    for (let a = 0; a <= input.length; a++) {
      for (let b = a; b <= input.length; b++) expect(streamed(VALUES, split(input, [a, b])).toString(), `${a},${b}`).toBe(`[${MASK}]`);
    }
  });

  it('passes binary (non-UTF-8) output through unchanged except for the masked value', () => {
    // Bytes that are not UTF-8 at all (lone continuation bytes, 0xff), around the value's UTF-8 bytes.
    const before = Buffer.from([0xff, 0xfe, 0x80, 0x00, 0xc3, 0x0a, 0xbf]);
    const after = Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x82, 0x0a, 0xff]);
    const input = Buffer.concat([before, Buffer.from(SECRET, 'utf8'), after]);
    const expected = Buffer.concat([before, Buffer.from(MASK), after]);
    for (let at = 0; at <= input.length; at++) expect(streamed(VALUES, split(input, [at])).equals(expected), `split at ${at}`).toBe(true);
    // Random bytes with no value in them come out byte for byte.
    const noise = randomBytes(256 * 1024);
    expect(streamed([TOKEN], split(noise, [1000, 70_000, 70_001])).equals(noise)).toBe(true);
  });

  it('masks in a long line (1 MiB, no newline) fed in pipe-sized chunks', () => {
    const line = `${'x'.repeat(500_000)}${SECRET}${'y'.repeat(300_000)}${Buffer.from(TOKEN).toString('base64')}${'z'.repeat(248_000)}`;
    const input = Buffer.from(line, 'utf8');
    const cuts = Array.from({ length: Math.floor(input.length / 65_536) }, (_, i) => (i + 1) * 65_536).filter((c) => c < input.length);
    // A chunk boundary inside the value, too.
    cuts.push(500_005);
    cuts.sort((a, b) => a - b);
    expect(streamed(VALUES, split(input, cuts)).toString()).toBe(batch(VALUES, line).toString());
  });

  it.each([
    ['a complete line', 'no value on this line\n', 0],
    ['a line ending in the start of a value', `log: ${TOKEN.slice(0, 4)}`, 4],
    ['the start of a value, then a newline', `log: ${TOKEN.slice(0, 4)}\n`, 0],
    ['the start of the longest form, beyond the anchor', `x ${SECRET.slice(0, 12)}`, 12],
    ['text that cannot start a form', 'plain text without newline', 0],
  ])('holds back only what may start a form: %s', (_name, text, held) => {
    const r = new StreamRedactor(VALUES);
    const out = r.push(Buffer.from(text, 'utf8'));
    expect(r.held).toBe(Buffer.byteLength(text.slice(text.length - held)));
    expect(out.toString()).toBe(text.slice(0, text.length - held));
  });

  it('holds a line that may be the start of a value holding a newline', () => {
    const multi = 'first-line\nsecond-line';
    const r = new StreamRedactor([multi]);
    expect(r.push(Buffer.from('x first-line\n')).toString()).toBe('x ');
    expect(Buffer.concat([r.push(Buffer.from('second-line\n')), r.end()]).toString()).toBe(`${MASK}\n`);
  });

  it('never holds more than the longest form minus one byte, whatever the input', () => {
    const r = new StreamRedactor(VALUES);
    const longest = Math.max(...VALUES.flatMap((v) => valueForms(v).map((f) => Buffer.byteLength(f))));
    expect(r.maxHold).toBe(longest - 1);
    // A long run of the value's own prefix: every tail could start it.
    for (let i = 0; i < 200; i++) {
      r.push(Buffer.from(SECRET.slice(0, 1 + (i % (SECRET.length - 1)))));
      expect(r.held).toBeLessThanOrEqual(r.maxHold);
    }
  });

  it('agrees with redact on random texts made of values, their forms and fragments, cut anywhere', () => {
    const values = ['s3cr3t-v4lue', 'tok_12345', 'ab', 'pässwörd/+&'];
    const pieces = [...values.flatMap((v) => valueForms(v)), ...values.map((v) => v.slice(0, 3)), 'x', ' ', '\n', 'abc', '%', '\\'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 5 }), (parts, rawCuts) => {
        const text = parts.join('');
        const input = Buffer.from(text, 'utf8');
        const cuts = [...new Set(rawCuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
        expect(streamed(values, split(input, cuts)).toString()).toBe(batch(values, text).toString());
      }),
      { numRuns: 300 },
    );
  });
});
