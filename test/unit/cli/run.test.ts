import { describe, expect, it } from 'vitest';
import { parseEnvFile, parseRunArgs, resolve } from '../../../src/cli/run.js';
import { CliError, EXIT } from '../../../src/cli/errors.js';
import { render } from '../../../src/core/template.js';

/** The CliError a call throws, as [exit code, message]. */
function failure(fn: () => unknown): [number, string] {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliError) return [err.exitCode, err.message];
    throw err;
  }
  throw new Error('did not throw');
}

describe('parseRunArgs', () => {
  it.each([
    [['--', 'true'], { env: [], mask: true, command: ['true'] }],
    [['--env', 'A={{secrets.X}}', '--env', 'B=x=y', '--', 'sh', '-c', 'echo --env'], { env: [['A', '{{secrets.X}}'], ['B', 'x=y']], mask: true, command: ['sh', '-c', 'echo --env'] }],
    [['--env=A=1', '--env', 'A=2', '--no-mask', '--', 'cmd', '--', 'x'], { env: [['A', '2']], mask: false, command: ['cmd', '--', 'x'] }],
    [['--env', 'EMPTY=', '--', 'true'], { env: [['EMPTY', '']], mask: true, command: ['true'] }],
  ])('parses %j', (args, expected) => {
    const parsed = parseRunArgs(args);
    expect(parsed && { env: [...parsed.env], mask: parsed.mask, command: parsed.command }).toEqual(expected);
  });

  it('returns nothing for --help', () => {
    expect(parseRunArgs(['--help'])).toBeUndefined();
    expect(parseRunArgs(['-h', '--', 'x'])).toBeUndefined();
  });

  it.each([
    [['true'], 'put -- before the command'],
    [['--'], 'no command after --'],
    [['--', ''], 'no command after --'],
    [['--env', 'A=1', 'true', '--', 'x'], 'unexpected argument before --: true'],
    [['--nope', '--', 'x'], "Unknown option '--nope'"],
    [['--env', '1A=secret-looking', '--', 'x'], '--env: expected NAME=TEMPLATE'],
    [['--env', 'no-equals-sign', '--', 'x'], '--env: expected NAME=TEMPLATE'],
  ])('refuses %j with exit 2', (args, message) => {
    const [code, text] = failure(() => parseRunArgs(args));
    expect(code).toBe(EXIT.input);
    expect(text).toContain(message);
    // What follows a name (a template, or a value typed by mistake) is never echoed.
    expect(text).not.toContain('secret-looking');
    expect(text).not.toContain('no-equals-sign');
  });
});

describe('parseEnvFile', () => {
  it('reads NAME=TEMPLATE lines, comments, blank lines, export and one pair of quotes', () => {
    const text = '# comment\n\nexport A="{{secrets.X}}"\nB=\'single\'\nC=plain "inner" quotes\r\nD="unbalanced\n  E = spaced\n';
    expect(() => parseEnvFile(text, 'f.env')).toThrow(/f\.env line 7: expected NAME=TEMPLATE/);
    expect(parseEnvFile(text.replace('  E = spaced\n', ''), 'f.env')).toEqual([
      ['A', '{{secrets.X}}'],
      ['B', 'single'],
      ['C', 'plain "inner" quotes'],
      ['D', '"unbalanced'],
    ]);
  });

  it('names the line at fault, never its text', () => {
    const [code, message] = failure(() => parseEnvFile('OK=1\nthis line holds hunter2\n', 'step.env'));
    expect([code, message]).toEqual([EXIT.input, "step.env line 2: expected NAME=TEMPLATE, with NAME made of letters, digits and '_' (the name is not)"]);
  });
});

describe('resolve', () => {
  /** The sidecar's render, for given stored values, counting the requests. */
  function sidecar(stored: Record<string, string>) {
    const calls: unknown[] = [];
    return { calls, render: async <T>(template: T): Promise<T> => (calls.push(template), render(template, new Map(Object.entries(stored)))) };
  }

  it('resolves every variable and every referenced value in one request', async () => {
    const s = sidecar({ X: 'vx', Y: 'vy' });
    const out = await resolve(new Map([['A', 'a {{secrets.X}}'], ['B', '{{ secrets.Y }}:{{secrets.X}}'], ['C', 'plain']]), s);
    expect(out).toEqual({ env: { A: 'a vx', B: 'vy:vx', C: 'plain' }, values: ['vx', 'vy'] });
    expect(s.calls).toHaveLength(1);
  });

  it('asks nothing when no variable holds a reference', async () => {
    const s = sidecar({});
    expect(await resolve(new Map([['A', 'plain']]), s)).toEqual({ env: { A: 'plain' }, values: [] });
    expect(s.calls).toHaveLength(0);
  });

  it.each([
    ['missing names: exit 3, all of them', new Map([['A', '{{secrets.NOPE}}'], ['B', '{{secrets.X}}{{secrets.GONE}}']]), EXIT.notFound, 'secrets NOPE, GONE could not be found'],
    ['a malformed reference: exit 2, before any request', new Map([['A', '{{secrets.bad name}}']]), EXIT.input, 'malformed secret reference'],
  ])('fails on %s', async (_name, env, code, message) => {
    const s = sidecar({ X: 'vx' });
    const err = await resolve(env, s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect([(err as CliError).exitCode, (err as CliError).message]).toEqual([code, expect.stringContaining(message)]);
    expect(s.calls).toHaveLength(code === EXIT.input ? 0 : 1);
  });
});
