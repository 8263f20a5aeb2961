/**
 * A namespace that stops being a tenant (its orka.io/tenant label removed) while a sidecar holds
 * its values and an open change stream: the operator refuses its resolves and closes its stream
 * (`event: revoked`), and the sidecar forgets every value it holds at once, whatever is left of
 * their ORKA_CACHE_STALE_AFTER. Real operator and sidecar processes, real apiserver.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OrkaSecretsClient, isOrkaError } from '../../src/client/index.js';
import { canaries } from '../env/canary.js';
import { install, putSealed } from '../env/installation.js';
import { expectNoValueReported } from '../env/leak-scan.js';
import { podBoundToken, TENANT_LABEL, waitForReady } from '../env/kube.js';
import { eventually, podCredentials, resolveExchange, type OperatorProcess } from '../env/operator.js';
import { startSidecar, type SidecarProcess } from '../env/sidecar.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let opNamespace: string;
let tenant: string;
let operator: OperatorProcess;
let sidecar: SidecarProcess;
let dir: string;
const planted = canaries('CANARY-tenancy');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'orka-tenancy-'));
  // A short token-review TTL, so the stream's re-check (a quarter of it) comes within the test.
  ({ kc, opNamespace, operator, tenant } = await install(cp, 'tenancy', { tenantIds: ['leaving'], env: { ORKA_TOKEN_CACHE_TTL: '4s' } }));
}, 90_000);

afterAll(async () => {
  await sidecar?.stop('SIGKILL');
  await operator?.stop('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a namespace that stops being a tenant', () => {
  it('is refused at once, its stream is closed, and its sidecar forgets the values it holds', { timeout: 120_000 }, async () => {
    const value = planted.make('held');
    await putSealed(kc, opNamespace, tenant, 'HELD_VALUE', value);

    const { ca } = await podCredentials(kc, opNamespace, tenant);
    writeFileSync(join(dir, 'ca.crt'), ca);
    writeFileSync(join(dir, 'token'), (await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner' })).token);
    // Values cached for ten minutes: only the revocation can make the sidecar forget them here.
    sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${operator.resolverPort}`, tokenFile: join(dir, 'token'), caFile: join(dir, 'ca.crt'), env: { ORKA_CACHE_STALE_AFTER: '10m' } });
    await eventually(async () => ((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream === 'up' || undefined);
    const client = new OrkaSecretsClient({ baseUrl: sidecar.url });
    // Positive control: while a tenant, the value is served (and now held by the sidecar).
    expect(await client.get('HELD_VALUE')).toBe(value);
    const direct = await podCredentials(kc, opNamespace, tenant);
    expect((await resolveExchange(direct, operator, ['HELD_VALUE'])).status).toBe(200);

    await kc.makeApiClient(CoreV1Api).patchNamespace({ name: tenant, body: { metadata: { labels: { [TENANT_LABEL]: null } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));

    // The operator: resolves refused once its namespace cache has the change (no value, 403).
    const refused = await eventually(async () => {
      const answer = await resolveExchange(direct, operator, ['HELD_VALUE']);
      return answer.status === 200 ? undefined : answer;
    }, 30_000);
    expect(refused.status).toBe(403);
    expect(JSON.stringify(refused.body)).not.toContain(value);
    // Its stream closed at the next re-check, saying why.
    await operator.waitForLog(/change stream closed: the token is no longer valid/, 30_000);
    // The sidecar asks for its stream again and is refused.
    await eventually(() => (sidecar.logs.some((l) => l.includes('the operator refused the change stream')) ? true : undefined), 30_000);

    // The value it held is no longer served: the runner is told it is refused, never given it.
    const after = await client.get('HELD_VALUE').then(
      (v) => ({ served: v }),
      (err: unknown) => ({ err }),
    );
    expect('served' in after ? 'the held value was served' : 'refused').toBe('refused');
    expect(isOrkaError((after as { err: unknown }).err, 'FORBIDDEN')).toBe(true);
    // The operator says what the object is now: nothing stored or served here.
    const status = await waitForReady(kc, tenant, 'held-value', 'NotATenant');
    expect(status.status?.conditions?.[0]?.message).toContain('nothing is stored or served here');
  });

  it('no value in the operator\'s or the sidecar\'s logs, the conditions or the Events', async () => {
    expect(planted.all).toHaveLength(1);
    await expectNoValueReported({ kc, namespaces: [tenant, opNamespace], logs: [...operator.logs, ...sidecar.logs], planted: planted.all, control: canaries('CONTROL').make('control') });
  });
});
