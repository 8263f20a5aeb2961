import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>>; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const text = () => chunks.join('');
  return { stream, text, lines: () => text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes JSON lines with the component, level label and ISO time', () => {
    const out = capture();
    createLogger({ name: 'operator' }, out.stream).child({ key: 'acme/api-key' }).info({ version: 3 }, 'stored');
    const [line] = out.lines();
    expect(line).toMatchObject({ level: 'info', service: 'operator', key: 'acme/api-key', version: 3, msg: 'stored' });
    expect(String(line?.time)).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('censors every field that could hold a value, a token or a key', () => {
    const out = capture();
    const log = createLogger({ name: 't', level: 'trace' }, out.stream);
    const canary = 'CANARY_7f3a';
    log.info({ value: canary, token: canary, privateKey: canary, keyPem: canary, data: { A: canary } }, 'top level');
    log.info({ secret: { value: canary, sealedValue: canary }, req: { headers: { authorization: `Bearer ${canary}` } } }, 'nested');
    log.info({ spec: { sealedValue: canary }, body: { template: canary, text: canary } }, 'specs and bodies');
    log.debug({ resolved: { values: [canary] } }, 'arrays under a sensitive name');
    expect(out.lines()).toHaveLength(4);
    expect(out.text()).not.toContain(canary);
    expect(out.text()).toContain('[REDACTED]');
  });

  it('respects the level', () => {
    const out = capture();
    createLogger({ name: 't', level: 'warn' }, out.stream).info('hidden');
    expect(out.text()).toBe('');
  });
});
