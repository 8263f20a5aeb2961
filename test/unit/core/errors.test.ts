import { describe, expect, it } from 'vitest';
import { ERROR_CODES, isErrorCode, isOrkaError, OrkaError, secretNotFound } from '../../../src/core/errors.js';

describe('OrkaError', () => {
  it.each([
    ['SECRET_NOT_FOUND', 404, false],
    ['ALREADY_EXISTS', 409, false],
    ['NOT_A_TENANT', 400, false],
    ['INVALID_SECRET_NAME', 400, false],
    ['INVALID_TEMPLATE', 400, false],
    ['INVALID_REQUEST', 400, false],
    ['FORBIDDEN', 403, false],
    ['PAYLOAD_TOO_LARGE', 413, false],
    ['UPSTREAM_UNAVAILABLE', 503, true],
  ] as const)('%s is HTTP %i, retryable %s', (code, status, retryable) => {
    const err = new OrkaError(code, 'm');
    expect([err.status, err.retryable]).toEqual([status, retryable]);
    expect(ERROR_CODES[code].status).toBe(status);
  });

  it('encodes the HTTP body with details, and the code and message win over details', () => {
    const err = new OrkaError('INVALID_TEMPLATE', 'bad', { offset: 3, code: 'x' } as never);
    expect(err.toBody()).toEqual({ error: { code: 'INVALID_TEMPLATE', message: 'bad', offset: 3 } });
    expect(err).toBeInstanceOf(Error);
    expect(isOrkaError(err)).toBe(true);
    expect(isOrkaError(err, 'FORBIDDEN')).toBe(false);
    expect(isOrkaError(new Error('x'))).toBe(false);
  });

  it('decodes codes from the wire only when known', () => {
    expect(isErrorCode('FORBIDDEN')).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode(42)).toBe(false);
  });
});

describe('secretNotFound', () => {
  it('says the contract message for one name', () => {
    const err = secretNotFound(['API_KEY']);
    expect(err.message).toBe('secret API_KEY could not be found');
    expect(err.toBody().error.secrets).toEqual(['API_KEY']);
  });

  it('lists every missing name', () => {
    const err = secretNotFound(['A', 'B']);
    expect(err.message).toBe('secrets A, B could not be found');
    expect(err.details.secrets).toEqual(['A', 'B']);
    expect(err.status).toBe(404);
  });
});
