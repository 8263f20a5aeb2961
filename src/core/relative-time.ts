/**
 * "5m ago": how long ago something happened, in one wording for the CLI and the Secrets page, with
 * `Intl.RelativeTimeFormat` (so the page can follow the reader's locale). Pure: the clock is passed in.
 * The unit is the largest that still reads as a whole number of at least two (119s, then 2m ... 119m,
 * then 2h ... 47h, then 2d), as kubectl's ages do.
 */

/** `narrow` for terminals ("5m ago"), `long` for pages ("5 minutes ago"). */
export type AgoStyle = 'narrow' | 'long';

const STEPS: ReadonlyArray<{ unit: Intl.RelativeTimeFormatUnit; seconds: number; below: number }> = [
  { unit: 'second', seconds: 1, below: 120 },
  { unit: 'minute', seconds: 60, below: 7200 },
  { unit: 'hour', seconds: 3600, below: 172_800 },
  { unit: 'day', seconds: 86_400, below: Infinity },
];

// One formatter per locale and style: making one costs far more than formatting with it.
const formatters = new Map<string, Intl.RelativeTimeFormat>();

function formatter(locale: string, style: AgoStyle): Intl.RelativeTimeFormat {
  const key = `${locale}\u0000${style}`;
  let f = formatters.get(key);
  if (f === undefined) formatters.set(key, (f = new Intl.RelativeTimeFormat(locale, { style, numeric: 'always' })));
  return f;
}

/** How long before `now` (ms since the epoch) `date` was, e.g. "5m ago"; `undefined` (or an unreadable date) when there is no time. A time in the future reads as 0s ago (clock skew). */
export function timeAgo(date: string | Date | undefined, now: number, options: { style?: AgoStyle; locale?: string } = {}): string | undefined {
  if (date === undefined || date === '') return undefined;
  const at = new Date(date).getTime();
  if (Number.isNaN(at)) return undefined;
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  const step = STEPS.find((s) => seconds < s.below) as (typeof STEPS)[number];
  return formatter(options.locale ?? 'en', options.style ?? 'narrow').format(-Math.round(seconds / step.seconds), step.unit);
}
