/**
 * The fast path's transport promises, against a real local HTTPS server (the apiserver itself is
 * in test/integration/rest.test.ts): a request that gets no answer ends when its signal does, a
 * replica stepping down fails what is in flight at once (and what was about to be sent), an
 * endless answer is cut off, a silent watch is ended as a timeout, a malformed line fails the
 * watch instead of being skipped, credentials are read once however many requests wait, and a
 * server address with a path keeps it.
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

async function serve(handler: Parameters<typeof createServer>[1], prefix = ''): Promise<KubeConfig> {
  server = createServer({ cert: serving.certPem, key: serving.keyPem }, handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}${prefix}`, caData: Buffer.from(ca.certPem).toString('base64'), skipTLSVerify: false }],
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

  it('fences a request issued in the same tick as the drop: it is never sent', async () => {
    let received = 0;
    const kc = await serve((_req, res) => {
      received++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    const rest = new KubeRest(kc, () => AbortSignal.timeout(5000));
    await rest.send({ method: 'GET', path: '/warm' });
    received = 0;
    const late = rest.send({ method: 'PUT', path: '/late-write', body: {} }).catch((e: unknown) => e);
    rest.dropConnections();
    expect(await late).toBeInstanceOf(KubeApiError);
    // The next request gets a fresh pool and goes through.
    expect(await rest.send({ method: 'GET', path: '/after' })).toEqual({});
    expect(received).toBe(1);
    rest.dropConnections();
  });

  it('reads stale credentials once however many requests wait for them', async () => {
    const kc = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    let reads = 0;
    const apply = kc.applyToHTTPSOptions.bind(kc);
    kc.applyToHTTPSOptions = async (opts) => {
      reads++;
      await apply(opts);
    };
    const rest = new KubeRest(kc, () => AbortSignal.timeout(5000), 50);
    await rest.send({ method: 'GET', path: '/first' });
    await new Promise((r) => setTimeout(r, 80));
    await Promise.all(Array.from({ length: 20 }, () => rest.send({ method: 'GET', path: '/many' })));
    expect(reads).toBe(2);
    rest.dropConnections();
  });

  it('keeps the path of a server address (an apiserver behind a proxy path), and names itself', async () => {
    let seen: { url?: string; agent?: string } = {};
    const kc = await serve((req, res) => {
      seen = { url: req.url, agent: req.headers['user-agent'] };
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }, '/k8s/clusters/c-1/');
    const rest = new KubeRest(kc, () => AbortSignal.timeout(5000));
    await rest.send({ method: 'GET', path: '/api/v1/namespaces' });
    expect(seen).toEqual({ url: '/k8s/clusters/c-1/api/v1/namespaces', agent: 'orka-secrets-operator' });
    rest.dropConnections();
  });

  it('refuses a success whose answer is not a JSON object', async () => {
    const kc = await serve((_req, res) => res.writeHead(200).end('not json'));
    const rest = new KubeRest(kc, () => AbortSignal.timeout(5000));
    await expect(rest.send({ method: 'GET', path: '/x' })).rejects.toThrow(/not a JSON object/);
    rest.dropConnections();
  });

  it('delivers a last event that comes without its newline', async () => {
    const kc = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"type":"ADDED","object":{"n":1}}\n{"type":"ADDED","object":{"n":2}}');
    });
    const rest = new KubeRest(kc, () => AbortSignal.timeout(5000));
    const events: unknown[] = [];
    const ended = await new Promise<unknown>((resolve) => void rest.watch('/w?watch=true', undefined, (e) => events.push(e), resolve));
    expect(ended).toBeNull();
    expect(events).toEqual([
      { type: 'ADDED', object: { n: 1 } },
      { type: 'ADDED', object: { n: 2 } },
    ]);
    rest.dropConnections();
  });

  it('ends a silent watch as a timeout (ListWatch reconnects at once), and a watch whose line is not JSON', async () => {
    const kc = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url?.startsWith('/garbled')) res.write('{"type":"ADDED","object":{}}\nnot json\n');
      else res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
    });
    const rest = new KubeRest(kc, () => AbortSignal.timeout(5000));
    const silent: unknown[] = [];
    const silentDone = new Promise<unknown>((resolve) => void rest.watch('/quiet?watch=true', undefined, (e) => silent.push(e), resolve, 300));
    expect(await silentDone).toMatchObject({ name: 'TimeoutError', message: expect.stringMatching(/nothing heard/) });
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
