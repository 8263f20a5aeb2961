/** Sealing on this machine: the certificate (a file or the cluster's) and the manifest it goes in. */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { seal } from '../core/envelope.js';
import { toObjectName } from '../core/names.js';
import { sealingKeyIdOf } from '../core/keyring.js';
import { API_VERSION, KIND, type OrkaSecret } from '../api/resource.js';
import { fetchSealingCert, type Cluster } from './cluster.js';
import { CliError, EXIT } from './errors.js';

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

/** Seals `value` for namespace/name; base64 of the sealed envelope. */
export function sealFor(certPem: string, namespace: string, name: string, value: Buffer): string {
  let keyId: string;
  try {
    keyId = sealingKeyIdOf(certPem);
  } catch {
    throw new CliError('the certificate is not an Orka Secrets sealing certificate', EXIT.input);
  }
  return seal({ publicKey: createPublicKey(certPem), keyId, tenant: namespace, name, value }).toString('base64');
}

/** An OrkaSecret manifest. */
export function manifest(namespace: string, name: string, spec: Record<string, unknown>): OrkaSecret {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: toObjectName(name), namespace }, spec };
}
