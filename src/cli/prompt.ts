/** The hidden prompt for a value (nothing echoed). */
import { CliError, EXIT } from './errors.js';

/** Reads a line from the terminal without echoing it. */
export async function promptHidden(question: string): Promise<Buffer> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new CliError('no terminal to prompt on: give --from-stdin or --from-file', EXIT.input);
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  const bytes: number[] = [];
  try {
    for await (const chunk of stdin) {
      for (const b of chunk as Buffer) {
        if (b === 3) throw new CliError('cancelled', EXIT.input); // Ctrl-C
        if (b === 13 || b === 10) return Buffer.from(bytes);
        if (b === 127 || b === 8) bytes.pop();
        else bytes.push(b);
      }
    }
    return Buffer.from(bytes);
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
