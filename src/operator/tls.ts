/**
 * The operator's serving certificate for the resolver API (HTTPS): a CA and a serving
 * certificate from the core `pki`, kept in the Secret `orka-secrets-tls` of the operator's
 * namespace. The leader makes them at first start; every replica loads them. Sidecars trust
 * only this CA (`ca.crt` of the same Secret, published to them by the injector).
 */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../core/logger.js';
import { certInfo, createCA, issueServingCert, type CertifiedKey } from '../core/pki.js';
import { MANAGED_BY, MANAGED_BY_LABEL } from './resource.js';

/** Name of the Secret with the operator's CA and serving certificate. */
export const TLS_SECRET = 'orka-secrets-tls';

/** What the HTTPS server needs. */
export interface ServingMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

function code(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

function decode(secret: V1Secret): ServingMaterial | undefined {
  const get = (k: string) => (secret.data?.[k] === undefined ? undefined : Buffer.from(secret.data[k] as string, 'base64').toString());
  const caPem = get('ca.crt');
  const certPem = get('tls.crt');
  const keyPem = get('tls.key');
  return caPem && certPem && keyPem ? { caPem, certPem, keyPem } : undefined;
}

/** Reads (and, with `create`, makes) the serving material; waits for the leader otherwise. */
export async function loadServingMaterial(
  kc: KubeConfig,
  options: { namespace: string; hosts: string[]; create: () => boolean; log: Logger; now?: () => Date },
): Promise<ServingMaterial> {
  const api = kc.makeApiClient(CoreV1Api);
  for (;;) {
    try {
      const secret = await api.readNamespacedSecret({ name: TLS_SECRET, namespace: options.namespace });
      const material = decode(secret);
      if (material) return material;
    } catch (err) {
      if (code(err) !== 404) throw err;
    }
    if (options.create()) {
      const now = options.now?.() ?? new Date();
      const ca: CertifiedKey = createCA({ commonName: 'orka-secrets-operator-ca', now, validDays: 3650 });
      const serving = issueServingCert({ ca, hosts: options.hosts, now, validDays: 365 });
      const body: V1Secret = {
        metadata: { name: TLS_SECRET, namespace: options.namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY, 'orka.io/role': 'tls' } },
        type: 'kubernetes.io/tls',
        data: {
          'ca.crt': Buffer.from(ca.certPem).toString('base64'),
          'ca.key': Buffer.from(ca.keyPem).toString('base64'),
          'tls.crt': Buffer.from(serving.certPem).toString('base64'),
          'tls.key': Buffer.from(serving.keyPem).toString('base64'),
        },
      };
      try {
        await api.createNamespacedSecret({ namespace: options.namespace, body });
        options.log.info({ hosts: options.hosts, notAfter: certInfo(serving.certPem).notAfter }, 'serving certificate created');
      } catch (err) {
        if (code(err) !== 409) throw err;
      }
      continue;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
