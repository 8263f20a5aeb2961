/**
 * Masks secret values in text, including the forms a value takes on its way into a log line:
 * JSON-escaped (as JavaScript writes it, with every non-ASCII character as `\uXXXX` as Python
 * writes it, with `<`, `>`, `&` as `\u003c`... as Go writes it, in both hex cases, and escaped
 * twice, as in a JSON log line holding a JSON body), URL-encoded (percent and form encoding, in
 * both hex cases), YAML single-quoted (a quote doubled), hex (both cases), and base64 / base64url
 * (whole, and the stable middle of the value's encoding at each of the three byte alignments, so
 * the value is caught inside a longer base64 blob such as a Basic auth header).
 *
 * Memory does not grow with the size of a value: a form is kept as a fingerprint (its length and
 * a 64-bit polynomial hash, two 32-bit lanes) indexed by the hash of its first ANCHOR characters,
 * never as text. A scan rolls the hash of ANCHOR characters over the text; each window whose
 * anchor is known is hashed against the candidate forms (by prefix hashes in O(1) each, once that
 * would cost less: the scan stays linear in the text). Values are added and removed one at a time
 * (no rebuild). A hash collision can only mask text that is not a value, never leak one.
 * Overlapping or adjacent matches are merged and masked as one, so no fragment of a value
 * survives between two masks.
 *
 * Policy: the value itself is masked whatever its length; a derived form (an encoding or a base64
 * fragment) shorter than MIN_DERIVED characters is not, since it would match ordinary text and
 * reveal the value by where the masks fall.
 */

/** What a masked span is replaced with. */
export const MASK = '[REDACTED]';

/** Derived forms shorter than this are not masked: they would match ordinary text. */
export const MIN_DERIVED = 6;

/** Length of the anchor that indexes a form; values shorter than this are searched directly. */
const ANCHOR = MIN_DERIVED;

// Two odd multipliers: a 64-bit fingerprint from two 32-bit lanes (arithmetic mod 2^32).
const B1 = 0x9e3779b1;
const B2 = 0x85ebca77;

/** A compiled set of values; `redact` is safe to call concurrently (no state between calls). */
export interface Redactor {
  /** How many distinct patterns (values and their encodings) the matcher holds. */
  readonly patternCount: number;
  /** The text with every occurrence of every form of every value replaced by the mask. */
  redact(text: string): string;
}

/** The base64 text that encodes `value` wherever it sits inside a longer byte string. */
function base64Fragments(value: Buffer): string[] {
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), value]).toString('base64').replace(/=+$/, '');
    // Characters that mix the value's bits with a neighbour's depend on the neighbour: drop them.
    const lead = [0, 2, 3][shift] as number;
    const tailBytes = (shift + value.length) % 3;
    const trail = tailBytes === 0 ? 0 : 1;
    const core = encoded.slice(lead, encoded.length - trail);
    out.push(core, core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return out;
}

const hex4 = (c: string) => `\\u${(c.charCodeAt(0) + 0x10000).toString(16).slice(1)}`;

/** Every way a JSON encoder may escape the value inside a string literal. */
function jsonForms(value: string): string[] {
  const plain = JSON.stringify(value).slice(1, -1);
  // Python (ensure_ascii): everything outside printable ASCII as \uXXXX.
  const ascii = plain.replace(/[^\x20-\x7e]/g, hex4);
  // Go: <, > and & (and U+2028, U+2029) as \uXXXX, the rest as JavaScript writes it.
  const go = plain.replace(/[<>&\u2028\u2029]/g, hex4);
  const upper = (s: string) => s.replace(/\\u([0-9a-f]{4})/g, (_m, h: string) => `\\u${h.toUpperCase()}`);
  // A JSON log line holding a JSON body: escaped twice.
  const twice = JSON.stringify(plain).slice(1, -1);
  return [plain, ascii, go, upper(ascii), upper(go), twice];
}

/** Percent and form encoding, in both hex cases. */
function urlForms(value: string): string[] {
  let percent: string;
  try {
    percent = encodeURIComponent(value);
  } catch {
    return []; // a lone surrogate: not UTF-8 text, has no URL form
  }
  const form = new URLSearchParams({ v: value }).toString().slice(2);
  const lower = (s: string) => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
  return [percent, lower(percent), form, lower(form)];
}

/** Every form of one value that is worth masking: the value, then derived forms of MIN_DERIVED or more characters. */
export function valueForms(value: string): string[] {
  if (value.length === 0) return [];
  const bytes = Buffer.from(value, 'utf8');
  const hex = bytes.toString('hex');
  // YAML single-quoted scalars double a quote (double-quoted ones escape as JSON does).
  const yaml = value.includes("'") && !value.includes('\n') ? [value.replaceAll("'", "''")] : [];
  const derived = [...jsonForms(value), ...urlForms(value), ...yaml, hex, hex.toUpperCase(), bytes.toString('base64'), bytes.toString('base64url'), ...base64Fragments(bytes)];
  return [...new Set([value, ...derived.filter((f) => f.length >= MIN_DERIVED)])];
}

/** The forms of `valueForms`, each as its UTF-8 bytes read as latin1: to match in bytes read that way. */
export function byteForms(value: string): string[] {
  return valueForms(value).map((form) => Buffer.from(form, 'utf8').toString('latin1'));
}

/** A form, by fingerprint. */
export interface Form {
  length: number;
  h1: number;
  h2: number;
  /** B^length in each lane, to hash a window of the text of that length in O(1). */
  p1: number;
  p2: number;
  /** Values holding this form. */
  refs: number;
}

function fingerprint(form: string): Form {
  let h1 = 0;
  let h2 = 0;
  let p1 = 1;
  let p2 = 1;
  for (let i = 0; i < form.length; i++) {
    const c = form.charCodeAt(i);
    h1 = (Math.imul(h1, B1) + c) >>> 0;
    h2 = (Math.imul(h2, B2) + c) >>> 0;
    p1 = Math.imul(p1, B1) >>> 0;
    p2 = Math.imul(p2, B2) >>> 0;
  }
  return { length: form.length, h1, h2, p1, p2, refs: 0 };
}

/** The hash of every prefix of `text`, in each lane. */
function prefixHashes(text: string): [Uint32Array, Uint32Array] {
  const H1 = new Uint32Array(text.length + 1);
  const H2 = new Uint32Array(text.length + 1);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    H1[i + 1] = Math.imul(H1[i]!, B1) + c;
    H2[i + 1] = Math.imul(H2[i]!, B2) + c;
  }
  return [H1, H2];
}

/** Lane-1 hash of a string's first ANCHOR characters. */
function anchorOf(form: string): number {
  let h = 0;
  for (let i = 0; i < ANCHOR; i++) h = (Math.imul(h, B1) + form.charCodeAt(i)) >>> 0;
  return h;
}

const ANCHOR_POW = (() => {
  let p = 1;
  for (let i = 0; i < ANCHOR; i++) p = Math.imul(p, B1) >>> 0;
  return p;
})();

/** What `add` returns, to remove the value later without holding its text. */
export interface ValueHandle {
  readonly forms: ReadonlyArray<readonly [anchor: number, form: Form]>;
  readonly short: readonly string[];
}

/** A value's identity without its text: equal values, equal identities (64-bit hash and length). */
export function valueIdentity(value: string): string {
  const f = fingerprint(value);
  return `${f.length}:${f.h1.toString(36)}:${f.h2.toString(36)}`;
}

/**
 * A mutable set of values to mask: `add` and `remove` cost the size of one value's forms, and
 * memory is a few dozen bytes per form whatever the value's size (no value text is kept).
 */
export class ValueMatcher implements Redactor {
  /** Forms of ANCHOR or more characters, by anchor hash. */
  private readonly anchors = new Map<number, Form[]>();
  /** Quick filter on the anchor hash's top 16 bits: how many forms have it. */
  private readonly filter = new Uint32Array(1 << 16);
  /** Forms shorter than ANCHOR (short values), with how many handles hold each. */
  private readonly short = new Map<string, number>();
  private forms = 0;
  private readonly mask: string;
  private readonly bytes: boolean;

  /**
   * `bytes`: the text to scan is bytes read as latin1 (one character per byte, so output that is
   * not UTF-8 survives), and each form is held as its UTF-8 bytes read the same way.
   */
  constructor(mask: string = MASK, bytes = false) {
    this.mask = mask;
    this.bytes = bytes;
  }

  /** How many distinct patterns are held. */
  get patternCount(): number {
    return this.forms + this.short.size;
  }

  /** Adds a value and its forms; each call is one reference, removed with its handle. */
  add(value: string): ValueHandle {
    const forms: Array<readonly [number, Form]> = [];
    const short: string[] = [];
    if (value.length === 0) return { forms, short };
    for (const text of this.bytes ? byteForms(value) : valueForms(value)) {
      if (text.length < ANCHOR) {
        this.short.set(text, (this.short.get(text) ?? 0) + 1);
        short.push(text);
        continue;
      }
      const anchor = anchorOf(text);
      const print = fingerprint(text);
      let bucket = this.anchors.get(anchor);
      if (bucket === undefined) this.anchors.set(anchor, (bucket = []));
      let held = bucket.find((f) => f.length === print.length && f.h1 === print.h1 && f.h2 === print.h2);
      if (held === undefined) {
        held = print;
        bucket.push(held);
        this.filter[anchor >>> 16]!++;
        this.forms++;
      }
      held.refs++;
      forms.push([anchor, held]);
    }
    return { forms, short };
  }

  /** Removes one reference taken by `add`; a form goes with its last reference. */
  remove(handle: ValueHandle): void {
    for (const text of handle.short) {
      const n = this.short.get(text) ?? 0;
      if (n <= 1) this.short.delete(text);
      else this.short.set(text, n - 1);
    }
    for (const [anchor, form] of handle.forms) {
      if (--form.refs > 0) continue;
      const bucket = this.anchors.get(anchor);
      const at = bucket?.indexOf(form) ?? -1;
      if (bucket === undefined || at < 0) continue;
      bucket.splice(at, 1);
      if (bucket.length === 0) this.anchors.delete(anchor);
      this.filter[anchor >>> 16]!--;
      this.forms--;
    }
  }

  redact(text: string): string {
    const blocks = this.blocks(text);
    if (blocks.length === 0) return text;
    const parts: string[] = [];
    let copied = 0;
    for (let k = 0; k < blocks.length; k += 2) {
      parts.push(text.slice(copied, blocks[k]), this.mask);
      copied = blocks[k + 1]!;
    }
    parts.push(text.slice(copied));
    return parts.join('');
  }

  /**
   * Where the masks fall in `text`: flat pairs [from, to, from, to, ...] in order, each the
   * union of overlapping or adjacent matches (what `redact` replaces with one mask).
   */
  blocks(text: string): number[] {
    const starts: number[] = [];
    const ends: number[] = [];
    const n = text.length;
    if (this.forms > 0 && n >= ANCHOR) {
      // The anchor hash rolls over the text; only a window whose anchor is known (the filter, then
      // the map) is hashed, in both lanes, against each candidate form. Hashing a candidate costs
      // its length: once that work passes a few times the text's length (text made of a value
      // repeated, say), the prefix hashes of the whole text are taken instead and each check
      // costs O(1): the hash of text[i, j) is H[j] - H[i] * B^(j - i), in each lane.
      let H1: Uint32Array | undefined;
      let H2: Uint32Array | undefined;
      let work = 0;
      let anchor = 0;
      for (let i = 0; i < ANCHOR - 1; i++) anchor = (Math.imul(anchor, B1) + text.charCodeAt(i)) >>> 0;
      for (let i = 0; i + ANCHOR <= n; i++) {
        anchor = (Math.imul(anchor, B1) + text.charCodeAt(i + ANCHOR - 1)) >>> 0;
        if (i > 0) anchor = (anchor - Math.imul(text.charCodeAt(i - 1), ANCHOR_POW)) >>> 0;
        if (this.filter[anchor >>> 16] === 0) continue;
        const bucket = this.anchors.get(anchor);
        if (bucket === undefined) continue;
        let end = -1;
        for (const f of bucket) {
          const j = i + f.length;
          if (j > n || j <= end) continue;
          if (H1 === undefined && work > 4 * n) [H1, H2] = prefixHashes(text);
          if (H1 !== undefined && H2 !== undefined) {
            if ((H1[j]! - Math.imul(H1[i]!, f.p1)) >>> 0 === f.h1 && (H2[j]! - Math.imul(H2[i]!, f.p2)) >>> 0 === f.h2) end = j;
            continue;
          }
          work += f.length;
          let h1 = 0;
          let h2 = 0;
          for (let k = i; k < j; k++) {
            const c = text.charCodeAt(k);
            h1 = (Math.imul(h1, B1) + c) >>> 0;
            h2 = (Math.imul(h2, B2) + c) >>> 0;
          }
          if (h1 === f.h1 && h2 === f.h2) end = j;
        }
        if (end >= 0) {
          starts.push(i);
          ends.push(end);
        }
      }
    }
    let sorted = true;
    for (const value of this.short.keys()) {
      for (let at = text.indexOf(value); at >= 0; at = text.indexOf(value, at + 1)) {
        starts.push(at);
        ends.push(at + value.length);
        sorted = false;
      }
    }
    const blocks: number[] = [];
    if (starts.length === 0) return blocks;
    let order: number[] | undefined;
    if (!sorted) order = Array.from(starts.keys()).sort((a, b) => starts[a]! - starts[b]!);
    // Spans by start: a span that starts at or before the current block's end joins it.
    let blockStart = -1;
    let blockEnd = -1;
    for (let k = 0; k < starts.length; k++) {
      const s = order === undefined ? k : order[k]!;
      const [from, to] = [starts[s]!, ends[s]!];
      if (from <= blockEnd) {
        if (to > blockEnd) blockEnd = to;
        continue;
      }
      if (blockEnd >= 0) blocks.push(blockStart, blockEnd);
      blockStart = from;
      blockEnd = to;
    }
    blocks.push(blockStart, blockEnd);
    return blocks;
  }
}

/** Builds a redactor for a set of values (empty values are ignored). */
export function createRedactor(values: Iterable<string>, mask: string = MASK): ValueMatcher {
  const matcher = new ValueMatcher(mask);
  for (const value of values) matcher.add(value);
  return matcher;
}
