/**
 * What the CLI prints. Text that came from the cluster (names, descriptions, condition and event
 * messages, API error messages) is untrusted: anyone who can write an OrkaSecret or an Event can
 * plant terminal escape sequences or a forged line in it, so every such string goes through
 * `clean` before it reaches a terminal. JSON and YAML output escape control characters already.
 */
import { stringify } from 'yaml';
import type { OrkaSecret } from '../api/resource.js';

// C0 and C1 control characters (ESC starts terminal escape sequences; CR and LF forge lines),
// DEL, and the Unicode bidirectional overrides and isolates that reorder what a terminal shows.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Longest run of cluster text printed in one field: enough for any honest description. */
const MAX_FIELD = 2048;

/** `text` safe to print on a terminal: tabs as spaces, every other control character as `?`, bounded. */
export function clean(text: string | undefined | null): string {
  if (text === undefined || text === null) return '';
  const bounded = text.length > MAX_FIELD ? `${text.slice(0, MAX_FIELD)}...` : text;
  return bounded.replaceAll('\t', ' ').replace(UNSAFE, '?');
}

/** Prints data as YAML or JSON (both escape control characters). */
export function print(data: unknown, output: string | undefined): void {
  process.stdout.write(output === 'json' ? `${JSON.stringify(data, null, 2)}\n` : stringify(data));
}

/** Aligned columns; every cell is cleaned, the first row is the header. */
export function table(rows: string[][]): string {
  const cells = rows.map((r) => r.map(clean));
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length))) ?? [];
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** The Ready column: True, False (reason) or Unknown. */
export function ready(o: OrkaSecret): string {
  const c = o.status?.conditions?.find((x) => x.type === 'Ready');
  return c === undefined ? 'Unknown' : c.status === 'True' ? 'True' : `False (${c.reason})`;
}

/** A time as "5m ago"; "never" when there is none. */
export function ago(date: string | Date | undefined, now = Date.now()): string {
  if (date === undefined) return 'never';
  const s = Math.max(0, Math.round((now - new Date(date).getTime()) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : s < 172800 ? `${Math.round(s / 3600)}h ago` : `${Math.round(s / 86400)}d ago`;
}
