/**
 * The admission webhooks, served by every replica on an HTTPS listener of their own (main.ts; the
 * resolver's port does not serve them), the only handler there. The handlers only decode and
 * encode AdmissionReviews; the decisions are `inject`, `validateOrkaSecret` and ./record.ts
 * (pure), plus the SubjectAccessReview.
 *   POST /webhooks/mutate-pods           adds the sidecar to opted-in pods of tenant namespaces
 *   POST /webhooks/authorize-orkasecrets asks whether whoever sets spec.valueFrom may read that
 *                                        Secret (SubjectAccessReview) and records it (./record.ts)
 *   POST /webhooks/validate-orkasecrets  refuses names that map to no secret name, two value
 *                                        sources, plain-text values, sealed values that are
 *                                        malformed or sealed for another tenant, namespace or
 *                                        name, and a new or changed valueFrom without a record
 * Both OrkaSecret webhooks act only on a well-formed review of an OrkaSecret (./review.ts): a
 * SubjectAccessReview is asked for nothing else.
 */
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import type { IncomingMessage, ServerResponse } from 'node:http';
import jsonpatch from 'fast-json-patch';
import type { Logger } from '../../core/logger.js';
import { checkObjectName, isSecretDataKey, isSecretObjectName } from '../../core/names.js';
import { SECRET_REF_RULE } from '../reconcile/decide.js';
import { HOST_NETWORK_REFUSAL, inject, type InjectConfig } from './inject.js';
import { AccessReviewLimited, type AccessReviewFn, type UserInfo } from '../kube/accessreview.js';
import type { OrkaSecret, SecretKeyRef } from '../../api/resource.js';
import { sealedValueProblem } from './sealed.js';
import type { Tenancy } from '../../api/tenancy.js';
import { readBody, type BodyBudget } from '../http/server.js';
import { stampRecord, VALUE_FROM_RECORD_ANNOTATION, type RecordKeys } from '../../core/valuefrom-record.js';
import { authorizeStep, recordProblem } from './record.js';
import { parseOrkaSecretReview, type OrkaSecretReview } from './review.js';

interface AdmissionRequest {
  uid: string;
  namespace?: string;
  operation?: string;
  object?: unknown;
  oldObject?: unknown;
  userInfo?: UserInfo;
}

/** An AdmissionReview, as asked and as answered. */
export interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: AdmissionRequest;
  response?: { uid: string; allowed: boolean; patch?: string };
}

/** Why an OrkaSecret is refused, or undefined when it is acceptable. */
export function validateOrkaSecret(o: { metadata?: { name?: string }; spec?: object }): string | undefined {
  const name = o.metadata?.name ?? '';
  const check = checkObjectName(name);
  if (!check.ok) return `${check.message}. An OrkaSecret's name is its secret name in lower case with - for _ (stripe-api-key is STRIPE_API_KEY)`;
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  if ('value' in spec) return 'spec.value: plain-text values are refused; seal the value with `orka-secrets seal` and set spec.sealedValue, or use spec.valueFrom';
  if (spec.sealedValue !== undefined && spec.valueFrom !== undefined) {
    return 'spec.sealedValue and spec.valueFrom are mutually exclusive: give one of them, or neither to keep the stored value';
  }
  const ref = (spec.valueFrom as { secretKeyRef?: { name?: unknown; key?: unknown } } | undefined)?.secretKeyRef;
  if (ref !== undefined && !(typeof ref.name === 'string' && isSecretObjectName(ref.name) && typeof ref.key === 'string' && isSecretDataKey(ref.key))) {
    return `spec.valueFrom.secretKeyRef must name a Secret (${SECRET_REF_RULE})`;
  }
  return undefined;
}

/** The refusal when the requester may not read the source Secret themselves. */
export function sourceRefusal(user: string, namespace: string, ref: SecretKeyRef): string {
  return `spec.valueFrom.secretKeyRef: ${user} may not get Secret ${ref.name} in namespace ${namespace}; whoever sets valueFrom must be allowed to read that Secret themselves (the operator never reads a Secret on behalf of someone who could not)`;
}

/** The webhooks, as metrics name them. */
export type AdmissionWebhook = 'mutate-pods' | 'authorize-orkasecrets' | 'validate-orkasecrets';

/** What an answer said: the pod was patched, let through as it is, refused, or not answered (an error status). */
export type AdmissionResult = 'mutated' | 'allowed' | 'denied' | 'error';

/** Told of every answer, with the time since the request reached the handler (metrics: http/metrics.ts). */
export type AdmissionObserver = (webhook: AdmissionWebhook, result: AdmissionResult, seconds: number) => void;

/** One request being answered: where the answer goes and who is told of it. */
interface Exchange {
  res: ServerResponse;
  webhook: AdmissionWebhook;
  started: bigint;
  observe: AdmissionObserver | undefined;
}

function send(x: Exchange, status: number, body: unknown, result: AdmissionResult): void {
  const text = JSON.stringify(body);
  x.res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  x.res.end(text);
  x.observe?.(x.webhook, result, Number(process.hrtime.bigint() - x.started) / 1e9);
}

function respond(x: Exchange, uid: string, response: { allowed: boolean; patch?: string } & Record<string, unknown>): void {
  const review: AdmissionReview = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...response } };
  send(x, 200, review, !response.allowed ? 'denied' : response.patch === undefined ? 'allowed' : 'mutated');
}

const notAReview = { error: { code: 'INVALID_REQUEST', message: 'not an AdmissionReview' } };

/** The JSON body, or the status to answer: 413 over `limit` bytes, 503 over the listener's budget, 400 when it is not JSON. */
async function readJson(req: IncomingMessage, res: ServerResponse, limit: number, budget: BodyBudget): Promise<{ body: unknown } | { status: number; message: string }> {
  const read = await readBody(req, res, { limit, budget });
  if (!Buffer.isBuffer(read)) return read.status === 413 ? { status: 413, message: `an AdmissionReview is at most ${limit} bytes` } : read;
  try {
    return { body: JSON.parse(read.toString('utf8')) };
  } catch {
    return { status: 400, message: 'the body is not JSON' };
  }
}

/** What the webhook needs. */
export interface WebhookDeps {
  injectConfig: () => InjectConfig;
  /** Whether a namespace is a tenant, and if not why. */
  tenancy: (namespace: string) => Tenancy;
  /** A namespace as cached (its tenant id and annotations decide which sealed values it opens). */
  namespace: (name: string) => V1Namespace | undefined;
  /** May this user do this? (SubjectAccessReview, cached and rate-limited: kube/accessreview.ts) */
  canI: AccessReviewFn;
  /** The valueFrom record keys (from the key ring); undefined before the leader made the ring. */
  recordKeys: () => RecordKeys | undefined;
  /** A namespace's UID (the cache, else the API): records are bound to it. */
  namespaceUid: (namespace: string) => Promise<string | undefined>;
  log: Logger;
  /** Told of every answer (the metrics). */
  observe?: AdmissionObserver;
  /** The webhook listener's budget of body bytes (http/server.ts): every review is read against it. */
  bodies: BodyBudget;
}

/** Largest AdmissionReview read (the apiserver's own request limit is 3 MiB). */
const MAX_REVIEW_BYTES = 3 * 1024 * 1024;

/**
 * The admission webhooks as one plain node:http handler: it answers POSTs to its paths and
 * returns true, or returns false without touching the request (main.ts then refuses it). Not express with body-parser and res.json:
 * on every admission that machinery cost more CPU than the decision itself (measured in
 * `make bench`, the operator's CPU per review; docs/design/admission-latency.md).
 */
export function webhookHandler(deps: WebhookDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const routes: Record<string, { webhook: AdmissionWebhook; answer: (body: unknown, x: Exchange) => void | Promise<void> }> = {
    '/webhooks/mutate-pods': { webhook: 'mutate-pods', answer: (body, x) => mutatePod(deps, body, x) },
    '/webhooks/authorize-orkasecrets': { webhook: 'authorize-orkasecrets', answer: (body, x) => orkaSecretReview(deps, body, x, authorizeOrkaSecret) },
    '/webhooks/validate-orkasecrets': { webhook: 'validate-orkasecrets', answer: (body, x) => orkaSecretReview(deps, body, x, validateOrkaSecretReview) },
  };
  return (req, res) => {
    const route = req.method === 'POST' ? routes[(req.url ?? '').split('?', 1)[0] as string] : undefined;
    if (route === undefined) return false;
    const x: Exchange = { res, webhook: route.webhook, started: process.hrtime.bigint(), observe: deps.observe };
    // Each body is held against the listener's budget: unfinished bodies from anyone who can
    // reach the port hold at most that much memory, never 3 MiB per connection.
    readJson(req, res, MAX_REVIEW_BYTES, deps.bodies)
      .then(async (read) => {
        if ('status' in read) return send(x, read.status, { error: { code: 'INVALID_REQUEST', message: read.message } }, 'error');
        await route.answer(read.body, x);
      })
      .catch((err: unknown) => {
        // A bug or an object of an unexpected shape: an answer, never a crash of the process.
        deps.log.error({ err: { message: (err as Error).message } }, 'admission review failed');
        if (!res.headersSent) send(x, 500, { error: { code: 'INTERNAL', message: 'the admission review could not be answered' } }, 'error');
      });
    return true;
  };
}

function mutatePod(deps: WebhookDeps, body: unknown, x: Exchange): void {
  const request = (body as AdmissionReview | null)?.request;
  if (request?.uid === undefined) return send(x, 400, notAReview, 'error');
  const pod = request.object as V1Pod;
  const namespace = request.namespace ?? pod.metadata?.namespace ?? '';
  const { pod: mutated, outcome } = inject(pod, { namespace, tenancy: deps.tenancy(namespace) }, deps.injectConfig());
  if (outcome === 'host-network') {
    respond(x, request.uid, { allowed: false, status: { code: 403, reason: 'Forbidden', message: HOST_NETWORK_REFUSAL } });
    deps.log.info({ namespace, pod: pod.metadata?.name ?? pod.metadata?.generateName, outcome }, 'pod refused at admission');
    return;
  }
  const patch = jsonpatch.compare(pod as object, mutated as object);
  respond(x, request.uid, patch.length === 0 ? { allowed: true } : { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
  // After the answer is on its way. A routine injection is a debug line (the admissions metric
  // counts them): at info, its synchronous write to stdout was the largest part of a review's
  // CPU after the answer itself (docs/design/admission-latency.md). A labelled pod left without the
  // sidecar is what a person looks for, so that stays at info.
  const level = outcome === 'injected' ? 'debug' : 'info';
  deps.log[level]({ namespace, pod: pod.metadata?.name ?? pod.metadata?.generateName, outcome, operations: patch.length }, 'pod admission');
}

/** What an OrkaSecret webhook has to answer with. */
interface OrkaSecretExchange {
  request: OrkaSecretReview;
  namespace: string;
  object: OrkaSecret;
  refuse: (code: number, reason: string, message: string) => void;
  allow: (patch?: unknown[]) => void;
}

/**
 * Both OrkaSecret webhooks: a review that is not a well-formed one of an OrkaSecret create or
 * update is a bad request (400, no question asked); then `answer` decides.
 */
async function orkaSecretReview(deps: WebhookDeps, body: unknown, x: Exchange, answer: (deps: WebhookDeps, r: OrkaSecretExchange) => Promise<void>): Promise<void> {
  const parsed = parseOrkaSecretReview(body);
  if (!parsed.ok) return send(x, 400, { error: { code: 'INVALID_REQUEST', message: parsed.problem } }, 'error');
  const request = parsed.request;
  const namespace = request.namespace;
  await answer(deps, {
    request,
    namespace,
    object: request.object as unknown as OrkaSecret,
    refuse: (code, reason, message) => {
      respond(x, request.uid, { allowed: false, status: { code, reason, message } });
      deps.log.info({ namespace, operation: request.operation, webhook: x.webhook, reason }, 'OrkaSecret refused at admission');
    },
    allow: (patch) => respond(x, request.uid, patch === undefined || patch.length === 0 ? { allowed: true } : { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }),
  });
}

/** The record keys and the namespace's identity, or the refusal to retry when either is not known yet. */
async function recordContext(deps: WebhookDeps, r: OrkaSecretExchange): Promise<{ keys: RecordKeys; namespace: { name: string; uid: string } } | undefined> {
  const keys = deps.recordKeys();
  const uid = keys === undefined ? undefined : await deps.namespaceUid(r.namespace);
  if (keys !== undefined && uid !== undefined) return { keys, namespace: { name: r.namespace, uid } };
  r.refuse(503, 'ServiceUnavailable', 'spec.valueFrom: the operator is starting (no key ring or namespace seen yet) and cannot record the check; try again');
  return undefined;
}

/** The JSON patch that sets (or, with undefined, removes) the record annotation of `object`. */
function recordPatch(object: OrkaSecret, value: string | undefined): unknown[] {
  const path = `/metadata/annotations/${VALUE_FROM_RECORD_ANNOTATION.replaceAll('~', '~0').replaceAll('/', '~1')}`;
  if (value === undefined) return [{ op: 'remove', path }];
  return object.metadata?.annotations === undefined ? [{ op: 'add', path: '/metadata/annotations', value: { [VALUE_FROM_RECORD_ANNOTATION]: value } }] : [{ op: 'add', path, value }];
}

/**
 * The mutating webhook: records that whoever sets valueFrom may read that Secret. Objects its
 * own rules refuse (names, sources, tenancy) are left to the validating webhook, unasked.
 */
async function authorizeOrkaSecret(deps: WebhookDeps, r: OrkaSecretExchange): Promise<void> {
  const { object, namespace, request } = r;
  const tenancy = deps.tenancy(namespace);
  if (validateOrkaSecret(object) !== undefined || (!tenancy.tenant && tenancy.never)) return r.allow();
  if (object.spec?.valueFrom === undefined && object.metadata?.annotations?.[VALUE_FROM_RECORD_ANNOTATION] === undefined) return r.allow();
  const context = await recordContext(deps, r);
  if (context === undefined) return;
  const step = authorizeStep(context.keys, context.namespace, { operation: request.operation, object, oldObject: request.oldObject as OrkaSecret | null | undefined });
  if (step.step === 'pass' || step.step === 'keep') return r.allow();
  if (step.step === 'remove') return r.allow(recordPatch(object, undefined));
  if (step.step === 'restore') return r.allow(recordPatch(object, step.annotation));
  const user = request.userInfo as UserInfo & { username: string };
  let allowed: boolean;
  try {
    allowed = await deps.canI({ user, namespace, verb: 'get', resource: 'secrets', name: step.ref.name });
  } catch (err) {
    if (err instanceof AccessReviewLimited) {
      return r.refuse(429, 'TooManyRequests', 'spec.valueFrom: the operator is answering too many access checks right now and cannot check that you may read the source Secret; try again in a few seconds');
    }
    deps.log.warn({ err: { message: (err as Error).message } }, 'SubjectAccessReview failed');
    return r.refuse(503, 'ServiceUnavailable', 'spec.valueFrom: could not check with the Kubernetes API that you may read the source Secret; try again');
  }
  if (allowed) return r.allow(recordPatch(object, stampRecord(context.keys, step.binding)));
  if (step.required) return r.refuse(403, 'Forbidden', sourceRefusal(user.username, namespace, step.ref));
  // A re-check by someone who may not read the Secret: the update goes through, nothing is recorded.
  r.allow();
}

/** The validating webhook: the OrkaSecret's own rules, then the valueFrom record. */
async function validateOrkaSecretReview(deps: WebhookDeps, r: OrkaSecretExchange): Promise<void> {
  const { object, namespace, request } = r;
  // Messages name rules and fields, never values: the object may carry a plain-text value.
  const problem = validateOrkaSecret(object) ?? sealedValueProblem(object, namespace, deps.namespace(namespace));
  if (problem !== undefined) return r.refuse(422, 'Invalid', problem);
  // Only where no label can ever help: an unlabelled namespace may become a tenant later.
  const tenancy = deps.tenancy(namespace);
  if (!tenancy.tenant && tenancy.never) return r.refuse(403, 'Forbidden', `OrkaSecrets cannot be created here: ${tenancy.reason}`);
  if (object.spec?.valueFrom === undefined) return r.allow();
  const context = await recordContext(deps, r);
  if (context === undefined) return;
  const unrecorded = recordProblem(context.keys, context.namespace, { operation: request.operation, object, oldObject: request.oldObject as OrkaSecret | null | undefined });
  if (unrecorded !== undefined) return r.refuse(403, 'Forbidden', unrecorded);
  r.allow();
}
