import { describe, expect, it, vi } from 'vitest';
import { completeWords, DIRECTIVE, type Lookups } from '../../../src/cli/complete.js';
import { completionScript } from '../../../src/cli/completion.js';
import { program } from '../../../src/cli/program.js';

/** The whole command line, every group registered (no command named). */
const cli = await program();

/** A cluster stand-in: records what it was asked with. */
function lookups(): Lookups & { asked: Array<[string, unknown]> } {
  const asked: Array<[string, unknown]> = [];
  return {
    asked,
    secrets: vi.fn(async (g) => (asked.push(['secrets', g]), ['STRIPE_API_KEY', 'SLACK_URL', 'WEBHOOK'])),
    namespaces: vi.fn(async (g) => (asked.push(['namespaces', g]), ['acme', 'beta'])),
  };
}

const complete = (words: string[], l: Lookups = lookups()) => completeWords(cli, words, l);

describe('completeWords', () => {
  it.each([
    [['c'], ['create', 'completion'], DIRECTIVE.noFiles],
    [['list', '-o', ''], ['table', 'wide', 'name', 'yaml', 'json'], DIRECTIVE.noFiles],
    [['completion', ''], ['bash', 'zsh', 'fish'], DIRECTIVE.noFiles],
    [['keys', ''], ['backup', 'verify', 'restore'], DIRECTIVE.noFiles],
    [['describe', 'S'], ['STRIPE_API_KEY', 'SLACK_URL'], DIRECTIVE.noFiles],
    [['describe', 'STRIPE_API_KEY', ''], [], DIRECTIVE.noFiles],
    [['-n', ''], ['acme', 'beta'], DIRECTIVE.noFiles],
    [['create', 'X', '--from-file', ''], [], DIRECTIVE.files],
    [['refs', ''], [], DIRECTIVE.files],
  ])('%j -> %j', async (words, items, directive) => {
    expect(await complete(words)).toEqual({ items, directive });
  });

  it('lists every flag once: the command\'s own, then the global ones, never the hidden old -o of keys backup', async () => {
    const { items } = await complete(['keys', 'backup', '-']);
    expect(items).toEqual([...new Set(items)]);
    expect(items).toEqual(expect.arrayContaining(['-f', '--file', '--encrypt', '-n', '--namespace', '--context', '--kubeconfig']));
    expect(items).not.toContain('-o');
    const root = (await complete(['-'])).items;
    expect(root).toEqual([...new Set(root)]);
  });

  it('asks the cluster with the namespace, context and kubeconfig given on the line', async () => {
    const l = lookups();
    await complete(['--context', 'prod', '-n', 'acme', 'delete', '--kubeconfig=/tmp/k', ''], l);
    expect(l.asked).toEqual([['secrets', { context: 'prod', namespace: 'acme', kubeconfig: '/tmp/k' }]]);
  });

  it('no cluster: no names, and no error', async () => {
    const quiet: Lookups = { secrets: async () => [], namespaces: async () => [] };
    expect(await complete(['update', ''], quiet)).toEqual({ items: [], directive: DIRECTIVE.noFiles });
  });
});

describe('completionScript (the real program)', () => {
  it('bash: every command path lists each word once', () => {
    const script = completionScript('bash', cli);
    const lines = script.split('\n').filter((l) => /^ {6}"[^"]*"\) opts="/.test(l));
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) {
      const words = (/opts="([^"]*)"/.exec(line)?.[1] ?? '').split(' ');
      expect(words, line).toEqual([...new Set(words)]);
    }
  });

  it('bash and fish ask the CLI for secret names and namespaces only', () => {
    const bash = completionScript('bash', cli);
    expect(bash).toContain('"${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null');
    expect(bash).toContain('describe|delete|update) COMPREPLY=($(compgen -W "$(_orka_secrets_complete_ask)" -- "$cur")); return;;');
    expect(bash).toMatch(/\*:-n\|\*:--namespace\) COMPREPLY=\(\$\(compgen -W "\$\(_orka_secrets_complete_ask\)"/);
    const fish = completionScript('fish', cli);
    expect(fish).toContain("complete -c orka-secrets -n '__fish_seen_subcommand_from describe delete update' -a '(__orka_secrets_ask)'");
    expect(fish).toContain("-s n -l namespace -x -a '(__orka_secrets_ask)'");
  });
});
