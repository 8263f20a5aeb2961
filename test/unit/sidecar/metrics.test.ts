import { describe, expect, it } from 'vitest';
import { createOperatorMetrics } from '../../../src/operator/metrics.js';
import { createSidecarMetrics } from '../../../src/sidecar/metrics.js';

describe.each([
  ['sidecar', 'orka_sidecar_', () => createSidecarMetrics().registry],
  ['operator', 'orka_operator_', () => createOperatorMetrics().registry],
])('%s metric names', (_who, prefix, registry) => {
  it('carry the prefix once, no doubled segment, counters end in _total (Prometheus conventions)', async () => {
    const metrics = await registry().getMetricsAsJSON();
    expect(metrics.length).toBeGreaterThan(10);
    for (const m of metrics) {
      expect(m.name.startsWith(prefix), m.name).toBe(true);
      const segments = m.name.split('_');
      expect(segments.some((s, i) => s === segments[i + 1]), `${m.name} repeats a segment`).toBe(false);
      if (String(m.type) === 'counter') expect(m.name.endsWith('_total'), m.name).toBe(true);
    }
    // The process metrics Prometheus dashboards look for, under the prefix.
    expect(metrics.map((m) => m.name)).toContain(`${prefix}process_resident_memory_bytes`);
  });
});
