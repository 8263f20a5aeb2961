/**
 * The operator's listeners under unauthenticated traffic, a real operator on the real apiserver:
 * the webhooks on a port of their own (the resolver's refuses them unread), a shared budget of
 * body bytes on the webhook listener that a flood of unfinished AdmissionReviews cannot pass,
 * header, request and handshake timeouts on every listener, a cap on connections, and admission
 * through the apiserver on the new port.
 */
import { once } from 'node:events';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, uniqueName } from '../env/kube.js';
import { eventually, startOperator, type OperatorProcess } from '../env/operator.js';
import { caBundlePublished, installWebhooks, removeWebhooks, SCOPE_LABEL } from '../env/webhooks.js';

const cp = inject('controlPlane');
const MiB = 1024 * 1024;
/** The webhook listener's budget in this test: room for a few unfinished bodies, not for 40. */
const BUDGET = 4 * MiB;
/** Most connections on the webhook listener in this test. */
const MAX_CONNECTIONS = 50;
let kc: KubeConfig;
let operator: OperatorProcess;
let tenant: string;
const hookName = uniqueName('orka-listeners');
const opened: Socket[] = [];

/** One series of the operator's /metrics (0 when absent... never: absent is NaN, so a missing metric fails). */
async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? NaN : Number(line.split(' ').pop());
}

/** What a raw connection saw: the first line of an answer (if any) and whether it was closed. */
interface Seen {
  status?: number;
  closed: Promise<void>;
  socket: Socket;
}

/** Watches a socket for an HTTP status line and its close. */
function watch(socket: Socket): Seen {
  opened.push(socket);
  const seen: Seen = { socket, closed: once(socket, 'close').then(() => undefined) };
  let head = '';
  socket.on('data', (chunk: Buffer) => {
    if (seen.status !== undefined) return;
    head += chunk.toString('latin1');
    const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
    if (m) seen.status = Number(m[1]);
  });
  socket.on('error', () => undefined); // a reset by the server is one of the outcomes looked for
  return seen;
}

/** A TLS connection to `port`, once its handshake is done. */
async function tls(port: number): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  return socket;
}

/** Headers of a POST that announces `length` bytes of body. */
function postHead(path: string, length: number): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  const opNamespace = await createNamespace(kc, { prefix: 'orka-listeners' });
  tenant = await createNamespace(kc, { prefix: 'listeners-tenant', tenant: 'listeners', labels: { [SCOPE_LABEL]: hookName } });
  await createServiceAccount(kc, tenant, 'default');
  operator = await startOperator({
    kubeconfigPath: cp.kubeconfigPath,
    namespace: opNamespace,
    identity: 'listeners-op',
    env: {
      ORKA_WATCH_NAMESPACES: tenant,
      ORKA_MUTATING_WEBHOOK: hookName,
      ORKA_VALIDATING_WEBHOOK: hookName,
      ORKA_SIDECAR_IMAGE: 'orka-secrets:test',
      // Small, so that the test sees them act; the request timeout leaves the flood below time
      // to be counted while it is held.
      ORKA_HTTP_HEADERS_TIMEOUT: '2s',
      ORKA_HTTP_REQUEST_TIMEOUT: '10s',
      ORKA_WEBHOOK_BODY_BUDGET: String(BUDGET),
      ORKA_WEBHOOK_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
    },
  });
  await operator.waitForLog(/resolver API and webhooks listening/);
});

afterAll(async () => {
  for (const s of opened) s.destroy();
  await removeWebhooks(kc, hookName);
  await operator?.stop();
});

describe('the resolver port answers only the resolver API', () => {
  it('refuses POST /webhooks/* at once, without reading the body, and closes the connection', async () => {
    const socket = await tls(operator.resolverPort);
    const seen = watch(socket);
    // 3 MiB announced, 64 KiB sent, the rest never: a server that reads the body waits for ever.
    socket.write(postHead('/webhooks/mutate-pods', 3 * MiB));
    socket.write(Buffer.alloc(64 * 1024, 'x'));
    await seen.closed;
    expect(seen.status).toBe(404);
    expect(await metric('orka_operator_http_refusals_total', 'listener="resolver",reason="wrong-port"')).toBe(1);
    expect(await metric('orka_operator_http_body_bytes_in_flight', 'listener="resolver"')).toBe(0);
    expect(operator.logs.some((l) => l.includes('"component":"webhook"'))).toBe(false);
  });
});

describe('the webhook listener under a flood of unfinished AdmissionReviews', () => {
  it('holds at most its body budget: the bodies past it are refused 503 and their connections closed', async () => {
    const part = 512 * 1024;
    const flood = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const seen = watch(await tls(operator.webhookPort));
        // Each announces 3 MiB (the largest review) and sends 512 KiB of it, then waits.
        seen.socket.write(postHead('/webhooks/mutate-pods', 3 * MiB));
        seen.socket.write(Buffer.alloc(part, 'x'));
        return seen;
      }),
    );
    // Every connection is either refused (503) or held with its 512 KiB counted in the gauge.
    const held = await eventually(async () => {
      const bytes = await metric('orka_operator_http_body_bytes_in_flight', 'listener="webhooks"');
      const refused = flood.filter((s) => s.status === 503).length;
      return bytes % part === 0 && refused + bytes / part === flood.length ? bytes : undefined;
    });
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(BUDGET);
    expect(await metric('orka_operator_http_refusals_total', 'listener="webhooks",reason="body-budget"')).toBe(flood.filter((s) => s.status === 503).length);
    // The request timeout closes the held ones (408), and their bytes are given back.
    await Promise.all(flood.map((s) => s.closed));
    expect(flood.filter((s) => s.status === 408)).toHaveLength(held / part);
    expect(await metric('orka_operator_http_body_bytes_in_flight', 'listener="webhooks"')).toBe(0);
  });

  it('closes idle and slow connections on every listener: no handshake, no request, unfinished headers', async () => {
    const { port, resolverPort, webhookPort } = operator;
    const quiet = [
      // TCP only, no TLS handshake (the handshake timeout), on both HTTPS listeners.
      watch(tcpConnect(resolverPort, '127.0.0.1')),
      watch(tcpConnect(webhookPort, '127.0.0.1')),
      // Handshake done, no request (the headers timeout).
      watch(await tls(resolverPort)),
      watch(await tls(webhookPort)),
      // The HTTP listener: nothing sent.
      watch(tcpConnect(port, '127.0.0.1')),
    ];
    const slow = [watch(await tls(resolverPort)), watch(await tls(webhookPort)), watch(tcpConnect(port, '127.0.0.1'))];
    for (const s of slow) s.socket.write('POST /v1/resolve HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    // Generous ceiling; the timeouts are 2 s. Node's defaults would keep them 60 s or more.
    await Promise.all([...quiet, ...slow].map((s) => s.closed));
    expect(await metric('orka_operator_http_refusals_total', 'listener="http",reason="timeout"')).toBeGreaterThanOrEqual(2);
  });

  it(`takes at most ${MAX_CONNECTIONS} connections at once; more are closed as they arrive`, async () => {
    const before = await metric('orka_operator_http_refusals_total', 'listener="webhooks",reason="connections"');
    const many = Array.from({ length: MAX_CONNECTIONS + 5 }, () => watch(tcpConnect(operator.webhookPort, '127.0.0.1')));
    await eventually(async () => ((await metric('orka_operator_http_refusals_total', 'listener="webhooks",reason="connections"')) - (before || 0) >= 5 ? true : undefined));
    expect((await metric('orka_operator_http_refusals_total', 'listener="webhooks",reason="connections"')) - (before || 0)).toBe(5);
    await Promise.all(many.map((s) => s.closed));
  });
});

describe('admission through the apiserver, on the webhook port', () => {
  it('injects an opted-in pod', async () => {
    await installWebhooks(kc, { name: hookName, url: `https://127.0.0.1:${operator.webhookPort}`, scope: hookName });
    await eventually(async () => ((await caBundlePublished(kc, hookName)) ? true : undefined));
    const pod = await kc.makeApiClient(CoreV1Api).createNamespacedPod({
      namespace: tenant,
      body: { metadata: { name: 'runner', labels: { 'orka.io/inject': 'true' } }, spec: { automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'runner:1' }] } },
    });
    expect(pod.metadata?.annotations?.['orka.io/status']).toBe('injected');
  });
});
