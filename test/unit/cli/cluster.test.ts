import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { loadKubeConfig } from '../../../src/cli/cluster.js';
import { apiError, CliError } from '../../../src/cli/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'orka-cli-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kubeconfig = join(dir, 'config');
writeFileSync(
  kubeconfig,
  `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://10.0.0.1:6443"}}, {name: d, cluster: {server: "https://10.0.0.2:6443"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: one, context: {cluster: c, user: u, namespace: acme}}, {name: two, context: {cluster: d, user: u}}]\ncurrent-context: one\n`,
);

function failure(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    return err as CliError;
  }
  throw new Error('did not fail');
}

describe('loadKubeConfig', () => {
  const opts = { operatorNamespace: 'orka-system' };
  it('names the file it looked for when there is none, and how to point at one', () => {
    const err = failure(() => loadKubeConfig(k8s, opts, {}, join(dir, 'home')));
    expect(err.exitCode).toBe(4);
    expect(err.message).toBe(`no kubeconfig: looked for ${join(dir, 'home', '.kube', 'config')} (KUBECONFIG is not set); point at one with --kubeconfig FILE or the KUBECONFIG environment variable`);
  });

  it('names the files of KUBECONFIG when none exists', () => {
    const err = failure(() => loadKubeConfig(k8s, opts, { KUBECONFIG: '/nope/a:/nope/b' }, dir));
    expect(err.message).toMatch(/^no kubeconfig: KUBECONFIG names \/nope\/a, \/nope\/b, which does not exist/);
  });

  it('says when --kubeconfig names a missing file', () => {
    expect(failure(() => loadKubeConfig(k8s, { ...opts, kubeconfig: '/nope/config' }, {}, dir)).message).toBe('the kubeconfig /nope/config (from --kubeconfig) does not exist');
  });

  it('loads ~/.kube/config, and --context switches the cluster', () => {
    const home = join(dir, 'h');
    const kubeDir = join(home, '.kube');
    mkdirSync(kubeDir, { recursive: true });
    writeFileSync(join(kubeDir, 'config'), `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://10.9.9.9"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`);
    expect(loadKubeConfig(k8s, opts, {}, home).getCurrentCluster()?.server).toBe('https://10.9.9.9');
    expect(loadKubeConfig(k8s, { ...opts, kubeconfig }, {}, dir).getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
    expect(loadKubeConfig(k8s, { ...opts, kubeconfig, context: 'two' }, {}, dir).getCurrentCluster()?.server).toBe('https://10.0.0.2:6443');
  });

  it('refuses an unknown --context, listing the known ones', () => {
    const err = failure(() => loadKubeConfig(k8s, { ...opts, kubeconfig, context: 'three' }, {}, dir));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe('no context three in the kubeconfig (it has: one, two)');
  });
});

describe('apiError', () => {
  it.each([
    ['no answer', Object.assign(new Error('request failed'), { cause: { code: 'ECONNREFUSED' } }), 4, 'x: the cluster at https://h:1 cannot be reached (ECONNREFUSED)'],
    ['404', { code: 404 }, 3, 'x: not found'],
    ['409', { code: 409 }, 5, 'x: already exists (use update)'],
    ['422 with a Status message', { code: 422, body: '{"message":"admission webhook denied: bad"}' }, 2, 'x: refused: admission webhook denied: bad'],
    ['500', { code: 500 }, 1, 'x: HTTP 500'],
  ])('%s', (_what, err, code, message) => {
    const e = apiError(err, 'x', 'https://h:1');
    expect(e.exitCode).toBe(code);
    expect(e.message).toBe(message);
  });
});
