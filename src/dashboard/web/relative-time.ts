/** The page's "3 minutes ago": the one wording of the CLI and the page (src/core/relative-time.ts), long style, in the reader's language. */
import { timeAgo } from '../../core/relative-time.js';

/** How long before `now` the ISO time `iso` was, in words ("3 minutes ago"); '' for no date. */
export function ago(iso: string | undefined, now = Date.now(), locale = navigator.language): string {
  return timeAgo(iso, now, { style: 'long', locale }) ?? '';
}
