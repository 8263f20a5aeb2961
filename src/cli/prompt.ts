/**
 * The hidden prompt for a value: @inquirer/password reads the line through Node's readline, so
 * backspace removes a whole character (not a byte) and multibyte input arrives intact. Nothing
 * is echoed, and the prompt is drawn on stderr so that stdout stays the command's output
 * (`seal --prompt > secret.yaml`).
 */
import { CliError, EXIT } from './errors.js';

/** Asks for a value on the terminal without echoing it. */
export async function promptHidden(question: string): Promise<Buffer> {
  if (!process.stdin.isTTY) throw new CliError('no terminal to prompt on: give --from-stdin or --from-file', EXIT.input);
  // Loaded here: the prompt library is most of what the value options would otherwise load at start.
  const { default: password } = await import('@inquirer/password');
  try {
    const answer = await password({ message: question, mask: false, toggleMask: false }, { input: process.stdin, output: process.stderr, clearPromptOnDone: true });
    return Buffer.from(answer, 'utf8');
  } catch (err) {
    if ((err as Error).name === 'ExitPromptError') throw new CliError('cancelled', EXIT.input);
    throw err;
  }
}
