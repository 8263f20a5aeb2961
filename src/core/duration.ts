/**
 * Durations in configuration: `250ms`, `30s`, `5m`, `12h`, `90d` or a bare number of seconds.
 * Its own module, free of zod, so the sidecar can parse its configuration without loading zod.
 */

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Parses `250ms`, `30s`, `5m`, `12h`, `90d` or a bare number of seconds into seconds. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  let split = trimmed.length;
  while (split > 0 && /[a-z]/.test(trimmed[split - 1] as string)) split--;
  const amount = trimmed.slice(0, split);
  const unit = trimmed.slice(split) || 's';
  const factor = UNIT_SECONDS[unit];
  if (factor === undefined || amount === '' || !/^\d+(\.\d+)?$/.test(amount)) return undefined;
  return Number(amount) * factor;
}
