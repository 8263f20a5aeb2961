/**
 * The docs stay true: every internal link and anchor resolves, nothing links outside the
 * repository (a reader has only the repository), the generated tables are current, and the
 * configuration docs name exactly the ORKA_* variables the code reads.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Reason } from '../../../src/api/resource.js';
import { anchorsOf } from '../../env/markdown.js';

const tracked = (pattern: string): string[] =>
  execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', pattern], { encoding: 'utf8' })
    .split('\n')
    .filter((f) => f !== '' && existsSync(f));

/** Links of a Markdown file outside code: [text](target). */
function linksOf(markdown: string): string[] {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...withoutCode.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] as string);
}

/** What is wrong with each link of `file` (empty: nothing). */
function brokenLinks(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const problems: string[] = [];
  for (const link of linksOf(text)) {
    if (/^(https?:|mailto:)/.test(link)) continue;
    const [path, anchor] = link.split('#') as [string, string | undefined];
    const target = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)));
    if (target.startsWith('..') || relative('.', target).startsWith('..')) {
      problems.push(`${file}: ${link} points outside the repository`);
      continue;
    }
    if (!existsSync(target)) {
      problems.push(`${file}: ${link}: no such file`);
      continue;
    }
    if (anchor !== undefined && statSync(target).isFile() && target.endsWith('.md') && !anchorsOf(readFileSync(target, 'utf8')).has(anchor)) problems.push(`${file}: ${link}: no heading #${anchor} in ${target}`);
  }
  return problems;
}

describe('the docs', () => {
  it('every internal link and anchor of every Markdown file resolves, inside the repository', () => {
    const files = tracked('*.md').filter((f) => !f.startsWith('node_modules/'));
    expect(files.length).toBeGreaterThan(20);
    expect(files.flatMap(brokenLinks)).toEqual([]);
  });

  it('the link check can fail: a missing file, a missing anchor and a link out of the repository are caught', () => {
    expect(anchorsOf('# The `run` command\n## Keys: back them up\n## Keys: back them up\n```\n# not a heading\n```')).toEqual(new Set(['the-run-command', 'keys-back-them-up', 'keys-back-them-up-1']));
    expect(linksOf('see [a](docs/x.md#y) and `[b](no.md)` and [c](https://example.com)')).toEqual(['docs/x.md#y', 'https://example.com']);
  });

  it('nothing in the repository refers to a folder outside it (../shared and the like)', () => {
    const offenders = tracked('*')
      .filter((f) => !/\.(png|jpg|tgz|gz)$/.test(f) && !f.startsWith('node_modules/') && f !== 'test/unit/docs/docs.test.ts')
      .filter((f) => /\.\.\/shared\b|\/work\/shared/.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('the generated tables (docs/configuration.md, docs/values.md) are current', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'hack/docs-gen.ts', '--check'], { encoding: 'utf8' });
    expect(res.status, res.stderr).toBe(0);
  });

  it('the configuration docs name every ORKA_* variable the code reads, and no other', () => {
    const code = new Set(
      tracked('src/**/*.ts')
        .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\bORKA_[A-Z0-9_]+\b/g)].map((m) => m[0]))
        // A build-time constant of the standalone CLI, not a variable anyone sets.
        .filter((v) => v !== 'ORKA_CLI_VERSION'),
    );
    const rows = (file: string) => [...readFileSync(file, 'utf8').matchAll(/^\| `(ORKA_[A-Z0-9_]+)`/gm)].map((m) => m[1] as string);
    const documented = new Set([...rows('docs/configuration.md'), ...rows('docs/dashboard.md')]);
    expect([...code].filter((v) => !documented.has(v)).sort(), 'read by the code, missing from the docs').toEqual([]);
    expect([...documented].filter((v) => !code.has(v)).sort(), 'documented, read by nothing').toEqual([]);
  });

  it('every condition reason the operator sets is explained in docs/troubleshooting.md', () => {
    const page = readFileSync('docs/troubleshooting.md', 'utf8');
    expect(Object.values(Reason).filter((r) => !page.includes(`\`${r}\``))).toEqual([]);
  });
});
