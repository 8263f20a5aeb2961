import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { REDACT_PATHS } from '../../../src/core/log-fields.js';
import { createLogger } from '../../../src/core/logger.js';
import { createSidecarLogger } from '../../../src/sidecar/log.js';

describe('the sidecar logger', () => {
  const logged = (level: string) => {
    const lines: string[] = [];
    return { lines, log: createSidecarLogger({ service: 'sidecar', level }, (line) => lines.push(line)) };
  };

  it('writes one JSON line in the operator logger\'s shape', () => {
    const { lines, log } = logged('info');
    log.info({ port: 8731 }, 'sidecar listening on 127.0.0.1');
    log.info('stopped');
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(Object.keys(first)).toEqual(['level', 'time', 'service', 'port', 'msg']);
    expect(first).toMatchObject({ level: 'info', service: 'sidecar', port: 8731, msg: 'sidecar listening on 127.0.0.1' });
    expect(lines[0]?.endsWith('}\n')).toBe(true);
    expect(JSON.parse(lines[1] as string)).toMatchObject({ level: 'info', msg: 'stopped' });
  });

  it('censors sensitive fields at the top level and one level down, without touching the caller\'s object', () => {
    const { lines, log } = logged('debug');
    const fields = { token: 'tok-123', err: { message: 'boom', value: 'secret-value' }, headers: { authorization: 'Bearer abc' }, name: 'API_KEY' };
    log.warn(fields, 'x');
    const line = lines[0] as string;
    for (const leaked of ['tok-123', 'secret-value', 'Bearer abc']) expect(line).not.toContain(leaked);
    expect(JSON.parse(line)).toMatchObject({ token: '[REDACTED]', err: { message: 'boom', value: '[REDACTED]' }, headers: { authorization: '[REDACTED]' }, name: 'API_KEY' });
    expect(fields.token).toBe('tok-123');
  });

  // Every path the operator's pino logger censors, the sidecar's censors the same way: the same
  // fields in the line, and the canary planted at that path in neither.
  it.each(REDACT_PATHS.map((path) => [path]))('censors %s as the operator\'s pino logger does', (path) => {
    const canary = `canary-${path}`;
    const fields: Record<string, unknown> = { name: 'API_KEY' };
    let node = fields;
    const segments = path.split('.').map((segment) => (segment === '*' ? 'anyField' : segment));
    segments.forEach((segment, i) => {
      if (i === segments.length - 1) node[segment] = canary;
      else node = (node[segment] ??= {}) as Record<string, unknown>;
    });
    const { lines, log } = logged('info');
    log.info(fields, 'x');
    const pinoLines: string[] = [];
    createLogger({ name: 'sidecar' }, { write: (line: string) => void pinoLines.push(line) }).info(fields, 'x');
    const strip = (line: string) => {
      const { time: _time, pid: _pid, hostname: _host, ...rest } = JSON.parse(line) as Record<string, unknown>;
      return rest;
    };
    expect(lines[0]).not.toContain(canary);
    expect(pinoLines[0]).not.toContain(canary);
    expect(strip(lines[0] as string)).toEqual(strip(pinoLines[0] as string));
  });

  it('writes nothing below its level', () => {
    const { lines, log } = logged('warn');
    log.info('no');
    log.debug('no');
    log.error('yes');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['yes']);
    const silent = logged('silent');
    silent.log.error('no');
    expect(silent.lines).toEqual([]);
  });

  // Every runner pod pays for what the sidecar loads: pino cost it about 2 MiB, express 26, zod 18.
  // eventsource-parser (the change stream) is the one package, measured at under 1 MiB.
  it('keeps npm packages out of the sidecar\'s bundle but eventsource-parser', async () => {
    const result = await build({ entryPoints: ['src/sidecar/main.ts'], bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent' });
    const packages = new Set(Object.keys(result.metafile.inputs).flatMap((path) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? []));
    expect([...packages]).toEqual(['eventsource-parser']);
  });
});
