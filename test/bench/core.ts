/**
 * `make bench` part 1: the pure core against the plainest code that does the same job.
 *   template rendering      vs String.prototype.replaceAll of each reference (same input)
 *   opening a stored value  vs a bare createDecipheriv AES-256-GCM decrypt of the same bytes
 *   opening a short value   with the data key as raw bytes (baseline) vs as a KeyObject made once
 *   redacting 1 MiB         vs replaceAll of every form of every value (the same job, same answer)
 *   redacting, 1..1000 values vs the redactor with 1 value (how it scales)
 */
import { createDecipheriv, randomBytes } from 'node:crypto';
import { aesKey, decryptValue, encryptValue, generateDataKey } from '../../src/core/envelope.js';
import { createRedactor, MASK, valueForms } from '../../src/core/redact.js';
import { references, render } from '../../src/core/template.js';
import { runGroups, type Group } from './table.js';

const NAMES = ['API_KEY', 'DB_PASSWORD', 'WEBHOOK_URL', 'TOKEN', 'SIGNING_SECRET'];
const values = new Map(NAMES.map((n, i) => [n, `value-${i}-${randomBytes(8).toString('hex')}`]));

/** About 1 KiB of workflow-step JSON text with the five references. */
function document1k(): string {
  const refs = NAMES.map((n) => `{{ secrets.${n} }}`);
  let doc = `{"url":"https://api.example.com/v1/items?key=${refs[0]}","headers":{"Authorization":"Bearer ${refs[3]}","X-Trace":"{{ $json.traceId }}"},"body":{"password":"${refs[1]}","hook":"${refs[2]}","sig":"${refs[4]}","note":"`;
  while (doc.length < 1000) doc += 'lorem ipsum dolor sit amet ';
  return `${doc.slice(0, 1021)}"}}`;
}

function replaceAllBaseline(text: string): string {
  let out = text;
  for (const [name, value] of values) out = out.replaceAll(`{{ secrets.${name} }}`, value);
  return out;
}

const doc1k = document1k();
const doc1m = doc1k.repeat(1024);
// The two must agree, or the comparison means nothing.
if (render(doc1k, values) !== replaceAllBaseline(doc1k)) throw new Error('render and baseline disagree');

const dataKey = { id: 'dk', key: generateDataKey() };
const plain = randomBytes(1024);
const stored = encryptValue({ dataKey, tenant: 'acme', name: 'API_KEY', version: 1, value: plain });
const aad = Buffer.concat([stored.subarray(0, 5), Buffer.from('acme/API_KEY/1')]);
const body = stored.subarray(5);
function bareDecrypt(): Buffer {
  const d = createDecipheriv('aes-256-gcm', dataKey.key, body.subarray(0, 12));
  d.setAAD(aad);
  d.setAuthTag(body.subarray(body.length - 16));
  return Buffer.concat([d.update(body.subarray(12, body.length - 16)), d.final()]);
}
if (!bareDecrypt().equals(plain)) throw new Error('bare decrypt baseline is wrong');
// A typical secret (40 bytes): here the key's import, not AES, is most of the work.
const dataKeyObject = aesKey(dataKey.key);
const short = encryptValue({ dataKey, tenant: 'acme', name: 'API_KEY', version: 1, value: randomBytes(40) });

const secretValues = Array.from({ length: 1000 }, (_, i) => `sk_${i}_${randomBytes(12).toString('base64url')}`);
const words = 'the quick brown fox jumps over the lazy dog while a workflow step logs its request ';
let text1m = '';
while (text1m.length < 1024 * 1024) text1m += words;
// Plant a few values so there is something to mask.
text1m = `${text1m.slice(0, 1000)}${secretValues[0]}${text1m.slice(1000, 500_000)}${secretValues[999]}${text1m.slice(500_000, 1024 * 1024 - 100)}`;
const redactors = [1, 100, 1000].map((n) => ({ n, r: createRedactor(secretValues.slice(0, n)) }));
/** The same job done plainly: every form of every value masked with replaceAll, one form at a time. */
function replaceAllRedact(n: number): () => string {
  const forms = [...new Set(secretValues.slice(0, n).flatMap((v) => valueForms(v)))].sort((a, b) => b.length - a.length);
  return () => forms.reduce((text, form) => text.replaceAll(form, MASK), text1m);
}
const plainRedacts = new Map([1, 100].map((n) => [n, replaceAllRedact(n)]));
// Same job, same answer on this text (no overlapping values in it), or the comparison means nothing.
for (const [n, plainRedact] of plainRedacts) {
  if (plainRedact() !== redactors.find((x) => x.n === n)?.r.redact(text1m)) throw new Error(`redact and its baseline disagree for ${n} values`);
}

const groups: Group[] = [
  {
    title: 'template 1 KiB, 5 refs',
    cases: [
      { name: 'replaceAll x5', fn: () => replaceAllBaseline(doc1k), bytes: doc1k.length },
      { name: 'render', fn: () => render(doc1k, values), bytes: doc1k.length },
      { name: 'references', fn: () => references(doc1k), bytes: doc1k.length },
    ],
  },
  {
    title: 'template 1 MiB, 5120 refs',
    cases: [
      { name: 'replaceAll x5', fn: () => replaceAllBaseline(doc1m), bytes: doc1m.length },
      { name: 'render', fn: () => render(doc1m, values), bytes: doc1m.length },
    ],
  },
  {
    title: 'open stored value 1 KiB',
    cases: [
      { name: 'createDecipheriv', fn: bareDecrypt },
      { name: 'decryptValue', fn: () => decryptValue({ dataKeys: () => dataKey.key, tenant: 'acme', name: 'API_KEY', version: 1, stored }) },
    ],
  },
  {
    title: 'open stored value 40 B',
    cases: [
      { name: 'decryptValue, raw Buffer key', fn: () => decryptValue({ dataKeys: () => dataKey.key, tenant: 'acme', name: 'API_KEY', version: 1, stored: short }) },
      { name: 'decryptValue, KeyObject made once', fn: () => decryptValue({ dataKeys: () => dataKeyObject, tenant: 'acme', name: 'API_KEY', version: 1, stored: short }) },
    ],
  },
  // Each group compares the redactor with the plain way of doing the same job (every form of
  // every value masked); at 1000 values only the redactor runs (the plain way takes seconds).
  ...[1, 100].map((n) => {
    const r = redactors.find((x) => x.n === n)?.r as (typeof redactors)[number]['r'];
    return {
      title: `redact 1 MiB, ${n} value${n > 1 ? 's' : ''} (${r.patternCount} forms)`,
      cases: [
        { name: 'replaceAll of every form', fn: plainRedacts.get(n) as () => string, bytes: text1m.length },
        { name: 'redact (one pass)', fn: () => r.redact(text1m), bytes: text1m.length },
      ],
    };
  }),
  {
    title: 'redact 1 MiB, by number of values',
    cases: redactors.map(({ n, r }) => ({ name: `redact, ${n} values (${r.patternCount} forms)`, fn: () => r.redact(text1m), bytes: text1m.length })),
  },
];

console.log(`core benchmarks, Node ${process.version}`);
await runGroups(groups);
