/**
 * POST /v1/quit and the client's close(): a Job's runner ends the classic-form sidecar so the
 * pod can complete. The sidecar app with a real client, no fixed port.
 */
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OrkaSecretsClient } from '../../../src/client/index.js';
import { createLogger } from '../../../src/core/logger.js';
import { createSidecarApp } from '../../../src/sidecar/app.js';
import { ValueCache } from '../../../src/sidecar/cache.js';
import { Lookup } from '../../../src/sidecar/lookup.js';
import { createSidecarMetrics } from '../../../src/sidecar/metrics.js';

let server: Server | undefined;
afterEach(() => server?.close());

async function sidecar(quit?: () => void): Promise<number> {
  const cache = new ValueCache({ maxEntries: 10, staleAfterMs: 30_000 });
  const metrics = createSidecarMetrics();
  const lookup = new Lookup({ cache, resolve: () => Promise.resolve({ values: {}, missing: [], revisions: {} }), metrics, staleWaitMs: 10 });
  const app = createSidecarApp({ maxBodyBytes: 1024, cache, lookup, metrics, log: createLogger({ name: 't', level: 'silent' }), ...(quit ? { quit } : {}) });
  server = createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function post(port: number, headers: Record<string, string>): Promise<{ status: number; body: { error?: { code: string } } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/quit', method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}') as never }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('POST /v1/quit', () => {
  it('close() asks the sidecar to quit, which it does once the answer is sent', async () => {
    let quits = 0;
    const answered = new Promise<void>((resolve) => {
      void sidecar(() => {
        quits++;
        resolve();
      }).then((port) => new OrkaSecretsClient({ baseUrl: `http://127.0.0.1:${port}` }).close());
    });
    await answered;
    expect(quits).toBe(1);
  });

  it.each([
    ['without X-Orka-Request', (port: number) => ({ host: `127.0.0.1:${port}` })],
    ['with a foreign Host', () => ({ host: 'evil.example:80', 'x-orka-request': 'true' })],
  ])('is refused %s (the same rules as every /v1 call), and nothing quits', async (_what, headers) => {
    let quits = 0;
    const port = await sidecar(() => quits++);
    const res = await post(port, headers(port));
    expect(res.status).toBe(403);
    expect(res.body.error?.code).toBe('FORBIDDEN');
    expect(quits).toBe(0);
  });

  it('is not found where the sidecar was built without a way to quit', async () => {
    const port = await sidecar();
    expect((await post(port, { host: `127.0.0.1:${port}`, 'x-orka-request': 'true' })).status).toBe(404);
  });
});
