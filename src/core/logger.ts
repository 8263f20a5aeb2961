/**
 * The pino logger factory. Every component logs JSON lines to stdout through a child of one
 * root logger. Redaction paths cover every field name under which a value, a token or a key
 * could travel; code must still never put one in a log call (the canary tests check the output).
 * `key` is not among them: it is the work-queue key (`namespace/name`) of every reconcile line.
 * A busy process writes through a `BatchedDestination`: lines leave in batches, not one write each.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { REDACT_PATHS, SENSITIVE } from './log-fields.js';

export { REDACT_PATHS } from './log-fields.js';

export type { Logger } from 'pino';

/** Longest a log line waits in memory before it is written (BatchedDestination). */
export const LOG_FLUSH_MS = 100;

/** Buffered lines past this many characters are written at once (BatchedDestination). */
export const LOG_BATCH_CHARS = 16 * 1024;

/** Where a BatchedDestination writes: an asynchronous writer that can also write synchronously at exit. */
export interface LineWriter {
  write(text: string): unknown;
  flushSync(): void;
}

/**
 * Collects log lines in memory and hands them to `out` in one write per LOG_FLUSH_MS or
 * LOG_BATCH_CHARS, whichever comes first. The operator writes an audit line per resolve: written
 * one at a time, each line was a write through libuv's thread pool (a hand-off to a worker thread
 * and back), about a tenth of a resolve's CPU (docs/design/capacity.md). Nothing is lost on a graceful
 * stop: `flushSync` runs when the process exits (process.exit included), and the timer keeps the
 * event loop alive while lines wait. A process killed outright loses at most LOG_FLUSH_MS of lines.
 */
export class BatchedDestination implements DestinationStream {
  private pending: string[] = [];
  private size = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: LineWriter,
    private readonly options: { flushMs: number; batchChars: number } = { flushMs: LOG_FLUSH_MS, batchChars: LOG_BATCH_CHARS },
  ) {}

  /** Keeps a line for the next batch. */
  write(line: string): void {
    this.pending.push(line);
    this.size += line.length;
    if (this.size >= this.options.batchChars) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.options.flushMs);
  }

  /** Hands every waiting line to the writer now, in one write; with `done` (pino's logger.flush), waits until written. */
  flush(done?: (err?: Error) => void): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length > 0) {
      const text = this.pending.join('');
      this.pending = [];
      this.size = 0;
      this.out.write(text);
    }
    if (done === undefined) return;
    try {
      this.out.flushSync();
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  /** Writes every line, waiting or in flight, before returning (for exit). */
  flushSync(): void {
    this.flush();
    this.out.flushSync();
  }
}

/**
 * Standard output through a BatchedDestination, flushed synchronously at process exit. Writes stay
 * asynchronous (pino's destination: a slow log reader never blocks the event loop).
 */
export function batchedStdout(): BatchedDestination {
  const destination = new BatchedDestination(pino.destination({ dest: 1, sync: false }));
  process.on('exit', () => destination.flushSync());
  return destination;
}

/**
 * pino's ISO time, made once per millisecond: a busy operator writes several lines per
 * millisecond (an audit line per resolve), each of which built a Date and its ISO string.
 */
function isoTimeOncePerMs(): () => string {
  let at = -1;
  let text = '';
  return () => {
    const now = Date.now();
    if (now !== at) {
      at = now;
      text = `,"time":"${new Date(now).toISOString()}"`;
    }
    return text;
  };
}

/** Makes the root logger of a process. `destination` is for tests; default is stdout. */
export function createLogger(options: { name: string; level?: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: [...REDACT_PATHS], censor: '[REDACTED]' },
      // `service` names the process; children add `component` (one key each, no duplicates).
      base: { service: options.name },
      timestamp: isoTimeOncePerMs(),
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A sensitive field name (SENSITIVE above): never a field of a fixedLine. */
function isSensitiveField(field: string): boolean {
  return SENSITIVE.includes(field);
}

/**
 * A writer of one kind of line, at one level with one message and fixed fields, through `logger`
 * (its level, time, bindings and destination), in the same form as `logger[level](fields, msg)`
 * writes it. For a line written on every request (the resolver's audit line): pino walks, checks
 * and escapes each field of each line; this builds the line from its parts with one
 * JSON.stringify per field. The fields are named once, here, and none may be a sensitive name
 * (REDACT_PATHS): what they hold is written as it is, never redacted. Undefined values are left
 * out, as pino does.
 */
export function fixedLine<F extends string>(logger: Logger, level: 'info' | 'warn', msg: string, fields: readonly F[]): (values: Readonly<Record<F, unknown>>) => void {
  const sensitive = fields.filter(isSensitiveField);
  if (sensitive.length > 0) throw new Error(`fixedLine: ${sensitive.join(', ')} would be redacted; log it through the logger`);
  const { chindingsSym, lsCacheSym, streamSym, timeSym, mixinSym, messageKeySym, nestedKeySym, needsMetadataGsym } = pino.symbols;
  const internals = logger as unknown as Record<symbol, unknown>;
  // What would make pino write another line than this one: refused, not imitated.
  const formatters = internals[Symbol.for('pino.formatters')] as { log?: unknown } | undefined;
  const hooks = internals[Symbol.for('pino.hooks')] as { streamWrite?: unknown } | undefined;
  const stream = internals[streamSym] as DestinationStream & Record<symbol, unknown>;
  if (internals[mixinSym] || formatters?.log || hooks?.streamWrite || internals[nestedKeySym] || internals[messageKeySym] !== 'msg' || stream[needsMetadataGsym]) {
    throw new Error('fixedLine: the logger has a mixin, log formatter, write hook, nested key, other message key or a multistream destination');
  }
  const levelValue = logger.levels.values[level] as number;
  const prefixes = fields.map((f) => `,${JSON.stringify(f)}:`);
  const end = `,"msg":${JSON.stringify(msg)}}\n`;
  return (values) => {
    if (!logger.isLevelEnabled(level)) return;
    // pino's own parts: the level's opening (`{"level":"info"`), the time, the bindings (child fields).
    let line = (internals[lsCacheSym] as Record<number, string>)[levelValue] + (internals[timeSym] as () => string)() + (internals[chindingsSym] as string);
    for (let i = 0; i < fields.length; i++) {
      const value = values[fields[i] as F];
      if (value !== undefined) line += prefixes[i] + JSON.stringify(value);
    }
    stream.write(line + end);
  };
}
