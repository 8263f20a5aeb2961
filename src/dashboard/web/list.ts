/**
 * The list's find, sort and paging, pure so the unit tests pin them and the bench can time them:
 * a filter over name and description (case-insensitive, every word must match), a stable sort by
 * one column, and the page of rows to draw. The page draws one page of rows at a time: laying out
 * thousands of rows is what made a long list slow, not holding them.
 */
import type { SecretRow } from '../api.js';

/** Columns the list sorts by. */
export type SortKey = 'name' | 'created' | 'updated' | 'lastUsed';
/** A sort: column and direction. */
export interface Sort {
  key: SortKey;
  descending: boolean;
}

/** Rows drawn per page. */
export const PAGE_SIZE = 50;

/** The filter's words, lower-cased (an empty filter has none). */
export function filterWords(filter: string): string[] {
  return filter.toLowerCase().split(/\s+/).filter((w) => w !== '');
}

// Lower-cased name and description, computed once per row object (rows are replaced, never changed).
const haystacks = new WeakMap<SecretRow, string>();
function haystack(row: SecretRow): string {
  let text = haystacks.get(row);
  if (text === undefined) {
    text = `${row.name}\n${row.description}`.toLowerCase();
    haystacks.set(row, text);
  }
  return text;
}

/** Rows whose name or description holds every word of `filter`, in the order given. */
export function filterRows(rows: readonly SecretRow[], filter: string): SecretRow[] {
  const words = filterWords(filter);
  if (words.length === 0) return rows.slice();
  return rows.filter((r) => {
    const text = haystack(r);
    return words.every((w) => text.includes(w));
  });
}

/** The value a row sorts by; a date never set ('' ) sorts after every date when ascending. */
function sortValue(row: SecretRow, key: SortKey): string {
  switch (key) {
    case 'name':
      return row.name;
    case 'created':
      return row.created;
    case 'updated':
      return row.updated ?? '';
    case 'lastUsed':
      return row.lastUsed ?? '';
  }
}

/**
 * The rows sorted by one column (ties by name). Code-unit order, not the locale's: names are
 * upper-case ASCII, dates ISO 8601, and a locale compare costs ten times as much over 10,000 rows.
 * Rows without the date (never used, never updated) go last in both directions.
 */
export function sortRows(rows: readonly SecretRow[], sort: Sort): SecretRow[] {
  const sign = sort.descending ? -1 : 1;
  return rows.slice().sort((a, b) => {
    const x = sortValue(a, sort.key);
    const y = sortValue(b, sort.key);
    if (x !== y) {
      if (x === '') return 1;
      if (y === '') return -1;
      return x < y ? -sign : sign;
    }
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** One page of rows (0-based), with the page count; a page past the end gives the last one. */
export function pageOf<T>(rows: readonly T[], page: number, size = PAGE_SIZE): { rows: T[]; page: number; pages: number } {
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const at = Math.min(Math.max(0, page), pages - 1);
  return { rows: rows.slice(at * size, (at + 1) * size), page: at, pages };
}

/**
 * The rows once a later page of a load has come: added to the rows as they are now, so a row
 * created or edited on the page meanwhile stays as it is, and one deleted meanwhile (`removed`)
 * is not brought back by a page that lists the tenant as it was when the load began.
 */
export function withPage(have: readonly SecretRow[], page: readonly SecretRow[], removed: ReadonlySet<string>): SecretRow[] {
  const known = new Set(have.map((r) => r.name));
  return have.concat(page.filter((r) => !known.has(r.name) && !removed.has(r.name)));
}
