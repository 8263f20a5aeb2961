/**
 * Durations wherever one is read (configuration, --timeout): Go's `time.ParseDuration` syntax, as
 * Kubernetes users write them (`1h30m`, `250ms`, `1.5h`), plus `d` for days and a bare number of
 * seconds. Hand-written rather than a library: the one npm parser that takes compound durations
 * (parse-duration) is lenient by design (it reads `1h30` as 1h30m, `2 hours`, a bare number as
 * milliseconds and negative durations), and a typo in a timeout must be refused, not guessed.
 * Its own module, free of zod, so the sidecar can parse its configuration without loading zod.
 */

const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** One or more `<decimal><unit>` parts (Go's grammar, without a sign), or a bare decimal. */
const COMPOUND = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/g;
const BARE = /^\d+(?:\.\d+)?$/;

/** Parses `250ms`, `30s`, `1h30m`, `90d` or a bare number of seconds into seconds; undefined when it is none of these. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (BARE.test(trimmed)) return Number(trimmed);
  if (!COMPOUND.test(trimmed)) return undefined;
  let seconds = 0;
  for (const [, amount, unit] of trimmed.matchAll(PART)) seconds += Number(amount) * (UNIT_SECONDS[unit as string] as number);
  return seconds;
}
