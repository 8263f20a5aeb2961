#!/usr/bin/env node
/**
 * orka-secrets (also `kubectl orka`): seal values for a tenant and manage its OrkaSecrets.
 * Never prints a value. Exit codes: 0 done, 1 unexpected failure, 2 bad input, 3 not found,
 * 4 cluster unreachable or access refused, 5 already exists.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Command, CommanderError, Option } from 'commander';
import { stringify } from 'yaml';
import { MAX_VALUE_BYTES, seal } from '../core/envelope.js';
import { checkSecretName, referenceOf, toObjectName, toSecretName } from '../core/names.js';
import { registerDashboard } from '../dashboard/command.js';
import { sealingKeyIdOf } from '../operator/keyring.js';
import { CERT_CONFIGMAP } from '../operator/keys.js';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type OrkaSecret } from '../operator/resource.js';

/** A failure with its exit code and a message for a person. */
class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

const EXIT = { input: 2, notFound: 3, cluster: 4, exists: 5 } as const;

interface Global {
  namespace?: string;
  kubeconfig?: string;
  operatorNamespace: string;
}

function kubeConfig(g: Global): { kc: KubeConfig; namespace: string } {
  const kc = new KubeConfig();
  try {
    if (g.kubeconfig) kc.loadFromFile(g.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new CliError(`cannot load the kubeconfig: ${(err as Error).message}`, EXIT.cluster);
  }
  const context = kc.getContextObject(kc.getCurrentContext());
  return { kc, namespace: g.namespace ?? context?.namespace ?? 'default' };
}

/** Turns API failures into messages and exit codes. */
function apiError(err: unknown, what: string): CliError {
  const code = (err as { code?: number }).code;
  if (code === 404) return new CliError(`${what}: not found`, EXIT.notFound);
  if (code === 409) return new CliError(`${what}: already exists (use update)`, EXIT.exists);
  if (code === 401 || code === 403) return new CliError(`${what}: access refused by the cluster (${code})`, EXIT.cluster);
  if (code === 422 || code === 400) {
    let message = '';
    try {
      message = (JSON.parse((err as { body?: string }).body ?? '{}') as { message?: string }).message ?? '';
    } catch {
      // keep the generic message
    }
    return new CliError(`${what}: refused: ${message || `HTTP ${code}`}`, EXIT.input);
  }
  if (code === undefined) return new CliError(`${what}: the cluster cannot be reached (${(err as Error).message})`, EXIT.cluster);
  return new CliError(`${what}: HTTP ${code}`, 1);
}

function secretName(name: string): string {
  // Accept both STRIPE_API_KEY and stripe-api-key.
  const upper = /[a-z]/.test(name) ? name.toUpperCase().replaceAll('-', '_') : name;
  const check = checkSecretName(upper);
  if (!check.ok) throw new CliError(`invalid secret name: ${check.message}`, EXIT.input);
  return upper;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Reads a line from the terminal without echoing it. */
async function promptHidden(question: string): Promise<Buffer> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new CliError('no terminal to prompt on: give --from-stdin or --from-file', EXIT.input);
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  const bytes: number[] = [];
  try {
    for await (const chunk of stdin) {
      for (const b of chunk as Buffer) {
        if (b === 3) throw new CliError('cancelled', EXIT.input); // Ctrl-C
        if (b === 13 || b === 10) return Buffer.from(bytes);
        if (b === 127 || b === 8) bytes.pop();
        else bytes.push(b);
      }
    }
    return Buffer.from(bytes);
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

interface ValueOptions {
  fromFile?: string;
  fromStdin?: boolean;
  prompt?: boolean;
}

/** The value from the option given; with `required`, prompts (terminal) or reads stdin when none is. */
async function readValue(opts: ValueOptions, required: boolean): Promise<Buffer | undefined> {
  const given = [opts.fromFile !== undefined, opts.fromStdin === true, opts.prompt === true].filter(Boolean).length;
  if (given > 1) throw new CliError('give at most one of --from-file, --from-stdin and --prompt', EXIT.input);
  let value: Buffer | undefined;
  if (opts.fromFile !== undefined) {
    try {
      value = readFileSync(opts.fromFile);
    } catch (err) {
      throw new CliError(`cannot read ${opts.fromFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, EXIT.input);
    }
  } else if (opts.fromStdin) value = stripNewline(await readStdin());
  else if (opts.prompt || (required && process.stdin.isTTY)) value = await promptHidden('Value (not shown): ');
  else if (required) value = stripNewline(await readStdin());
  if (value === undefined) return undefined;
  if (value.length === 0) throw new CliError('the value is empty', EXIT.input);
  if (value.length > MAX_VALUE_BYTES) throw new CliError(`the value is ${value.length} bytes; at most ${MAX_VALUE_BYTES} are allowed`, EXIT.input);
  return value;
}

/** One trailing newline (from `echo` or a terminal) is not part of the value; --from-file keeps every byte. */
function stripNewline(b: Buffer): Buffer {
  return b.length > 0 && b[b.length - 1] === 10 ? b.subarray(0, b[b.length - 2] === 13 ? -2 : -1) : b;
}

async function sealingCert(kc: KubeConfig | undefined, g: Global, certFile: string | undefined): Promise<string> {
  if (certFile !== undefined) {
    try {
      return readFileSync(certFile, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${certFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, EXIT.input);
    }
  }
  if (kc === undefined) throw new CliError('no cluster to fetch the sealing certificate from: give --cert', EXIT.input);
  try {
    const cm = await kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace: g.operatorNamespace });
    const pem = cm.data?.['cert.pem'];
    if (!pem) throw new CliError(`ConfigMap ${g.operatorNamespace}/${CERT_CONFIGMAP} holds no certificate`, EXIT.notFound);
    return pem;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw apiError(err, `sealing certificate ${g.operatorNamespace}/${CERT_CONFIGMAP}`);
  }
}

function sealFor(certPem: string, namespace: string, name: string, value: Buffer): string {
  let keyId: string;
  try {
    keyId = sealingKeyIdOf(certPem);
  } catch {
    throw new CliError('the certificate is not an Orka Secrets sealing certificate', EXIT.input);
  }
  return seal({ publicKey: createPublicKey(certPem), keyId, tenant: namespace, name, value }).toString('base64');
}

function manifest(namespace: string, name: string, spec: Record<string, unknown>): OrkaSecret {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: toObjectName(name), namespace }, spec };
}

function print(data: unknown, output: string | undefined): void {
  process.stdout.write(output === 'json' ? `${JSON.stringify(data, null, 2)}\n` : stringify(data));
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('').trimEnd()).join('\n') + '\n';
}

function ready(o: OrkaSecret): string {
  const c = o.status?.conditions?.find((x) => x.type === 'Ready');
  return c === undefined ? 'Unknown' : c.status === 'True' ? 'True' : `False (${c.reason})`;
}

function ago(date: string | Date | undefined): string {
  if (date === undefined) return 'never';
  const s = Math.max(0, Math.round((Date.now() - new Date(date).getTime()) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : s < 172800 ? `${Math.round(s / 3600)}h ago` : `${Math.round(s / 86400)}d ago`;
}

const osecApi = (kc: KubeConfig) => kc.makeApiClient(CustomObjectsApi);
const coords = (namespace: string) => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace });

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new CliError('refusing to delete without confirmation: add --yes', EXIT.input);
  process.stderr.write(`${question} [y/N] `);
  const answer = await new Promise<string>((resolve) => process.stdin.once('data', (d: Buffer) => resolve(d.toString().trim())));
  process.stdin.pause();
  return answer === 'y' || answer === 'yes';
}

function program(): Command {
  const cli = new Command('orka-secrets')
    .description('Seal values for a tenant and manage its Orka Secrets. Values are never printed.')
    .option('-n, --namespace <namespace>', 'tenant namespace (default: the kubeconfig context namespace)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--operator-namespace <namespace>', 'namespace of the Orka Secrets operator', 'orka-system')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const valueOptions = (c: Command) =>
    c
      .option('--from-file <path>', 'read the value from a file (every byte kept)')
      .option('--from-stdin', 'read the value from standard input (one trailing newline removed)')
      .option('--prompt', 'ask for the value without echoing it');
  const g = () => cli.opts<Global>();
  const output = new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']);

  valueOptions(cli.command('seal <name>').description('seal a value for this namespace and name; prints an OrkaSecret manifest (safe to commit)'))
    .option('--cert <path>', 'sealing certificate (default: fetched from the cluster)')
    .option('-d, --description <text>', 'description')
    .addOption(output.default('yaml'))
    .action(async (rawName: string, opts: ValueOptions & { cert?: string; description?: string; output: string }) => {
      const name = secretName(rawName);
      const value = (await readValue(opts, true)) as Buffer;
      const needCluster = opts.cert === undefined || g().namespace === undefined;
      const { kc, namespace } = needCluster ? kubeConfig(g()) : { kc: undefined, namespace: g().namespace as string };
      const sealedValue = sealFor(await sealingCert(kc, g(), opts.cert), namespace, name, value);
      print(manifest(namespace, name, { ...(opts.description ? { description: opts.description } : {}), sealedValue }), opts.output);
    });

  valueOptions(cli.command('create <name>').description('seal a value and create the secret'))
    .option('-d, --description <text>', 'description')
    .action(async (rawName: string, opts: ValueOptions & { description?: string }) => {
      const name = secretName(rawName);
      const { kc, namespace } = kubeConfig(g());
      const value = (await readValue(opts, true)) as Buffer;
      const sealedValue = sealFor(await sealingCert(kc, g(), undefined), namespace, name, value);
      try {
        await osecApi(kc).createNamespacedCustomObject({ ...coords(namespace), body: manifest(namespace, name, { ...(opts.description ? { description: opts.description } : {}), sealedValue }) });
      } catch (err) {
        throw apiError(err, `secret ${name} in ${namespace}`);
      }
      process.stdout.write(`created ${name} in ${namespace}; reference it as ${referenceOf(name)}\n`);
    });

  valueOptions(cli.command('update <name>').description('change the value and/or the description; without a value option the stored value is kept'))
    .option('-d, --description <text>', 'new description')
    .action(async (rawName: string, opts: ValueOptions & { description?: string }) => {
      const name = secretName(rawName);
      const { kc, namespace } = kubeConfig(g());
      const value = await readValue(opts, false);
      if (value === undefined && opts.description === undefined) throw new CliError('nothing to update: give a value option and/or --description', EXIT.input);
      const spec: Record<string, unknown> = {};
      if (opts.description !== undefined) spec.description = opts.description;
      if (value !== undefined) {
        spec.sealedValue = sealFor(await sealingCert(kc, g(), undefined), namespace, name, value);
        spec.valueFrom = null;
      }
      try {
        await osecApi(kc).patchNamespacedCustomObject({ ...coords(namespace), name: toObjectName(name), body: { spec } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      } catch (err) {
        throw apiError(err, `secret ${name} in ${namespace}`);
      }
      process.stdout.write(`updated ${name} in ${namespace}${value === undefined ? ' (value kept)' : ''}\n`);
    });

  cli
    .command('list')
    .description('list the secrets of a namespace')
    .option('-A, --all-namespaces', 'every namespace')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'yaml', 'json']).default('table'))
    .action(async (opts: { allNamespaces?: boolean; output: string }) => {
      const { kc, namespace } = kubeConfig(g());
      let items: OrkaSecret[];
      try {
        const api = osecApi(kc);
        const list = (opts.allNamespaces ? await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }) : await api.listNamespacedCustomObject(coords(namespace))) as { items: OrkaSecret[] };
        items = list.items;
      } catch (err) {
        throw apiError(err, `secrets in ${opts.allNamespaces ? 'all namespaces' : namespace}`);
      }
      const rows = items.map((o) => ({
        namespace: o.metadata.namespace,
        name: toSecretNameSafe(o.metadata.name),
        description: o.spec?.description ?? '',
        created: o.metadata.creationTimestamp,
        reference: o.status?.reference ?? '',
        ready: ready(o),
        lastUsed: o.status?.usage?.lastResolvedAt,
      }));
      if (opts.output !== 'table') return print(rows, opts.output);
      const header = [...(opts.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'DESCRIPTION', 'CREATED', 'REFERENCE', 'READY', 'LAST USED'];
      process.stdout.write(table([header, ...rows.map((r) => [...(opts.allNamespaces ? [r.namespace] : []), r.name, r.description, ago(r.created), r.reference, r.ready, ago(r.lastUsed)])]));
    });

  cli
    .command('describe <name>')
    .description('show a secret: status, conditions, usage and recent events (never the value)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'yaml', 'json']).default('text'))
    .action(async (rawName: string, opts: { output: string }) => {
      const name = secretName(rawName);
      const { kc, namespace } = kubeConfig(g());
      let o: OrkaSecret;
      try {
        o = (await osecApi(kc).getNamespacedCustomObject({ ...coords(namespace), name: toObjectName(name) })) as OrkaSecret;
      } catch (err) {
        throw apiError(err, `secret ${name} in ${namespace}`);
      }
      const events = (await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${o.metadata.name}` }).catch(() => ({ items: [] }))).items;
      const view = {
        name,
        namespace,
        description: o.spec?.description ?? '',
        reference: o.status?.reference ?? referenceOf(name),
        source: o.spec?.sealedValue !== undefined ? 'sealedValue' : o.spec?.valueFrom?.secretKeyRef ? `Secret ${o.spec.valueFrom.secretKeyRef.name}, key ${o.spec.valueFrom.secretKeyRef.key}` : 'stored value kept',
        version: o.status?.version ?? 0,
        valueUpdatedAt: o.status?.valueUpdatedAt ?? '',
        conditions: o.status?.conditions ?? [],
        usage: o.status?.usage ?? {},
        events: events.map((e) => ({ type: e.type, reason: e.reason, message: e.message, at: e.lastTimestamp })),
      };
      if (opts.output !== 'text') return print(view, opts.output);
      const lines = [
        `Name:         ${view.name}`,
        `Namespace:    ${view.namespace}`,
        `Description:  ${view.description}`,
        `Reference:    ${view.reference}`,
        `Source:       ${view.source}`,
        `Version:      ${view.version} (value updated ${ago(view.valueUpdatedAt || undefined)})`,
        `Ready:        ${ready(o)}${view.conditions[0]?.message ? ` - ${view.conditions[0].message}` : ''}`,
        `Usage:        ${view.usage.resolveCount ?? 0} resolutions, last ${ago(view.usage.lastResolvedAt)}`,
        'Events:',
        ...(view.events.length ? view.events.map((e) => `  ${e.type}  ${e.reason}  ${e.message}`) : ['  none']),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  cli
    .command('delete <name>')
    .description('delete a secret; workflows referencing it then fail with "secret NAME could not be found"')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (rawName: string, opts: { yes?: boolean }) => {
      const name = secretName(rawName);
      const { kc, namespace } = kubeConfig(g());
      if (!opts.yes && !(await confirm(`Delete ${name} from ${namespace}? Workflows that reference it will fail.`))) {
        process.stderr.write('not deleted\n');
        return;
      }
      try {
        await osecApi(kc).deleteNamespacedCustomObject({ ...coords(namespace), name: toObjectName(name) });
      } catch (err) {
        throw apiError(err, `secret ${name} in ${namespace}`);
      }
      process.stdout.write(`deleted ${name} from ${namespace}\n`);
    });

  cli
    .command('usage')
    .description('how often and when each secret was last resolved')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'yaml', 'json']).default('table'))
    .action(async (opts: { output: string }) => {
      const { kc, namespace } = kubeConfig(g());
      let items: OrkaSecret[];
      try {
        items = ((await osecApi(kc).listNamespacedCustomObject(coords(namespace))) as { items: OrkaSecret[] }).items;
      } catch (err) {
        throw apiError(err, `secrets in ${namespace}`);
      }
      const rows = items.map((o) => ({ name: toSecretNameSafe(o.metadata.name), resolveCount: o.status?.usage?.resolveCount ?? 0, lastResolvedAt: o.status?.usage?.lastResolvedAt ?? null }));
      if (opts.output !== 'table') return print(rows, opts.output);
      process.stdout.write(table([['NAME', 'RESOLUTIONS', 'LAST USED'], ...rows.map((r) => [r.name, String(r.resolveCount), ago(r.lastResolvedAt ?? undefined)])]));
    });
  registerDashboard(cli);
  return cli;
}

function toSecretNameSafe(objectName: string): string {
  try {
    return toSecretName(objectName);
  } catch {
    return `(invalid: ${objectName})`;
  }
}

program()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT.input);
    if (err instanceof CliError) {
      process.stderr.write(`orka-secrets: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`orka-secrets: unexpected error: ${(err as Error).message}\n`);
    process.exit(1);
  });
