/**
 * The Helm chart rendered by hack/helm-render (Go text/template + Sprig, Helm's engine), for the
 * chart suites: render with -set values, a values file or the cluster's capabilities, and pick
 * objects out of the result.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse, stringify } from 'yaml';
import { parseManifests } from './manifests.js';

/** The chart's folder, from the repository root. */
export const CHART = 'charts/orka-secrets';

/** A rendered object, as far as the suites read it by name. */
export type Doc = { kind: string; metadata: { name: string }; rules?: Array<{ apiGroups?: string[]; resources?: string[]; verbs?: string[] }> };
/** A rendered manifest or values tree, checked by path. */
export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rendered manifests, checked by path

/** How to render beyond `-set`: another chart folder, a values file's content, the cluster's capabilities. */
export interface RenderOptions {
  chart?: string;
  values?: object;
  apiVersions?: string[];
  kubeVersion?: string;
}

/** Renders the chart as release `release`; `close` removes its values files. */
export interface ChartRenderer {
  /** The objects; throws with the renderer's message when a template check refuses the values. */
  render(namespace: string, sets?: string[], options?: RenderOptions): Doc[];
  /** A scratch folder the suite may write into (removed by close). */
  dir: string;
  close(): void;
}

/** Builds the renderer once (cached by hack/helm-render.sh) and renders through it. */
export function chartRenderer(release: string): ChartRenderer {
  const renderer = execFileSync('hack/helm-render.sh', { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
  const dir = mkdtempSync(join(tmpdir(), 'orka-chart-test-'));
  return {
    render(namespace, sets = [], options = {}) {
      const args = ['-chart', options.chart ?? CHART, '-name', release, '-namespace', namespace, ...sets.flatMap((s) => ['-set', s])];
      if (options.values) {
        const file = join(dir, `values-${randomBytes(4).toString('hex')}.yaml`);
        writeFileSync(file, stringify(options.values));
        args.push('-f', file);
      }
      for (const api of options.apiVersions ?? []) args.push('-api-versions', api);
      if (options.kubeVersion) args.push('-kube-version', options.kubeVersion);
      const res = spawnSync(renderer, args, { encoding: 'utf8' });
      if (res.status !== 0) throw new Error(res.stderr.trim() || `helm-render exited ${res.status}`);
      return parseManifests<Doc>(res.stdout);
    },
    dir,
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The first object of `kind`. */
export const one = (docs: Doc[], kind: string): Obj | undefined => docs.find((d) => d.kind === kind) as Obj | undefined;
/** The operator Deployment's pod spec. */
export const podSpec = (docs: Doc[]): Obj => one(docs, 'Deployment')?.spec.template.spec as Obj;
/** The literal env of a pod spec's first container (valueFrom entries left out). */
export const literalEnv = (spec: Obj): Record<string, string> => Object.fromEntries((spec.containers[0].env as Obj[]).filter((e) => typeof e.value === 'string').map((e) => [e.name, e.value as string]));
/** The chart's values.yaml, parsed. */
export const chartDefaults = (): Obj => parse(readFileSync(`${CHART}/values.yaml`, 'utf8')) as Obj;
/** values.schema.json compiled as Helm checks it (every error). */
export const chartSchema = () => new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(`${CHART}/values.schema.json`, 'utf8')) as object);

/** The oauth2-proxy recipe of docs/install.md: the dashboard values block under its heading, as written. */
export function dashboardBehindIngress(): Obj {
  const doc = readFileSync('docs/install.md', 'utf8');
  const section = doc.slice(doc.indexOf('## The Secrets page behind an Ingress'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('docs/install.md: no yaml block under "The Secrets page behind an Ingress"');
  return (parse(block) as { dashboard: Obj }).dashboard;
}
