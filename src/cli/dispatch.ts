/**
 * Which part of the CLI a command line needs, shared by the npm entry (src/cli/main.ts) and the
 * standalone binary's (src/cli/sea-main.ts), which load the parts differently: `--version` alone
 * needs only the version, `run` only its own module (it starts in every script step), anything
 * else the command line (src/cli/program.ts).
 */
import type { main } from './program.js';
import type { runMain } from './run.js';

/** How an entry loads each part. */
export interface Parts {
  version(): Promise<string>;
  run(): Promise<{ runMain: typeof runMain }>;
  program(): Promise<{ main: typeof main }>;
}

/** Runs the command line `argv` (as process.argv) with the part it needs. */
export async function dispatch(argv: string[], parts: Parts): Promise<void> {
  const args = argv.slice(2);
  if (args.length === 1 && args[0] === '--version') process.stdout.write(`${await parts.version()}\n`);
  else if (args[0] === 'run') await (await parts.run()).runMain(args.slice(1));
  else await (await parts.program()).main(argv);
}
