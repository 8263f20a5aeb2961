/**
 * The upstream client's connections to a real local HTTPS server: a sidecar whose operator
 * restarts retries many times, and every attempt must reuse the client's one TLS context. Built
 * per connection (what `ca` on the agent does), each attempt cost an OpenSSL SSL_CTX and a parsed
 * CA that no GC gave back: the sidecar grew while the operator flapped (issue 17, item 6).
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as httpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOrkaError } from '../../../src/core/errors.js';
import { createLogger } from '../../../src/core/logger.js';
import { createCA, issueServingCert, type CertifiedKey } from '../../../src/core/pki.js';
import { createSidecarApp } from '../../../src/sidecar/app.js';
import { ValueCache } from '../../../src/sidecar/cache.js';
import { Lookup } from '../../../src/sidecar/lookup.js';
import { createSidecarMetrics } from '../../../src/sidecar/metrics.js';
import { refusalDelay, retryAfterMs, Upstream, type StreamRefusal } from '../../../src/sidecar/upstream.js';

// The CommonJS module object: node's TLS socket code calls createSecureContext through it, so
// wrapping it here counts the contexts that connections build (the Upstream's own, made through
// the ES binding at construction, is not counted).
const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Rounds bound it too (10 ms each): a test that fakes the clock cannot make it spin forever.
  for (let round = 0; !condition(); round++) {
    if (Date.now() > deadline || round > timeoutMs / 10) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let dir: string;
let tokenFile: string;
let ca: CertifiedKey;
let serving: CertifiedKey;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'orka-upstream-'));
  tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'a-token');
  const now = new Date();
  ca = createCA({ commonName: 'test operator CA', now, validDays: 1 });
  serving = issueServingCert({ ca, hosts: ['127.0.0.1'], now, validDays: 1 });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in operator: a change stream that says `ready`, and resolves that find nothing. */
async function operator(port = 0, options: { keepAliveTimeout?: number } = {}): Promise<Server> {
  const server = createServer({ cert: serving.certPem, key: serving.keyPem, ...options }, (req, res) => {
    if (req.url === '/v1/changes') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ready\ndata: {}\n\n');
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const { names } = JSON.parse(body) as { names: string[] };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ values: {}, missing: names, revisions: {} }));
    });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

describe('Upstream connections', () => {
  it('reuse one TLS context across reconnects, refused attempts and resolves', { timeout: 60_000 }, async () => {
    let server = await operator();
    const port = (server.address() as AddressInfo).port;
    const original = tls.createSecureContext;
    let contexts = 0;
    tls.createSecureContext = (options) => {
      // Client contexts only: the servers here build theirs (with a key) on each start.
      if (options?.key === undefined) contexts++;
      return original(options);
    };
    const upstream = new Upstream({ baseUrl: `https://127.0.0.1:${port}`, tokenFile, caPem: ca.certPem, timeoutMs: 5000 });
    let ups = 0;
    let downs = 0;
    const stream = upstream.follow(
      () => undefined,
      (up) => (up ? ups++ : downs++),
    );
    try {
      await until(() => ups === 1, 'the first connection');
      const RESTARTS = 5;
      for (let i = 0; i < RESTARTS; i++) {
        await upstream.resolve(['A']);
        await stop(server);
        // Several refused attempts while the operator is away, as during a pod restart.
        const downsBefore = downs;
        await until(() => downs >= downsBefore + 4, 'refused reconnect attempts');
        server = await operator(port);
        await until(() => ups === i + 2, `reconnect ${i + 1}`);
      }
      await upstream.resolve(['A']);
      expect(downs).toBeGreaterThanOrEqual(RESTARTS * 4);
      // Before: one per connection attempt (here about 30).
      expect(contexts).toBe(0);
    } finally {
      tls.createSecureContext = original;
      stream.stop();
      upstream.close();
      await stop(server);
    }
  });

  it('still trusts only the given CA', async () => {
    const server = await operator();
    const other = createCA({ commonName: 'another CA', now: new Date(), validDays: 1 });
    const upstream = new Upstream({ baseUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, tokenFile, caPem: other.certPem, timeoutMs: 5000 });
    try {
      const err: unknown = await upstream.resolve(['A']).catch((e: unknown) => e);
      expect(isOrkaError(err) && err.code).toBe('UPSTREAM_UNAVAILABLE');
      expect((err as Error).message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|self.signed|unable to verify/i);
    } finally {
      upstream.close();
      await stop(server);
    }
  });

  it('closes an idle connection before the operator does, so a request never meets its close', { timeout: 60_000 }, async () => {
    // The operator closes connections idle for its keepAliveTimeout, and says so in every answer
    // (`Keep-Alive: timeout=N`). A client that keeps the connection longer may send its next
    // request just as the server closes it: ECONNRESET. Node's agent heeds the hint only when it
    // has an idle timeout of its own; before, the sidecar had none and waited for the server.
    const server = await operator(0, { keepAliveTimeout: 2000 });
    const ended: boolean[] = [];
    server.on('secureConnection', (socket) => socket.on('close', () => ended.push(socket.readableEnded)));
    const upstream = new Upstream({ baseUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, tokenFile, caPem: ca.certPem, timeoutMs: 5000 });
    try {
      await upstream.resolve(['A']);
      await until(() => ended.length === 1, 'the idle connection to close', 30_000);
      // readableEnded: the server read the client's FIN, the client closed first.
      expect(ended).toEqual([true]);
    } finally {
      upstream.close();
      await stop(server);
    }
  });
});

/**
 * Runs `check` against a stand-in operator that answers the n-th resolve (0-based) with
 * `answer(n)`: a status, 'cut' (the connection destroyed without an answer) or 'silent' (never
 * answers), a 200 from the view `view(n)` when given; `asked` counts the requests and the
 * distinct connections they came on.
 */
async function against(
  answer: (n: number) => number | 'cut' | 'silent',
  check: (upstream: Upstream, asked: () => { requests: number; connections: number }) => Promise<void>,
  timeoutMs = 5000,
  view?: (n: number) => string,
): Promise<void> {
  let requests = 0;
  const sockets = new Set<unknown>();
  const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    sockets.add(req.socket);
    const n = requests++;
    const what = answer(n);
    req.resume();
    req.on('end', () => {
      if (what === 'silent') return;
      if (what === 'cut') return req.socket.destroy();
      res.writeHead(what, { 'content-type': 'application/json' });
      const found = { values: { A: 'a' }, missing: [], revisions: {}, ...(view === undefined ? {} : { view: view(n) }) };
      res.end(JSON.stringify(what === 200 ? found : { error: { code: what === 400 ? 'INVALID_REQUEST' : 'UPSTREAM_UNAVAILABLE', message: `answered ${what}` } }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const upstream = new Upstream({ baseUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, tokenFile, caPem: ca.certPem, timeoutMs });
  try {
    await check(upstream, () => ({ requests, connections: sockets.size }));
  } finally {
    upstream.close();
    await stop(server);
  }
}

/** The error a resolve fails with. */
const failure = (upstream: Upstream): Promise<unknown> => upstream.resolve(['A']).then(() => undefined, (e: unknown) => e);

describe('Upstream.resolve asks again only what another try may answer', () => {
  it.each([401, 403, 400, 500])('a %i is the answer: asked once', async (status) => {
    await against(() => status, async (upstream, asked) => {
      expect(isOrkaError(await failure(upstream))).toBe(true);
      expect(asked().requests).toBe(1);
    });
  });

  it('a 503 is asked again once, on a new connection', async () => {
    await against((n) => (n === 0 ? 503 : 200), async (upstream, asked) => {
      expect((await upstream.resolve(['A'])).values).toEqual({ A: 'a' });
      expect(asked()).toEqual({ requests: 2, connections: 2 });
    });
  });

  it('a 503 again is the answer: two asks, not a loop over the whole timeout', async () => {
    await against(() => 503, async (upstream, asked) => {
      const err = await failure(upstream);
      expect(isOrkaError(err) && err.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(asked().requests).toBe(2);
    });
  });

  it('connections cut without an answer are asked again until one answers', async () => {
    await against((n) => (n < 3 ? 'cut' : 200), async (upstream, asked) => {
      expect((await upstream.resolve(['A'])).values).toEqual({ A: 'a' });
      expect(asked()).toEqual({ requests: 4, connections: 4 });
    });
  });

  it('a timeout is not asked again: the budget is spent', async () => {
    await against(() => 'silent', async (upstream, asked) => {
      const err = await failure(upstream);
      expect(isOrkaError(err) && err.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(asked().requests).toBe(1);
    }, 300);
  });

  it('a refused connection is asked again until the timeout, then UPSTREAM_UNAVAILABLE (never another error)', async () => {
    const server = await operator();
    const port = (server.address() as AddressInfo).port;
    await stop(server);
    const upstream = new Upstream({ baseUrl: `https://127.0.0.1:${port}`, tokenFile, caPem: ca.certPem, timeoutMs: 300 });
    try {
      const err = await failure(upstream);
      expect(isOrkaError(err) && err.code).toBe('UPSTREAM_UNAVAILABLE');
      expect((err as Error).message).toContain('ECONNREFUSED');
    } finally {
      upstream.close();
    }
  });
});

describe('Upstream.resolve and the floor of views', () => {
  it('asks an answer from a view behind the floor again, on a new connection, and takes the next one at the floor', async () => {
    await against(() => 200, async (upstream, asked) => {
      upstream.floor.hear(100);
      const answer = await upstream.resolve(['A']);
      expect(answer.view).toBe(100);
      expect(asked()).toEqual({ requests: 3, connections: 3 });
      // Taken answers raise the floor.
      expect(upstream.floor.value).toBe(100);
    }, 5000, (n) => (n < 2 ? '90' : '100'));
  });

  it('gives up with UPSTREAM_UNAVAILABLE once the timeout is spent, if every replica stays behind', async () => {
    await against(() => 200, async (upstream, asked) => {
      upstream.floor.hear(100);
      const err = await failure(upstream);
      expect(isOrkaError(err) && err.code).toBe('UPSTREAM_UNAVAILABLE');
      expect((err as Error).message).toMatch(/not caught up with revision 100/);
      expect(asked().requests).toBeGreaterThan(1);
    }, 600, () => '99');
  });

  it('raises the floor with a newer answer, and takes an answer without a view (an operator from before views)', async () => {
    await against(() => 200, async (upstream) => {
      upstream.floor.hear(100);
      expect((await upstream.resolve(['A'])).view).toBe(120);
      expect(upstream.floor.value).toBe(120);
    }, 5000, () => '120');
    await against(() => 200, async (upstream, asked) => {
      upstream.floor.hear(100);
      expect((await upstream.resolve(['A'])).values).toEqual({ A: 'a' });
      expect(asked().requests).toBe(1);
    });
  });

  it('raises the floor with every frame of the change stream, pings included', async () => {
    const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ready\ndata: {"age":0,"view":"10"}\n\n');
      res.write('event: ping\ndata: {"age":0,"view":"12"}\n\n');
      res.write('event: changed\ndata: {"name":"A","revision":"14","deleted":true,"view":"15"}\n\n');
      res.write('event: ping\ndata: {"age":0}\n\n');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const upstream = new Upstream({ baseUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, tokenFile, caPem: ca.certPem, timeoutMs: 5000 });
    const changes: unknown[] = [];
    const stream = upstream.follow(
      (change) => changes.push(change),
      () => undefined,
    );
    try {
      await until(() => changes.length === 1, 'the change');
      await until(() => upstream.floor.value === 15, 'the floor to rise');
      expect(changes).toEqual([{ name: 'A', revision: '14', deleted: true }]);
    } finally {
      stream.stop();
      upstream.close();
      await stop(server);
    }
  });

  it('reads the change stream as server-sent events: CRLF line ends, comments, a frame split across writes', async () => {
    const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': a comment line, as proxies send to keep a stream open\r\n\r\n');
      res.write('event: ready\r\ndata: {"age":0,"view":"10"}\r\n\r\n');
      res.write('event: changed\r\ndata: {"name":"A","rev');
      setTimeout(() => res.write('ision":"14","deleted":false,"view":"15"}\r\n\r\n'), 50);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const upstream = new Upstream({ baseUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, tokenFile, caPem: ca.certPem, timeoutMs: 5000 });
    const changes: unknown[] = [];
    const states: boolean[] = [];
    const stream = upstream.follow(
      (change) => changes.push(change),
      (up) => states.push(up),
    );
    try {
      await until(() => changes.length === 1, 'the change');
      expect(changes).toEqual([{ name: 'A', revision: '14', deleted: false }]);
      expect(states[0]).toBe(true);
      expect(upstream.floor.value).toBe(15);
    } finally {
      stream.stop();
      upstream.close();
      await stop(server);
    }
  });
});

/** A stand-in operator whose every request is answered by `handle`; `at` holds when each came (ms, performance.now). */
async function standIn(handle: (n: number, req: IncomingMessage, res: ServerResponse) => void, check: (upstream: Upstream, at: number[]) => Promise<void>, options: { refusedBackoffMaxMs?: number } = {}): Promise<void> {
  const at: number[] = [];
  const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    at.push(performance.now());
    req.resume();
    req.on('end', () => handle(at.length - 1, req, res));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const upstream = new Upstream({ baseUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, tokenFile, caPem: ca.certPem, timeoutMs: 5000, ...options });
  try {
    await check(upstream, at);
  } finally {
    upstream.close();
    await stop(server);
  }
}

/** Answers an error body with its status (and a Retry-After when given). */
function refuse(res: ServerResponse, status: number, code: string, retryAfter?: number): void {
  res.writeHead(status, { 'content-type': 'application/json', ...(retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) }) });
  res.end(JSON.stringify({ error: { code, message: `refused with ${status}`, ...(retryAfter === undefined ? {} : { retryAfter }) } }));
}

describe('refusalDelay: the change stream after a refusal (401, 403, 429)', () => {
  const CAP = 30_000;
  it.each([
    // refusals in a row, Retry-After ms, random -> wait
    [0, 0, 0, 500],
    [0, 0, 1, 1000],
    [1, 0, 0, 1000],
    [3, 0, 1, 8000],
    [4, 0, 0.5, 12_000],
    [5, 0, 1, CAP],
    [40, 0, 0, CAP / 2],
    [0, 5000, 0, 5000], // Retry-After honoured
    [0, 5000, 1, 6000], // and spread by up to a fifth
    [4, 5000, 0, 8000], // the backoff, when longer
    [0, 600_000, 1, CAP], // capped
  ])('refusal %i, Retry-After %i ms, random %d: waits %i ms', (refusals, retryAfter, random, want) => {
    expect(refusalDelay(refusals, retryAfter, CAP, () => random)).toBe(want);
  });

  it('never comes back within half a second, never waits past the cap', () => {
    for (let n = 0; n < 60; n++) {
      const wait = refusalDelay(n, n * 1000, CAP);
      expect(wait).toBeGreaterThanOrEqual(500);
      expect(wait).toBeLessThanOrEqual(CAP);
    }
  });

  it.each([
    ['5', 5000],
    [' 12 ', 12_000],
    [undefined, 0],
    ['Wed, 21 Oct 2015 07:28:00 GMT', 0],
    ['-3', 0],
  ])('reads Retry-After %j as %i ms', (header, ms) => {
    expect(retryAfterMs(header)).toBe(ms);
  });
});

/** Answers a change stream that says `ready`. */
function ready(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write('event: ready\ndata: {}\n\n');
}

/** Follows the change stream until it is up; the refusals the upstream told of on the way. */
async function followUntilUp(upstream: Upstream): Promise<StreamRefusal[]> {
  const refusals: StreamRefusal[] = [];
  let up = false;
  const stream = upstream.follow(() => undefined, (u) => (up = u), (r) => refusals.push(r));
  try {
    await until(() => up, 'the stream after its refusals');
  } finally {
    stream.stop();
  }
  return refusals;
}

describe('Upstream.follow backs off when the operator refuses the stream', () => {
  it('waits at least the backoff between refusals (401, 403) and says why, once per refusal', { timeout: 30_000 }, async () => {
    const answers: Array<[number, string]> = [
      [401, 'UNAUTHENTICATED'],
      [403, 'FORBIDDEN'],
      [401, 'UNAUTHENTICATED'],
    ];
    await standIn(
      (n, _req, res) => (n < answers.length ? refuse(res, ...(answers[n] as [number, string])) : ready(res)),
      async (upstream, at) => {
        const refusals = await followUntilUp(upstream);
        // Before: the next attempt within 100, 200, 400 ms (the reconnect delay), for ever.
        expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(500 - 5);
        expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(1000 - 5);
        expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(1500 - 5);
        expect(refusals.map((r) => [r.status, r.code])).toEqual(answers);
      },
      { refusedBackoffMaxMs: 3000 },
    );
  });

  it('honours the Retry-After of a 429', { timeout: 30_000 }, async () => {
    await standIn(
      (n, _req, res) => (n === 0 ? refuse(res, 429, 'TOO_MANY_REQUESTS', 2) : ready(res)),
      async (upstream, at) => {
        const refusals = await followUntilUp(upstream);
        expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(2000 - 5);
        expect(refusals).toEqual([{ status: 429, code: 'TOO_MANY_REQUESTS', message: 'refused with 429', retryInMs: expect.any(Number) }]);
        expect(refusals[0]!.retryInMs).toBeGreaterThanOrEqual(2000);
      },
    );
  });
});

describe('a resolve refused with 429', () => {
  it('is TOO_MANY_REQUESTS with retryAfter, and not sent again until then', async () => {
    await standIn(
      (_n, _req, res) => refuse(res, 429, 'TOO_MANY_REQUESTS', 3),
      async (upstream, at) => {
        for (let i = 0; i < 3; i++) {
          const err = await failure(upstream);
          expect(isOrkaError(err) && [err.code, err.status, err.details.retryAfter]).toEqual(['TOO_MANY_REQUESTS', 429, i === 0 ? 3 : expect.any(Number)]);
        }
        expect(at).toHaveLength(1);
      },
    );
  });

  it('reaches the runner as 429 TOO_MANY_REQUESTS with Retry-After, through the sidecar API', async () => {
    await standIn(
      (_n, _req, res) => refuse(res, 429, 'TOO_MANY_REQUESTS', 7),
      async (upstream) => {
        const cache = new ValueCache({ maxEntries: 10, staleAfterMs: 30_000 });
        const metrics = createSidecarMetrics();
        const lookup = new Lookup({ cache, resolve: (n) => upstream.resolve(n), metrics, staleWaitMs: 400 });
        const app = httpServer(createSidecarApp({ maxBodyBytes: 65_536, cache, lookup, metrics, log: createLogger({ name: 't', level: 'silent' }) })).listen(0, '127.0.0.1');
        await once(app, 'listening');
        try {
          const port = (app.address() as AddressInfo).port;
          const res = await fetch(`http://127.0.0.1:${port}/v1/secrets/API_KEY`, { headers: { 'x-orka-request': 'true' } });
          expect(res.status).toBe(429);
          expect(res.headers.get('retry-after')).toBe('7');
          expect(((await res.json()) as { error: { code: string; retryAfter: number } }).error).toMatchObject({ code: 'TOO_MANY_REQUESTS', retryAfter: 7 });
        } finally {
          app.close();
        }
      },
    );
  });
});

describe('Upstream.follow: revocation', () => {
  /** An operator whose change stream answers with `answer` (a real local HTTPS server). */
  async function streamServer(answer: (res: ServerResponse) => void): Promise<Server> {
    const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => (req.url === '/v1/changes' ? answer(res) : res.writeHead(404).end()));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return server;
  }
  /** Follows `server`'s stream until `done` holds; what the callbacks saw. */
  async function follow(server: Server, done: (seen: { revoked: number; refusals: StreamRefusal[]; ups: number }) => boolean) {
    const upstream = new Upstream({ baseUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, tokenFile, caPem: ca.certPem, timeoutMs: 5000, refusedBackoffMaxMs: 50 });
    const seen = { revoked: 0, refusals: [] as StreamRefusal[], ups: 0 };
    const stream = upstream.follow(() => undefined, (up) => void (up && seen.ups++), (r) => seen.refusals.push(r), () => seen.revoked++);
    try {
      await until(() => done(seen), 'the stream to be answered');
    } finally {
      stream.stop();
      upstream.close();
      await stop(server);
    }
    return seen;
  }

  it('`event: revoked` on an open 200 stream: onRevoked, and no refusal (the connection stays open)', { timeout: 30_000 }, async () => {
    let open = 0;
    const server = await streamServer((res) => {
      open++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ready\ndata: {}\n\n');
      res.write('event: revoked\ndata: {}\n\n');
      // No end: the operator keeps the stream; the sidecar must act on the frame, not the close.
    });
    const seen = await follow(server, (s) => s.revoked > 0);
    expect(seen).toMatchObject({ revoked: 1, refusals: [], ups: 1 });
    expect(open).toBe(1);
  });

  it('a 401 refusal of the stream: onRevoked and onRefused (with the body\'s code); a 429 only onRefused (control)', { timeout: 30_000 }, async () => {
    const refuse = (status: number) => (res: ServerResponse) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: status === 401 ? 'UNAUTHORIZED' : 'TOO_MANY_REQUESTS', message: 'no' } }));
    };
    const unauthorized = await follow(await streamServer(refuse(401)), (s) => s.refusals.length > 0);
    expect(unauthorized.revoked).toBeGreaterThanOrEqual(1);
    expect(unauthorized.refusals[0]).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    const busy = await follow(await streamServer(refuse(429)), (s) => s.refusals.length > 0);
    expect(busy.revoked).toBe(0);
    expect(busy.refusals[0]).toMatchObject({ status: 429 });
  });
});
