import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRedactor, MASK, MIN_DERIVED, ValueMatcher, valueForms } from '../../../src/core/redact.js';

const secret = 'p@ss w/rd+"q"&é';

describe('createRedactor', () => {
  const r = createRedactor([secret, 'tok_12345']);

  it.each([
    ['raw', `x=${secret};`],
    ['JSON-escaped', JSON.stringify({ v: secret })],
    ['URL-encoded', `https://h/?q=${encodeURIComponent(secret)}`],
    ['form-encoded', new URLSearchParams({ q: secret }).toString()],
    ['base64', `data ${Buffer.from(secret).toString('base64')} end`],
    ['base64url', Buffer.from(secret).toString('base64url')],
  ])('masks the %s form', (_form, text) => {
    const out = r.redact(text);
    expect(out).toContain(MASK);
    for (const form of valueForms(secret)) expect(out).not.toContain(form);
  });

  it('masks a value inside a longer base64 blob at every alignment (Basic auth)', () => {
    for (const user of ['u', 'us', 'usr']) {
      const header = `Authorization: Basic ${Buffer.from(`${user}:tok_12345`).toString('base64')}`;
      const out = r.redact(header);
      expect(out).toContain(MASK);
      // What is left of the blob cannot decode back to the value.
      expect(Buffer.from(out.split('Basic ')[1]!.replace(MASK, ''), 'base64').toString()).not.toContain('tok_12345');
    }
  });

  it('leaves text without values unchanged and merges overlapping or adjacent matches into one mask', () => {
    expect(r.redact('nothing here')).toBe('nothing here');
    expect(r.redact('')).toBe('');
    const overlapping = createRedactor(['abcdef', 'cd', 'efgh']);
    expect(overlapping.redact('xxabcdefghyy')).toBe(`xx${MASK}yy`);
    expect(overlapping.redact('cdcd-cd')).toBe(`${MASK}-${MASK}`);
    // A long match that starts before an earlier, already closed span still wins.
    const nested = createRedactor(['bc', 'ef', 'abcdefg']);
    expect(nested.redact('zabcdefgz')).toBe(`z${MASK}z`);
  });

  it('ignores empty values and masks nothing when given none', () => {
    expect(createRedactor(['']).redact('abc')).toBe('abc');
    expect(createRedactor([]).patternCount).toBe(0);
  });

  it('uses a custom mask', () => {
    expect(createRedactor(['tok_12345'], '***').redact('a tok_12345 b')).toBe('a *** b');
  });
});

describe('policy', () => {
  it.each([
    ['Python json.dumps (ensure_ascii)', 'pä&<ss-wörd', (v: string) => JSON.stringify(v).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)],
    ['Go encoding/json', 'p&ss<w>rd-1', (v: string) => JSON.stringify(v).replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)],
    ['upper-case \\u escapes (Java)', 'pä&ss-wörd', (v: string) => JSON.stringify(v).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`)],
    ['JSON escaped twice (a JSON log line holding a JSON body)', 'p"ss\\w/rd', (v: string) => JSON.stringify(JSON.stringify({ token: v }))],
    ['lower-case percent-encoding', 'p@ss w/rd+é', (v: string) => encodeURIComponent(v).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())],
    ['lower-case form encoding', 'p@ss w/rd+é', (v: string) => new URLSearchParams({ q: v }).toString().replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())],
  ])('masks the %s form', (_form, value, encode) => {
    const text = `log ${encode(value)} end`;
    expect(text).not.toContain(value);
    const out = createRedactor([value]).redact(text);
    expect(out).toContain(MASK);
    expect(out).not.toContain(encode(value).replaceAll('"', '').replace(/^\\?/, ''));
  });

  it('masks a very short value itself but no derived form shorter than MIN_DERIVED', () => {
    expect(MIN_DERIVED).toBe(6);
    expect(valueForms('e')).toEqual(['e']);
    for (const v of ['e', 'an', 'the', 'abc']) for (const f of valueForms(v).slice(1)) expect(f.length).toBeGreaterThanOrEqual(MIN_DERIVED);
    const r = createRedactor(['abc']);
    // base64 of "abc" is YWJj: too short to be told from ordinary text.
    expect(r.redact('YWJj and abc')).toBe(`YWJj and ${MASK}`);
  });
});

describe('memory and updates', () => {
  it('holds values of the maximum size (64 KiB) in a 64 MB heap and masks them (one used to exhaust 160 MB)', async () => {
    // A worker thread with its own heap limit: running out ends the worker, not the test run.
    // Node strips the module's types itself (it imports nothing).
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.file).then((m) => {
        const values = [];
        for (let i = 0; i < 8; i++) {
          let v = i + ':';
          while (v.length < 65536) v += Math.random().toString(36).slice(2) + 'é"&<';
          values.push(v.slice(0, 65536));
        }
        const r = m.createRedactor(values);
        const text = 'a ' + values[0] + ' b ' + encodeURIComponent(values[7]) + ' c ' + Buffer.from(values[3]).toString('base64');
        parentPort.postMessage(r.redact(text));
      });`;
    const file = fileURLToPath(new URL('../../../src/core/redact.ts', import.meta.url));
    const worker = new Worker(code, { eval: true, workerData: { file }, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    const outcome = await new Promise<string>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(outcome).toBe(`a ${MASK} b ${MASK} c ${MASK}`);
  });

  it('adds and removes values one at a time; a form shared by two values stays until both are gone', () => {
    const m = new ValueMatcher();
    const a = m.add('secret-one');
    const b = m.add('secret-one');
    const c = m.add('other-secret');
    expect(m.redact('secret-one other-secret')).toBe(`${MASK} ${MASK}`);
    m.remove(a);
    expect(m.redact('secret-one')).toBe(MASK);
    m.remove(b);
    expect(m.redact('secret-one other-secret')).toBe(`secret-one ${MASK}`);
    m.remove(c);
    expect(m.patternCount).toBe(0);
    expect(m.redact('secret-one other-secret')).toBe('secret-one other-secret');
  });
});

/** The obvious quadratic redactor: mark every occurrence of every form, then mask each run. */
function naiveRedact(values: string[], text: string): string {
  const covered = new Uint8Array(text.length + 1);
  for (const form of values.flatMap(valueForms)) {
    for (let at = text.indexOf(form); at >= 0; at = text.indexOf(form, at + 1)) covered.fill(1, at, at + form.length);
  }
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (!covered[i]) out += text[i];
    else if (i === 0 || !covered[i - 1]) out += MASK;
  }
  return out;
}

describe('properties', () => {
  const unit = fc.constantFrom('a', 'b', 'c', '"', '%', '=', '/', '+', 'Y', 'W', 'J', 'i');
  const value = fc.string({ unit, minLength: 1, maxLength: 8 });

  it('masks exactly what the obvious quadratic algorithm masks', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 6 }), fc.array(fc.oneof(value, fc.string({ unit, maxLength: 6 })), { maxLength: 12 }), (values, chunks) => {
        const text = chunks.join('');
        expect(createRedactor(values).redact(text)).toBe(naiveRedact(values, text));
      }),
      { numRuns: 1500 },
    );
  });

  it('stays exact on text made of a value repeated (where the scan takes the prefix hashes)', () => {
    // Every window is a candidate: hashing each one in full would cost text x value; past a few
    // times the text's length the scan takes the prefix hashes instead.
    const values = ['a'.repeat(40), `${'ab'.repeat(20)}c`];
    for (const text of [`${'a'.repeat(5000)}b${'a'.repeat(39)}`, `x${'ab'.repeat(3000)}c${'ab'.repeat(19)}a`]) {
      expect(createRedactor(values).redact(text)).toBe(naiveRedact(values, text));
    }
    expect(createRedactor(['a'.repeat(4096)]).redact('a'.repeat(100_000))).toBe(MASK);
  });

  it('leaves no raw value in the output', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 3, maxLength: 16 }), { minLength: 1, maxLength: 5 }), fc.string(), (values, filler) => {
        const text = values.map((v) => `${filler}${v}`).join(' ');
        const out = createRedactor(values).redact(text);
        for (const v of values) if (!MASK.includes(v)) expect(out).not.toContain(v);
      }),
    );
  });
});
