import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isOrkaError, type OrkaError } from '../../../src/core/errors.js';
import { MAX_TEMPLATE_DEPTH, references, render } from '../../../src/core/template.js';

const values = new Map([
  ['API_KEY', 'k-123'],
  ['TOKEN', 't$&`\'{{x}}'],
  ['B', 'bee'],
]);

function thrown(f: () => unknown): OrkaError {
  try {
    f();
  } catch (err) {
    if (isOrkaError(err)) return err;
    throw new Error(`expected an OrkaError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected an error');
}

describe('render on strings', () => {
  it.each([
    ['Bearer {{secrets.API_KEY}}', 'Bearer k-123'],
    ['{{ secrets.API_KEY }}', 'k-123'],
    ['{{\tsecrets.API_KEY\n}}', 'k-123'],
    ['{{secrets.API_KEY}}{{secrets.B}}', 'k-123bee'],
    ['a {{secrets.B}} b {{secrets.B}} c', 'a bee b bee c'],
    ['no references', 'no references'],
    ['{{ $json.user }} and {{secrets.B}}', '{{ $json.user }} and bee'],
    ['{{secretsB}} {{ secret.B }} {{secrets}}', '{{secretsB}} {{ secret.B }} {{secrets}}'],
    ['{{{secrets.B}}}', '{bee}'],
    ['{{ a {{secrets.B}}', '{{ a bee'],
    ['unclosed {{secrets.B', 'unclosed {{secrets.B'],
    ['{{}} {{ }}', '{{}} {{ }}'],
    // A value holding replacement patterns or braces is inserted literally and not rescanned.
    ['{{secrets.TOKEN}}', 't$&`\'{{x}}'],
  ])('%j -> %j', (template, expected) => {
    expect(render(template, values)).toBe(expected);
  });

  it.each([
    ['{{secrets.lower}}', 0, 'first-character'],
    ['ab {{secrets.}}', 3, 'empty'],
    ['x{{ secrets.API-KEY }}', 1, 'character'],
    ['{{secrets.A__B}}', 0, 'separator'],
    ['{{secrets.API_KEY | upper}}', 0, 'character'],
  ])('refuses %j as INVALID_TEMPLATE at offset %i', (template, offset, rule) => {
    const err = thrown(() => references(template));
    expect(err.code).toBe('INVALID_TEMPLATE');
    expect(err.details).toMatchObject({ path: '$', offset, rule });
    expect(err.message).toContain(`offset ${offset}`);
  });

  it('reports every missing name in one SECRET_NOT_FOUND error', () => {
    const err = thrown(() => render('{{secrets.MISSING}} {{secrets.API_KEY}} {{secrets.OTHER}} {{secrets.MISSING}}', values));
    expect(err.code).toBe('SECRET_NOT_FOUND');
    expect(err.status).toBe(404);
    expect(err.details.secrets).toEqual(['MISSING', 'OTHER']);
    expect(err.message).toBe('secrets MISSING, OTHER could not be found');
  });

  it('says the contract message for one missing name', () => {
    expect(() => render('{{secrets.GONE}}', values)).toThrow('secret GONE could not be found');
  });
});

describe('render on JSON', () => {
  it('renders every string of nested objects and arrays and keeps the shape', () => {
    const template = {
      url: 'https://api/{{secrets.B}}',
      headers: { Authorization: 'Bearer {{secrets.API_KEY}}', 'X-Expr': '{{ $node.x }}' },
      list: ['{{secrets.B}}', 1, true, null, { deep: ['{{ secrets.TOKEN }}'] }],
      '{{secrets.B}}': 'keys are structure and stay as written',
    };
    expect(render(template, values)).toEqual({
      url: 'https://api/bee',
      headers: { Authorization: 'Bearer k-123', 'X-Expr': '{{ $node.x }}' },
      list: ['bee', 1, true, null, { deep: ['t$&`\'{{x}}'] }],
      '{{secrets.B}}': 'keys are structure and stay as written',
    });
    expect(references(template)).toEqual(['B', 'API_KEY', 'TOKEN']);
  });

  it('passes scalars through', () => {
    expect(render(42, values)).toBe(42);
    expect(render(null, values)).toBe(null);
    expect(render([], values)).toEqual([]);
  });

  it('gives the JSON path of a malformed reference', () => {
    const err = thrown(() => references({ a: [{ 'b c': 'x {{secrets.bad}}' }] }));
    expect(err.details).toMatchObject({ path: '$.a[0]["b c"]', offset: 2 });
  });

  it('keeps a "__proto__" key as data', () => {
    const template = JSON.parse('{"__proto__": {"polluted": "{{secrets.B}}"}}') as unknown;
    const out = render(template, values) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses nesting deeper than the limit with INVALID_TEMPLATE', () => {
    let deep: unknown = '{{secrets.B}}';
    for (let i = 0; i < MAX_TEMPLATE_DEPTH + 1; i++) deep = [deep];
    expect(thrown(() => render(deep, values)).code).toBe('INVALID_TEMPLATE');
    let ok: unknown = '{{secrets.B}}';
    for (let i = 0; i < MAX_TEMPLATE_DEPTH - 1; i++) ok = { a: ok };
    expect(JSON.stringify(render(ok, values))).toContain('bee');
  });
});

describe('properties', () => {
  const literal = fc.string({ maxLength: 12 }).filter((s) => !s.includes('{') && !s.includes('}'));
  const name = fc.constantFrom('API_KEY', 'B', 'TOKEN');
  const piece = fc.oneof(literal.map((text) => ({ text })), fc.tuple(name, fc.constantFrom('', ' ', '  ')).map(([n, pad]) => ({ n, pad })));

  it('renders any mix of literal text and references like plain concatenation', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const template = pieces.map((p) => ('text' in p ? p.text : `{{${p.pad}secrets.${p.n}${p.pad}}}`)).join('');
        const expected = pieces.map((p) => ('text' in p ? p.text : values.get(p.n))).join('');
        expect(render(template, values)).toBe(expected);
      }),
    );
  });

  it('renders any JSON value without changing anything but references', () => {
    // Each generated tree comes with the tree it must render to: strings are literal text (other
    // {{...}} expressions included) mixed with references, at any depth of arrays and objects.
    const text = fc.array(fc.oneof(piece, fc.constantFrom('{{ $json.user }}', '{{secretsB}}').map((text) => ({ text }))), { maxLength: 6 });
    const scalar = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
    type Pair = [template: unknown, expected: unknown];
    const { node } = fc.letrec<{ node: Pair }>((tie) => ({
      node: fc.oneof(
        { maxDepth: 4, depthIdentifier: 'json' },
        text.map((pieces): Pair => [pieces.map((p) => ('text' in p ? p.text : `{{${p.pad}secrets.${p.n}${p.pad}}}`)).join(''), pieces.map((p) => ('text' in p ? p.text : values.get(p.n))).join('')]),
        scalar.map((v): Pair => [v, v]),
        fc.array(tie('node'), { maxLength: 4, depthIdentifier: 'json' }).map((items): Pair => [items.map((i) => i[0]), items.map((i) => i[1])]),
        fc.uniqueArray(fc.tuple(fc.string({ maxLength: 6 }), tie('node')), { maxLength: 4, selector: ([k]) => k, depthIdentifier: 'json' }).map((entries): Pair => [
          Object.fromEntries(entries.map(([k, [t]]) => [k, t])),
          Object.fromEntries(entries.map(([k, [, e]]) => [k, e])),
        ]),
      ),
    }));
    let withReferences = 0;
    fc.assert(
      fc.property(node, ([template, expected]) => {
        if (references(template).length > 0) withReferences++;
        expect(render(template, values)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
    // The property is about references: most generated trees must have had some.
    expect(withReferences).toBeGreaterThan(100);
  });

  it('never crashes and throws only typed errors on hostile input', () => {
    const hostile = fc.string({ unit: fc.constantFrom('{', '}', '{{', '}}', 'secrets.', 'A', 'b', ' ', '_', '.', '$'), maxLength: 60 });
    fc.assert(
      fc.property(hostile, (template) => {
        try {
          const out = render(template, values);
          expect(typeof out).toBe('string');
        } catch (err) {
          expect(isOrkaError(err)).toBe(true);
          expect(['INVALID_TEMPLATE', 'SECRET_NOT_FOUND']).toContain((err as OrkaError).code);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('gets through a megabyte of unmatched braces (linear scan; a quadratic one would time out)', () => {
    expect(render('{{'.repeat(512 * 1024), values)).toHaveLength(1024 * 1024);
    expect(render('{{ '.repeat(100_000) + '}}', values)).toHaveLength(300_002);
    expect(references('{{secrets.B}}'.repeat(50_000))).toEqual(['B']);
  });
});
