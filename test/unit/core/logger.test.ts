import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { BatchedDestination, createLogger, fixedLine } from '../../../src/core/logger.js';

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

describe('BatchedDestination', () => {
  function writer(): { writes: string[]; synced: number; out: { write: (t: string) => void; flushSync: () => void } } {
    const state = { writes: [] as string[], synced: 0, out: { write: (t: string) => void state.writes.push(t), flushSync: () => void state.synced++ } };
    return state;
  }

  it('hands many lines to the writer in one write, after the flush period', async () => {
    const w = writer();
    const dest = new BatchedDestination(w.out, { flushMs: 20, batchChars: 1 << 20 });
    const log = createLogger({ name: 'operator' }, dest).child({ component: 'audit' });
    for (let i = 0; i < 50; i++) log.info({ n: i }, 'resolve');
    expect(w.writes).toEqual([]);
    await vi.waitFor(() => expect(w.writes).toHaveLength(1), { timeout: 10_000 });
    const lines = (w.writes[0] as string).trim().split('\n').map((l) => JSON.parse(l) as { n: number; msg: string });
    expect(lines.map((l) => l.n)).toEqual([...Array(50).keys()]);
  });

  it('writes at once when the batch is full, and keeps the rest for the timer', async () => {
    const w = writer();
    const dest = new BatchedDestination(w.out, { flushMs: 20, batchChars: 100 });
    dest.write(`${'a'.repeat(60)}\n`);
    dest.write(`${'b'.repeat(60)}\n`);
    expect(w.writes).toEqual([`${'a'.repeat(60)}\n${'b'.repeat(60)}\n`]);
    dest.write('c\n');
    await vi.waitFor(() => expect(w.writes).toHaveLength(2), { timeout: 10_000 });
    expect(w.writes[1]).toBe('c\n');
  });

  it('flushSync writes what waits and what the writer holds', () => {
    const w = writer();
    const dest = new BatchedDestination(w.out, { flushMs: 60_000, batchChars: 1 << 20 });
    dest.write('one\n');
    dest.write('two\n');
    dest.flushSync();
    expect(w.writes).toEqual(['one\ntwo\n']);
    expect(w.synced).toBe(1);
  });

  it('loses no line when the process exits right after logging (batchedStdout)', () => {
    // A real process and a real pipe: 2,000 lines, then process.exit before any timer could run.
    const script = `import { batchedStdout, createLogger } from ${JSON.stringify(fileURLToPath(new URL('../../../src/core/logger.ts', import.meta.url)))};
const log = createLogger({ name: 'operator' }, batchedStdout()).child({ component: 'audit' });
for (let i = 0; i < 2000; i++) log.info({ n: i }, 'resolve');
process.exit(0);`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const ns = out.trim().split('\n').map((l) => (JSON.parse(l) as { n: number }).n);
    expect(ns).toEqual([...Array(2000).keys()]);
  });

  it('loses no line at exit while the thread pool is busy (a graceful stop of a busy operator)', () => {
    // The operator's thread pool unseals (RSA) and makes key pairs: an asynchronous write queued
    // behind that work had not happened yet when the process exited, and its lines were lost.
    const script = `import { pbkdf2 } from 'node:crypto';
import { batchedStdout, createLogger } from ${JSON.stringify(fileURLToPath(new URL('../../../src/core/logger.ts', import.meta.url)))};
const log = createLogger({ name: 'operator' }, batchedStdout());
for (let i = 0; i < 8; i++) pbkdf2('busy', 'pool', 200_000, 32, 'sha256', () => undefined);
log.info('released the lease');
log.info('stopped');
process.exit(0);`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '2' } });
    expect(out.trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['released the lease', 'stopped']);
  });
});

describe('fixedLine', () => {
  const fields = ['tenant', 'pod', 'names', 'missing', 'outcome'] as const;
  const values = { tenant: 'acme', pod: 'runner-1', names: ['API_KEY', 'DB_"PASS"\\'], missing: [], outcome: undefined };

  it('writes the line the logger writes for the same fields, level and message (time aside)', () => {
    const viaPino = capture();
    const viaFixed = capture();
    createLogger({ name: 'operator' }, viaPino.stream).child({ component: 'audit' }).info(values, 'resolve');
    fixedLine(createLogger({ name: 'operator' }, viaFixed.stream).child({ component: 'audit' }), 'info', 'resolve', fields)(values);
    const withoutTime = (text: string) => text.replace(/"time":"[^"]*"/, '"time":"T"');
    expect(withoutTime(viaFixed.text())).toBe(withoutTime(viaPino.text()));
    expect(viaFixed.lines()[0]).toMatchObject({ level: 'info', service: 'operator', component: 'audit', tenant: 'acme', names: ['API_KEY', 'DB_"PASS"\\'], missing: [], msg: 'resolve' });
  });

  it('respects the level', () => {
    const out = capture();
    fixedLine(createLogger({ name: 'operator', level: 'warn' }, out.stream), 'info', 'resolve', fields)(values);
    expect(out.text()).toBe('');
  });

  it('refuses a field the logger would redact', () => {
    expect(() => fixedLine(createLogger({ name: 'operator' }), 'info', 'resolve', ['tenant', 'values'])).toThrow(/values would be redacted/);
  });
});
