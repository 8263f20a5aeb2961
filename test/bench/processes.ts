/**
 * Whole-process timing for the CLI benches (start-up, refs): spawn to exit on a monotonic clock,
 * and the peak RSS from GNU time (`/usr/bin/time -f %M`, written to a file so the command's own
 * output is untouched; every row pays that wrapper alike). Cases run in interleaved rounds
 * (A B C, A B C, ...) so that the machine's drift falls on all of them; the tables print the
 * median, the spread (min-max) and the ratio to the baseline row of the same run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';
const peakFile = join(mkdtempSync(join(tmpdir(), 'orka-bench-proc-')), 'peak');
process.on('exit', () => rmSync(peakFile, { force: true }));

/** One run of a process: wall ms, peak RSS in MiB (NaN without GNU time), its stdout and exit code. */
export interface ProcessRun {
  ms: number;
  peakMiB: number;
  stdout: string;
  status: number | null;
}

/** Runs a command to its exit, timing it from outside. */
export function timeProcess(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ProcessRun {
  const wrapped = existsSync(GNU_TIME);
  const [cmd, argv] = wrapped ? [GNU_TIME, ['-f', '%M', '-o', peakFile, command, ...args]] : [command, args];
  const started = process.hrtime.bigint();
  const res = spawnSync(cmd, argv, { encoding: 'utf8', env, maxBuffer: 256 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (res.error) throw res.error;
  const peakMiB = wrapped ? Number(readFileSync(peakFile, 'utf8').trim().split('\n').pop()) / 1024 : Number.NaN;
  return { ms, peakMiB, stdout: res.stdout, status: res.status };
}

/** Median, min and max of samples. */
export function summary(values: number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] as number, min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}

/** `median (min-max)` with `digits` decimals. */
export function spread(values: number[], digits = 0): string {
  const s = summary(values);
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;
}

/** One case of an interleaved comparison; the first is the baseline. */
export interface ProcessCase {
  label: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Checks a run's result (throws when the case did not do its work). */
  check?: (run: ProcessRun) => void;
}

/** Runs every case once per round, `rounds` rounds, and prints the table against the first case. */
export function compareProcesses(cases: ProcessCase[], rounds: number): Array<Record<string, string>> {
  const walls = cases.map(() => [] as number[]);
  const peaks = cases.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    cases.forEach((c, i) => {
      const run = timeProcess(c.command, c.args, c.env);
      c.check?.(run);
      walls[i]?.push(run.ms);
      peaks[i]?.push(run.peakMiB);
    });
  }
  const base = { wall: summary(walls[0] as number[]), peak: summary(peaks[0] as number[]) };
  const rows = cases.map((c, i) => {
    const wall = summary(walls[i] as number[]);
    const peak = summary(peaks[i] as number[]);
    return {
      case: i === 0 ? `${c.label} (baseline)` : c.label,
      'wall ms, median (min-max)': spread(walls[i] as number[]),
      'vs baseline wall': `${(wall.median / base.wall.median).toFixed(2)}x`,
      'peak MiB, median (min-max)': Number.isNaN(peak.median) ? 'n/a' : spread(peaks[i] as number[], 1),
      'vs baseline peak': Number.isNaN(peak.median) ? 'n/a' : `${(peak.median / base.peak.median).toFixed(2)}x`,
    };
  });
  // A baseline that moved more than half its median between rounds: the machine was busy.
  if ((base.wall.max - base.wall.min) / base.wall.median > 0.5) {
    console.log(`note: the baseline's wall time moved from ${base.wall.min.toFixed(0)} to ${base.wall.max.toFixed(0)} ms across the rounds: the machine was busy; read the ratios with that spread in mind`);
  }
  return rows;
}
