/**
 * The resolver's memo of opened values: the plaintext of a stored value, kept for a short time
 * after it was opened, so that resolving the same revision again does not open it again (five
 * AES-GCM opens were about 60 µs of a 150 µs five-name resolve: docs/design/capacity.md).
 *
 * Why this is no wider exposure: the process already holds every tenant's data key, so whoever
 * can read its memory can already open every value; recently opened plaintext in the same heap
 * adds nothing to what such a read gives. It is still bounded and never changes an answer:
 *
 * - Keyed by two objects, through WeakMaps: the parsed stored value (one per cached storage
 *   Secret revision, see Resolver.read) and the data key that opened it (the data-key store makes
 *   new key objects whenever the tenant's data-key Secret changes or goes). A new revision, a
 *   deleted storage Secret, a rotated or lost data key, a deleted namespace: each drops one of the
 *   two objects, after which the entry can neither be found nor, once collected, read.
 * - Each entry lives at most `ttlMs` from its opening (a hit does not extend it), swept by an
 *   unreferenced timer even when no request comes.
 * - At most `maxBytes` held (value bytes in UTF-8, at least what the string takes, plus a fixed
 *   overhead per entry), evicting the oldest first: an `lru-cache` bounded by size, read only on
 *   writes and sweeps, so its order is the opening order (and so the expiry order). Entries are
 *   counted from opening to expiry, even if collected earlier: an upper bound.
 *
 * Only what opened is kept: a value that fails to open is opened (and fails, and is logged) again.
 */

import { LRUCache } from 'lru-cache';

/** Bytes counted per entry on top of its value: the entry, its queue slot, the map slots. */
export const MEMO_ENTRY_OVERHEAD_BYTES = 128;

/** Bounds of the memo; a `ttlMs` or `maxBytes` of 0 turns it off. */
export interface MemoOptions {
  ttlMs: number;
  maxBytes: number;
  /** Monotonic clock in ms (tests inject one). */
  now?: () => number;
}

/** One opened value; `text` undefined once expired or evicted. */
interface Entry {
  text: string | undefined;
  readonly expiresAt: number;
}

/** What the byte-bounded cache holds of an entry: weakly, so it keeps no plaintext alive. */
interface Held {
  readonly entry: WeakRef<Entry>;
  readonly expiresAt: number;
}

/** Counts for the metrics: lookups found and not found, and bytes held. */
export interface MemoStats {
  hits: number;
  misses: number;
  bytes: number;
}

/** Opened values by (stored value, data key) object pair, bounded in time and bytes. */
export class OpenedValueMemo<Stored extends object, Key extends object> {
  private readonly byStored = new WeakMap<Stored, WeakMap<Key, Entry>>();
  /** Every entry by a serial number, in opening order; evicting or deleting one forgets its text. */
  private readonly held: LRUCache<number, Held>;
  private serial = 0;
  private hits = 0;
  private misses = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: MemoOptions) {
    this.now = options.now ?? (() => performance.now());
    this.held = new LRUCache<number, Held>({
      maxSize: Math.max(1, options.maxBytes),
      dispose: (held) => {
        const entry = held.entry.deref();
        if (entry !== undefined) entry.text = undefined;
      },
    });
  }

  /** Whether the memo keeps anything (TTL and byte bound both above 0). */
  get enabled(): boolean {
    return this.options.ttlMs > 0 && this.options.maxBytes > 0;
  }

  /** The plaintext opened from exactly `stored` with exactly `key`, if opened within the TTL. */
  get(stored: Stored, key: Key): string | undefined {
    if (!this.enabled) return undefined;
    const entry = this.byStored.get(stored)?.get(key);
    if (entry?.text !== undefined && entry.expiresAt > this.now()) {
      this.hits++;
      return entry.text;
    }
    this.misses++;
    return undefined;
  }

  /** Keeps `text`, just opened from `stored` with `key`; `bytes`: its length in UTF-8. */
  set(stored: Stored, key: Key, text: string, bytes: number): void {
    const size = bytes + MEMO_ENTRY_OVERHEAD_BYTES;
    if (!this.enabled || size > this.options.maxBytes) return;
    const now = this.now();
    this.sweep(now);
    const entry: Entry = { text, expiresAt: now + this.options.ttlMs };
    let byKey = this.byStored.get(stored);
    if (byKey === undefined) this.byStored.set(stored, (byKey = new WeakMap()));
    byKey.set(key, entry);
    // The cache evicts the oldest entries until this one fits.
    this.held.set(this.serial++, { entry: new WeakRef(entry), expiresAt: entry.expiresAt }, { size });
    this.schedule(now);
  }

  /** Lookups found and not found so far, and the bytes held now. */
  stats(): MemoStats {
    return { hits: this.hits, misses: this.misses, bytes: this.held.calculatedSize };
  }

  /** Drops every entry that expired by `now` (the oldest come first). */
  private sweep(now: number): void {
    const expired: number[] = [];
    for (const serial of this.held.rkeys()) {
      if ((this.held.peek(serial)?.expiresAt ?? 0) > now) break;
      expired.push(serial);
    }
    for (const serial of expired) this.held.delete(serial);
  }

  /** Sweeps when the oldest entry expires, so plaintext does not outlive its TTL on an idle replica. */
  private schedule(now: number): void {
    const oldest = this.held.rkeys().next();
    if (this.timer !== undefined || oldest.done === true) return;
    const delay = Math.max(1, Math.ceil((this.held.peek(oldest.value)?.expiresAt ?? now) - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const at = this.now();
      this.sweep(at);
      this.schedule(at);
    }, delay);
    this.timer.unref();
  }
}
