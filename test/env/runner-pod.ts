/**
 * What a runner pod sees, on the real control plane: a tenant namespace, a real operator watching
 * it, and a sidecar process holding a token bound to a pod of the tenant's `runner` ServiceAccount
 * (as the kubelet would project it). Secrets are created sealed with the operator's published
 * certificate, as the CLI does, and deleted as a person would.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { OrkaSecretsClient, isOrkaError } from '../../src/client/index.js';
import { toObjectName } from '../../src/core/names.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { osecCoords } from './canary.js';
import type { ProvidedControlPlane } from './global-setup.js';
import { adminKubeConfig, createNamespace, createServiceAccount, podBoundToken, waitForReady } from './kube.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from './operator.js';
import { startSidecar, type SidecarProcess } from './sidecar.js';

/** A tenant with its operator and a runner's sidecar. */
export interface RunnerPod {
  kc: KubeConfig;
  tenant: string;
  operator: OperatorProcess;
  sidecar: SidecarProcess;
  /** A client of the sidecar, as the runner has. */
  client: OrkaSecretsClient;
  /** Creates the secret NAME with `value` and waits until the operator stored it. */
  put(name: string, value: string): Promise<void>;
  /** Deletes the secret NAME and waits until the sidecar answers SECRET_NOT_FOUND for it. */
  remove(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the operator (the image's bundle: run make build) and a sidecar for a new tenant. */
export async function startRunnerPod(cp: Pick<ProvidedControlPlane, 'kubeconfigPath'>, label: string): Promise<RunnerPod> {
  const kc = adminKubeConfig(cp);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const opNamespace = await createNamespace(kc, { prefix: `orka-${label}` });
  const tenant = await createNamespace(kc, { prefix: `${label}-t`, tenant: label });
  await createServiceAccount(kc, tenant, 'runner');
  const dir = mkdtempSync(join(tmpdir(), `orka-${label}-`));
  const operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: `${label}-op`, build: 'dist', env: { ORKA_WATCH_NAMESPACES: tenant } });
  let sidecar: SidecarProcess | undefined;
  try {
    await operator.waitForLog(/resolver API and webhooks listening/);
    const tls = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
    const caFile = join(dir, 'ca.crt');
    writeFileSync(caFile, Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, (await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner' })).token);
    sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${operator.resolverPort}`, tokenFile, caFile });
    const url = sidecar.url;
    await eventually(async () => ((await (await fetch(`${url}/readyz`)).json()) as { changeStream: string }).changeStream === 'up' || undefined);
  } catch (err) {
    await sidecar?.stop('SIGKILL');
    await operator.stop();
    throw err;
  }
  const client = new OrkaSecretsClient({ baseUrl: sidecar.url });
  const running = sidecar;
  return {
    kc,
    tenant,
    operator,
    sidecar,
    client,
    put: async (name, value) => {
      const sealedValue = await sealWithPublishedCert(kc, opNamespace, tenant, name, value);
      const object = toObjectName(name);
      await custom.createNamespacedCustomObject({ ...osecCoords(tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: object }, spec: { sealedValue } } });
      await waitForReady(kc, tenant, object, 'Stored');
    },
    remove: async (name) => {
      await custom.deleteNamespacedCustomObject({ ...osecCoords(tenant), name: toObjectName(name) });
      await eventually(async () => {
        try {
          await client.get(name);
          return undefined;
        } catch (err) {
          return isOrkaError(err, 'SECRET_NOT_FOUND') ? true : undefined;
        }
      }, 30_000);
    },
    stop: async () => {
      await running.stop('SIGKILL');
      await operator.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
