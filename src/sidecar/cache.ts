/**
 * The sidecar's value cache, in memory only: bounded (least recently used goes first), entries
 * forgotten the moment the change stream names them, and an entry is served only while its own
 * age (from the operator view that answered it) is within `staleAfterMs`, stream or no stream: a
 * healthy stream on one replica says nothing about a change the sidecar never saw (one made while
 * the stream was down, answered by a replica behind), so its pings do not extend an entry's life.
 * It also remembers which values it has served, for /v1/redact: the current value of each name
 * served, and a value replaced, deleted or pushed out for `redactGraceMs` more (log lines written
 * just before a change still hold it), then it is dropped.
 *
 * Freshness is a property of the data, not of the connection: the stream and the resolve calls
 * may reach different operator replicas, one behind the other. Every change event and every
 * answer carries a revision (a Kubernetes resourceVersion: one etcd counter, so comparable across
 * objects); the cache remembers the last change seen per name and never takes an answer older
 * than it (`judge`), unless the answer's view (src/core/revision.ts) already holds that change.
 */
import { ValueMatcher, valueIdentity, type ValueHandle } from '../core/redact.js';
import { NO_REVISION } from '../core/revision.js';

interface Entry {
  value: string;
  at: number;
  revision: number;
  bytes: number;
}

/** Bytes a string takes in V8: one per character when all are Latin-1, else two. */
function stringBytes(value: string): number {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\xff]*$/.test(value) ? value.length : value.length * 2;
}

/** The last change seen for a name. */
interface Change {
  revision: number;
  deleted: boolean;
}

/**
 * How an answer compares with the last change seen for its name: `fresh` (as new or newer: use
 * it), `deleted` (older, and the name was deleted since: it is missing), `stale` (older, and the
 * name changed since: ask again).
 */
export type Verdict = 'fresh' | 'deleted' | 'stale';

/** How many last changes are remembered per cached entry allowed (a bound on their memory). */
const CHANGES_PER_ENTRY = 4;

/** In-memory value cache. */
export class ValueCache {
  private readonly entries = new Map<string, Entry>();
  /** Per name, the value last served (as its identity and the matcher's handle, not its text). */
  private readonly served = new Map<string, { identity: string; handle: ValueHandle }>();
  private readonly changes = new Map<string, Change>();
  private readonly matcher = new ValueMatcher();
  /** Values no longer current, oldest first, each masked until `until`. */
  private readonly retired: Array<{ handle: ValueHandle; until: number }> = [];
  private streamUp = false;
  private heldBytes = 0;

  constructor(
    private readonly options: {
      maxEntries: number;
      /** Most bytes of values held; past it the least recently used go (default: no limit). */
      maxBytes?: number;
      staleAfterMs: number;
      now?: () => number;
      /** How long a value replaced, deleted or pushed out is still masked (default 10 min). */
      redactGraceMs?: number;
      /** Called when values are dropped to stay within `maxBytes`, with how many. */
      onBudget?: (dropped: number) => void;
    },
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** A cached value that may be served now, or undefined. */
  get(name: string): string | undefined {
    const entry = this.entries.get(name);
    if (entry === undefined) return undefined;
    if (this.now() - entry.at > this.options.staleAfterMs) {
      this.drop(name);
      return undefined;
    }
    this.entries.delete(name);
    this.entries.set(name, entry);
    return entry.value;
  }

  /**
   * How an answer for `name` at `revision`, from a replica whose view was `view`, compares with the
   * last change seen for it: a view that reached that change holds it, whatever the name's own
   * revision (a name deleted has none).
   */
  judge(name: string, revision: number, view: number = NO_REVISION): Verdict {
    const change = this.changes.get(name);
    if (change === undefined || revision >= change.revision || view >= change.revision) return 'fresh';
    return change.deleted ? 'deleted' : 'stale';
  }

  /**
   * Stores a value just fetched, as of `revision` (call only with a `fresh` verdict). `ageMs`: how
   * old the answering replica's view already was, so the value ages from then, not from now.
   */
  set(name: string, value: string, revision: number = NO_REVISION, ageMs = 0): void {
    this.drop(name);
    const bytes = stringBytes(value);
    this.entries.set(name, { value, at: this.now() - ageMs, revision, bytes });
    this.heldBytes += bytes;
    while (this.entries.size > this.options.maxEntries) this.drop(this.entries.keys().next().value as string);
    let dropped = 0;
    while (this.heldBytes > (this.options.maxBytes ?? Infinity) && this.entries.size > 1) {
      this.drop(this.entries.keys().next().value as string);
      dropped++;
    }
    if (dropped > 0) this.options.onBudget?.(dropped);
    const before = this.served.get(name);
    const identity = valueIdentity(value);
    if (before?.identity !== identity) {
      this.retire(name);
      this.served.set(name, { identity, handle: this.matcher.add(value) });
      while (this.served.size > this.options.maxEntries) this.retire(this.served.keys().next().value as string);
    }
  }

  /**
   * The change stream says `name` changed (or was deleted) at `revision`: forget what is older,
   * and remember the change so that no older answer is taken later. Without a revision (an older
   * operator) the entry is forgotten and nothing remembered.
   */
  changed(name: string, revision: number = NO_REVISION, deleted = false): void {
    const entry = this.entries.get(name);
    if (entry !== undefined && (revision === NO_REVISION || entry.revision < revision)) {
      this.drop(name);
      this.retire(name);
    }
    if (revision === NO_REVISION) return;
    const last = this.changes.get(name);
    if (last !== undefined && last.revision >= revision) return;
    this.changes.delete(name);
    this.changes.set(name, { revision, deleted });
    // Oldest first: a change thousands of changes ago is long seen by every replica.
    while (this.changes.size > this.options.maxEntries * CHANGES_PER_ENTRY) this.changes.delete(this.changes.keys().next().value as string);
  }

  /**
   * The change stream connected or dropped. On connect every value is forgotten: changes made
   * while it was down were not seen. The changes seen are kept: they stay true.
   */
  setStreamUp(up: boolean): void {
    if (up && !this.streamUp) this.forgetAll();
    this.streamUp = up;
  }

  /**
   * Every value held is forgotten (the operator revoked this pod's access: its namespace is no
   * longer a tenant, or its token no longer valid). What was served stays masked by /v1/redact.
   */
  forgetAll(): void {
    this.entries.clear();
    this.heldBytes = 0;
  }

  get isStreamUp(): boolean {
    return this.streamUp;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Bytes of values held. */
  get bytes(): number {
    return this.heldBytes;
  }

  private drop(name: string): void {
    const entry = this.entries.get(name);
    if (entry === undefined) return;
    this.entries.delete(name);
    this.heldBytes -= entry.bytes;
  }

  /** The served value of `name` is no longer current: masked for the grace period, then dropped. */
  private retire(name: string): void {
    const served = this.served.get(name);
    if (served === undefined) return;
    this.served.delete(name);
    this.retired.push({ handle: served.handle, until: this.now() + (this.options.redactGraceMs ?? 600_000) });
    // Bounded in number too: past as many as are current, the oldest go early.
    while (this.retired.length > this.options.maxEntries) this.matcher.remove((this.retired.shift() as { handle: ValueHandle }).handle);
  }

  /** Masks every value this sidecar has served (and their encodings), the retired ones for their grace period. */
  redact(text: string): string {
    const now = this.now();
    while (this.retired.length > 0 && (this.retired[0] as { until: number }).until <= now) this.matcher.remove((this.retired.shift() as { handle: ValueHandle }).handle);
    return this.matcher.redact(text);
  }
}
