import { describe, expect, it } from 'vitest';
import { MIN_DERIVED } from '../../../src/core/redact.js';
import { CliError } from '../../../src/cli/errors.js';
import { checkValue, stripNewline } from '../../../src/cli/value.js';

function refusal(value: Buffer): CliError {
  try {
    checkValue(value);
  } catch (err) {
    return err as CliError;
  }
  throw new Error('not refused');
}

describe('checkValue', () => {
  it.each([
    ['empty', Buffer.alloc(0), /the value is empty/],
    ['too large', Buffer.alloc(64 * 1024 + 1, 0x61), /65537 bytes; at most 65536/],
    ['not UTF-8 (\\xff\\xfe\\x80)', Buffer.from([0xff, 0xfe, 0x80]), /not UTF-8 text.*base64/],
    ['a truncated multibyte character', Buffer.from('passwörd').subarray(0, 6), /not UTF-8 text/],
    ['a lone surrogate encoded as UTF-8', Buffer.from([0x61, 0xed, 0xa0, 0x80, 0x62, 0x63, 0x64, 0x65, 0x66]), /not UTF-8 text/],
  ])('refuses %s with exit 2', (_what, value, message) => {
    const err = refusal(value);
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(message);
  });

  it('never puts the value in the message', () => {
    const value = Buffer.concat([Buffer.from('CANARY-value-xyz'), Buffer.from([0xff])]);
    expect(refusal(value).message).not.toContain('CANARY');
  });

  it.each([
    ['a long ASCII value', 'sk_live_0123456789'],
    ['multibyte text of the minimum length', 'ключ-пароль'.slice(0, MIN_DERIVED)],
    ['a value with a newline and a NUL', 'line one\nline two\u0000'],
  ])('accepts %s without a warning', (_what, value) => {
    expect(checkValue(Buffer.from(value))).toBeUndefined();
  });

  it.each([
    ['one character', 'x', 1],
    ['just under the minimum', 'x'.repeat(MIN_DERIVED - 1), MIN_DERIVED - 1],
    ['multibyte characters counted as characters, not bytes', 'ключ', 4],
  ])('warns about a very short value: %s', (_what, value, count) => {
    const warning = checkValue(Buffer.from(value));
    expect(warning).toMatch(new RegExp(`very short \\(${count} characters?; fewer than ${MIN_DERIVED}`));
    expect(warning).not.toContain(value);
  });
});

describe('stripNewline', () => {
  it.each([
    ['abc\n', 'abc'],
    ['abc\r\n', 'abc'],
    ['abc\n\n', 'abc\n'],
    ['abc', 'abc'],
    ['', ''],
  ])('%j -> %j', (input, expected) => {
    expect(stripNewline(Buffer.from(input)).toString()).toBe(expected);
  });
});
