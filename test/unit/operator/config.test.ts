import { describe, expect, it } from 'vitest';
import { listenerLimits, loadOperatorConfig } from '../../../src/operator/config.js';

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

describe('loadOperatorConfig: the listeners', () => {
  it('defaults: the webhooks on 8444, timeouts of 10 s, 30 s and 120 s, and the limits of each listener', () => {
    const config = loadOperatorConfig({});
    expect(config).toMatchObject({ ORKA_WEBHOOK_PORT: 8444, ORKA_HTTP_HEADERS_TIMEOUT: 10, ORKA_HTTP_REQUEST_TIMEOUT: 30, ORKA_HTTP_IDLE_TIMEOUT: 120 });
    expect(config.ORKA_WEBHOOK_CLIENT_CA).toBeUndefined();
    expect(listenerLimits(config)).toEqual({
      http: { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 120_000, maxConnections: 64, bodyBytes: 0 },
      resolver: { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 120_000, maxConnections: 2048, bodyBytes: 4 * 1024 * 1024 },
      webhooks: { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 120_000, maxConnections: 256, bodyBytes: 16 * 1024 * 1024 },
    });
  });

  it.each([
    ['a headers timeout longer than the request timeout', { ORKA_HTTP_HEADERS_TIMEOUT: '40s' }, /ORKA_HTTP_HEADERS_TIMEOUT: must not be longer than ORKA_HTTP_REQUEST_TIMEOUT \(30s\)/],
    ["an idle timeout the apiserver's 90 s would outlast", { ORKA_HTTP_IDLE_TIMEOUT: '90s' }, /ORKA_HTTP_IDLE_TIMEOUT: must be longer than 90s/],
    ['no more resolver connections than streams', { ORKA_MAX_STREAMS: '2048' }, /ORKA_RESOLVER_MAX_CONNECTIONS: must be more than ORKA_MAX_STREAMS \(2048\)/],
    ['the webhooks on the resolver port', { ORKA_WEBHOOK_PORT: '8443' }, /ORKA_WEBHOOK_PORT: 8443 is also ORKA_RESOLVER_PORT/],
    ['a webhook body budget smaller than one AdmissionReview', { ORKA_WEBHOOK_BODY_BUDGET: '1024' }, /ORKA_WEBHOOK_BODY_BUDGET/],
  ])('refuses %s, naming the setting', (_what, env, message) => {
    expect(() => loadOperatorConfig(env)).toThrow(message);
  });

  it('reports every problem together', () => {
    expect(() => loadOperatorConfig({ ORKA_HTTP_IDLE_TIMEOUT: '60s', ORKA_WEBHOOK_PORT: '8080' })).toThrow(/ORKA_HTTP_IDLE_TIMEOUT[\s\S]*ORKA_WEBHOOK_PORT: 8080 is also ORKA_HTTP_PORT/);
  });
});

describe('loadOperatorConfig: the injected sidecar', () => {
  it('refuses resource quantities the apiserver would refuse on every injected pod', () => {
    expect(loadOperatorConfig({ ORKA_SIDECAR_CPU_REQUEST: '0.5', ORKA_SIDECAR_MEMORY_LIMIT: '1Gi', ORKA_SIDECAR_CPU_LIMIT: '1' })).toMatchObject({ ORKA_SIDECAR_CPU_REQUEST: '0.5', ORKA_SIDECAR_CPU_LIMIT: '1' });
    expect(() => loadOperatorConfig({ ORKA_SIDECAR_MEMORY_REQUEST: '96MB', ORKA_SIDECAR_CPU_LIMIT: 'lots' })).toThrow(/ORKA_SIDECAR_CPU_LIMIT: is not a resource quantity[\s\S]*ORKA_SIDECAR_MEMORY_REQUEST: is not a resource quantity/);
  });

  it('the sidecar metrics address is an IP address (a typo such as 0.0.0.0:8732 would break every injected sidecar), named in the error', () => {
    for (const address of ['127.0.0.1', '0.0.0.0', '::', 'fd00::1']) expect(loadOperatorConfig({ ORKA_SIDECAR_METRICS_ADDRESS: address }).ORKA_SIDECAR_METRICS_ADDRESS).toBe(address);
    for (const address of ['0.0.0.0:8732', 'localhost', '[::]', '256.0.0.1']) expect(() => loadOperatorConfig({ ORKA_SIDECAR_METRICS_ADDRESS: address })).toThrow(/ORKA_SIDECAR_METRICS_ADDRESS: is not an IP address/);
  });

  it('a sidecar port whose metrics port (the next) would not exist is refused', () => {
    expect(() => loadOperatorConfig({ ORKA_SIDECAR_PORT: '65535' })).toThrow(/ORKA_SIDECAR_PORT/);
  });

  it('the securityContext: restricted as 65532 by default; JSON of the known fields; anything else refused', () => {
    expect(loadOperatorConfig({}).ORKA_SIDECAR_SECURITY_CONTEXT).toMatchObject({ runAsUser: 65532, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(loadOperatorConfig({ ORKA_SIDECAR_SECURITY_CONTEXT: '{"runAsNonRoot":true}' }).ORKA_SIDECAR_SECURITY_CONTEXT).toEqual({ runAsNonRoot: true });
    expect(() => loadOperatorConfig({ ORKA_SIDECAR_SECURITY_CONTEXT: '{"privileged":true}' })).toThrow(/ORKA_SIDECAR_SECURITY_CONTEXT/);
    expect(() => loadOperatorConfig({ ORKA_SIDECAR_SECURITY_CONTEXT: 'runAsUser: 1' })).toThrow(/ORKA_SIDECAR_SECURITY_CONTEXT: is not JSON/);
  });
});
