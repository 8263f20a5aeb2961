/**
 * How the sidecar finds values: memory first, the rest from the operator. Three promises live
 * here, in one place:
 *   - never older than a change seen: an answer from a view behind the highest this sidecar has
 *     heard is asked again by the upstream client (src/core/revision.ts); an answer older than the
 *     last change the stream reported for a name (and from a view that does not hold it: an
 *     operator from before views) is not taken (ValueCache.judge); when the name was deleted
 *     since, it is missing, otherwise the operator is asked again (another replica, or the same
 *     one caught up) for a bounded time;
 *   - the answer never depends on what is cached: names are sent upstream in batches of at most
 *     the resolver's limit per call;
 *   - one upstream call per name in flight: a lookup of a name already being fetched waits for
 *     that fetch instead of starting another.
 */
import { OrkaError } from '../core/errors.js';
import { parseRevision } from '../core/revision.js';
import type { ValueCache } from './cache.js';
import type { SidecarMetrics } from './metrics.js';
import type { Resolution } from './upstream.js';

/** Most names the operator's resolver takes in one call (MAX_NAMES_PER_REQUEST there). */
export const UPSTREAM_BATCH = 256;

/** What the lookup needs. */
export interface LookupDeps {
  cache: ValueCache;
  resolve: (names: readonly string[]) => Promise<Resolution>;
  metrics: SidecarMetrics;
  /** How long to keep asking while the operator's answers are older than a change seen. */
  staleWaitMs: number;
  /** Names per upstream call; default UPSTREAM_BATCH. */
  batchSize?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** A name's value, or undefined when it does not exist. */
type Answer = string | undefined;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Finds values for the app. */
export class Lookup {
  private readonly inFlight = new Map<string, Promise<Answer>>();

  constructor(private readonly deps: LookupDeps) {}

  /** The values of the names that exist (missing names are absent); throws UPSTREAM_UNAVAILABLE. */
  async values(names: readonly string[]): Promise<Map<string, string>> {
    const { cache, metrics } = this.deps;
    const found = new Map<string, string>();
    const waiting: Array<Promise<readonly [string, Answer]>> = [];
    const fetch: string[] = [];
    const unique = new Set(names);
    for (const name of unique) {
      const hit = cache.get(name);
      if (hit !== undefined) found.set(name, hit);
      else {
        const running = this.inFlight.get(name);
        if (running === undefined) fetch.push(name);
        else waiting.push(running.then((v) => [name, v] as const));
      }
    }
    metrics.cacheHits.inc(found.size);
    if (found.size === unique.size) return found;
    metrics.cacheMisses.inc(fetch.length + waiting.length);
    const size = this.deps.batchSize ?? UPSTREAM_BATCH;
    for (let i = 0; i < fetch.length; i += size) {
      const batch = fetch.slice(i, i + size);
      const answers = this.fetch(batch);
      for (const name of batch) {
        const one = answers.then((m) => m.get(name));
        this.inFlight.set(name, one);
        // Settled either way: the next lookup of this name asks again.
        one.then(
          () => this.inFlight.delete(name),
          () => this.inFlight.delete(name),
        );
        waiting.push(one.then((v) => [name, v] as const));
      }
    }
    for (const [name, value] of await Promise.all(waiting)) if (value !== undefined) found.set(name, value);
    return found;
  }

  /** One batch from the operator, asking again for names whose answer is older than a change seen. */
  private async fetch(names: readonly string[]): Promise<Map<string, Answer>> {
    const { cache, metrics } = this.deps;
    const out = new Map<string, Answer>();
    const until = Date.now() + this.deps.staleWaitMs;
    let delay = 50;
    let ask = names;
    for (;;) {
      let answer: Resolution;
      try {
        answer = await this.deps.resolve(ask);
      } catch (err) {
        metrics.upstreamErrors.inc();
        throw err;
      }
      const stale: string[] = [];
      for (const name of ask) {
        const revision = parseRevision(answer.revisions[name]);
        const verdict = cache.judge(name, revision, answer.view);
        const value = Object.hasOwn(answer.values, name) ? answer.values[name] : undefined;
        if (verdict === 'stale') stale.push(name);
        else if (verdict === 'deleted' || value === undefined) out.set(name, undefined);
        else {
          cache.set(name, value, revision, answer.ageMs);
          out.set(name, value);
        }
      }
      if (stale.length === 0) return out;
      metrics.staleAnswers.inc(stale.length);
      if (Date.now() + delay > until) {
        throw new OrkaError('UPSTREAM_UNAVAILABLE', `the operator has not caught up yet with the last change of ${stale.join(', ')}; try again`);
      }
      await (this.deps.sleep ?? sleep)(delay);
      delay = Math.min(delay * 2, 1000);
      ask = stale;
    }
  }
}
