/**
 * The fast path's transport promises, against a real local HTTPS server (the apiserver itself is
 * in test/integration/rest.test.ts): a request that gets no answer ends when its signal does, a
 * replica stepping down fails what is in flight at once, an endless answer is cut off, a silent
 * watch is ended as failed, and a malformed line fails the watch instead of being skipped.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createCA, issueServingCert } from '../../../../src/core/pki.js';
import { KubeApiError, KubeRest } from '../../../../src/operator/kube/rest.js';

const ca = createCA({ commonName: 'rest-test', now: new Date(), validDays: 1 });
const serving = issueServingCert({ ca, hosts: ['127.0.0.1'], now: new Date(), validDays: 1 });
let server: Server | undefined;

async function serve(handler: Parameters<typeof createServer>[1]): Promise<KubeConfig> {
  server = createServer({ cert: serving.certPem, key: serving.keyPem }, handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: Buffer.from(ca.certPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  server = undefined;
});

describe('KubeRest transport', () => {
  it('sends the bearer token and JSON, and parses the answer', async () => {
    let seen: { auth?: string; type?: string; body?: string } = {};
    const kc = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen = { auth: req.headers.authorization, type: req.headers['content-type'], body };
        res.writeHead(201, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    const rest = new KubeRest(kc, () => AbortSignal.timeout(5000));
    expect(await rest.send({ method: 'POST', path: '/x', body: { a: 1 } })).toEqual({ ok: true });
    expect(seen).toEqual({ auth: 'Bearer test-token', type: 'application/json', body: '{"a":1}' });
    rest.dropConnections();
  });

  it('ends a request that gets no answer when its signal aborts (a frozen apiserver must not hang a reconcile)', async () => {
    const kc = await serve(() => undefined);
    const rest = new KubeRest(kc, () => AbortSignal.timeout(300));
    const err = await rest.send({ method: 'GET', path: '/frozen' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).code).toBeUndefined();
    rest.dropConnections();
  });

  it('fails the requests in flight at once when the connections are dropped (a replica that lost the lease)', async () => {
    const kc = await serve(() => undefined);
    const rest = new KubeRest(kc, () => AbortSignal.timeout(60_000));
    const pending = rest.send({ method: 'PUT', path: '/late-write', body: {} }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    rest.dropConnections();
    const err = await pending;
    expect(err).toBeInstanceOf(KubeApiError);
  });

  it('cuts off an answer larger than it accepts', async () => {
    const kc = await serve((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        while (res.write(chunk));
      };
      res.on('drain', pump);
      pump();
    });
    const rest = new KubeRest(kc, () => AbortSignal.timeout(20_000));
    const err = await rest.send({ method: 'GET', path: '/huge' }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/exceeds/);
    rest.dropConnections();
  });

  it('ends a silent watch as failed, and a watch whose line is not JSON', async () => {
    const kc = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url?.startsWith('/garbled')) res.write('{"type":"ADDED","object":{}}\nnot json\n');
      else res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
    });
    const rest = new KubeRest(kc, () => AbortSignal.timeout(5000));
    const silent: unknown[] = [];
    const silentDone = new Promise<unknown>((resolve) => void rest.watch('/quiet?watch=true', undefined, (e) => silent.push(e), resolve, 300));
    expect(((await silentDone) as Error).message).toMatch(/nothing heard/);
    expect(silent).toEqual([{ type: 'ADDED', object: { metadata: { name: 'a' } } }]);
    const garbled: unknown[] = [];
    const garbledDone = new Promise<unknown>((resolve) => void rest.watch('/garbled?watch=true', undefined, (e) => garbled.push(e), resolve, 5000));
    expect(((await garbledDone) as Error).message).toMatch(/not JSON/);
    expect(garbled).toHaveLength(1);
    rest.dropConnections();
  });

  it('reports a watch refused with its status', async () => {
    const kc = await serve((_req, res) => res.writeHead(403, { 'content-type': 'application/json' }).end('{"kind":"Status","reason":"Forbidden"}'));
    const rest = new KubeRest(kc, () => AbortSignal.timeout(5000));
    const done = new Promise<unknown>((resolve) => void rest.watch('/forbidden?watch=true', undefined, () => undefined, resolve));
    expect((await done) as KubeApiError).toMatchObject({ code: 403 });
    rest.dropConnections();
  });
});
