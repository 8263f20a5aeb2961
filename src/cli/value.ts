/**
 * Where a value comes from (a file, standard input, a hidden prompt) and what is refused before
 * it is sealed: nothing, more than 64 KiB, or bytes that are not UTF-8 text (values are text;
 * binary data is stored base64-encoded). A very short value is accepted with a warning.
 * Messages never contain the value.
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { MAX_VALUE_BYTES } from '../core/envelope.js';
import { MIN_DERIVED } from '../core/redact.js';
import { CliError, EXIT } from './errors.js';
import { promptHidden } from './prompt.js';

/** The value options of seal, create and update. */
export interface ValueOptions {
  fromFile?: string;
  fromStdin?: boolean;
  prompt?: boolean;
}

/** Checks a value; returns a warning for a person (or undefined), throws CliError when refused. */
export function checkValue(value: Buffer): string | undefined {
  if (value.length === 0) throw new CliError('the value is empty', EXIT.input);
  if (value.length > MAX_VALUE_BYTES) throw new CliError(`the value is ${value.length} bytes; at most ${MAX_VALUE_BYTES} are allowed`, EXIT.input);
  if (!isUtf8(value)) {
    throw new CliError('the value is not UTF-8 text; values are text, so base64 binary data first (e.g. base64 -w0 key.der | orka-secrets create NAME --from-stdin)', EXIT.input);
  }
  const characters = [...value.toString('utf8')].length;
  if (characters < MIN_DERIVED) {
    return `warning: the value is very short (${characters} character${characters === 1 ? '' : 's'}; fewer than ${MIN_DERIVED} is very short): masking it in logs hides little and can give it away, so prefer a longer value`;
  }
  return undefined;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** One trailing newline (from `echo` or a terminal) is not part of the value; --from-file keeps every byte. */
export function stripNewline(b: Buffer): Buffer {
  return b.length > 0 && b[b.length - 1] === 10 ? b.subarray(0, b[b.length - 2] === 13 ? -2 : -1) : b;
}

/** The value from the option given; with `required`, prompts (terminal) or reads stdin when none is. Warnings go to stderr. */
export async function readValue(opts: ValueOptions, required: boolean): Promise<Buffer | undefined> {
  const given = [opts.fromFile !== undefined, opts.fromStdin === true, opts.prompt === true].filter(Boolean).length;
  if (given > 1) throw new CliError('give at most one of --from-file, --from-stdin and --prompt', EXIT.input);
  let value: Buffer | undefined;
  if (opts.fromFile !== undefined) {
    try {
      value = readFileSync(opts.fromFile);
    } catch (err) {
      throw new CliError(`cannot read ${opts.fromFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, EXIT.input);
    }
  } else if (opts.fromStdin) value = stripNewline(await readStdin());
  else if (opts.prompt || (required && process.stdin.isTTY)) value = await promptHidden('Value (not shown):');
  else if (required) value = stripNewline(await readStdin());
  if (value === undefined) return undefined;
  const warning = checkValue(value);
  if (warning !== undefined) process.stderr.write(`orka-secrets: ${warning}\n`);
  return value;
}
