/** Sealing on this machine: the certificate (a file or the cluster's), the tenant id, and the manifest it goes in. */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { seal } from '../core/envelope.js';
import { isTenantId, toObjectName } from '../core/names.js';
import { sealingKeyIdOf } from '../core/sealing-cert.js';
import { API_VERSION, KIND, TENANT_LABEL, type OrkaSecret } from '../api/resource.js';
import { fetchSealingCert, type Cluster } from './cluster.js';
import { apiError, CliError, EXIT, httpStatus } from './errors.js';

/** What --tenant says, for every command that seals. */
export const TENANT_HELP = `tenant id to seal for: the value of the namespace's ${TENANT_LABEL} label (default: read from the namespace; required with --cert)`;

/** The sealing certificate from `certFile`, or else from the cluster. */
export async function sealingCert(c: Cluster | undefined, certFile: string | undefined): Promise<string> {
  if (certFile !== undefined) {
    try {
      return readFileSync(certFile, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${certFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, EXIT.input);
    }
  }
  if (c === undefined) throw new CliError('no cluster to fetch the sealing certificate from: give --cert', EXIT.input);
  return fetchSealingCert(c);
}

/** How to find a namespace's tenant id, for messages. */
const lookUp = (namespace: string) => `kubectl get namespace ${namespace} -o jsonpath='{.metadata.labels.orka\\.io/tenant}'`;

/**
 * The tenant id a value for `namespace` is sealed for: `given` (--tenant), checked against the
 * namespace's label when the cluster can be asked; else the label read from the cluster. Offline
 * (`c` undefined) --tenant is required: a value bound to a guessed tenant opens nowhere.
 */
export async function sealingTenant(c: Cluster | undefined, namespace: string, given: string | undefined): Promise<string> {
  if (given !== undefined && !isTenantId(given)) {
    throw new CliError(`--tenant ${JSON.stringify(given.slice(0, 80))} is not a tenant id: a ${TENANT_LABEL} label value (1 to 63 letters, digits, -, _ or ., starting and ending with a letter or digit)`, EXIT.input);
  }
  if (c === undefined) {
    if (given === undefined) throw new CliError(`sealing with --cert needs the tenant id of namespace ${namespace}: give --tenant <id>, the value of its ${TENANT_LABEL} label (${lookUp(namespace)})`, EXIT.input);
    return given;
  }
  let label: string | undefined;
  try {
    label = (await c.kc.makeApiClient(c.k8s.CoreV1Api).readNamespace({ name: namespace })).metadata?.labels?.[TENANT_LABEL];
  } catch (err) {
    const status = httpStatus(err);
    if (status === 404) throw new CliError(`namespace ${namespace} does not exist (check -n/--namespace and --context)`, EXIT.notFound);
    if (status !== 403) throw apiError(err, `namespace ${namespace}`, c.server);
    if (given !== undefined) return given;
    throw new CliError(`Kubernetes RBAC does not allow you to read namespace ${namespace}, whose ${TENANT_LABEL} label is the tenant id a value is sealed for: give --tenant <id> (ask your platform team for it)`, EXIT.input);
  }
  if (label === undefined || label === '') {
    throw new CliError(`namespace ${namespace} is not a tenant, so no secret can be stored there; label it first: kubectl label namespace ${namespace} ${TENANT_LABEL}=<tenant-id>`, EXIT.input);
  }
  if (given !== undefined && given !== label) {
    throw new CliError(`--tenant ${given} is not the tenant of namespace ${namespace} (its ${TENANT_LABEL} label is ${label}): the value would never open there`, EXIT.input);
  }
  return label;
}

/** Seals `value` for tenant `tenantId`, namespace/name; base64 of the sealed envelope. */
export function sealFor(certPem: string, tenantId: string, namespace: string, name: string, value: Buffer): string {
  let keyId: string;
  try {
    keyId = sealingKeyIdOf(certPem);
  } catch {
    throw new CliError('the certificate is not an Orka Secrets sealing certificate', EXIT.input);
  }
  return seal({ publicKey: createPublicKey(certPem), keyId, tenantId, namespace, name, value }).toString('base64');
}

/** An OrkaSecret manifest. */
export function manifest(namespace: string, name: string, spec: Record<string, unknown>): OrkaSecret {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: toObjectName(name), namespace }, spec };
}
