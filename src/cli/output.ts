/**
 * What the CLI prints. Text that came from the cluster goes through `clean` (src/cli/clean.ts)
 * before it reaches a terminal. JSON and YAML output escape control characters already.
 */
import { stringify } from 'yaml';
import type { OrkaSecret } from '../api/resource.js';
import { clean } from './clean.js';
import { timeAgo } from '../core/relative-time.js';

/** Prints data as YAML or JSON (both escape control characters). */
export function print(data: unknown, output: string | undefined): void {
  process.stdout.write(output === 'json' ? `${JSON.stringify(data, null, 2)}\n` : stringify(data));
}

/** Aligned columns; every cell is cleaned, the first row is the header (left out, still aligned to, when `headers` is false: --no-headers). */
export function table(rows: string[][], headers = true): string {
  const cells = rows.map((r) => r.map(clean));
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length))) ?? [];
  const lines = cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('').trimEnd());
  const shown = headers ? lines : lines.slice(1);
  return shown.length === 0 ? '' : `${shown.join('\n')}\n`;
}

/** The Ready column: True, False (reason) or Unknown. */
export function ready(o: OrkaSecret): string {
  const c = o.status?.conditions?.find((x) => x.type === 'Ready');
  return c === undefined ? 'Unknown' : c.status === 'True' ? 'True' : `False (${c.reason})`;
}

/** A time as "5m ago" (src/core/relative-time.ts, the page's wording too); "never" when there is none. */
export function ago(date: string | Date | undefined, now = Date.now()): string {
  return timeAgo(date, now) ?? 'never';
}
