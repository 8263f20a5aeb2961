/**
 * docs/runner-api.md shows curl commands with their answers: each is run here, as written, against
 * a real sidecar (a real operator, a pod-bound token, the secrets the examples name), and the
 * answer compared with the one the page shows. A page that drifts from the API fails here.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRunnerPod, type RunnerPod } from '../env/runner-pod.js';

const cp = inject('controlPlane');
/** The values the page's examples show. */
const VALUES: Record<string, string> = { API_KEY: 'sk_live_51H8example' };
let pod: RunnerPod;

/** Each ```sh block of the page followed by a ```json block: the command and the answer shown. */
export function examples(markdown: string): Array<{ command: string; answer: string }> {
  return [...markdown.matchAll(/```sh\n([\s\S]*?)```\n```json\n([\s\S]*?)```/g)].map((m) => ({ command: (m[1] as string).trim(), answer: (m[2] as string).trim() }));
}

beforeAll(async () => {
  pod = await startRunnerPod(cp, 'docs');
  for (const [name, value] of Object.entries(VALUES)) await pod.put(name, value);
}, 120_000);

afterAll(async () => {
  await pod?.stop();
});

describe('docs/runner-api.md', () => {
  const page = readFileSync('docs/runner-api.md', 'utf8');
  const shown = examples(page);

  it('shows an example of every route a runner calls and of its errors', () => {
    const commands = shown.map((e) => e.command).join('\n');
    for (const route of ['/v1/secrets/', '/v1/render', '/v1/redact']) expect(commands).toContain(route);
    expect(shown.map((e) => e.answer).join('\n')).toMatch(/SECRET_NOT_FOUND[\s\S]*FORBIDDEN|FORBIDDEN[\s\S]*SECRET_NOT_FOUND/);
  });

  it.each(shown.map((e, i) => [i + 1, e.command.split('\n')[0] as string, e] as const))('example %i answers as the page says: %s', (_n, _first, { command, answer }) => {
    const res = spawnSync('bash', ['-c', command], { env: { ...process.env, ORKA_SECRETS_URL: pod.sidecar.url }, encoding: 'utf8', timeout: 30_000 });
    expect(res.status, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(JSON.parse(answer));
  });

  it('the comparison can fail: an answer that differs from the page is caught', () => {
    const [first] = shown;
    const res = spawnSync('bash', ['-c', (first?.command ?? '').replace('API_KEY', 'OTHER_KEY')], { env: { ...process.env, ORKA_SECRETS_URL: pod.sidecar.url }, encoding: 'utf8' });
    expect(JSON.parse(res.stdout)).not.toEqual(JSON.parse(first?.answer ?? '{}'));
  });
});
