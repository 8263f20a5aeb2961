import { describe, expect, it } from 'vitest';
import { loadOperatorConfig } from '../../../src/operator/config.js';

describe('loadOperatorConfig: the shutdown drain is part of the shutdown timeout', () => {
  it('takes a drain shorter than the timeout, and the defaults (5 s of 25 s)', () => {
    expect(loadOperatorConfig({})).toMatchObject({ ORKA_SHUTDOWN_DRAIN: 5, ORKA_SHUTDOWN_TIMEOUT: 25 });
    expect(loadOperatorConfig({ ORKA_SHUTDOWN_DRAIN: '0s' }).ORKA_SHUTDOWN_DRAIN).toBe(0);
  });

  it('refuses a drain that leaves under 5 s of the timeout for the rest of the stop, naming both', () => {
    expect(loadOperatorConfig({ ORKA_SHUTDOWN_DRAIN: '20s' }).ORKA_SHUTDOWN_DRAIN).toBe(20);
    expect(() => loadOperatorConfig({ ORKA_SHUTDOWN_DRAIN: '21s' })).toThrow(/ORKA_SHUTDOWN_DRAIN: must leave at least 5s of ORKA_SHUTDOWN_TIMEOUT \(25s\)/);
    expect(() => loadOperatorConfig({ ORKA_SHUTDOWN_DRAIN: '10s', ORKA_SHUTDOWN_TIMEOUT: '5s' })).toThrow(/INVALID_CONFIG|invalid configuration/);
  });
});
