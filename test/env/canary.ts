/**
 * Canary values: unique secret values a test plants, then searches for wherever a value must
 * never appear (etcd, logs, events, statuses, CLI output), in every form it could take there.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * Characters that every encoding writes differently (JSON and Go's JSON escape `"` and `&`, URL
 * encoding `/`, `+`, `"` and `&`), so a search for the raw text alone would miss the others.
 */
export const AWKWARD = '/+"&';

/** Makes canaries and remembers every one made. */
export function canaries(prefix = 'CANARY'): { make: (label: string) => string; all: string[] } {
  const all: string[] = [];
  return {
    all,
    make: (label) => {
      const value = `${prefix}-${label}-${randomBytes(8).toString('hex')}${AWKWARD}${randomBytes(8).toString('hex')}`;
      all.push(value);
      return value;
    },
  };
}

/** `\uXXXX` for one UTF-16 unit, in the given hex case. */
const uEscape = (c: string, upper: boolean): string => {
  const hex = c.charCodeAt(0).toString(16).padStart(4, '0');
  return `\\u${upper ? hex.toUpperCase() : hex}`;
};

/** The base64 (std and url) text that encodes `bytes` wherever they sit in a longer byte string: whole, and at each byte alignment the characters made of the value's bits alone. */
function base64Forms(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    // Character i of base64 carries bits [6i, 6i + 6); the value holds bits [8 offset, 8 (offset + length)).
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const core = encoded.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6));
    out.push(core, core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  const whole = bytes.toString('base64');
  out.push(whole, whole.replace(/=+$/, ''), bytes.toString('base64url'));
  return out;
}

/**
 * Every form a value could take in text, written here independently of the product's redactor
 * (src/core/redact.ts): were a form dropped there, the searches of the tests would still see it,
 * and test/unit/env/canary.test.ts checks that the redactor masks every form listed here.
 * JSON as JavaScript writes it, escaped twice (a JSON body in a JSON log line), every non-ASCII
 * character as `\uXXXX` (Python), Go's `<`, `>`, `&` as `\u003c`... (how the apiserver writes
 * custom resources), each `\u` form in both hex cases; YAML single-quoted scalars (double-quoted
 * ones are the JSON form);
 * percent and form URL-encoding in both hex cases; hex in both cases; base64 and base64url whole
 * and inside a longer blob.
 */
export function leakForms(value: string): string[] {
  const json = JSON.stringify(value).slice(1, -1);
  const forms = [value, json, JSON.stringify(json).slice(1, -1)];
  for (const upper of [false, true]) {
    forms.push(json.replace(/[^\x20-\x7e]/g, (c) => uEscape(c, upper)));
    forms.push(json.replace(/[<>&\u2028\u2029]/g, (c) => uEscape(c, upper)));
  }
  // YAML: a double-quoted scalar escapes as JSON does (above); a single-quoted one doubles `'`.
  if (!value.includes('\n')) forms.push(value.replaceAll("'", "''"));
  const bytes = Buffer.from(value, 'utf8');
  const percent = [...bytes].map((b) => (/[A-Za-z0-9\-_.!~*'()]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0').toUpperCase()}`)).join('');
  const form = [...bytes].map((b) => (b === 0x20 ? '+' : /[A-Za-z0-9\-_.*]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0').toUpperCase()}`)).join('');
  const lowerHex = (s: string) => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
  forms.push(percent, lowerHex(percent), form, lowerHex(form));
  forms.push(bytes.toString('hex'), bytes.toString('hex').toUpperCase());
  forms.push(...base64Forms(bytes));
  return [...new Set(forms)].filter((f) => f.length > 0);
}

/** Where each value shows up in `text`, in any of its forms: one line per value found, empty if none. */
export function findLeaks(text: string, values: readonly string[]): string[] {
  const found: string[] = [];
  for (const value of values) {
    const form = leakForms(value).find((f) => text.includes(f));
    if (form !== undefined) found.push(`${value.slice(0, 32)}... found as ${JSON.stringify(form.slice(0, 48))}`);
  }
  return found;
}

/**
 * Everything under /registry, straight from etcd. This apiserver stores Secrets unencrypted, as
 * protobuf (their bytes as they are), and custom resources as JSON: a value written anywhere
 * shows up here in one of the forms `findLeaks` searches.
 */
export function etcdText(etcdUrl: string): string {
  return execFileSync('etcdctl', ['--endpoints', etcdUrl, 'get', '--prefix', '/registry'], { env: { ...process.env, ETCDCTL_API: '3' }, maxBuffer: 512 * 1024 * 1024 }).toString('latin1');
}

/** The selector of OrkaSecret calls of the custom-objects API in a namespace. */
export const osecCoords = (namespace: string) => ({ group: 'orka.io', version: 'v1alpha1', namespace, plural: 'orkasecrets' });

/**
 * A Node script (CommonJS) for a script step: prints the environment's API_KEY and CONTROL (a
 * control canary, not a secret) plain, JSON-escaped, URL- and form-encoded, base64 (alone and in a
 * longer blob) and hex, on stdout and stderr, then `split: ` and API_KEY in two writes 200 ms apart.
 */
export const PRINT_FORMS_SCRIPT = `
const forms = (v) => [v, JSON.stringify(v), encodeURIComponent(v), new URLSearchParams({ q: v }).toString(), Buffer.from(v).toString('base64'), Buffer.from('u:' + v).toString('base64'), Buffer.from(v).toString('hex')];
const { API_KEY, CONTROL } = process.env;
for (const v of [API_KEY, CONTROL]) { console.log(forms(v).join(' | ')); console.error(forms(v).join(' | ')); }
process.stdout.write('split: ' + API_KEY.slice(0, 10));
setTimeout(() => process.stdout.write(API_KEY.slice(10) + ' end\\n'), 200);
`;

/**
 * A workflow for the reference runner (examples/workflow-runner) using the secret API_KEY: an http
 * step POSTing it (header and body, with the control canary) to `url`, a script step running
 * `run` (PRINT_FORMS_SCRIPT) with API_KEY and CONTROL in its environment, and a last step.
 */
export function canaryWorkflow(args: { url: string; control: string; run: string }): string {
  return `steps:
  - name: call
    http:
      method: POST
      url: ${args.url}
      headers:
        Authorization: Bearer {{ secrets.API_KEY }}
      body:
        token: "{{secrets.API_KEY}}"
        control: ${JSON.stringify(args.control)}
  - name: script
    script:
      env:
        API_KEY: "{{secrets.API_KEY}}"
        CONTROL: ${JSON.stringify(args.control)}
      run: ${JSON.stringify(args.run)}
  - name: after
    script:
      run: echo after
`;
}
