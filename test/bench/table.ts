/**
 * Benchmark harness: runs groups of tasks with tinybench and prints one table in which each
 * row is compared with the baseline of its group, measured in the same run (these machines are
 * noisy, so only same-run ratios mean anything).
 */
import { Bench } from 'tinybench';

/** One measured case; the first case of a group is its baseline. */
export interface Case {
  name: string;
  fn: () => unknown;
  /** Bytes processed per call, for a MB/s column. */
  bytes?: number;
}

/** A group of cases compared with the group's first case. */
export interface Group {
  title: string;
  cases: Case[];
}

type Row = {
  group: string;
  case: string;
  'ops/s': string;
  'p50 µs': string;
  'p99 µs': string;
  'MB/s': string;
  'vs baseline': string;
};

const fmt = (n: number, digits = 1): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits));

/** Runs every group and prints the table; `timeMs` is the measuring time per case. */
export async function runGroups(groups: Group[], timeMs = Number(process.env.BENCH_TIME_MS ?? 700)): Promise<Row[]> {
  const rows: Row[] = [];
  for (const group of groups) {
    const bench = new Bench({ time: timeMs, warmupTime: Math.min(200, timeMs / 2) });
    for (const c of group.cases) bench.add(c.name, c.fn);
    // The first pass only warms the JIT for every case; without it the first case (the
    // baseline) pays for the warm-up of the code all cases share.
    await bench.run();
    bench.reset();
    await bench.run();
    let baseline: number | undefined;
    group.cases.forEach((c, i) => {
      const result = bench.tasks[i]?.result;
      if (result === undefined || !('latency' in result)) throw new Error(`benchmark ${group.title} / ${c.name} did not complete`);
      const meanMs = result.period;
      baseline ??= meanMs;
      rows.push({
        group: group.title,
        case: i === 0 ? `${c.name} (baseline)` : c.name,
        'ops/s': fmt(1000 / meanMs),
        'p50 µs': fmt(result.latency.p50 * 1000),
        'p99 µs': fmt(result.latency.p99 * 1000),
        'MB/s': c.bytes === undefined ? '' : fmt(c.bytes / 1e6 / (meanMs / 1000)),
        'vs baseline': i === 0 ? '1.00x' : `${(meanMs / baseline).toFixed(2)}x time`,
      });
    });
  }
  printTable(rows);
  return rows;
}

/** Prints rows as an aligned text table (Markdown-compatible). */
export function printTable(rows: ReadonlyArray<Record<string, string>>): void {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first);
  const width = columns.map((col) => Math.max(col.length, ...rows.map((r) => (r[col] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(width[i] ?? 0)).join(' | ')} |`;
  console.log(line(columns));
  console.log(line(width.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(columns.map((col) => row[col] ?? '')));
}

/**
 * Runs every case once per round, in the same order each round, for `rounds` rounds, and returns
 * each case's samples (one per round, whatever `measure` returns: req/s, µs, MiB). Interleaving
 * makes drift in a shared machine fall on every case alike, so per-round ratios hold still where
 * absolute numbers do not.
 */
export async function interleavedRounds<K extends string>(rounds: number, cases: readonly K[], measure: (name: K, round: number) => Promise<number>, progress?: (line: string) => void): Promise<Record<K, number[]>> {
  const samples = Object.fromEntries(cases.map((c) => [c, [] as number[]])) as Record<K, number[]>;
  for (let round = 1; round <= rounds; round++) {
    progress?.(`round ${round}/${rounds}: ${cases.join(', ')}`);
    for (const c of cases) samples[c].push(await measure(c, round));
  }
  return samples;
}

/** The median of samples. */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** How far the samples spread: (max - min) / median, as a fraction (0.05 = 5%). */
export function spread(xs: readonly number[]): number {
  const m = median(xs);
  return m === 0 ? 0 : (Math.max(...xs) - Math.min(...xs)) / Math.abs(m);
}

/** The per-round ratios of a case to its baseline (same round each): what the tables compare. */
export function roundRatios(samples: readonly number[], baseline: readonly number[]): number[] {
  return samples.map((x, i) => x / (baseline[i] as number));
}

/** "1,234 ±3%": the median and the spread of the samples. */
export function medianCell(xs: readonly number[], digits = 0): string {
  const m = median(xs);
  const text = digits === 0 && Math.abs(m) >= 100 ? Math.round(m).toLocaleString('en-US') : m.toFixed(digits);
  return `${text} ±${(spread(xs) * 50).toFixed(0)}%`;
}

/** "1.23x (1.10-1.30)": the median per-round ratio to the baseline and its range. */
export function ratioCell(samples: readonly number[], baseline: readonly number[]): string {
  const r = roundRatios(samples, baseline);
  return `${median(r).toFixed(2)}x (${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)})`;
}

/**
 * When the baseline moved between rounds more than the rows' ratios spread, the machine did not
 * hold still: a line that says so (print it under the table), else undefined. The per-round
 * ratios remain the numbers to read; the absolute ones are not.
 */
export function baselineNote(baselineName: string, baseline: readonly number[], rows: ReadonlyArray<readonly number[]>): string | undefined {
  const moved = spread(baseline);
  const ratios = Math.max(0, ...rows.map((row) => spread(roundRatios(row, baseline))));
  if (moved <= ratios) return undefined;
  return `note: the baseline (${baselineName}) moved ${(moved * 100).toFixed(0)}% between rounds, more than any ratio to it (${(ratios * 100).toFixed(0)}%): the machine was busy; read the ratios, not the absolute numbers`;
}
