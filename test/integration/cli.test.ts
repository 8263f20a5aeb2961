/**
 * The orka-secrets CLI end to end against the control plane and a running operator: seal,
 * create, list, update (keeping the value), describe, usage, delete, and bad input with clear
 * messages and non-zero exits. No value is ever printed.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { unseal } from '../../src/core/envelope.js';
import { createKeyRing, loadKeyRing } from '../../src/core/keyring.js';
import type { OrkaSecret } from '../../src/api/resource.js';
import { canaries, etcdText, findLeaks, osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace, getOrkaSecret, installCrd, waitForReady } from '../env/kube.js';
import { eventually, startOperator, type OperatorProcess } from '../env/operator.js';
import { admissionRecord } from '../env/webhooks.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let opNamespace: string;
let tenant: string;
let operator: OperatorProcess;
let dir: string;
const outputs: string[] = [];
const planted = canaries('CANARY-cli');
const value = planted.make;


interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI (compiled, as installed) with exactly these arguments and environment. */
function run(args: string[], options: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Run {
  const res = spawnSync(process.execPath, ['dist/src/cli/main.js', ...args], { input: options.input, env: options.env ?? process.env, encoding: 'utf8', timeout: 30_000 });
  outputs.push(res.stdout, res.stderr);
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** Runs the CLI with the test kubeconfig, in the tenant namespace unless `-n` comes again in `args`. */
function cli(args: string[], input?: string | Buffer, kubeconfig = cp.kubeconfigPath): Run {
  return run(['--kubeconfig', kubeconfig, '--operator-namespace', opNamespace, '-n', tenant, ...args], { input });
}

/** A local port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const osecIn = async (namespace: string) =>
  ((await kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace })) as { items: OrkaSecret[] }).items;

const osec = (name: string) => getOrkaSecret(kc, tenant, name);
const waitVersion = (name: string, version: number) => waitForReady(kc, tenant, name, 'Stored', (o) => o.status?.version === version);

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-cli' });
  tenant = await createNamespace(kc, { prefix: 'cli-tenant', tenant: 'cli' });
  operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'cli-op', env: { ORKA_WATCH_NAMESPACES: tenant } });
  await operator.waitForLog(/key ring created/);
  dir = mkdtempSync(join(tmpdir(), 'orka-cli-test-'));
});

afterAll(async () => {
  await operator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('orka-secrets CLI', () => {
  it('seals offline into a manifest that creates a working secret', async () => {
    const res = cli(['seal', 'WEBHOOK_URL', '--from-stdin', '-d', 'the hook'], `${value('seal')}\n`);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const manifest = parse(res.stdout) as OrkaSecret;
    expect(manifest).toMatchObject({ apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'webhook-url', namespace: tenant }, spec: { description: 'the hook' } });
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: tenant, body: manifest });
    await waitVersion('webhook-url', 1);
  });

  it('creates, lists, updates the description keeping the value, updates the value, describes', async () => {
    const created = cli(['create', 'stripe-api-key', '--from-stdin', '--description', 'Stripe live key'], value('create'));
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('reference it as {{secrets.STRIPE_API_KEY}}');
    await waitVersion('stripe-api-key', 1);

    const list = cli(['list']);
    expect(list.code).toBe(0);
    const [header, ...rows] = list.stdout.trim().split('\n');
    expect(header?.split(/\s{3,}/)).toEqual(['NAME', 'DESCRIPTION', 'CREATED', 'REFERENCE', 'READY', 'LAST USED']);
    expect(rows.find((r) => r.startsWith('STRIPE_API_KEY'))).toMatch(/Stripe live key.*\{\{secrets\.STRIPE_API_KEY\}\}\s+True\s+never/);
    // -o json is a Kubernetes List of the objects, the same fields kubectl get osec -o json shows.
    const json = JSON.parse(cli(['list', '-o', 'json']).stdout) as { apiVersion: string; kind: string; items: OrkaSecret[] };
    expect([json.apiVersion, json.kind]).toEqual(['v1', 'List']);
    expect(json.items.map((o) => o.metadata.name).sort()).toEqual(['stripe-api-key', 'webhook-url']);
    expect(json.items.find((o) => o.metadata.name === 'stripe-api-key')?.status?.reference).toBe('{{secrets.STRIPE_API_KEY}}');
    expect(JSON.stringify(json)).not.toContain('managedFields');
    expect(cli(['list', '-o', 'name']).stdout).toBe('STRIPE_API_KEY\nWEBHOOK_URL\n');
    const wide = cli(['list', '-o', 'wide', '--no-headers']).stdout.trim().split('\n');
    expect(wide).toHaveLength(2);
    expect(wide.find((r) => r.startsWith('STRIPE_API_KEY'))).toMatch(/True\s+never\s+1\s+0\s+sealedValue$/);

    expect(cli(['update', 'STRIPE_API_KEY', '--description', 'Stripe (payments)']).stdout).toContain('(value kept)');
    const kept = await eventually(async () => {
      const o = await osec('stripe-api-key');
      return o.spec?.description === 'Stripe (payments)' && o.status?.observedGeneration === o.metadata.generation ? o : undefined;
    });
    expect(kept.status?.version).toBe(1);

    const file = join(dir, 'value.bin');
    writeFileSync(file, value('file'));
    expect(cli(['update', 'STRIPE_API_KEY', '--from-file', file]).code).toBe(0);
    await waitVersion('stripe-api-key', 2);

    const described = cli(['describe', 'STRIPE_API_KEY']);
    expect(described.stdout).toMatch(/Reference:\s+\{\{secrets\.STRIPE_API_KEY\}\}/);
    expect(described.stdout).toMatch(/Version:\s+2/);
    expect(described.stdout).toMatch(/Stored\s+value stored as version 2/);
    expect(JSON.parse(cli(['usage', '-o', 'json']).stdout)).toContainEqual({ name: 'STRIPE_API_KEY', resolveCount: 0, lastResolvedAt: null });
  });

  it('deletes with --yes, and refuses to delete unasked without a terminal', async () => {
    const unasked = cli(['delete', 'WEBHOOK_URL']);
    expect(unasked.code).toBe(2);
    expect(unasked.stderr).toContain('add --yes');
    const res = cli(['delete', 'WEBHOOK_URL', '--yes']);
    expect(res.code).toBe(0);
    await eventually(async () => osec('webhook-url').then(() => undefined, (e: { code?: number }) => (e.code === 404 ? true : undefined)));
    expect(cli(['describe', 'WEBHOOK_URL']).code).toBe(3);
  });

  it('asks before deleting on a terminal: no by default, Y (any case) deletes', async () => {
    expect(cli(['create', 'ASKED', '--from-stdin'], value('asked')).code).toBe(0);
    const ask = (typed: string) => {
      const command = `'${process.execPath}' dist/src/cli/main.js --kubeconfig '${cp.kubeconfigPath}' --operator-namespace ${opNamespace} -n ${tenant} delete ASKED`;
      const res = spawnSync('python3', ['test/env/pty-run.py', 'Delete ASKED', Buffer.from(typed).toString('hex'), '30', '--', 'sh', '-c', command], { encoding: 'utf8', timeout: 40_000 });
      outputs.push(res.stdout);
      return res;
    };
    const kept = ask('\r');
    expect(kept.status).toBe(0);
    expect(kept.stdout).toContain('not deleted');
    expect((await osec('asked')).metadata.name).toBe('asked');
    const deleted = ask('Y\r');
    expect(deleted.status).toBe(0);
    expect(deleted.stdout).toContain('deleted ASKED from');
    await eventually(async () => osec('asked').then(() => undefined, (e: { code?: number }) => (e.code === 404 ? true : undefined)));
  });

  it.each([
    ['no value', ['create', 'EMPTY_ONE', '--from-stdin'], '', 2, /the value is empty/],
    ['a bad name', ['create', 'BAD NAME!', '--from-stdin'], 'x', 2, /invalid secret name: .*position/],
    ['two value options', ['create', 'TWO', '--from-stdin', '--prompt'], 'x', 2, /at most one of/],
    ['an existing name', ['create', 'STRIPE_API_KEY', '--from-stdin'], 'x', 5, /already exists \(use update\)/],
    ['a missing secret', ['update', 'NOPE', '--description', 'x'], undefined, 3, /not found/],
    ['an update with nothing to change', ['update', 'STRIPE_API_KEY'], undefined, 2, /nothing to update/],
    ['a missing file', ['create', 'FROM_FILE', '--from-file', '/nonexistent/x'], undefined, 2, /cannot read \/nonexistent\/x: ENOENT/],
    ['an unknown command', ['explode'], undefined, 2, /unknown command/],
  ])('fails clearly on %s', (_what, args, input, code, message) => {
    const res = cli(args, input);
    expect(res.code).toBe(code);
    expect(res.stderr).toMatch(message);
  });

  it('fails clearly when the cluster cannot be reached, naming the server', async () => {
    const port = await closedPort();
    const broken = join(dir, 'broken-kubeconfig');
    writeFileSync(broken, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`);
    const res = cli(['list'], undefined, broken);
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(new RegExp(`the cluster at https://127\\.0\\.0\\.1:${port} cannot be reached \\(ECONNREFUSED\\)`));
  });

  it('without a kubeconfig, names the file it looked for and how to point at one', () => {
    const home = join(dir, 'empty-home');
    const env = { PATH: process.env.PATH, HOME: home };
    const message = `orka-secrets: no kubeconfig: looked for ${home}/.kube/config (KUBECONFIG is not set); point at one with --kubeconfig FILE or the KUBECONFIG environment variable\n`;
    const res = run(['list'], { env });
    expect(res.code).toBe(4);
    expect(res.stderr).toBe(message);
    // The dashboard loads its kubeconfig the same way (it once fell back to localhost:8080).
    const dashboard = run(['dashboard', '--no-browser'], { env });
    expect(dashboard.code).toBe(4);
    expect(dashboard.stderr).toBe(message);
  });

  it('refuses to create in a namespace that is not a tenant, before writing anything, saying to label it', async () => {
    const plain = await createNamespace(kc, { prefix: 'cli-plain' });
    const res = cli(['-n', plain, 'create', 'API_KEY', '--from-stdin'], value('plain'));
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`orka-secrets: namespace ${plain} is not a tenant, so no secret can be stored there; label it first: kubectl label namespace ${plain} orka.io/tenant=<tenant-id>\n`);
    expect(res.stdout).toBe('');
    expect(await osecIn(plain)).toEqual([]);
    // The operator's own namespace is never a tenant, whatever its labels.
    const own = cli(['-n', opNamespace, 'create', 'API_KEY', '--from-stdin'], value('own'));
    expect(own.code).toBe(2);
    expect(own.stderr).toMatch(/can never be a tenant/);
    expect(await osecIn(opNamespace)).toEqual([]);
  });

  it.each([
    ['create', ['create', 'API_KEY', '--from-stdin'], 'x'.repeat(10)],
    ['describe', ['describe', 'API_KEY'], undefined],
    ['list', ['list'], undefined],
    ['delete', ['delete', 'API_KEY', '--yes'], undefined],
  ])('says that a namespace does not exist (%s)', (_what, args, input) => {
    const res = cli(['-n', 'nosuchns', ...args], input);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/^orka-secrets: namespace nosuchns does not exist/);
  });

  it('refuses a lower-case name with underscores instead of silently renaming it', async () => {
    const res = cli(['create', 'api_key', '--from-stdin'], value('lower'));
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/did you mean API_KEY\?/);
    expect((await osecIn(tenant)).map((o) => o.metadata.name)).not.toContain('api-key');
    expect(cli(['create', '--help']).stdout).toMatch(/any other spelling, such as api_key, is\s+refused/);
  });

  it('refuses a value that is not UTF-8 text (exit 2, base64 it first), creating nothing', async () => {
    const file = join(dir, 'binary.bin');
    writeFileSync(file, Buffer.from([0xff, 0xfe, 0x80, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46]));
    const fromFile = cli(['create', 'BINARY_BLOB', '--from-file', file]);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toMatch(/not UTF-8 text; values are text, so base64 binary data first/);
    const fromStdin = cli(['create', 'BINARY_BLOB', '--from-stdin'], Buffer.from([0x61, 0xc3, 0x28, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67]));
    expect(fromStdin.code).toBe(2);
    expect(fromStdin.stderr).toMatch(/not UTF-8 text/);
    expect((await osecIn(tenant)).map((o) => o.metadata.name)).not.toContain('binary-blob');
  });

  it('warns when a very short value is created, and creates it', async () => {
    const res = cli(['create', 'SHORT_ONE', '--from-stdin'], 'abc\n');
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/^orka-secrets: warning: the value is very short \(3 characters; fewer than 6 is very short\)/);
    expect(res.stderr).not.toContain('abc');
    await waitVersion('short-one', 1);
  });

  it('strips control characters from what it prints from the cluster', async () => {
    const hostile = '\u001b]0;owned\u0007\u001b[2J\u001b[31mred\r\nNormal  Stored  forged line\u202e';
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: 'orka.io',
      version: 'v1alpha1',
      plural: 'orkasecrets',
      namespace: tenant,
      body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'escapes' }, spec: { description: hostile } },
    });
    await kc.makeApiClient(CoreV1Api).createNamespacedEvent({
      namespace: tenant,
      body: { metadata: { name: `escapes.${Date.now()}` }, involvedObject: { kind: 'OrkaSecret', name: 'escapes', namespace: tenant }, reason: 'Planted', type: 'Warning', message: hostile },
    });
    const list = cli(['list']);
    const described = cli(['describe', 'ESCAPES']);
    for (const res of [list, described]) {
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/\?\]0;owned\?\?\[2J\?\[31mred\?\?Normal {2}Stored {2}forged line\?/);
      // eslint-disable-next-line no-control-regex
      expect(res.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
      expect(res.stdout.split('\n').some((l) => l.startsWith('Normal'))).toBe(false);
    }
    expect(described.stdout.match(/forged line/g)?.length).toBe(2);
    // JSON keeps the text, escaped.
    expect((JSON.parse(cli(['describe', 'ESCAPES', '-o', 'json']).stdout) as { description: string }).description).toBe(hostile);
  });

  it('prints its version', () => {
    const res = run(['--version']);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`${(JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version}\n`);
  });

  it('--context picks the context of the kubeconfig', () => {
    const two = join(dir, 'two-contexts');
    const good = parse(readFileSync(cp.kubeconfigPath, 'utf8')) as { clusters: Array<{ name: string }>; contexts: Array<{ name: string; context: Record<string, string> }>; users: unknown[] };
    const goodContext = good.contexts[0] as { name: string; context: Record<string, string> };
    const doc = {
      ...good,
      clusters: [...good.clusters, { name: 'dead', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } }],
      contexts: [...good.contexts, { name: 'dead', context: { ...goodContext.context, cluster: 'dead' } }],
      'current-context': 'dead',
    };
    writeFileSync(two, stringify(doc));
    expect(cli(['list'], undefined, two).code).toBe(4);
    const res = cli(['--context', goodContext.name, 'list'], undefined, two);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(cli(['--context', 'nope', 'list'], undefined, two).stderr).toMatch(/no context nope in the kubeconfig \(it has: .*dead\)/);
  });

  it('--dry-run prints the sealed manifest and changes nothing; the manifest works when applied', async () => {
    const res = cli(['create', 'DRY_ONE', '--from-stdin', '--dry-run', '-d', 'dry'], value('dry'));
    expect(res.code).toBe(0);
    const printed = parse(res.stdout) as OrkaSecret;
    expect(printed).toMatchObject({ kind: 'OrkaSecret', metadata: { name: 'dry-one', namespace: tenant }, spec: { description: 'dry' } });
    expect(printed.spec?.sealedValue).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect((await osecIn(tenant)).map((o) => o.metadata.name)).not.toContain('dry-one');
    // The cluster still checks a dry run: an existing name is refused.
    expect(cli(['create', 'STRIPE_API_KEY', '--from-stdin', '--dry-run'], value('dry2')).code).toBe(5);

    const before = await osec('stripe-api-key');
    const patch = cli(['update', 'STRIPE_API_KEY', '--from-stdin', '--dry-run', '-o', 'json'], value('dry3'));
    expect(patch.code).toBe(0);
    expect(JSON.parse(patch.stdout)).toMatchObject({ metadata: { name: 'stripe-api-key' }, spec: { valueFrom: null } });
    const after = await osec('stripe-api-key');
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.spec?.sealedValue).toBe(before.spec?.sealedValue);

    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...osecCoords(tenant), body: printed });
    await waitVersion('dry-one', 1);
  });

  it('--wait waits for Ready and says so', () => {
    const res = cli(['create', 'WAITED', '--from-stdin', '--wait', '--timeout', '60s'], value('wait'));
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^created WAITED in .*\nWAITED is Ready \(Stored, version 1\)\n$/);
    const updated = cli(['update', 'WAITED', '--from-stdin', '--wait'], value('wait2'));
    expect(updated.code).toBe(0);
    expect(updated.stdout).toMatch(/WAITED is Ready \(Stored, version 2\)/);
  });

  it('--wait exits by the reason when the secret is not Ready', async () => {
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      ...osecCoords(tenant),
      body: {
        apiVersion: 'orka.io/v1alpha1',
        kind: 'OrkaSecret',
        // No webhook runs in this file: the record its admission would have stamped.
        metadata: { name: 'from-missing', annotations: await admissionRecord(kc, opNamespace, tenant, 'from-missing', { name: 'no-such-secret', key: 'k' }) },
        spec: { valueFrom: { secretKeyRef: { name: 'no-such-secret', key: 'k' } } },
      },
    });
    const res = cli(['update', 'FROM_MISSING', '--description', 'x', '--wait']);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/^orka-secrets: FROM_MISSING is not Ready: SourceNotFound: /);
  });

  it('--wait gives up after --timeout when nothing reconciles the secret (exit 7)', async () => {
    const unwatched = await createNamespace(kc, { prefix: 'cli-unwatched', tenant: 'unwatched' });
    const res = cli(['-n', unwatched, 'create', 'LONELY', '--from-stdin', '--wait', '--timeout', '2s'], value('lonely'));
    expect(res.code).toBe(7);
    expect(res.stderr).toMatch(/LONELY was not reconciled within 2s .*is the operator running\?/);
    expect(cli(['create', 'X_Y', '--from-stdin', '--wait', '--timeout', 'soon'], value('x')).stderr).toMatch(/--timeout "soon" is not a duration/);
  });

  it('fetch-cert prints the sealing certificate, and seal --cert seals offline with it', async () => {
    const res = cli(['fetch-cert']);
    expect(res.code).toBe(0);
    const cm = await kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'orka-secrets-sealing-cert', namespace: opNamespace });
    expect(res.stdout.trim()).toBe(cm.data?.['cert.pem']?.trim());
    const certFile = join(dir, 'cert.pem');
    writeFileSync(certFile, res.stdout);
    const unreachable = join(dir, 'offline-kubeconfig');
    writeFileSync(unreachable, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    // Offline, the tenant id (the namespace's orka.io/tenant label) must be given.
    const untargeted = cli(['seal', 'OFFLINE_ONE', '--cert', certFile, '--from-stdin'], value('offline'), unreachable);
    expect(untargeted.code).toBe(2);
    expect(untargeted.stderr).toMatch(new RegExp(`sealing with --cert needs the tenant id of namespace ${tenant}: give --tenant <id>`));
    const sealed = cli(['seal', 'OFFLINE_ONE', '--cert', certFile, '--tenant', 'cli', '--from-stdin'], value('offline'), unreachable);
    expect(sealed.code).toBe(0);
    // Without -n, offline sealing refuses rather than take a namespace from a kubeconfig context.
    const noNamespace = run(['--kubeconfig', cp.kubeconfigPath, 'seal', 'OFFLINE_TWO', '--cert', certFile, '--tenant', 'cli', '--from-stdin'], { input: value('offline-2') });
    expect(noNamespace.code).toBe(2);
    expect(noNamespace.stderr).toMatch(/^orka-secrets: offline sealing needs -n NAMESPACE/);
    expect(noNamespace.stdout).toBe('');
    // ORKA_OPERATOR_NAMESPACE says once where the operator is (no --operator-namespace here).
    const fromEnv = run(['--kubeconfig', cp.kubeconfigPath, 'fetch-cert'], { env: { ...process.env, ORKA_OPERATOR_NAMESPACE: opNamespace } });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toBe(res.stdout);
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...osecCoords(tenant), body: parse(sealed.stdout) as OrkaSecret });
    await waitVersion('offline-one', 1);
  });

  it('completion scripts complete commands, options and their choices', () => {
    const bash = cli(['completion', 'bash']).stdout;
    const complete = (words: string[]) => {
      const script = `${bash}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _orka_secrets_complete; echo "\${COMPREPLY[*]}"`;
      return spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout.trim();
    };
    expect(complete(['orka-secrets', 'cr'])).toBe('create');
    expect(complete(['orka-secrets', 'list', '-o', ''])).toBe('table wide name yaml json');
    expect(complete(['orka-secrets', 'create', '--d']).split(' ')).toEqual(expect.arrayContaining(['--dry-run', '--description']));
    expect(complete(['orka-secrets', 'completion', '']).split(' ').slice(0, 3)).toEqual(['bash', 'zsh', 'fish']);
    for (const shell of ['zsh', 'fish']) {
      const script = cli(['completion', shell]);
      expect(script.code).toBe(0);
      // make test-integration installs both shells: a missing one fails rather than skips the check.
      expect(spawnSync('which', [shell]).status, `${shell} is not installed (make test-integration installs it)`).toBe(0);
      const file = join(dir, `completion.${shell}`);
      writeFileSync(file, script.stdout);
      const check = spawnSync(shell, ['-n', file], { encoding: 'utf8' });
      expect(check.stderr).toBe('');
      expect(check.status).toBe(0);
    }
    expect(cli(['completion', 'tcsh']).code).toBe(2);
  });

  it('completes secret names and tenant namespaces from the cluster, for the shells and for kubectl orka', async () => {
    const bash = cli(['completion', 'bash']).stdout;
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    // The shells call the program by the name typed: one on PATH, as installed.
    writeFileSync(join(bin, 'orka-secrets'), `#!/bin/sh\nexec '${process.execPath}' '${join(process.cwd(), 'dist/src/cli/main.js')}' "$@"\n`, { mode: 0o755 });
    const complete = (words: string[]) => {
      const script = `${bash}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _orka_secrets_complete; echo "\${COMPREPLY[*]}"`;
      return spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } }).stdout.trim();
    };
    expect(complete(['orka-secrets', '--kubeconfig', cp.kubeconfigPath, '-n', tenant, 'describe', 'STR'])).toBe('STRIPE_API_KEY');
    expect(complete(['orka-secrets', '--kubeconfig', cp.kubeconfigPath, '-n', 'cli-t']).split(' ')).toContain(tenant);
    // kubectl_complete-orka: the words after `kubectl orka`, answered in Cobra's format.
    const plugin = spawnSync(process.execPath, ['dist/src/cli/kubectl-complete.js', '--kubeconfig', cp.kubeconfigPath, '-n', tenant, 'delete', ''], { encoding: 'utf8', timeout: 30_000 });
    expect(plugin.status).toBe(0);
    const lines = plugin.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe(':4');
    expect(lines).toEqual(expect.arrayContaining(['STRIPE_API_KEY', 'OFFLINE_ONE', 'WAITED']));
    expect(spawnSync(process.execPath, ['dist/src/cli/kubectl-complete.js', 'li'], { encoding: 'utf8' }).stdout).toBe('list\n:4\n');
    // No cluster: no names and no error, promptly.
    const refused = join(dir, 'refused-kubeconfig');
    writeFileSync(refused, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${await closedPort()}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: acme}}]\ncurrent-context: x\n`);
    const quiet = run(['__complete', '--kubeconfig', refused, 'describe', '']);
    expect(quiet).toMatchObject({ code: 0, stdout: ':4\n', stderr: '' });
  });

  it('refs lists references with file and line, marks missing secrets (exit 3) and the unreferenced ones, never a line\'s text', () => {
    const tree = join(dir, 'workflows');
    mkdirSync(join(tree, 'billing'), { recursive: true });
    const nearby = value('next-to-a-reference');
    writeFileSync(join(tree, 'billing', 'charge.json'), `{\n  "url": "https://api.example.com",\n  "auth": "Bearer {{ secrets.STRIPE_API_KEY }}",\n  "note": "${nearby}"\n}\n`);
    writeFileSync(join(tree, 'notify.yaml'), `steps:\n  - hook: "{{secrets.NO_SUCH_SECRET}}"\n  - other: "{{ $json.x }}"\n`);
    writeFileSync(join(tree, 'readme.txt'), 'no references here\n');
    const res = cli(['refs', tree, '-o', 'json']);
    expect(res.code).toBe(3);
    const r = JSON.parse(res.stdout) as { namespace: string; files: number; references: unknown[]; missing: string[]; unreferenced: string[] };
    expect(r.namespace).toBe(tenant);
    expect(r.files).toBe(3);
    expect(r.references).toEqual([
      { file: join(tree, 'billing', 'charge.json'), line: 3, name: 'STRIPE_API_KEY', exists: true },
      { file: join(tree, 'notify.yaml'), line: 2, name: 'NO_SUCH_SECRET', exists: false },
    ]);
    expect(r.missing).toEqual(['NO_SUCH_SECRET']);
    expect(r.unreferenced).toContain('WAITED');
    expect(r.unreferenced).not.toContain('STRIPE_API_KEY');
    const text = cli(['refs', tree]);
    expect(text.code).toBe(3);
    expect(text.stdout).toMatch(/NO_SUCH_SECRET\s+\S+notify\.yaml:2\s+MISSING/);
    expect(text.stdout).toMatch(/not referenced by any file: .*WAITED/);
    expect(text.stdout + text.stderr).not.toContain('example.com');
    const yaml = cli(['refs', join(tree, 'billing'), '-o', 'yaml']);
    expect(yaml.code).toBe(0);
    expect(parse(yaml.stdout)).toMatchObject({ missing: [], references: [{ name: 'STRIPE_API_KEY', line: 3 }] });
    expect(cli(['refs', join(tree, 'nope')]).code).toBe(2);
  });

  it('the hidden prompt takes multibyte input, and backspace removes a whole character', async () => {
    const ring = createKeyRing(new Date());
    const certFile = join(dir, 'prompt-cert.pem');
    writeFileSync(certFile, (ring.sealing[0] as { certPem: string }).certPem);
    const out = join(dir, 'prompt-sealed.json');
    // Typed: "pässwörd🔑ö", two backspaces (remove ö and 🔑), "ß", Enter.
    const typed = Buffer.concat([Buffer.from('pässwörd🔑ö'), Buffer.from([0x7f, 0x7f]), Buffer.from('ß\r')]);
    const command = `'${process.execPath}' dist/src/cli/main.js -n acme seal PROMPTED --cert '${certFile}' --tenant acme-id --prompt -o json > '${out}'`;
    const res = spawnSync('python3', ['test/env/pty-run.py', 'not shown', typed.toString('hex'), '30', '--', 'sh', '-c', command], { encoding: 'utf8', timeout: 40_000 });
    expect(res.status).toBe(0);
    expect(res.stdout).not.toContain('pässw');
    const sealed = (JSON.parse(readFileSync(out, 'utf8')) as OrkaSecret).spec?.sealedValue as string;
    const keys = loadKeyRing(ring);
    const opened = await unseal({ privateKeys: (id) => keys.sealingKey(id), binding: { tenantId: 'acme-id', namespace: 'acme', name: 'PROMPTED' }, sealed: Buffer.from(sealed, 'base64') });
    expect(opened.toString('utf8')).toBe('pässwördß');
  });

  it('left no value in etcd, in any encoded form', () => {
    // Self-check: a control canary given as a description is stored (JSON-escaped) and found.
    const control = canaries('CONTROL').make('description');
    const created = cli(['create', 'CONTROL_CANARY', '--from-stdin', '-d', control], value('control-value'));
    expect(created.code).toBe(0);
    const etcd = etcdText(cp.etcdUrl);
    expect(findLeaks(etcd, [control])).toHaveLength(1);
    expect(findLeaks(etcd, planted.all)).toEqual([]);
  });

  it('never printed a value, in any encoded form', () => {
    const all = outputs.join('\n');
    expect(all.length).toBeGreaterThan(100);
    expect(findLeaks(all, planted.all)).toEqual([]);
  });
});
