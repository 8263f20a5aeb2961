/**
 * Text that came from the cluster or the sidecar (names, descriptions, condition and event
 * messages, API error messages) is untrusted: anyone who can write an OrkaSecret or an Event can
 * plant terminal escape sequences or a forged line in it, so every such string goes through
 * `clean` before it reaches a terminal. Its own module, so that `run` loads no YAML printer.
 */

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
