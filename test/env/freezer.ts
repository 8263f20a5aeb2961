/**
 * A TCP proxy that can freeze: while frozen it still accepts connections but answers nothing,
 * and the connections it already carries stop moving in both directions. That is what a replica
 * sees when its network to the apiserver is partitioned (or a middlebox hangs): no refusal, no
 * reset, just silence. Thawing lets everything held flow again, as a healed partition does
 * (TCP retransmits what waited).
 *
 * Bytes pass through untouched (TLS ends at the real server), so a kubeconfig that points at the
 * proxy's 127.0.0.1 port works with the server's own certificate.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

/** A running freezing proxy. */
export interface FreezingProxy {
  port: number;
  readonly frozen: boolean;
  /** Stops every byte, held connections and new ones alike. */
  freeze(): void;
  /** Lets everything flow again. */
  thaw(): void;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 (a free port) to `target` ("host:port"). */
export async function startFreezingProxy(target: { host: string; port: number }): Promise<FreezingProxy> {
  let frozen = false;
  const pairs = new Set<{ client: Socket; upstream?: Socket }>();
  const waiting = new Set<() => void>();

  const wire = (pair: { client: Socket; upstream?: Socket }) => {
    const upstream = connect(target.port, target.host);
    pair.upstream = upstream;
    // pause/resume instead of pipe's flow control alone: a paused socket stops reading, so the
    // kernel buffers fill and the sender is stalled, exactly as on a silent network.
    pair.client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => pair.client.write(chunk));
    const end = () => {
      pair.client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    pair.client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
    if (frozen) {
      pair.client.pause();
      upstream.pause();
    }
  };

  const server: Server = createServer((client) => {
    const pair: { client: Socket; upstream?: Socket } = { client };
    pairs.add(pair);
    client.on('error', () => pairs.delete(pair));
    if (!frozen) return wire(pair);
    // Accepted, never answered until the thaw.
    client.pause();
    const later = () => {
      waiting.delete(later);
      if (!client.destroyed) wire(pair);
      client.resume();
    };
    waiting.add(later);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    get frozen() {
      return frozen;
    },
    freeze() {
      frozen = true;
      for (const { client, upstream } of pairs) {
        client.pause();
        upstream?.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const later of [...waiting]) later();
      for (const { client, upstream } of pairs) {
        client.resume();
        upstream?.resume();
      }
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes a copy of a kubeconfig whose server is the proxy; returns its path. */
export function kubeconfigThrough(kubeconfigPath: string, proxy: FreezingProxy, outPath: string): string {
  const config = parse(readFileSync(kubeconfigPath, 'utf8')) as { clusters: Array<{ cluster: { server: string } }> };
  for (const c of config.clusters) c.cluster.server = `https://127.0.0.1:${proxy.port}`;
  writeFileSync(outPath, stringify(config), { mode: 0o600 });
  return outPath;
}

/** The host and port of an https URL (the apiserver's). */
export function hostPort(server: string): { host: string; port: number } {
  const url = new URL(server);
  return { host: url.hostname, port: Number(url.port || 443) };
}
