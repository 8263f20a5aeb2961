/**
 * The reference syntax: `{{secrets.NAME}}`, with optional spaces inside the braces.
 *
 * Works on a string or on every string value inside any JSON value (object keys are left alone:
 * a key is structure, and a secret there would end up wherever key names are shown). Any other
 * `{{...}}` expression belongs to the workflow engine and is left exactly as it is.
 *
 * An expression is the text from a `{{` to the first `}}` after it; when several `{{` come before
 * that `}}`, the last one opens it (`{{ a {{secrets.X}}` holds the reference `secrets.X`). Scanning
 * uses indexOf/lastIndexOf over disjoint ranges, never a regular expression, so the cost is
 * linear in the input even for hostile text such as a megabyte of `{{`.
 *
 * Rendering is two-phase so that every missing name is reported at once: `references()` lists
 * the names (throwing INVALID_TEMPLATE with the position of the first malformed reference), the
 * caller fetches their values, and `render()` substitutes them or throws SECRET_NOT_FOUND naming
 * every missing one.
 */
import { OrkaError, secretNotFound } from './errors.js';
import { checkSecretName } from './names.js';

/** Nesting deeper than this is refused rather than risking the stack. */
export const MAX_TEMPLATE_DEPTH = 128;

const OPEN = '{{';
const CLOSE = '}}';
const PREFIX = 'secrets.';

/** A reference found in a string: the secret name and where the `{{` stands. */
interface Reference {
  name: string;
  start: number;
  end: number;
}

/** Where a string sits inside a JSON value, in JSONPath-like form (`$.headers.auth`, `$[2]`). */
type Path = string;

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** What a lint (`refs`) hears besides references; the resolver passes none and pays nothing. */
interface Lint {
  /** A malformed reference: the error, where its `{{` stands, and its inside (between the braces). */
  malformed(err: OrkaError, start: number, inside: string): void;
  /** A `{{` that no `}}` closes before the next `{{`, or at all. */
  unclosed(start: number): void;
  /** An expression that is not a reference; its inside is text[from, to). */
  foreign(start: number, from: number, to: number): void;
}

/**
 * Finds the references of one string, calling `onReference` for each in order. A malformed
 * reference throws INVALID_TEMPLATE, unless `lint` is given: then it is reported there and the
 * scan goes on (for tools that list references across many files).
 */
function scan(text: string, path: Path, onReference: (ref: Reference) => void, lint?: Lint): void {
  let from = 0;
  for (;;) {
    const open = text.indexOf(OPEN, from);
    if (open < 0) return;
    const close = text.indexOf(CLOSE, open + OPEN.length);
    // Every `{{` before the one that opens the expression (or all, without a `}}`) is left open.
    const start = close < 0 ? text.length : text.lastIndexOf(OPEN, close - OPEN.length);
    if (lint !== undefined) for (let at = open; at !== -1 && at < start; at = text.indexOf(OPEN, at + 1)) lint.unclosed(at);
    if (close < 0) return; // no `}}` anywhere after: nothing further can be an expression
    let ref: string | undefined;
    try {
      ref = parseExpression(text, start + OPEN.length, close, path, start);
      if (ref === undefined) lint?.foreign(start, start + OPEN.length, close);
    } catch (err) {
      if (lint === undefined || !(err instanceof OrkaError)) throw err;
      lint.malformed(err, start, text.slice(start + OPEN.length, close));
    }
    if (ref !== undefined) onReference({ name: ref, start, end: close + CLOSE.length });
    from = close + CLOSE.length;
  }
}

/**
 * A reference found in plain text: the name, or a malformed one with the rule it breaks (a name
 * rule, `prefix` for `secret.`/`Secrets.`, `unclosed`), what was written (cut before the first
 * character no name has, so `{{secrets.KEY=value}}` shows `secrets.KEY...`; what stands there in
 * name characters is shown, whatever it is) and, when one is a
 * valid name, the reference it probably means. `offset` is where its `{{` stands.
 */
export type FoundReference = { offset: number; name: string } | { offset: number; malformed: string; written: string; suggestion?: string };

/** Longest text shown of a malformed reference. */
const MAX_WRITTEN = 80;

function isNameish(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 45 || c === 46; // A-Z a-z 0-9 _ - .
}

/** The inside of an expression as written, trimmed and cut before the first character no name has. */
function written(inside: string): { text: string; whole: boolean } {
  const t = inside.trim();
  let end = 0;
  while (end < t.length && end < MAX_WRITTEN && isNameish(t.charCodeAt(end))) end++;
  return end === t.length ? { text: t, whole: true } : { text: `${t.slice(0, end)}...`, whole: false };
}

/** `{{secrets.NAME}}` for what a name written as `raw` probably means, when that is a valid name. */
function suggest(raw: string): string | undefined {
  const name = raw.toUpperCase().replace(/[-_]+/g, '_').replace(/^_|_$/g, '');
  return checkSecretName(name).ok ? `{{${PREFIX}${name}}}` : undefined;
}

/** A malformed reference as `findReferences` lists it; `inside` is what stands between its braces. */
function malformedAt(offset: number, rule: string, inside: string): FoundReference {
  const w = written(inside);
  const suggestion = w.whole ? suggest(w.text.slice(w.text.indexOf('.') + 1)) : undefined;
  return { offset, malformed: rule, written: w.text, ...(suggestion === undefined ? {} : { suggestion }) };
}

/** How a reference is misspelt most often: `secrets.` itself parses, these are near misses. */
const MISSPELT_PREFIXES = new Set(['secret.', 'Secret.', 'SECRET.', 'Secrets.', 'SECRETS.']);

/** Whether text[from, to) starts with a misspelt prefix (after spaces). */
function misspeltPrefix(text: string, from: number, to: number): boolean {
  let a = from;
  while (a < to && isSpace(text.charCodeAt(a))) a++;
  if ((text.charCodeAt(a) | 32) !== 115) return false; // most expressions: not an s or S
  const head = text.slice(a, Math.min(a + 8, to));
  return MISSPELT_PREFIXES.has(head) || MISSPELT_PREFIXES.has(head.slice(0, 7));
}

const DOT = 46;
const LOWER_S = 115;
const UPPER_S = 83;

/**
 * Whether raw bytes may hold anything `findReferences` lists: every reference, malformed or
 * misspelt, has `secret.` or `secrets.` in lower, capitalised or upper case. Lets a scan of many
 * files skip decoding the ones that cannot (a byte search is far cheaper than a decode).
 */
export function mayHoldReferences(bytes: Buffer): boolean {
  for (const word of ['ecret', 'ECRET']) {
    for (let at = bytes.indexOf(word); at !== -1; at = bytes.indexOf(word, at + word.length)) {
      const next = bytes[at + word.length];
      if (next === DOT || ((next === LOWER_S || next === UPPER_S) && bytes[at + word.length + 1] === DOT)) return true;
    }
  }
  return false;
}

/**
 * Every reference in a text of any format (JSON, YAML, anything), in order, with its offset;
 * malformed references, and near misses the resolver passes over as foreign expressions
 * (`{{secret.X}}`, an unclosed `{{secrets.X`), are listed instead of stopping the scan.
 */
export function findReferences(text: string): FoundReference[] {
  const found: FoundReference[] = [];
  scan(text, '$', (ref) => found.push({ offset: ref.start, name: ref.name }), {
    malformed: (err, offset, inside) => found.push(malformedAt(offset, String(err.details.rule ?? 'invalid name'), inside)),
    foreign: (offset, from, to) => {
      if (misspeltPrefix(text, from, to)) found.push(malformedAt(offset, 'prefix', text.slice(from, to)));
    },
    unclosed: (offset) => {
      // Only a `{{` followed by `secrets.` is an unclosed reference; any other is the engine's text.
      let a = offset + OPEN.length;
      while (a < text.length && isSpace(text.charCodeAt(a))) a++;
      if (!text.startsWith(PREFIX, a)) return;
      let b = a + PREFIX.length;
      while (b < text.length && b - a < MAX_WRITTEN && isNameish(text.charCodeAt(b))) b++;
      found.push(malformedAt(offset, 'unclosed', text.slice(a, b)));
    },
  });
  return found;
}

/** Parses the inside of one expression; returns the secret name, or undefined for a foreign expression. */
function parseExpression(text: string, from: number, to: number, path: Path, at: number): string | undefined {
  let a = from;
  let b = to;
  while (a < b && isSpace(text.charCodeAt(a))) a++;
  while (b > a && isSpace(text.charCodeAt(b - 1))) b--;
  if (b - a < PREFIX.length || !text.startsWith(PREFIX, a)) return undefined;
  const name = text.slice(a + PREFIX.length, b);
  const check = checkSecretName(name);
  if (!check.ok) {
    const shown = text.slice(at, Math.min(to + CLOSE.length, at + 100));
    throw new OrkaError(
      'INVALID_TEMPLATE',
      `malformed secret reference ${JSON.stringify(shown)} at ${path} offset ${at}: ${check.message}`,
      { path, offset: at, rule: check.rule },
    );
  }
  return name;
}

function childPath(path: Path, key: string | number): Path {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function tooDeep(path: Path): OrkaError {
  return new OrkaError('INVALID_TEMPLATE', `template nests deeper than ${MAX_TEMPLATE_DEPTH} levels at ${path}`, { path });
}

/** Visits every string of a JSON value with its path. */
function eachString(value: unknown, path: Path, depth: number, visit: (s: string, path: Path) => void): void {
  if (typeof value === 'string') return visit(value, path);
  if (value === null || typeof value !== 'object') return;
  if (depth >= MAX_TEMPLATE_DEPTH) throw tooDeep(path);
  if (Array.isArray(value)) {
    value.forEach((item, i) => eachString(item, childPath(path, i), depth + 1, visit));
    return;
  }
  for (const [key, item] of Object.entries(value)) eachString(item, childPath(path, key), depth + 1, visit);
}

/** The distinct secret names referenced anywhere in `template`, in order of first appearance. */
export function references(template: unknown): string[] {
  const names = new Set<string>();
  eachString(template, '$', 0, (s, path) => scan(s, path, (ref) => names.add(ref.name)));
  return [...names];
}

function renderString(text: string, path: Path, values: ReadonlyMap<string, string>): string {
  const parts: string[] = [];
  let last = 0;
  scan(text, path, (ref) => {
    parts.push(text.slice(last, ref.start), values.get(ref.name) as string);
    last = ref.end;
  });
  if (last === 0) return text;
  parts.push(text.slice(last));
  return parts.join('');
}

function renderValue(value: unknown, path: Path, depth: number, values: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return renderString(value, path, values);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_TEMPLATE_DEPTH) throw tooDeep(path);
  if (Array.isArray(value)) return value.map((item, i) => renderValue(item, childPath(path, i), depth + 1, values));
  // fromEntries defines own properties, so a "__proto__" key stays data and never becomes a prototype.
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, renderValue(item, childPath(path, key), depth + 1, values)]),
  );
}

/**
 * Replaces every `{{secrets.NAME}}` in `template` (a string or any JSON value) with its value.
 * Throws SECRET_NOT_FOUND listing every referenced name missing from `values`, or
 * INVALID_TEMPLATE for a malformed reference; the result has the template's shape.
 */
export function render<T>(template: T, values: ReadonlyMap<string, string>): T {
  const missing = references(template).filter((name) => !values.has(name));
  if (missing.length > 0) throw secretNotFound(missing);
  return renderValue(template, '$', 0, values) as T;
}
