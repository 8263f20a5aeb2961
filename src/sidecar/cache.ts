/**
 * The sidecar's value cache, in memory only: bounded (least recently used goes first), entries
 * forgotten the moment the change stream names them, and, while the stream is down, entries
 * older than `staleAfterMs` are not served (the sidecar cannot know they are still current).
 * It also remembers which values it has served, for /v1/redact.
 */
import { createRedactor, type Redactor } from '../core/redact.js';

interface Entry {
  value: string;
  at: number;
}

/** In-memory value cache. */
export class ValueCache {
  private readonly entries = new Map<string, Entry>();
  private readonly served = new Map<string, string>();
  private redactor: Redactor | undefined;
  private streamUp = false;

  constructor(private readonly options: { maxEntries: number; staleAfterMs: number; now?: () => number }) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** A cached value that may be served now, or undefined. */
  get(name: string): string | undefined {
    const entry = this.entries.get(name);
    if (entry === undefined) return undefined;
    if (!this.streamUp && this.now() - entry.at > this.options.staleAfterMs) {
      this.entries.delete(name);
      return undefined;
    }
    this.entries.delete(name);
    this.entries.set(name, entry);
    return entry.value;
  }

  /** Stores a value just fetched; `ageMs`: how old the operator's view already was, so it ages from then. */
  set(name: string, value: string, ageMs = 0): void {
    this.entries.delete(name);
    this.entries.set(name, { value, at: this.now() - ageMs });
    while (this.entries.size > this.options.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    if (this.served.get(name) !== value) {
      this.served.delete(name);
      this.served.set(name, value);
      while (this.served.size > this.options.maxEntries) this.served.delete(this.served.keys().next().value as string);
      this.redactor = undefined;
    }
  }

  /** Forgets a name at once (it changed or was deleted). */
  forget(name: string): void {
    this.entries.delete(name);
  }

  /**
   * The change stream connected or dropped. On connect everything is forgotten: changes made
   * while it was down were not seen.
   */
  setStreamUp(up: boolean): void {
    if (up && !this.streamUp) this.entries.clear();
    this.streamUp = up;
  }

  get isStreamUp(): boolean {
    return this.streamUp;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Masks every value this sidecar has served (and their encodings). */
  redact(text: string): string {
    this.redactor ??= createRedactor(this.served.values());
    return this.redactor.redact(text);
  }
}
