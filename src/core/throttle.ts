/**
 * Once per key per interval: what keeps a refused client that retries from writing a log line per
 * attempt (the operator's audit lines of refused streams and resolves, the sidecar's warning of a
 * refused change stream). The first occurrence of a key passes, the rest within `intervalMs` are
 * counted, and the next one to pass says how many were held back. Pure: the clock is passed in.
 */

/** Options of a Throttle. */
export interface ThrottleOptions {
  intervalMs: number;
  /** Most keys remembered (each a few dozen bytes); past it the oldest go, so a key may pass early. */
  maxKeys?: number;
  now?: () => number;
}

/** Passes each key at most once per interval, counting what it held back. */
export class Throttle {
  private readonly keys = new Map<string, { at: number; held: number }>();

  constructor(private readonly options: ThrottleOptions) {}

  /**
   * Whether an occurrence of `key` passes now: the number of occurrences held back since the last
   * one passed (0 for the first), or undefined when this one is held back.
   */
  pass(key: string): number | undefined {
    const now = this.options.now?.() ?? Date.now();
    const last = this.keys.get(key);
    if (last !== undefined && now - last.at < this.options.intervalMs) {
      last.held++;
      return undefined;
    }
    const held = last?.held ?? 0;
    // Re-inserted, so the map stays in order of the last pass: the oldest go first.
    this.keys.delete(key);
    this.keys.set(key, { at: now, held: 0 });
    const max = this.options.maxKeys ?? 10_000;
    while (this.keys.size > max) this.keys.delete(this.keys.keys().next().value as string);
    return held;
  }
}
