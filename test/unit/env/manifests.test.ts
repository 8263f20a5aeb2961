import { describe, expect, it } from 'vitest';
import { parseManifests } from '../../env/manifests.js';

describe('parseManifests', () => {
  it('reads every document and drops empty ones', () => {
    expect(parseManifests('a: 1\n---\n---\nb: "two: 2"\n')).toEqual([{ a: 1 }, { b: 'two: 2' }]);
    expect(parseManifests('')).toEqual([]);
  });

  it('fails on a YAML error that the yaml package would read past (an unquoted ": " in a plain scalar)', () => {
    const broken = 'kind: PrometheusRule\nannotations:\n  description: It expires: is there a leader?\n';
    expect(() => parseManifests(`ok: 1\n---\n${broken}`)).toThrow(/document 2: .*not valid YAML|document 2/s);
  });
});
