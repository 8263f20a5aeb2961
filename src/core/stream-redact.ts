/**
 * Masks values in a stream of bytes (a child process's stdout or stderr) as it flows: the same
 * forms and policy as `redact` (src/core/redact.ts, which finds the matches), applied to chunks
 * that may split a value anywhere.
 *
 * Bytes are read as latin1 (one character per byte), so output that is not UTF-8 passes through
 * unchanged except for the masks, and each form is matched as its UTF-8 bytes.
 *
 * After each chunk, everything is written out except the shortest tail that could still become a
 * form once more bytes arrive: at most the longest form's length minus one byte, and nothing at
 * all when no suffix can start a form (so a complete line is never held back unless a value holds
 * a newline and the line could be its beginning). Whether a suffix can start a form is decided
 * from the forms' first ANCHOR characters (and their lengths), a conservative test: it may hold a
 * tail that turns out not to be a value, never release one that is. Memory is the held tail plus
 * the chunk being worked on, whatever the stream's size.
 *
 * A mask that straddles the released part and the held tail is written once: the held part of it
 * is remembered as already masked and joins whatever match the next chunk extends it with.
 */
import { byteForms, MASK, ValueMatcher } from './redact.js';

/** Length of the leading text by which a form's possible starts are indexed. */
const ANCHOR = 6;

/** What a form with a given start allows a suffix to be. */
interface Lead {
  /** The longest form starting with these characters. */
  longest: number;
  /** Whether one of them holds a newline (then a suffix holding one may still start it). */
  newline: boolean;
}

/** A masking filter for one stream: `push` each chunk, then `end`. */
export class StreamRedactor {
  private readonly matcher: ValueMatcher;
  private readonly mask: string;
  /** Forms of ANCHOR or more characters, by their first ANCHOR characters. */
  private readonly anchors = new Map<string, Lead>();
  /** Every proper prefix shorter than ANCHOR of every form. */
  private readonly leads = new Set<string>();
  /** The most bytes ever held back: the longest form's length minus one. */
  readonly maxHold: number;
  /** The tail not yet written (latin1). */
  private pending = '';
  /**
   * When the last mask written reached the cut: how many characters at the start of `pending` it
   * covers (0 when it ended exactly there: a match starting right there joins it, as in `redact`).
   */
  private carry: number | undefined;

  constructor(values: Iterable<string>, mask: string = MASK) {
    this.mask = Buffer.from(mask, 'utf8').toString('latin1');
    this.matcher = new ValueMatcher(mask, true);
    let longest = 0;
    for (const value of values) {
      if (value.length === 0) continue;
      this.matcher.add(value);
      for (const form of byteForms(value)) {
        longest = Math.max(longest, form.length);
        for (let m = 1; m < Math.min(form.length, ANCHOR); m++) this.leads.add(form.slice(0, m));
        if (form.length < ANCHOR) continue;
        const key = form.slice(0, ANCHOR);
        const lead = this.anchors.get(key) ?? { longest: 0, newline: false };
        lead.longest = Math.max(lead.longest, form.length);
        lead.newline ||= form.includes('\n');
        this.anchors.set(key, lead);
      }
    }
    this.maxHold = Math.max(0, longest - 1);
  }

  /** How many bytes are held back now. */
  get held(): number {
    return this.pending.length;
  }

  /** The bytes of `chunk` (with what was held before) that are safe to write now, masked. */
  push(chunk: Buffer): Buffer {
    const text = this.pending + chunk.toString('latin1');
    return this.release(text, text.length - this.holdLength(text));
  }

  /** Everything still held, masked: the stream has ended. */
  end(): Buffer {
    const out = this.release(this.pending, this.pending.length);
    this.carry = undefined;
    return out;
  }

  /** The length of the longest suffix of `text` (at most maxHold) that may be the start of a form. */
  private holdLength(text: string): number {
    const n = text.length;
    const lastNewline = text.lastIndexOf('\n');
    for (let i = Math.max(0, n - this.maxHold); i < n; i++) {
      const m = n - i;
      if (m < ANCHOR) {
        if (this.leads.has(text.slice(i))) return m;
        continue;
      }
      const lead = this.anchors.get(text.slice(i, i + ANCHOR));
      if (lead !== undefined && lead.longest > m && (i > lastNewline || lead.newline)) return m;
    }
    return 0;
  }

  /** Writes text[0, cut) masked and keeps the rest. */
  private release(text: string, cut: number): Buffer {
    const blocks = this.matcher.blocks(text);
    const parts: string[] = [];
    let copied = 0;
    let k = 0;
    let carry: number | undefined;
    // The mask begun before absorbs every block that starts inside it or right where it ends.
    if (this.carry !== undefined) {
      let end = this.carry;
      for (; k < blocks.length && blocks[k]! <= end; k += 2) end = Math.max(end, blocks[k + 1]!);
      if (end >= cut) carry = end - cut;
      copied = Math.min(end, cut);
    }
    for (; carry === undefined && k < blocks.length && blocks[k]! < cut; k += 2) {
      const [from, to] = [blocks[k]!, blocks[k + 1]!];
      parts.push(text.slice(copied, from), this.mask);
      if (to >= cut) carry = to - cut;
      copied = Math.min(to, cut);
    }
    parts.push(text.slice(copied, cut));
    this.pending = text.slice(cut);
    this.carry = carry;
    return Buffer.from(parts.join(''), 'latin1');
  }
}
