import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configDocs, duration, flag, integer, list, logLevel, parseDuration, parseEnv, port } from '../../../src/core/config.js';
import { isOrkaError, type OrkaError } from '../../../src/core/errors.js';

const schema = z.object({
  ORKA_LOG_LEVEL: logLevel().describe('log level'),
  ORKA_PORT: port(8731).describe('port'),
  ORKA_WORKERS: integer(4, 1, 64).describe('workers'),
  ORKA_TTL: duration('30s').describe('cache expiry'),
  ORKA_NAMESPACES: list().describe('namespaces'),
  ORKA_NATIVE: flag(false).describe('native sidecar'),
  ORKA_URL: z.url().describe('operator URL'),
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30],
    ['250ms', 0.25],
    ['5m', 300],
    ['12h', 43200],
    ['90d', 7776000],
    ['15', 15],
    [' 2m ', 120],
    ['1.5h', 5400],
    ['1h30m', 5400],
    ['2m30s', 150],
    ['1d12h', 129600],
    ['1m0.5s', 60.5],
    ['1500us', 0.0015],
  ])('%j is %f seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', 'm', '5x', '-5s', '5 s', '1e3', 's5', '1h30', '1h 30m', '1h-30m', '.5s', 'h1'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('duration', () => {
  it('refuses zero unless zero means "none" for that variable', () => {
    expect(duration('5s').safeParse('0s').success).toBe(false);
    expect(duration('5s', { zero: true }).safeParse('0s')).toEqual({ success: true, data: 0 });
    expect(duration('5s', { zero: true }).safeParse('-1s').success).toBe(false);
  });
});

describe('parseEnv', () => {
  it('applies defaults, ignores empty strings and other variables', () => {
    const config = parseEnv(schema, { ORKA_URL: 'https://op:8443', ORKA_PORT: '', HOME: '/root' });
    expect(config).toEqual({
      ORKA_LOG_LEVEL: 'info',
      ORKA_PORT: 8731,
      ORKA_WORKERS: 4,
      ORKA_TTL: 30,
      ORKA_NAMESPACES: [],
      ORKA_NATIVE: false,
      ORKA_URL: 'https://op:8443',
    });
  });

  it('parses every kind of value', () => {
    const config = parseEnv(schema, {
      ORKA_URL: 'https://x',
      ORKA_LOG_LEVEL: 'debug',
      ORKA_PORT: '9000',
      ORKA_WORKERS: '8',
      ORKA_TTL: '2m',
      ORKA_NAMESPACES: 'a, b,,c',
      ORKA_NATIVE: 'yes',
    });
    expect(config).toMatchObject({ ORKA_PORT: 9000, ORKA_WORKERS: 8, ORKA_TTL: 120, ORKA_NAMESPACES: ['a', 'b', 'c'], ORKA_NATIVE: true });
  });

  it('reports every bad variable together, without echoing values', () => {
    let err: OrkaError | undefined;
    try {
      parseEnv(schema, { ORKA_LOG_LEVEL: 'loud', ORKA_PORT: '70000', ORKA_WORKERS: 'two', ORKA_TTL: 'sk_canary_ttl', ORKA_NATIVE: 'maybe' });
    } catch (e) {
      if (isOrkaError(e)) err = e;
    }
    expect(err?.code).toBe('INVALID_CONFIG');
    const problems = err?.details.problems as string[];
    expect(problems.map((p) => p.split(':')[0])).toEqual(['ORKA_LOG_LEVEL', 'ORKA_PORT', 'ORKA_WORKERS', 'ORKA_TTL', 'ORKA_NATIVE', 'ORKA_URL']);
    for (const p of problems) expect(err?.message).toContain(p);
    expect(err?.message).toContain('is not a duration');
    for (const given of ['loud', '70000', 'two', 'sk_canary_ttl', 'maybe']) expect(err?.message).not.toContain(given);
  });

  it('documents every variable with its default', () => {
    const docs = configDocs(schema);
    expect(docs.map((d) => d.variable)).toEqual(Object.keys(schema.shape));
    expect(docs.find((d) => d.variable === 'ORKA_PORT')).toEqual({ variable: 'ORKA_PORT', fallback: '8731', description: 'port' });
    expect(docs.find((d) => d.variable === 'ORKA_URL')?.fallback).toBe('(required)');
    // As a person writes it, not as parsed: a duration in its unit, a string without quotes.
    expect(docs.find((d) => d.variable === 'ORKA_TTL')?.fallback).toBe('30s');
    expect(configDocs(schema, { ORKA_PORT: 'the port it was given' }).find((d) => d.variable === 'ORKA_PORT')?.fallback).toBe('the port it was given');
  });
});
