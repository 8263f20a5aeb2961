/**
 * Masks secret values in text, including the forms a value takes on its way into a log line:
 * JSON-escaped, URL-encoded (percent and form encoding), and base64 / base64url (whole, and the
 * stable middle of the value's encoding at each of the three byte alignments, so the value is
 * caught inside a longer base64 blob such as a Basic auth header).
 *
 * One pass over the text whatever the number of values: all forms go into one Aho-Corasick
 * automaton, built once per value set. Overlapping or adjacent matches are merged and masked as
 * one, so no fragment of a value survives between two masks.
 */

/** What a masked span is replaced with. */
export const MASK = '[REDACTED]';

/**
 * Values shorter than this many characters are "very short": masking them makes text unreadable
 * and the masks' positions reveal them, so the CLI warns when one is created. The one shared
 * threshold for redaction's minimum length (the CLI imports it; redaction's policy owns it).
 */
export const MIN_REDACT_LENGTH = 8;

/** Derived base64 fragments shorter than this are not masked: they would match ordinary text. */
const MIN_FRAGMENT = 4;

/** A compiled set of values; `redact` is safe to call concurrently (no state between calls). */
export interface Redactor {
  /** How many distinct patterns (values and their encodings) the automaton holds. */
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
    if (core.length >= MIN_FRAGMENT) out.push(core, core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return out;
}

/** Every form of one value that is worth masking. */
export function valueForms(value: string): string[] {
  if (value.length === 0) return [];
  const bytes = Buffer.from(value, 'utf8');
  const forms = [
    value,
    JSON.stringify(value).slice(1, -1),
    encodeURIComponent(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    bytes.toString('base64'),
    bytes.toString('base64url'),
    ...base64Fragments(bytes),
  ];
  return [...new Set(forms.filter((f) => f.length > 0))];
}

/** Builds a redactor for a set of values (empty values are ignored). */
export function createRedactor(values: Iterable<string>, mask: string = MASK): Redactor {
  const patterns = new Set<string>();
  for (const value of values) for (const form of valueForms(value)) patterns.add(form);

  // Trie over UTF-16 code units.
  const edges: Map<number, number>[] = [new Map()];
  const depth: number[] = [0];
  const terminal: boolean[] = [false];
  for (const pattern of patterns) {
    let node = 0;
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern.charCodeAt(i);
      let next = edges[node]!.get(c);
      if (next === undefined) {
        next = edges.length;
        edges.push(new Map());
        depth.push(depth[node]! + 1);
        terminal.push(false);
        edges[node]!.set(c, next);
      }
      node = next;
    }
    terminal[node] = true;
  }

  // Failure links and, per node, the length of the longest pattern ending there (0: none).
  const fail = new Int32Array(edges.length);
  const longest = new Int32Array(edges.length);
  const queue: number[] = [];
  for (const child of edges[0]!.values()) queue.push(child);
  for (let q = 0; q < queue.length; q++) {
    const node = queue[q]!;
    longest[node] = terminal[node] ? depth[node]! : longest[fail[node]!]!;
    for (const [c, child] of edges[node]!) {
      let f = fail[node]!;
      while (f !== 0 && !edges[f]!.has(c)) f = fail[f]!;
      const target = edges[f]!.get(c);
      fail[child] = target !== undefined && target !== child ? target : 0;
      queue.push(child);
    }
  }

  function redact(text: string): string {
    if (patterns.size === 0) return text;
    // Pass 1: for each end position, the longest match ending there (it covers the shorter ones).
    const starts: number[] = [];
    const ends: number[] = [];
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      while (node !== 0 && !edges[node]!.has(c)) node = fail[node]!;
      node = edges[node]!.get(c) ?? 0;
      const length = longest[node]!;
      if (length > 0) {
        starts.push(i + 1 - length);
        ends.push(i + 1);
      }
    }
    if (ends.length === 0) return text;
    // Pass 2: merge touching spans. Walking from the last end backwards, a span that does not
    // reach the current block's start can touch no block further right, so each block closes once.
    const blocks: Array<[number, number]> = [];
    let blockStart = starts[ends.length - 1]!;
    let blockEnd = ends[ends.length - 1]!;
    for (let k = ends.length - 2; k >= 0; k--) {
      if (ends[k]! >= blockStart) {
        blockStart = Math.min(blockStart, starts[k]!);
      } else {
        blocks.push([blockStart, blockEnd]);
        blockStart = starts[k]!;
        blockEnd = ends[k]!;
      }
    }
    blocks.push([blockStart, blockEnd]);
    const parts: string[] = [];
    let copied = 0;
    for (let b = blocks.length - 1; b >= 0; b--) {
      const [from, to] = blocks[b]!;
      parts.push(text.slice(copied, from), mask);
      copied = to;
    }
    parts.push(text.slice(copied));
    return parts.join('');
  }

  return { patternCount: patterns.size, redact };
}
