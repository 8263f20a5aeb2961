import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { seal, unseal } from '../../../src/core/envelope.js';
import {
  certInfo,
  createCA,
  createSealingCert,
  generateRsaKeyPair,
  generateRsaKeyPairAsync,
  isSignedBy,
  issueServingCert,
  needsRenewal,
} from '../../../src/core/pki.js';

const now = new Date('2026-11-27T00:00:00Z');
const ca = createCA({ commonName: 'orka-secrets-ca', now, validDays: 365 });
const serving = issueServingCert({ ca, hosts: ['orka-operator.orka-system.svc', '127.0.0.1'], now, validDays: 30 });

describe('certificate authority and serving certificates', () => {
  it('makes a CA certificate valid from now (with skew) for the asked days', () => {
    const info = certInfo(ca.certPem);
    expect(info.isCA).toBe(true);
    expect(info.subject).toContain('CN=orka-secrets-ca');
    expect(info.notBefore.getTime()).toBeLessThanOrEqual(now.getTime());
    expect(info.notAfter.getTime() - now.getTime()).toBe(365 * 86_400_000);
    expect(isSignedBy(ca.certPem, ca.certPem)).toBe(true);
  });

  it('issues a serving certificate for DNS names and IPs, signed by the CA', () => {
    const info = certInfo(serving.certPem);
    expect(info.isCA).toBe(false);
    expect(info.hosts).toEqual(['orka-operator.orka-system.svc', '127.0.0.1']);
    expect(isSignedBy(serving.certPem, ca.certPem)).toBe(true);
    const otherCa = createCA({ commonName: 'other', now, validDays: 1 });
    expect(isSignedBy(serving.certPem, otherCa.certPem)).toBe(false);
    expect(createPublicKey(createPrivateKey(serving.keyPem)).export({ type: 'spki', format: 'pem' })).toBe(info.publicKeyPem);
  });

  it('gives different serial numbers and fingerprints each time', () => {
    const again = issueServingCert({ ca, hosts: ['x'], now, validDays: 30 });
    expect(certInfo(again.certPem).fingerprint).not.toBe(certInfo(serving.certPem).fingerprint);
  });

  it('refuses a serving certificate without a host', () => {
    expect(() => issueServingCert({ ca, hosts: [], now, validDays: 1 })).toThrow(/at least one host/);
  });

  it('tells when a certificate is due for renewal', () => {
    expect(needsRenewal(serving.certPem, now, 7)).toBe(false);
    expect(needsRenewal(serving.certPem, new Date(now.getTime() + 24 * 86_400_000), 7)).toBe(true);
  });

  it('serves TLS that a client trusting only the CA accepts for the IP SAN', async () => {
    // Valid from the real clock, since the TLS client checks the window against it.
    const liveCaCert = createCA({ commonName: 'live', now: new Date(), validDays: 1 });
    const cert = issueServingCert({ ca: liveCaCert, hosts: ['localhost', '127.0.0.1'], now: new Date(), validDays: 1 });
    const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (socket) => socket.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const socket = connect({ host: '127.0.0.1', port, ca: liveCaCert.certPem });
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      expect(chunk.toString()).toBe('ok');
      socket.destroy();
      const foreign = connect({ host: '127.0.0.1', port, ca: ca.certPem });
      const [err] = (await once(foreign, 'error')) as [Error & { code?: string }];
      expect(err.code).toMatch(/CERT|SIGNATURE|VERIFY/);
    } finally {
      server.close();
    }
  });
});

describe('key pairs made off the main thread', () => {
  it('gives an RSA pair of the asked size whose halves match, and certificates take it as their key', async () => {
    const keys = await generateRsaKeyPairAsync(3072);
    expect(createPublicKey(keys.publicKeyPem).asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(createPublicKey(createPrivateKey(keys.privateKeyPem)).export({ type: 'spki', format: 'pem' })).toBe(keys.publicKeyPem);
    const ownCa = createCA({ commonName: 'given-key', now, validDays: 1, keys });
    expect(ownCa.keyPem).toBe(keys.privateKeyPem);
    expect(certInfo(ownCa.certPem).publicKeyPem).toBe(keys.publicKeyPem);
    const servingKeys = await generateRsaKeyPairAsync();
    const issued = issueServingCert({ ca: ownCa, hosts: ['x.svc'], now, validDays: 1, keys: servingKeys });
    expect(certInfo(issued.certPem).publicKeyPem).toBe(servingKeys.publicKeyPem);
    expect(isSignedBy(issued.certPem, ownCa.certPem)).toBe(true);
  });
});

describe('sealing certificate', () => {
  it('is self-signed over the given key, and its public key seals what the private key opens', async () => {
    const keys = generateRsaKeyPair();
    const certPem = createSealingCert({ ...keys, commonName: 'orka-secrets sealing key', now, validDays: 3650 });
    const info = certInfo(certPem);
    expect(info.publicKeyPem).toBe(keys.publicKeyPem);
    expect(new X509Certificate(certPem).verify(createPublicKey(keys.publicKeyPem))).toBe(true);
    const sealed = seal({ publicKey: createPublicKey(certPem), keyId: 'k', tenantId: 't', namespace: 'n', name: 'N', value: Buffer.from('v') });
    expect((await unseal({ privateKeys: () => keys.privateKeyPem, binding: { tenantId: 't', namespace: 'n', name: 'N' }, sealed })).toString()).toBe('v');
  });
});
