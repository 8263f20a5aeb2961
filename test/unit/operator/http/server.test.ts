import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import forge from 'node-forge';
import { afterEach, describe, expect, it } from 'vitest';
import { createCA, generateRsaKeyPair, issueServingCert, type CertifiedKey } from '../../../../src/core/pki.js';
import { BodyBudget, plainListener, readBody, secureListener, type ListenerEvents, type ListenerLimits, type Refusal } from '../../../../src/operator/http/server.js';

const LIMITS: ListenerLimits = { headersTimeoutMs: 5000, requestTimeoutMs: 10_000, idleTimeoutMs: 120_000, maxConnections: 16, bodyBytes: 1024 };
const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** Listener events, recorded. */
function recorder(): ListenerEvents & { refusals: Refusal[]; bytes: number[] } {
  const r = { refusals: [] as Refusal[], bytes: [] as number[], bodyBytes: (n: number) => void r.bytes.push(n), refused: (x: Refusal) => void r.refusals.push(x) };
  return r;
}

describe('BodyBudget', () => {
  it('takes bytes while they fit, gives them back, and tells each change', () => {
    const events = recorder();
    const budget = new BodyBudget(100, events);
    expect(budget.take(60)).toBe(true);
    expect(budget.take(41)).toBe(false);
    expect(budget.take(40)).toBe(true);
    expect(budget.available).toBe(0);
    budget.give(60);
    expect(budget.inFlight).toBe(40);
    expect(events.bytes).toEqual([60, 100, 40]);
  });
});

describe('readBody on a plain listener', () => {
  const events = recorder();
  let budget: BodyBudget;
  /** A listener whose handler reads the body with a limit of 512 and echoes its length (or the refusal). */
  async function start(bodyBytes: number): Promise<number> {
    const listener = plainListener({ ...LIMITS, bodyBytes }, events, (req: IncomingMessage, res: ServerResponse) => {
      void readBody(req, res, { limit: 512, budget: listener.bodies }).then((read) => {
        if (Buffer.isBuffer(read)) res.end(`read ${read.length}`);
        else res.writeHead(read.status).end(read.message);
      });
    });
    budget = listener.bodies;
    listener.server.listen(0, '127.0.0.1');
    await once(listener.server, 'listening');
    closers.push(() => listener.server.close());
    return (listener.server.address() as AddressInfo).port;
  }
  function post(port: number, body: string | undefined, headers: Record<string, string> = {}): Promise<{ status: number; text: string; connection?: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false, headers }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('reads a body within its limit and gives its bytes back', async () => {
    const port = await start(1024);
    expect(await post(port, 'x'.repeat(300))).toMatchObject({ status: 200, text: 'read 300' });
    expect(budget.inFlight).toBe(0);
  });

  it('refuses a body announced over its limit (413) or over what the listener has left (503), unread, and closes the connection', async () => {
    const port = await start(800);
    expect(await post(port, 'x'.repeat(600))).toMatchObject({ status: 413, connection: 'close' });
    // Half the budget held by a request that has sent 400 of 500 bytes: 500 more do not fit.
    const held = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false, headers: { 'content-length': '500' } });
    held.on('error', () => undefined);
    held.write('y'.repeat(400));
    await waitFor(() => budget.inFlight === 400);
    const refused = await post(port, 'z'.repeat(500), { 'content-length': '500' });
    expect(refused).toMatchObject({ status: 503, connection: 'close', text: expect.stringMatching(/try again/) });
    // The held request dies: its bytes come back.
    held.destroy();
    await waitFor(() => budget.inFlight === 0);
    expect(events.refusals).toEqual(expect.arrayContaining(['too-large', 'body-budget']));
  });

  it('refuses a chunked body (no Content-Length) as it grows past the limit', async () => {
    const port = await start(1024);
    const res = await new Promise<number>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', () => undefined);
      req.write('a'.repeat(300));
      req.write('b'.repeat(300));
    });
    expect(res).toBe(413);
    await waitFor(() => budget.inFlight === 0);
  });

  it('a listener with no budget refuses any body before its handler runs', async () => {
    const port = await start(0);
    expect(await post(port, 'x')).toMatchObject({ status: 413, connection: 'close' });
    expect(await post(port, undefined)).toMatchObject({ status: 200, text: 'read 0' });
  });
});

/** A client certificate (extKeyUsage clientAuth) signed by `ca`. */
function clientCert(ca: CertifiedKey): CertifiedKey {
  const keys = generateRsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3_600_000);
  cert.setSubject([{ name: 'commonName', value: 'kube-apiserver' }]);
  cert.setIssuer(forge.pki.certificateFromPem(ca.certPem).subject.attributes);
  cert.setExtensions([{ name: 'extKeyUsage', clientAuth: true }]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

describe('client certificates on a secure listener', () => {
  it('with a client CA, answers only a caller whose certificate it signed', async () => {
    const now = new Date();
    const serverCa = createCA({ commonName: 'orka', now, validDays: 1 });
    const serving = issueServingCert({ ca: serverCa, hosts: ['127.0.0.1'], now, validDays: 1 });
    const apiserverCa = createCA({ commonName: 'apiserver-clients', now, validDays: 1 });
    const otherCa = createCA({ commonName: 'someone-else', now, validDays: 1 });
    const { server } = secureListener(LIMITS, recorder(), { requestCert: true, rejectUnauthorized: true, ca: apiserverCa.certPem });
    server.setSecureContext({ cert: serving.certPem, key: serving.keyPem, ca: apiserverCa.certPem });
    server.on('request', (_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const call = (client?: CertifiedKey) =>
      new Promise<string>((resolve) => {
        const req = httpsRequest({ host: '127.0.0.1', port, path: '/', agent: false, ca: serverCa.certPem, ...(client ? { cert: client.certPem, key: client.keyPem } : {}) }, (res) => {
          res.resume();
          resolve(String(res.statusCode));
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve(`refused: ${err.code ?? err.message}`));
        req.end();
      });
    expect(await call(clientCert(apiserverCa))).toBe('200');
    expect(await call()).toMatch(/^refused/);
    expect(await call(clientCert(otherCa))).toMatch(/^refused/);
  }, 30_000);
});

/** Waits for `check` (an event), with a ceiling a loaded machine never reaches. */
async function waitFor(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (let round = 0; !check(); round++) {
    if (Date.now() > until || round > timeoutMs / 10) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 10));
  }
}
