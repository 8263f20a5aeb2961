import type { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { commandPath } from '../../../src/cli/help.js';
import { main, program } from '../../../src/cli/program.js';

function commands(c: Command): Command[] {
  return c.commands.flatMap((s) => [s, ...commands(s)]);
}
const withHelp = commands(await program()).filter((c) => c.name() !== 'run'); // run's help is its own (src/cli/run.ts)

describe('help', () => {
  it.each(withHelp.map((c) => [commandPath(c), c] as const))('%s: the global flags and Examples', (_path, c) => {
    let text = '';
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((text += String(s)), true));
    try {
      c.outputHelp();
    } finally {
      out.mockRestore();
    }
    expect(text).toMatch(/Global Options:[\s\S]*-n, --namespace[\s\S]*--kubeconfig[\s\S]*--context/);
    expect(text).toMatch(/\nExamples:\n {2}(orka-secrets|source) /);
  });
});

describe('usage errors', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each([
    [['lst'], "orka-secrets: unknown command 'lst'\n(Did you mean list?)\nSee 'orka-secrets --help' for usage and examples.\n"],
    [['list', '-o', 'xml'], "orka-secrets: option '-o, --output <format>' argument 'xml' is invalid. Allowed choices are table, wide, name, yaml, json.\nSee 'orka-secrets list --help' for usage and examples.\n"],
    [['keys', 'verify'], "orka-secrets: missing required argument 'file'\nSee 'orka-secrets keys verify --help' for usage and examples.\n"],
    [['--operator-namespace', 'Not_A_Namespace', 'list'], "orka-secrets: option '--operator-namespace <namespace>' argument 'Not_A_Namespace' is invalid. not a namespace name (lower-case letters, digits and -, at most 63)\nSee 'orka-secrets --help' for usage and examples.\n"],
  ])('%j: the program\'s prefix and a help hint, exit 2', async (args, expected) => {
    let err = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    const exit = vi.spyOn(process, 'exit').mockImplementation(((code: number) => {
      throw new Error(`exit ${code}`);
    }) as never);
    await expect(main(['node', 'orka-secrets', ...args])).rejects.toThrow('exit 2');
    expect(exit).toHaveBeenCalledWith(2);
    expect(err).toBe(expected);
  });
});
