/**
 * The CLI's questions on the terminal, from one prompt family (@inquirer): the hidden prompt for a
 * value and the yes/no before a delete. @inquirer reads lines through Node's readline, so
 * backspace removes a whole character (not a byte) and multibyte input arrives intact. Prompts
 * are drawn on stderr so that stdout stays the command's output (`seal --prompt > secret.yaml`).
 */
import { CliError, EXIT } from './errors.js';

const TERMINAL = () => ({ input: process.stdin, output: process.stderr, clearPromptOnDone: true });

/** Ctrl-C or a closed terminal while asking: a cancellation, exit 2. */
function cancelled(err: unknown): never {
  if ((err as Error).name === 'ExitPromptError') throw new CliError('cancelled', EXIT.input);
  throw err;
}

/** Asks for a value on the terminal without echoing it. */
export async function promptHidden(question: string): Promise<Buffer> {
  if (!process.stdin.isTTY) throw new CliError('no terminal to prompt on: give --from-stdin or --from-file', EXIT.input);
  // Loaded here: the prompt library is most of what the value options would otherwise load at start.
  const { default: password } = await import('@inquirer/password');
  const answer = await password({ message: question, mask: false, toggleMask: false }, TERMINAL()).catch(cancelled);
  return Buffer.from(answer, 'utf8');
}

/** Asks a yes/no question (no by default); `noTerminal` is the error when there is no terminal to ask on. */
export async function promptConfirm(question: string, noTerminal: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new CliError(noTerminal, EXIT.input);
  const { default: confirm } = await import('@inquirer/confirm');
  return confirm({ message: question, default: false }, TERMINAL()).catch(cancelled);
}
