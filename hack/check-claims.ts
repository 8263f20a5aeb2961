/**
 * Measured claims in the docs stay true. A measured figure in README.md, CONTRIBUTING.md or docs/
 * carries an invisible marker right after it, `1.62x<!-- claim: operator.ready-1k -->`, and
 * docs/claims.yaml says for each claim id which command printed it (a part of `make bench`, or a
 * command run by hand) and where its output shows the figure (table title, row, column).
 *
 *   npx tsx hack/check-claims.ts                              the docs against the registry
 *   npx tsx hack/check-claims.ts --log bench-results/last.log  also every figure against the log
 *
 * Without a log it checks what can never drift: every marker names a registered claim, every
 * claim is used, every claim names its command (a part of `make bench` when it says so), and one
 * claim shows the same figure wherever it appears. With the log of `make bench` (written by it to
 * bench-results/last.log) it compares each figure with what the log prints, within the claim's
 * tolerance: the benches run on shared machines, ratios drift between runs.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { parse as parseYaml } from 'yaml';

/** One registered claim: the command that measures it and where its output shows the figure. */
export interface Claim {
  /** The command, as `make bench` runs it (e.g. `npx tsx test/bench/operator.ts`) or run by hand. */
  command: string;
  /** Substring of the line printed just before the table (the bench's title line). */
  table?: string;
  /** The row: column -> exact cell (a baseline row's " (baseline)" suffix is ignored). */
  row?: Record<string, string>;
  /** The column whose cell holds the figure (its first number is compared). */
  column?: string;
  /** Instead of a table: a regular expression over the log's lines, its first group the figure. */
  line?: string;
  /** Allowed relative drift from the documented figure (or range), default 0.25. */
  tolerance?: number;
  /** Multiply the log's number by this before comparing (the doc writes ms where the log has µs). */
  scale?: number;
  /** A past run (an older version, a one-off experiment): when and what; never compared with a log. */
  history?: string;
  /** Measured by hand (not in `make bench`): when and what; never compared with a log. */
  manual?: string;
}

/** The registry: claim id -> claim. */
export type Registry = Record<string, Claim>;

/** A marked figure in a doc. */
export interface Use {
  id: string;
  file: string;
  line: number;
  figure: string;
}

/** A Markdown file's path and text. */
export interface Doc {
  file: string;
  text: string;
}

const NUM = String.raw`[-+−]?\d[\d,]*(?:\.\d+)?`;
const UNIT = String.raw`(?:x time|x|×|%|ms|µs|s|minutes|min|MiB|KiB|GiB|MB|KB|GB|ops\/s|req\/s)`;
const FIGURE = String.raw`${NUM}(?:\s?${UNIT})?(?:\s?(?:-|–|to)\s?${NUM}(?:\s?${UNIT})?)?`;
const MARKER = /<!-- claim: ([^ ]*) -->/g;
const MARKED = new RegExp(String.raw`(?<![\d.,])(${FIGURE})(?:\*\*|\`)?<!-- claim: ([^ ]*) -->`, 'g');
const ID = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/;

/** The prose of a Markdown text: code blocks (fenced or indented) and code spans blanked, lines kept. */
export function proseOf(markdown: string): string {
  let fenced = false;
  return markdown
    .split('\n')
    .map((line) => {
      if (/^\s*```/.test(line)) {
        fenced = !fenced;
        return '';
      }
      return fenced || /^(\t| {4})/.test(line) ? '' : line.replace(/`[^`]*`/g, (code) => ' '.repeat(code.length));
    })
    .join('\n');
}

/** Every marked figure of a doc (outside code: an example there is no claim), and each marker that follows no figure. */
export function usesOf(doc: Doc): { uses: Use[]; problems: string[] } {
  const text = proseOf(doc.text);
  const lineOf = (index: number) => text.slice(0, index).split('\n').length;
  const uses = [...text.matchAll(MARKED)].map((m) => ({ id: m[2] as string, file: doc.file, line: lineOf(m.index), figure: (m[1] as string).replace(/\s+/g, ' ') }));
  const found = new Set(uses.map((u) => `${u.line}:${u.id}`));
  const problems = [...text.matchAll(MARKER)]
    .filter((m) => !found.has(`${lineOf(m.index)}:${m[1]}`))
    .map((m) => `${doc.file}:${lineOf(m.index)}: the marker of ${m[1]} follows no figure (a number and its unit right before it)`);
  return { uses, problems };
}

/** The numbers of a figure: [low, high] (both the same for a single number). */
export function rangeOf(figure: string): [number, number] {
  const numbers = [...figure.matchAll(new RegExp(NUM, 'g'))].map((m, i) => Number(m[0].replace(/,/g, '').replace('−', '-').replace(/^-/, i > 0 ? '' : '-')));
  const [low = NaN, high = low] = numbers;
  return [Math.min(low, high), Math.max(low, high)];
}

/** What is wrong with the registry and the docs' markers (empty: nothing). */
export function checkDocs(registry: Registry, docs: Doc[], benchRecipe: string): string[] {
  const problems: string[] = [];
  const uses: Use[] = [];
  for (const doc of docs) {
    const found = usesOf(doc);
    uses.push(...found.uses);
    problems.push(...found.problems);
  }
  for (const [id, claim] of Object.entries(registry)) {
    if (!ID.test(id)) problems.push(`docs/claims.yaml: ${id}: an id is dotted lower-case words (area.what)`);
    if (typeof claim.command !== 'string' || claim.command.trim() === '') {
      problems.push(`docs/claims.yaml: ${id}: names no command`);
      continue;
    }
    const located = claim.line !== undefined || (claim.table !== undefined && claim.column !== undefined && claim.row !== undefined);
    if (claim.history === undefined && claim.manual === undefined) {
      if (!located) problems.push(`docs/claims.yaml: ${id}: says neither where the log shows it (table, row, column or line) nor that it is history or manual`);
      if (!benchRecipe.includes(claim.command)) problems.push(`docs/claims.yaml: ${id}: "${claim.command}" is not a part of make bench (say manual: if it is run by hand)`);
    }
    if (!uses.some((u) => u.id === id)) problems.push(`docs/claims.yaml: ${id} is marked nowhere in the docs (remove it)`);
  }
  const first = new Map<string, Use>();
  for (const use of uses) {
    if (registry[use.id] === undefined) problems.push(`${use.file}:${use.line}: ${use.figure} is marked ${use.id}, which docs/claims.yaml does not register`);
    const seen = first.get(use.id);
    if (seen === undefined) first.set(use.id, use);
    else if (seen.figure !== use.figure) problems.push(`${use.file}:${use.line}: ${use.id} is ${use.figure} here but ${seen.figure} in ${seen.file}:${seen.line}`);
  }
  return problems;
}

/** A table of a bench log: the line printed before it, its columns and rows. */
export interface LogTable {
  title: string;
  rows: Array<Record<string, string>>;
}

/**
 * Every table the benches' printTable wrote into a log, with the line before each as its title. A
 * `note: ...` line a bench prints beside a table and a `[bench ...]` progress line (stderr, in the
 * log too) are no title; a table printed right under another (a header and its dashes after rows)
 * is a new table under the same title.
 */
export function tablesOf(log: string): LogTable[] {
  const tables: LogTable[] = [];
  let title = '';
  let columns: string[] | undefined;
  let current: LogTable | undefined;
  let previous: string[] = [];
  const dashes = (cells: string[]) => cells.every((c) => /^-+$/.test(c));
  for (const raw of stripVTControlCharacters(log).split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('|')) {
      if (line !== '' && !/^(note: |\[bench)/.test(line)) title = line;
      columns = undefined;
      current = undefined;
      continue;
    }
    const cells = line.replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
    if (columns === undefined) columns = cells;
    else if (current === undefined && dashes(cells)) tables.push((current = { title, rows: [] }));
    else if (current !== undefined && dashes(cells) && current.rows.length > 0) {
      current.rows.pop();
      columns = previous;
      tables.push((current = { title, rows: [] }));
    } else if (current !== undefined) current.rows.push(Object.fromEntries(columns.map((col, i) => [col, cells[i] ?? ''])));
    previous = cells;
  }
  return tables;
}

/** The number the log shows for a claim, or why there is none (`skipped`: its bench is not in the log). */
export function measured(claim: Claim, log: string): { value: number } | { problem: string } | { skipped: string } {
  const number = (text: string) => {
    const match = new RegExp(NUM).exec(text);
    return match === null ? undefined : Number(match[0].replace(/,/g, '')) * (claim.scale ?? 1);
  };
  if (claim.line !== undefined) {
    const match = new RegExp(claim.line, 'm').exec(log);
    const value = match?.[1] === undefined ? undefined : number(match[1]);
    return value === undefined ? { skipped: `no line matches /${claim.line}/` } : { value };
  }
  const tables = tablesOf(log).filter((t) => t.title.includes(claim.table as string));
  if (tables.length === 0) return { skipped: `no table after a line with "${claim.table}"` };
  const bare = (cell: string | undefined) => (cell ?? '').replace(/ \(baseline\)$/, '');
  for (const table of tables) {
    const row = table.rows.find((r) => Object.entries(claim.row ?? {}).every(([col, want]) => bare(r[col]) === want));
    const cell = row?.[claim.column as string];
    const value = cell === undefined ? undefined : number(cell);
    if (value !== undefined) return { value };
  }
  return { problem: `the table "${claim.table}" has no row ${JSON.stringify(claim.row)} with a number in "${claim.column}"` };
}

/** Every documented figure against the log: mismatches, and what the log does not hold. */
export function checkLog(registry: Registry, docs: Doc[], log: string): { problems: string[]; skipped: string[] } {
  const problems: string[] = [];
  const skipped: string[] = [];
  const checked = new Set<string>();
  for (const use of docs.flatMap((d) => usesOf(d).uses)) {
    const claim = registry[use.id];
    if (claim === undefined || claim.history !== undefined || claim.manual !== undefined || checked.has(use.id)) continue;
    checked.add(use.id);
    const found = measured(claim, log);
    if ('skipped' in found) skipped.push(`${use.id}: ${found.skipped} (${claim.command} not in this log?)`);
    else if ('problem' in found) problems.push(`${use.id}: ${found.problem}`);
    else {
      const tolerance = claim.tolerance ?? 0.25;
      const [low, high] = rangeOf(use.figure);
      const [min, max] = [low - Math.abs(low) * tolerance, high + Math.abs(high) * tolerance];
      if (!(found.value >= min && found.value <= max)) problems.push(`${use.id}: the docs say ${use.figure} (${use.file}:${use.line}), ${claim.command} printed ${found.value} (tolerance ${tolerance * 100}%)`);
    }
  }
  return { problems, skipped };
}

/** README.md, CONTRIBUTING.md and every Markdown file under docs/. */
export function repoDocs(root = '.'): Doc[] {
  const files = ['README.md', 'CONTRIBUTING.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name.endsWith('.md')) files.push(join(dir, entry.name));
    }
  };
  walk('docs');
  return files.map((file) => ({ file, text: readFileSync(join(root, file), 'utf8') }));
}

/** The registry in docs/claims.yaml. */
export function readRegistry(root = '.'): Registry {
  return (parseYaml(readFileSync(join(root, 'docs/claims.yaml'), 'utf8')) ?? {}) as Registry;
}

/** The recipe of the Makefile's bench parts (what `make bench` runs). */
export function benchRecipe(root = '.'): string {
  const makefile = readFileSync(join(root, 'Makefile'), 'utf8');
  return /^bench-parts:.*\n((?:\t.*\n)+)/m.exec(makefile)?.[1] ?? '';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const registry = readRegistry();
  const docs = repoDocs();
  const problems = checkDocs(registry, docs, benchRecipe());
  const logIndex = process.argv.indexOf('--log');
  if (logIndex > 0) {
    const logFile = process.argv[logIndex + 1] ?? 'bench-results/last.log';
    if (!existsSync(logFile)) {
      console.log(`no bench log at ${logFile}: run make bench first (it writes bench-results/last.log)`);
      process.exit(2);
    }
    const result = checkLog(registry, docs, readFileSync(logFile, 'utf8'));
    problems.push(...result.problems);
    for (const s of result.skipped) console.log(`not in ${logFile}: ${s}`);
  }
  for (const p of problems) console.log(p);
  const count = Object.keys(registry).length;
  console.log(problems.length === 0 ? `claims: ${count} registered, all consistent${logIndex > 0 ? ' and within tolerance of the log' : ''}` : `claims: ${problems.length} problem(s)`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
