/**
 * The dashboard's only door to Kubernetes, acting with the signed-in person's own credentials
 * (their kubeconfig locally; their bearer token in a cluster): RBAC alone decides what they see
 * and do. Every API failure becomes an OrkaError with a message for a person (which verb RBAC
 * refused, which name is taken, which cluster cannot be reached); none carries a value.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { OrkaError } from '../core/errors.js';
import { toObjectName } from '../core/names.js';
import { CERT_CONFIGMAP } from '../api/resource.js';
import { API_VERSION, GROUP, KIND, PLURAL, TENANT_LABEL, VERSION, type OrkaSecret } from '../api/resource.js';
import type { CreateRequest, SecretDetail, SecretList, SecretRow, TenantList, UpdateRequest } from './api.js';
import { assertName, checkDescription, checkSealed, recentEvents, sealingKeyOf, sourceOf, toRow } from './rows.js';
import type { NamespaceSealingKey, SealingKey } from './web/seal.js';

/** Namespaces that are never tenants, whatever their labels (DESIGN: authorization model). */
const SYSTEM_NAMESPACES = new Set(['kube-system', 'kube-public', 'kube-node-lease']);

type Verb = 'list' | 'get' | 'create' | 'update' | 'delete';

/** Turns a Kubernetes API failure into an OrkaError for a person. */
export function clusterError(err: unknown, args: { verb: Verb; namespace: string; name?: string; server: string }): OrkaError {
  if (err instanceof OrkaError) return err;
  const code = (err as { code?: number }).code;
  const what = args.name === undefined ? `secrets in namespace ${args.namespace}` : `secret ${args.name} in namespace ${args.namespace}`;
  if (code === 403) {
    return new OrkaError('FORBIDDEN', `Kubernetes RBAC does not allow you to ${args.verb} ${what} (verb "${args.verb}" on orkasecrets.orka.io)`, { verb: args.verb });
  }
  if (code === 401) return new OrkaError('UNAUTHENTICATED', 'the cluster did not accept your credentials (expired or revoked?): sign in again');
  if (code === 409) return new OrkaError('ALREADY_EXISTS', `a secret named ${args.name ?? ''} already exists in namespace ${args.namespace}: choose another name, or edit that one`, { field: 'name' });
  if (code === 404) return new OrkaError('SECRET_NOT_FOUND', `${what} could not be found (deleted meanwhile?)`);
  if (code === 400 || code === 422) {
    // The apiserver's (or the validating webhook's) own words: they name the rule broken.
    return new OrkaError('INVALID_REQUEST', `the cluster refused it: ${apiMessage(err) || `HTTP ${code}`}`);
  }
  if (code === undefined) return new OrkaError('UPSTREAM_UNAVAILABLE', `the cluster at ${args.server} cannot be reached; check that it is up and that your kubeconfig points at it`);
  return new OrkaError('UPSTREAM_UNAVAILABLE', `the cluster answered HTTP ${code} to ${args.verb} ${what}`);
}

function apiMessage(err: unknown): string {
  try {
    const body = (err as { body?: unknown }).body;
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string } | undefined;
    return parsed?.message ?? '';
  } catch {
    return '';
  }
}

/** A KubeConfig for the cluster of `base` (address and CA only) acting with one person's bearer token. */
export function personKubeConfig(base: KubeConfig, token: string): KubeConfig {
  const cluster = base.getCurrentCluster();
  if (cluster === null) throw new OrkaError('INVALID_CONFIG', 'no cluster in the base kubeconfig');
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(cluster, { name: 'signed-in person', token });
  return kc;
}

/** The user name the apiserver takes from a kubeconfig user's client certificate (its subject's CN), if it has one. */
export function clientCertUser(user: { certData?: string; certFile?: string } | null | undefined): string | undefined {
  try {
    const pem = user?.certData ? Buffer.from(user.certData, 'base64') : user?.certFile ? readFileSync(user.certFile) : undefined;
    if (pem === undefined) return undefined;
    return /^CN=(.+)$/m.exec(new X509Certificate(pem).subject)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * The user name of a ServiceAccount token: its JWT subject, which the apiserver uses as the user
 * name (`system:serviceaccount:NAMESPACE:NAME`). Read, not verified: it only names the person on
 * the page; every call is still judged by the apiserver. Any other token gives undefined.
 */
export function serviceAccountUser(token: string | undefined): string | undefined {
  const payload = token?.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const sub = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown }).sub;
    return typeof sub === 'string' && /^system:serviceaccount:[a-z0-9-]+:[a-z0-9.-]+$/.test(sub) ? sub : undefined;
  } catch {
    return undefined;
  }
}

/** What the page can ask of the cluster, as the signed-in person (the server depends on this only). */
export interface ClusterAccess {
  readonly server: string;
  /** Who the cluster says the person is (its user name), when it can tell; never the credential. */
  whoAmI(): Promise<string | undefined>;
  /** The tenants the person may list secrets in; `asked`: namespaces they named, tried when namespaces cannot be listed. */
  tenants(asked?: string[]): Promise<TenantList>;
  /** One page of the list (`limit` and `continueToken` passed through to the apiserver). */
  list(namespace: string, page?: { limit?: number; continueToken?: string }): Promise<SecretList>;
  /** One secret for the detail panel (`events: false`: without its Events). */
  detail(namespace: string, name: string, options?: { events?: boolean }): Promise<SecretDetail>;
  sealingKey(namespace: string): Promise<NamespaceSealingKey>;
  create(namespace: string, request: CreateRequest): Promise<SecretRow>;
  update(namespace: string, name: string, request: UpdateRequest): Promise<SecretRow>;
  remove(namespace: string, name: string): Promise<void>;
}

/** ClusterAccess through the Kubernetes API with one person's KubeConfig. */
export class Cluster implements ClusterAccess {
  /** The apiserver's address (for messages). */
  readonly server: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly options: {
      operatorNamespace: string;
      fallbackNamespaces: string[];
      /**
       * Who may review this person's bearer token (TokenReview) when the cluster has no
       * SelfSubjectReview: in a cluster, the dashboard's own ServiceAccount (the chart lets it
       * create TokenReviews and nothing else); locally, the person's own kubeconfig.
       */
      tokenReviewer?: KubeConfig;
    },
  ) {
    this.server = kc.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)';
  }

  private get custom(): CustomObjectsApi {
    return this.kc.makeApiClient(CustomObjectsApi);
  }

  private coords(namespace: string) {
    return { group: GROUP, version: VERSION, plural: PLURAL, namespace };
  }

  /** Checks that the cluster accepts these credentials (a SelfSubjectAccessReview: anyone signed in may make one). */
  async verify(): Promise<void> {
    try {
      await this.mayList(this.options.operatorNamespace);
    } catch (err) {
      if ((err as { code?: number }).code === 401) throw new OrkaError('UNAUTHENTICATED', 'the cluster did not accept this token (expired, revoked or for another cluster)');
      throw clusterError(err, { verb: 'list', namespace: '(all)', server: this.server });
    }
  }

  /**
   * Who the cluster says the person is, first answer wins:
   *   1. a SelfSubjectReview with the person's own credentials (Kubernetes 1.28+; 1.27 as beta,
   *      not asked): any credential, no rights needed;
   *   2. else a TokenReview of the person's bearer token, made by `tokenReviewer`;
   *   3. else what the credential itself names, as the apiserver reads it: the common name of a
   *      client certificate, or the subject of a ServiceAccount token (`system:serviceaccount:...`).
   * Undefined when none tells (for example an OIDC token that only a TokenReview could map).
   */
  async whoAmI(): Promise<string | undefined> {
    try {
      const review = await this.kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
      const user = review.status?.userInfo?.username;
      if (user) return user;
    } catch (err) {
      const code = (err as { code?: number }).code;
      // 404: a cluster before 1.28; 403: one whose RBAC does not allow it. Anything else (unreachable) is asked again later.
      if (code !== 404 && code !== 403) throw clusterError(err, { verb: 'get', namespace: '(all)', server: this.server });
    }
    const person = this.kc.getCurrentUser();
    if (person?.token && this.options.tokenReviewer !== undefined) {
      try {
        const review = await this.options.tokenReviewer.makeApiClient(AuthenticationV1Api).createTokenReview({ body: { spec: { token: person.token } } });
        if (review.status?.authenticated && review.status.user?.username) return review.status.user.username;
      } catch {
        // the reviewer may not review tokens (RBAC): fall through
      }
    }
    return clientCertUser(person) ?? serviceAccountUser(person?.token);
  }

  private isCandidate(namespace: string): boolean {
    return namespace !== this.options.operatorNamespace && !SYSTEM_NAMESPACES.has(namespace);
  }

  /** May the person list OrkaSecrets in this namespace? (A SelfSubjectAccessReview: allowed to everyone signed in.) */
  private async mayList(namespace: string): Promise<boolean> {
    const review = await this.kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { namespace, verb: 'list', group: GROUP, resource: PLURAL } } },
    });
    return review.status?.allowed === true;
  }

  /**
   * The tenant namespaces the person may list secrets in. A tenant editor is usually granted a
   * namespace, not the right to list every namespace: then the candidates are the namespaces the
   * person named (`asked`: typed on the page; `-n` or the kubeconfig context's locally), each
   * kept if it is a tenant (when its labels can be read) that the person may list secrets in.
   */
  async tenants(asked: string[] = []): Promise<TenantList> {
    let candidates: { namespace: string; tenant?: string }[];
    let listed = true;
    try {
      const list = await this.kc.makeApiClient(CoreV1Api).listNamespace({ labelSelector: TENANT_LABEL });
      candidates = list.items.map((n) => ({ namespace: n.metadata?.name ?? '', tenant: n.metadata?.labels?.[TENANT_LABEL] ?? '' }));
    } catch (err) {
      if ((err as { code?: number }).code !== 403) throw clusterError(err, { verb: 'list', namespace: '(all)', server: this.server });
      listed = false;
      candidates = [...new Set([...this.options.fallbackNamespaces, ...asked])].map((namespace) => ({ namespace }));
    }
    candidates = candidates.filter((c) => c.namespace !== '' && this.isCandidate(c.namespace));
    try {
      const allowed = await Promise.all(candidates.map((c) => this.mayList(c.namespace)));
      let tenants = candidates.filter((_, i) => allowed[i]);
      if (!listed) tenants = (await Promise.all(tenants.map((c) => this.asTenant(c.namespace)))).filter((t) => t !== undefined);
      tenants.sort((a, b) => a.namespace.localeCompare(b.namespace));
      if (listed) return { tenants };
      const missing = asked.filter((ns) => !tenants.some((t) => t.namespace === ns));
      const note = `Kubernetes RBAC does not allow you to list namespaces: open your tenant's namespace by name.${missing.length > 0 ? ` You may not list secrets in ${missing.join(', ')}, or it is not a tenant.` : ''}`;
      return { tenants, note, askNamespace: true };
    } catch (err) {
      throw clusterError(err, { verb: 'list', namespace: '(all)', server: this.server });
    }
  }

  /** A namespace the person named, as a tenant; undefined when it is not one (its labels say so, or it does not exist). */
  private async asTenant(namespace: string): Promise<{ namespace: string; tenant?: string } | undefined> {
    try {
      const tenant = await this.assertTenant(namespace);
      return tenant === undefined ? { namespace } : { namespace, tenant };
    } catch (err) {
      if (err instanceof OrkaError && err.code === 'NOT_A_TENANT') return undefined;
      throw err;
    }
  }

  /**
   * Refuses namespaces that are not tenants, when the person may read the namespace (else the
   * operator's status says it); returns the tenant id (undefined: the namespace cannot be read).
   */
  private async assertTenant(namespace: string): Promise<string | undefined> {
    if (!this.isCandidate(namespace)) throw new OrkaError('NOT_A_TENANT', `namespace ${namespace} is not a tenant: the operator's own and the system namespaces never are`);
    let labels: Record<string, string> | undefined;
    try {
      labels = (await this.kc.makeApiClient(CoreV1Api).readNamespace({ name: namespace })).metadata?.labels ?? {};
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 403) return undefined;
      if (code === 404) throw new OrkaError('NOT_A_TENANT', `namespace ${namespace} does not exist`);
      throw clusterError(err, { verb: 'get', namespace, server: this.server });
    }
    const tenant = labels[TENANT_LABEL];
    if (tenant === undefined || tenant === '') throw new OrkaError('NOT_A_TENANT', `namespace ${namespace} is not a tenant: it has no ${TENANT_LABEL} label`);
    return tenant;
  }

  /**
   * One page of a tenant's secrets, in the apiserver's order (by object name, which sorts as the
   * secret names do). `limit` and `continueToken` go to the apiserver as they are, so the
   * dashboard holds one page at a time whatever the tenant's size.
   */
  async list(namespace: string, page: { limit?: number; continueToken?: string } = {}): Promise<SecretList> {
    await this.assertTenant(namespace);
    try {
      const list = (await this.custom.listNamespacedCustomObject({
        ...this.coords(namespace),
        ...(page.limit !== undefined ? { limit: page.limit } : {}),
        ...(page.continueToken ? { _continue: page.continueToken } : {}),
      })) as { items: OrkaSecret[]; metadata?: { continue?: string; remainingItemCount?: number } };
      const next = list.metadata?.continue;
      const remaining = list.metadata?.remainingItemCount;
      return { namespace, secrets: list.items.map(toRow), ...(next ? { continue: next } : {}), ...(next && remaining !== undefined ? { remaining } : {}) };
    } catch (err) {
      if ((err as { code?: number }).code === 410) {
        throw new OrkaError('INVALID_REQUEST', 'the list changed too much while it was being read page by page (its continue token expired): load it again', { field: 'continue' });
      }
      throw clusterError(err, { verb: 'list', namespace, server: this.server });
    }
  }

  /**
   * One secret with what the detail panel shows: source (never a value), conditions, usage and
   * recent Events (`events: false`: none asked, for the page's refresh of an unsettled row).
   */
  async detail(namespace: string, rawName: string, options: { events?: boolean } = {}): Promise<SecretDetail> {
    const name = assertName(rawName);
    let o: OrkaSecret;
    try {
      o = (await this.custom.getNamespacedCustomObject({ ...this.coords(namespace), name: toObjectName(name) })) as OrkaSecret;
    } catch (err) {
      throw clusterError(err, { verb: 'get', namespace, name, server: this.server });
    }
    const events = options.events === false ? [] : await this.eventsOf(namespace, o.metadata.name);
    const usage = o.status?.usage;
    return {
      ...toRow(o),
      source: sourceOf(o),
      conditions: (o.status?.conditions ?? []).map(({ type, status, reason, message, lastTransitionTime }) => ({ type, status, reason, message, lastTransitionTime })),
      ...(usage ? { usage: { ...(usage.lastResolvedAt ? { lastResolvedAt: usage.lastResolvedAt } : {}), ...(usage.resolveCount !== undefined ? { resolveCount: usage.resolveCount } : {}) } } : {}),
      events,
    };
  }

  /** The most recent Events about one OrkaSecret (by its object name), or why RBAC hides them. */
  private async eventsOf(namespace: string, objectName: string): Promise<SecretDetail['events']> {
    try {
      const list = await this.kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=${KIND},involvedObject.name=${objectName}` });
      return recentEvents(list.items);
    } catch (err) {
      if ((err as { code?: number }).code !== 403) throw clusterError(err, { verb: 'list', namespace, server: this.server });
      return { unavailable: `Kubernetes RBAC does not allow you to list events in namespace ${namespace}` };
    }
  }

  /**
   * The operator's public sealing key, from the certificate it publishes in the cluster, with the
   * tenant id of `tenantNamespace` (its orka.io/tenant label) that the page binds values to.
   */
  async sealingKey(tenantNamespace: string): Promise<NamespaceSealingKey> {
    const tenant = await this.assertTenant(tenantNamespace);
    if (tenant === undefined) {
      throw new OrkaError(
        'FORBIDDEN',
        `Kubernetes RBAC does not allow you to get namespace ${tenantNamespace}, so the page cannot read its ${TENANT_LABEL} label, the tenant id every value sealed for it is bound to (verb "get" on namespaces; or seal with the CLI: orka-secrets seal --tenant)`,
        { verb: 'get' },
      );
    }
    return { ...(await this.publishedKey()), tenant };
  }

  private async publishedKey(): Promise<SealingKey> {
    const namespace = this.options.operatorNamespace;
    let pem: string | undefined;
    try {
      pem = (await this.kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace })).data?.['cert.pem'];
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 403) throw new OrkaError('FORBIDDEN', `Kubernetes RBAC does not allow you to get the sealing certificate (ConfigMap ${namespace}/${CERT_CONFIGMAP})`, { verb: 'get' });
      if (code === 404) throw new OrkaError('UPSTREAM_UNAVAILABLE', `no sealing certificate in ${namespace}/${CERT_CONFIGMAP}: is the operator running there?`);
      throw clusterError(err, { verb: 'get', namespace, server: this.server });
    }
    if (!pem) throw new OrkaError('UPSTREAM_UNAVAILABLE', `ConfigMap ${namespace}/${CERT_CONFIGMAP} holds no certificate yet`);
    try {
      return sealingKeyOf(pem);
    } catch {
      throw new OrkaError('UPSTREAM_UNAVAILABLE', `ConfigMap ${namespace}/${CERT_CONFIGMAP} does not hold an Orka Secrets sealing certificate`);
    }
  }

  /** Creates a secret from a value sealed by the page. */
  async create(namespace: string, request: CreateRequest): Promise<SecretRow> {
    const name = assertName(request.name);
    const description = checkDescription(request.description);
    const sealedValue = checkSealed(request.sealedValue, namespace, name);
    await this.assertTenant(namespace);
    const body: OrkaSecret = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: toObjectName(name), namespace },
      spec: { ...(description ? { description } : {}), sealedValue },
    };
    try {
      return toRow((await this.custom.createNamespacedCustomObject({ ...this.coords(namespace), body })) as OrkaSecret);
    } catch (err) {
      throw clusterError(err, { verb: 'create', namespace, name, server: this.server });
    }
  }

  /** Changes the description and/or the value; an absent value keeps the stored one. */
  async update(namespace: string, rawName: string, request: UpdateRequest): Promise<SecretRow> {
    const name = assertName(rawName);
    const description = checkDescription(request.description);
    const spec: Record<string, unknown> = {};
    if (description !== undefined) spec.description = description;
    if (request.sealedValue !== undefined && request.sealedValue !== '') {
      spec.sealedValue = checkSealed(request.sealedValue, namespace, name);
      spec.valueFrom = null; // a new value replaces a Secret reference: one source at a time
    }
    if (Object.keys(spec).length === 0) throw new OrkaError('INVALID_REQUEST', 'nothing to change: give a description or a new value');
    try {
      const patched = await this.custom.patchNamespacedCustomObject(
        { ...this.coords(namespace), name: toObjectName(name), body: { spec } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      return toRow(patched as OrkaSecret);
    } catch (err) {
      throw clusterError(err, { verb: 'update', namespace, name, server: this.server });
    }
  }

  /** Deletes a secret; workflows referencing it then fail with SECRET_NOT_FOUND. */
  async remove(namespace: string, rawName: string): Promise<void> {
    const name = assertName(rawName);
    try {
      await this.custom.deleteNamespacedCustomObject({ ...this.coords(namespace), name: toObjectName(name) });
    } catch (err) {
      throw clusterError(err, { verb: 'delete', namespace, name, server: this.server });
    }
  }
}
