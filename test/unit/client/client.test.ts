import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OrkaSecretsClient } from '../../../src/client/index.js';
import { startupProbe } from '../../../src/operator/admission/inject.js';

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A stand-in sidecar answering every GET with one value. */
function listen(port: number): Promise<unknown> {
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ name: 'API_KEY', value: 'v1', status: 'ok' }));
  });
  servers.push(server);
  return once(server.listen(port, '127.0.0.1'), 'listening');
}

describe('OrkaSecretsClient start-up order', () => {
  it('retries refused connections until the sidecar listens (the runner started first)', async () => {
    const port = await freePort();
    let refused = 0;
    let starting: Promise<unknown> | undefined;
    // The sidecar starts only once the client has been refused: no race with a timer.
    const probing: typeof fetch = async (input, init) => {
      try {
        return await fetch(input, init);
      } catch (err) {
        refused++;
        starting ??= listen(port);
        throw err;
      }
    };
    const client = new OrkaSecretsClient({ baseUrl: `http://127.0.0.1:${port}`, fetch: probing, connectRetryMs: 30_000 });
    expect(await client.get('API_KEY')).toBe('v1');
    expect(refused).toBeGreaterThanOrEqual(1);
  });

  it('gives up with UPSTREAM_UNAVAILABLE after the configured time, saying so', async () => {
    const port = await freePort();
    const client = new OrkaSecretsClient({ baseUrl: `http://127.0.0.1:${port}`, connectRetryMs: 300 });
    await expect(client.get('API_KEY')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', message: expect.stringContaining('refused for 300 ms') });
    const never = new OrkaSecretsClient({ baseUrl: `http://127.0.0.1:${port}`, connectRetryMs: 0 });
    await expect(never.get('API_KEY')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });
});

describe('the injected startup probe', () => {
  // The probe's own command, run here with this Node in place of the image's.
  const run = async (port: number) => {
    const [, ...args] = startupProbe(port).exec?.command ?? [];
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    const [code] = (await once(child, 'exit')) as [number | null];
    return code;
  };

  it('passes once /healthz answers 200 on 127.0.0.1, fails before', async () => {
    const port = await freePort();
    expect(await run(port)).toBe(1);
    await listen(port);
    expect(await run(port)).toBe(0);
  });
});
