/**
 * The cluster the CLI talks to: the kubeconfig (found the way kubectl finds it, with a message
 * naming the file when there is none), the context, the namespace, and the checks that turn the
 * cluster's terse answers into sentences (a namespace that does not exist, one that is not a tenant).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { SYSTEM_NAMESPACES } from '../api/tenancy.js';
import { TENANT_LABEL } from '../api/resource.js';
import { apiError, CliError, EXIT, httpStatus } from './errors.js';

/** The global options every command shares. */
export interface GlobalOptions {
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  operatorNamespace: string;
}

/** The Kubernetes client library, loaded on first use: it costs most of the CLI's start-up, and
 * commands that need no cluster (seal --cert, refs --no-check, completion, --version) never pay it. */
export type K8s = typeof import('@kubernetes/client-node');

/** Loads the Kubernetes client library. */
export const loadK8s = (): Promise<K8s> => import('@kubernetes/client-node');

/** A loaded kubeconfig with the namespace to act in and the server's address for messages. */
export interface Cluster {
  /** The client library's API classes. */
  k8s: K8s;
  kc: KubeConfig;
  namespace: string;
  server: string;
  operatorNamespace: string;
  /** Runs an API call; a failure becomes a CliError about `what`. */
  call<T>(what: string, fn: () => Promise<T>): Promise<T>;
}

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Loads the kubeconfig as kubectl does (--kubeconfig, else $KUBECONFIG, else ~/.kube/config, else
 * the pod's service account), but never falls back to an unauthenticated localhost:8080 the way
 * the client library does: no file is an error that names the files looked for.
 */
export function loadKubeConfig(k8s: K8s, g: GlobalOptions, env: NodeJS.ProcessEnv = process.env, home = homedir()): KubeConfig {
  const kc = new k8s.KubeConfig();
  const hint = 'point at one with --kubeconfig FILE or the KUBECONFIG environment variable';
  const load = (file: string): void => {
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new CliError(`cannot load the kubeconfig ${file}: ${(err as Error).message}`, EXIT.cluster);
    }
  };
  if (g.kubeconfig !== undefined) {
    if (!existsSync(g.kubeconfig)) throw new CliError(`the kubeconfig ${g.kubeconfig} (from --kubeconfig) does not exist`, EXIT.cluster);
    load(g.kubeconfig);
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter((f) => f !== '');
    const found = files.filter((f) => existsSync(f));
    if (found.length === 0) throw new CliError(`no kubeconfig: KUBECONFIG names ${files.join(', ')}, which does not exist; ${hint}`, EXIT.cluster);
    try {
      kc.loadFromDefault();
    } catch (err) {
      throw new CliError(`cannot load the kubeconfig ${found.join(', ')}: ${(err as Error).message}`, EXIT.cluster);
    }
  } else if (existsSync(join(home, '.kube', 'config'))) {
    load(join(home, '.kube', 'config'));
  } else if (env.KUBERNETES_SERVICE_HOST && existsSync(IN_CLUSTER_TOKEN)) {
    kc.loadFromCluster();
  } else {
    throw new CliError(`no kubeconfig: looked for ${join(home, '.kube', 'config')} (KUBECONFIG is not set); ${hint}`, EXIT.cluster);
  }
  if (g.context !== undefined) {
    if (kc.getContextObject(g.context) === null) {
      const known = kc.getContexts().map((c) => c.name);
      throw new CliError(`no context ${g.context} in the kubeconfig (it has: ${known.join(', ') || 'none'})`, EXIT.input);
    }
    kc.setCurrentContext(g.context);
  }
  if (kc.getCurrentCluster() === null) {
    throw new CliError(`the kubeconfig has no current context with a cluster: give --context (it has: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`, EXIT.cluster);
  }
  return kc;
}

/** Connects (lazily: no request is made here) to the cluster of the options. */
export async function connect(g: GlobalOptions): Promise<Cluster> {
  const k8s = await loadK8s();
  const kc = loadKubeConfig(k8s, g);
  const context = kc.getContextObject(kc.getCurrentContext());
  const server = kc.getCurrentCluster()?.server ?? '(unknown server)';
  return {
    k8s,
    kc,
    server,
    namespace: g.namespace ?? context?.namespace ?? 'default',
    operatorNamespace: g.operatorNamespace,
    async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
      try {
        return await fn();
      } catch (err) {
        throw apiError(err, what, server);
      }
    },
  };
}

/** What a namespace is to Orka Secrets. */
export type NamespaceKind = 'tenant' | 'not-a-tenant' | 'never-a-tenant' | 'missing' | 'unknown';

/**
 * Looks the namespace up. `unknown` when the caller may not read namespaces (a tenant admin
 * bound to a namespaced role): the operator still reports a non-tenant in the secret's status.
 */
export async function namespaceKind(c: Cluster, namespace: string): Promise<NamespaceKind> {
  if (namespace === c.operatorNamespace || SYSTEM_NAMESPACES.includes(namespace)) return 'never-a-tenant';
  try {
    const ns = await c.kc.makeApiClient(c.k8s.CoreV1Api).readNamespace({ name: namespace });
    return (ns.metadata?.labels?.[TENANT_LABEL] ?? '') !== '' ? 'tenant' : 'not-a-tenant';
  } catch (err) {
    const status = httpStatus(err);
    if (status === 404) return 'missing';
    if (status === 403) return 'unknown';
    throw apiError(err, `namespace ${namespace}`, c.server);
  }
}

/** Throws when the namespace does not exist; with `tenant`, also when it cannot hold secrets. */
export async function checkNamespace(c: Cluster, namespace: string, need: 'exists' | 'tenant'): Promise<void> {
  const kind = await namespaceKind(c, namespace);
  if (kind === 'missing') throw new CliError(`namespace ${namespace} does not exist (check -n/--namespace and --context)`, EXIT.notFound);
  if (need !== 'tenant') return;
  if (kind === 'never-a-tenant') {
    throw new CliError(`namespace ${namespace} can never be a tenant (it is the operator's or a system namespace); use a tenant namespace`, EXIT.input);
  }
  if (kind === 'not-a-tenant') {
    throw new CliError(`namespace ${namespace} is not a tenant, so no secret can be stored there; label it first: kubectl label namespace ${namespace} ${TENANT_LABEL}=<tenant-id>`, EXIT.input);
  }
}

/** The sealing certificate published by the operator. */
export async function fetchSealingCert(c: Cluster): Promise<string> {
  const { CERT_CONFIGMAP } = await import('../api/resource.js');
  const what = `sealing certificate ${c.operatorNamespace}/${CERT_CONFIGMAP}`;
  const cm = await c.call(what, () => c.kc.makeApiClient(c.k8s.CoreV1Api).readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace: c.operatorNamespace }));
  const pem = cm.data?.['cert.pem'];
  if (!pem) throw new CliError(`${what}: the ConfigMap holds no certificate (is the operator running?)`, EXIT.notFound);
  return pem;
}
