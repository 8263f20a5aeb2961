import { describe, expect, it } from 'vitest';
import { loadOperatorConfig } from '../../../src/operator/config.js';

describe('loadOperatorConfig: the shutdown drain is part of the shutdown timeout', () => {
  it('takes a drain shorter than the timeout, and the defaults (5 s of 25 s)', () => {
    expect(loadOperatorConfig({})).toMatchObject({ ORKA_SHUTDOWN_DRAIN: 5, ORKA_SHUTDOWN_TIMEOUT: 25 });
    expect(loadOperatorConfig({ ORKA_SHUTDOWN_DRAIN: '0s' }).ORKA_SHUTDOWN_DRAIN).toBe(0);
  });

  it('refuses a drain as long as the timeout, naming both', () => {
    expect(() => loadOperatorConfig({ ORKA_SHUTDOWN_DRAIN: '25s' })).toThrow(/ORKA_SHUTDOWN_DRAIN: must be shorter than ORKA_SHUTDOWN_TIMEOUT \(25s\)/);
    expect(() => loadOperatorConfig({ ORKA_SHUTDOWN_DRAIN: '10s', ORKA_SHUTDOWN_TIMEOUT: '5s' })).toThrow(/INVALID_CONFIG|invalid configuration/);
  });
});
