import { describe, expect, it } from 'vitest';
import { loadSidecarConfig } from '../../../src/sidecar/config.js';

describe('loadSidecarConfig', () => {
  it('takes the defaults', () => {
    expect(loadSidecarConfig({ ORKA_OPERATOR_URL: 'https://op:8443' })).toMatchObject({
      ORKA_SIDECAR_PORT: 8731,
      ORKA_CACHE_MAX_ENTRIES: 1000,
      ORKA_CACHE_STALE_AFTER: 30,
      ORKA_REDACT_GRACE: 600,
      ORKA_LOG_LEVEL: 'info',
    });
  });

  it('reports every problem together, without echoing a value', () => {
    try {
      loadSidecarConfig({ ORKA_SIDECAR_PORT: '70000', ORKA_CACHE_STALE_AFTER: 'soon', ORKA_LOG_LEVEL: 'loud-secret-value' });
      expect.unreachable();
    } catch (err) {
      const { code, message } = err as { code: string; message: string };
      expect(code).toBe('INVALID_CONFIG');
      for (const v of ['ORKA_OPERATOR_URL: is required', 'ORKA_SIDECAR_PORT', 'ORKA_CACHE_STALE_AFTER', 'ORKA_LOG_LEVEL']) expect(message).toContain(v);
      expect(message).not.toContain('loud-secret-value');
    }
  });
});
