/**
 * A TCP proxy for tests: forwards each connection to a port chosen per connection, optionally
 * holding every chunk from the server for a fixed delay (order kept: equal delays fire in order).
 * TLS passes through untouched, so the client still checks the real server's certificate.
 * Used to put one operator replica's view of the apiserver seconds behind, and to send a
 * sidecar's change stream and its resolve calls to different replicas.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** A running proxy. */
export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** From now on every byte either way is dropped and nothing is closed: a peer gone silent. */
  blackhole(): void;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1; `target(n)` is the port for the n-th connection (0-based). */
export async function startTcpProxy(options: { target: (n: number) => number; delayMs?: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const state = { connections: 0, silent: false };
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: options.target(state.connections++) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    const delay = options.delayMs ?? 0;
    client.on('data', (chunk: Buffer) => {
      if (!state.silent) upstream.write(chunk);
    });
    client.on('end', () => state.silent || upstream.end());
    upstream.on('data', (chunk: Buffer) => {
      if (state.silent) return;
      if (delay === 0) client.write(chunk);
      else setTimeout(() => client.write(chunk), delay);
    });
    upstream.on('end', () => state.silent || setTimeout(() => client.end(), delay));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => state.silent || setTimeout(() => client.destroy(), delay));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return state.connections;
    },
    blackhole: () => {
      state.silent = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
