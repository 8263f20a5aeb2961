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
