/**
 * docs/runner-api.md shows curl commands with their answers: each is run here, as written, against
 * a real sidecar (a real operator, a pod-bound token, the secrets the examples name), and the
 * answer compared with the one the page shows. A page that drifts from the API fails here.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace, createServiceAccount, podBoundToken, waitForReady } from '../env/kube.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';
import { startSidecar, type SidecarProcess } from '../env/sidecar.js';

const cp = inject('controlPlane');
/** The values the page's examples show. */
const VALUES: Record<string, string> = { API_KEY: 'sk_live_51H8example' };
let kc: KubeConfig;
let operator: OperatorProcess;
let sidecar: SidecarProcess;
let dir: string;

/** Each ```sh block of the page followed by a ```json block: the command and the answer shown. */
export function examples(markdown: string): Array<{ command: string; answer: string }> {
  return [...markdown.matchAll(/```sh\n([\s\S]*?)```\n```json\n([\s\S]*?)```/g)].map((m) => ({ command: (m[1] as string).trim(), answer: (m[2] as string).trim() }));
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  dir = mkdtempSync(join(tmpdir(), 'orka-runner-api-'));
  const opNamespace = await createNamespace(kc, { prefix: 'orka-docs' });
  const tenant = await createNamespace(kc, { prefix: 'docs', tenant: 'docs' });
  await createServiceAccount(kc, tenant, 'runner');
  operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'docs-op', env: { ORKA_WATCH_NAMESPACES: tenant } });
  await operator.waitForLog(/resolver API and webhooks listening/);
  for (const [name, value] of Object.entries(VALUES)) {
    const object = name.toLowerCase().replaceAll('_', '-');
    const sealedValue = await sealWithPublishedCert(kc, opNamespace, tenant, name, value);
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...osecCoords(tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: object }, spec: { sealedValue } } });
    await waitForReady(kc, tenant, object, 'Stored');
  }
  const tls = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, (await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner' })).token);
  sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${operator.resolverPort}`, tokenFile, caFile });
  await eventually(async () => ((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream === 'up' || undefined);
}, 120_000);

afterAll(async () => {
  await sidecar?.stop();
  await operator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('docs/runner-api.md', () => {
  const page = readFileSync('docs/runner-api.md', 'utf8');
  const shown = examples(page);

  it('shows an example of every route a runner calls and of its errors', () => {
    const commands = shown.map((e) => e.command).join('\n');
    for (const route of ['/v1/secrets/', '/v1/render', '/v1/redact']) expect(commands).toContain(route);
    expect(shown.map((e) => e.answer).join('\n')).toMatch(/SECRET_NOT_FOUND[\s\S]*FORBIDDEN|FORBIDDEN[\s\S]*SECRET_NOT_FOUND/);
  });

  it.each(shown.map((e, i) => [i + 1, e.command.split('\n')[0] as string, e] as const))('example %i answers as the page says: %s', (_n, _first, { command, answer }) => {
    const res = spawnSync('bash', ['-c', command], { env: { ...process.env, ORKA_SECRETS_URL: sidecar.url }, encoding: 'utf8', timeout: 30_000 });
    expect(res.status, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(JSON.parse(answer));
  });

  it('the comparison can fail: an answer that differs from the page is caught', () => {
    const [first] = shown;
    const res = spawnSync('bash', ['-c', (first?.command ?? '').replace('API_KEY', 'OTHER_KEY')], { env: { ...process.env, ORKA_SECRETS_URL: sidecar.url }, encoding: 'utf8' });
    expect(JSON.parse(res.stdout)).not.toEqual(JSON.parse(first?.answer ?? '{}'));
  });
});
