/**
 * "3 minutes ago" in the reader's language, with Intl.RelativeTimeFormat (the page's own copy:
 * the browser bundle cannot import the CLI's Node helpers).
 */

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400],
  ['month', 30 * 86_400],
  ['week', 7 * 86_400],
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
  ['second', 1],
];

// One formatter for every row: building one per call costs about a millisecond.
const cache = new Map<string, Intl.RelativeTimeFormat>();

/** How long before `now` the ISO time `iso` was, in words (`3 minutes ago`, `yesterday`); '' for no date. */
export function ago(iso: string | undefined, now = Date.now(), locale?: string): string {
  const at = iso ? new Date(iso).getTime() : Number.NaN;
  if (Number.isNaN(at)) return '';
  const key = locale ?? '';
  let format = cache.get(key);
  if (format === undefined) {
    format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
    cache.set(key, format);
  }
  const seconds = Math.round((at - now) / 1000);
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') {
      // Under a minute reads "now" rather than a count of seconds that changes on every look.
      if (unit === 'second') return format.format(0, 'second');
      return format.format(Math.round(seconds / size), unit);
    }
  }
  return '';
}
