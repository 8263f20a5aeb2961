/** The secret commands: seal, create, update, list, describe, delete, usage. */
import { type Command, Option } from 'commander';
import { referenceOf, toObjectName } from '../core/names.js';
import { GROUP, PLURAL, VERSION, type OrkaSecret } from '../api/resource.js';
import { sealingKeyIdOf } from '../core/sealing-cert.js';
import { checkNamespace, connect, fetchSealingCert, type Cluster, type GlobalOptions } from './cluster.js';
import { CliError, EXIT } from './errors.js';
import { NAME_HELP, parseSecretName } from './names.js';
import { clean } from './clean.js';
import { LIST_FORMATS, renderList, secretNameOf, type ListOptions } from './list.js';
import { ago, print, ready, table } from './output.js';
import { manifest, sealFor, sealingCert, sealingTenant, TENANT_HELP } from './sealing.js';
import { promptConfirm } from './prompt.js';
import { readValue, type ValueOptions } from './value.js';
import { parseTimeout, WAIT_HELP, waitForReady } from './wait.js';

const osecApi = (c: Cluster) => c.kc.makeApiClient(c.k8s.CustomObjectsApi);
const coords = (namespace: string) => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace });

const valueOptions = (c: Command) =>
  c
    .option('--from-file <path>', 'read the value from a file (every byte kept)')
    .option('--from-stdin', 'read the value from standard input (one trailing newline removed)')
    .option('--prompt', 'ask for the value without echoing it')
    .option('--tenant <id>', TENANT_HELP)
    .addHelpText('after', `\n${NAME_HELP}.\nValues are UTF-8 text up to 64 KiB; base64 binary data first.`);

/** --tenant, on every command that seals. */
interface TenantOption {
  tenant?: string;
}

/** Options of the commands that write (create, update). */
interface WriteOptions {
  dryRun?: boolean;
  output: string;
  wait?: boolean;
  timeout: string;
}

/** Who the API server records as having set the fields the CLI writes. */
const FIELD_MANAGER = 'orka-secrets-cli';

const writeOptions = (c: Command) =>
  c
    .option('--dry-run', 'print the sealed manifest and change nothing (the cluster still checks the request)')
    .addOption(new Option('-o, --output <format>', 'format of the --dry-run manifest').choices(['yaml', 'json']).default('yaml'))
    .option('--wait', 'wait until the operator has stored the value (Ready), and exit by the reason when it is not')
    .option('--timeout <duration>', 'how long --wait waits (30s, 2m)', '60s')
    .addHelpText('after', `\n${WAIT_HELP}`);

/** What create and update check before reading a value: the name, --timeout, and that the
 * namespace is a tenant (refused before anything is read or written). */
async function openTenantWrite(rawName: string, opts: WriteOptions, globals: GlobalOptions): Promise<{ name: string; timeoutMs: number; c: Cluster; namespace: string }> {
  const name = parseSecretName(rawName);
  const timeoutMs = parseTimeout(opts.timeout);
  const c = await connect(globals);
  await checkNamespace(c, c.namespace, 'tenant');
  return { name, timeoutMs, c, namespace: c.namespace };
}

/** Registers the secret commands on the program; `g` reads the global options. */
export function registerSecretCommands(cli: Command, g: () => GlobalOptions): void {
  const output = () => new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']);

  valueOptions(cli.command('seal <name>').description('seal a value for this namespace and name; prints an OrkaSecret manifest (safe to commit)'))
    .option('--cert <path>', 'sealing certificate (default: fetched from the cluster); seals offline, so -n and --tenant are required')
    .option('-d, --description <text>', 'description')
    .addOption(output().default('yaml'))
    .action(async (rawName: string, opts: ValueOptions & TenantOption & { cert?: string; description?: string; output: string }) => {
      const name = parseSecretName(rawName);
      // With --cert nothing is read from the cluster, not even the kubeconfig's namespace: a
      // value sealed for a namespace guessed from a context would open nowhere else.
      if (opts.cert !== undefined && g().namespace === undefined) throw new CliError('offline sealing needs -n NAMESPACE: the value is bound to the namespace it is sealed for', EXIT.input);
      const c = opts.cert === undefined ? await connect(g()) : undefined;
      const namespace = c?.namespace ?? (g().namespace as string);
      // With --cert nothing is read from the cluster (offline): the tenant id comes from --tenant.
      const tenantId = await sealingTenant(opts.cert === undefined ? c : undefined, namespace, opts.tenant);
      const value = (await readValue(opts, true)) as Buffer;
      const sealedValue = sealFor(await sealingCert(c, opts.cert), tenantId, namespace, name, value);
      print(manifest(namespace, name, { ...(opts.description ? { description: opts.description } : {}), sealedValue }), opts.output);
    });

  valueOptions(writeOptions(cli.command('create <name>').description('seal a value and create the secret')))
    .option('-d, --description <text>', 'description')
    .action(async (rawName: string, opts: ValueOptions & TenantOption & WriteOptions & { description?: string }) => {
      const { name, timeoutMs, c, namespace } = await openTenantWrite(rawName, opts, g());
      const tenantId = await sealingTenant(c, namespace, opts.tenant);
      const value = (await readValue(opts, true)) as Buffer;
      const sealedValue = sealFor(await sealingCert(c, undefined), tenantId, namespace, name, value);
      const body = manifest(namespace, name, { ...(opts.description ? { description: opts.description } : {}), sealedValue });
      const created = (await c.call(`secret ${name} in ${namespace}`, () =>
        osecApi(c).createNamespacedCustomObject({ ...coords(namespace), body, fieldManager: FIELD_MANAGER, ...(opts.dryRun ? { dryRun: 'All' } : {}) }),
      )) as OrkaSecret;
      if (opts.dryRun) return print(body, opts.output);
      process.stdout.write(`created ${name} in ${namespace}; reference it as ${referenceOf(name)}\n`);
      if (opts.wait) process.stdout.write(`${await waitForReady(c, namespace, name, created.metadata.generation ?? 1, timeoutMs)}\n`);
    });

  valueOptions(writeOptions(cli.command('update <name>').description('change the value and/or the description; without a value option the stored value is kept')))
    .option('-d, --description <text>', 'new description')
    .action(async (rawName: string, opts: ValueOptions & TenantOption & WriteOptions & { description?: string }) => {
      const { name, timeoutMs, c, namespace } = await openTenantWrite(rawName, opts, g());
      const value = await readValue(opts, false);
      if (value === undefined && opts.description === undefined) throw new CliError('nothing to update: give a value option and/or --description', EXIT.input);
      const spec: Record<string, unknown> = {};
      if (opts.description !== undefined) spec.description = opts.description;
      if (value !== undefined) {
        spec.sealedValue = sealFor(await sealingCert(c, undefined), await sealingTenant(c, namespace, opts.tenant), namespace, name, value);
        spec.valueFrom = null;
      }
      const updated = (await c.call(`secret ${name} in ${namespace}`, () =>
        osecApi(c).patchNamespacedCustomObject(
          { ...coords(namespace), name: toObjectName(name), body: { spec }, fieldManager: FIELD_MANAGER, ...(opts.dryRun ? { dryRun: 'All' } : {}) },
          c.k8s.setHeaderOptions('Content-Type', c.k8s.PatchStrategy.MergePatch),
        ),
      )) as OrkaSecret;
      // The manifest of the change: a merge patch (valueFrom: null drops a Secret reference).
      if (opts.dryRun) return print(manifest(namespace, name, spec), opts.output);
      process.stdout.write(`updated ${name} in ${namespace}${value === undefined ? ' (value kept)' : ''}\n`);
      if (opts.wait) process.stdout.write(`${await waitForReady(c, namespace, name, updated.metadata.generation ?? 1, timeoutMs)}\n`);
    });

  cli
    .command('fetch-cert')
    .description('print the sealing certificate (PEM) of the cluster, for sealing offline later with seal --cert')
    .action(async () => {
      const pem = await fetchSealingCert(await connect(g()));
      try {
        sealingKeyIdOf(pem);
      } catch {
        throw new CliError('the published certificate is not an Orka Secrets sealing certificate', EXIT.unexpected);
      }
      process.stdout.write(pem.endsWith('\n') ? pem : `${pem}\n`);
    });

  cli
    .command('list')
    .description('list the secrets of a namespace')
    .option('-A, --all-namespaces', 'every namespace')
    .addOption(new Option('-o, --output <format>', 'output format: a table (wide: more columns), name (one NAME a line), or yaml/json (a Kubernetes List of the objects)').choices(LIST_FORMATS).default('table'))
    .option('--no-headers', 'print the table without its header row')
    .action(async (opts: { allNamespaces?: boolean; output: ListOptions['output']; headers: boolean }) => {
      const c = await connect(g());
      const namespace = c.namespace;
      if (!opts.allNamespaces) await checkNamespace(c, namespace, 'exists');
      const list = (await c.call(`secrets in ${opts.allNamespaces ? 'all namespaces' : namespace}`, () =>
        opts.allNamespaces ? osecApi(c).listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }) : osecApi(c).listNamespacedCustomObject(coords(namespace)),
      )) as { items: OrkaSecret[] };
      process.stdout.write(renderList(list.items, { output: opts.output, allNamespaces: opts.allNamespaces === true, headers: opts.headers }));
    });

  cli
    .command('describe <name>')
    .description('show a secret: status, conditions, usage and recent events (never the value)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'yaml', 'json']).default('text'))
    .addHelpText('after', `\n${NAME_HELP}.`)
    .action(async (rawName: string, opts: { output: string }) => {
      const name = parseSecretName(rawName);
      const c = await connect(g());
      const namespace = c.namespace;
      await checkNamespace(c, namespace, 'exists');
      const o = (await c.call(`secret ${name} in ${namespace}`, () => osecApi(c).getNamespacedCustomObject({ ...coords(namespace), name: toObjectName(name) }))) as OrkaSecret;
      const events = (await c.kc.makeApiClient(c.k8s.CoreV1Api).listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${o.metadata.name}` }).catch(() => ({ items: [] }))).items;
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
      const condition = view.conditions.find((x) => x.type === 'Ready');
      const lines = [
        `Name:         ${view.name}`,
        `Namespace:    ${view.namespace}`,
        `Description:  ${clean(view.description)}`,
        `Reference:    ${clean(view.reference)}`,
        `Source:       ${clean(view.source)}`,
        `Version:      ${view.version} (value updated ${ago(view.valueUpdatedAt || undefined)})`,
        `Ready:        ${clean(ready(o))}${condition?.message ? ` - ${clean(condition.message)}` : ''}`,
        `Usage:        ${view.usage.resolveCount ?? 0} resolutions, last ${ago(view.usage.lastResolvedAt)}`,
        'Events:',
        ...(view.events.length ? view.events.map((e) => `  ${clean(e.type)}  ${clean(e.reason)}  ${clean(e.message)}`) : ['  none']),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  cli
    .command('delete <name>')
    .description('delete a secret; workflows referencing it then fail with "secret NAME could not be found"')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', `\n${NAME_HELP}.`)
    .action(async (rawName: string, opts: { yes?: boolean }) => {
      const name = parseSecretName(rawName);
      const c = await connect(g());
      const namespace = c.namespace;
      await checkNamespace(c, namespace, 'exists');
      if (!opts.yes && !(await promptConfirm(`Delete ${name} from ${namespace}? Workflows that reference it will fail.`, 'refusing to delete without confirmation: add --yes'))) {
        process.stderr.write('not deleted\n');
        return;
      }
      await c.call(`secret ${name} in ${namespace}`, () => osecApi(c).deleteNamespacedCustomObject({ ...coords(namespace), name: toObjectName(name) }));
      process.stdout.write(`deleted ${name} from ${namespace}\n`);
    });

  cli
    .command('usage')
    .description('how often and when each secret was last resolved')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'yaml', 'json']).default('table'))
    .option('--no-headers', 'print the table without its header row')
    .action(async (opts: { output: string; headers: boolean }) => {
      const c = await connect(g());
      const namespace = c.namespace;
      await checkNamespace(c, namespace, 'exists');
      const items = ((await c.call(`secrets in ${namespace}`, () => osecApi(c).listNamespacedCustomObject(coords(namespace)))) as { items: OrkaSecret[] }).items;
      const rows = items.map((o) => ({ name: secretNameOf(o.metadata.name), resolveCount: o.status?.usage?.resolveCount ?? 0, lastResolvedAt: o.status?.usage?.lastResolvedAt ?? null }));
      if (opts.output !== 'table') return print(rows, opts.output);
      process.stdout.write(table([['NAME', 'RESOLUTIONS', 'LAST USED'], ...rows.map((r) => [r.name, String(r.resolveCount), ago(r.lastResolvedAt ?? undefined)])], opts.headers));
    });
}
