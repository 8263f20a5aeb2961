/**
 * The admission webhooks, served by every replica on the resolver's HTTPS server. The handlers
 * only decode and encode AdmissionReviews; the decisions are `inject` (pure) and
 * `validateOrkaSecret` (pure).
 *   POST /webhooks/mutate-pods           adds the sidecar to opted-in pods of tenant namespaces
 *   POST /webhooks/validate-orkasecrets  refuses names that map to no secret name, two value
 *                                        sources, plain-text values, and sealed values that are
 *                                        malformed or sealed for another namespace or name
 */
import type { V1Pod } from '@kubernetes/client-node';
import express, { type Express, type Request, type Response } from 'express';
import jsonpatch from 'fast-json-patch';
import type { Logger } from '../core/logger.js';
import { checkObjectName } from '../core/names.js';
import { inject, type InjectConfig } from './inject.js';
import type { OrkaSecret } from './resource.js';
import { sealedValueProblem } from './sealed-admission.js';

interface AdmissionRequest {
  uid: string;
  namespace?: string;
  operation?: string;
  object?: unknown;
}

interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: AdmissionRequest;
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
  return undefined;
}

function respond(res: Response, uid: string, response: Record<string, unknown>): void {
  res.json({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...response } });
}

/** What the webhook needs. */
export interface WebhookDeps {
  injectConfig: () => InjectConfig;
  isTenant: (namespace: string) => boolean;
  log: Logger;
}

/** Routes for the admission webhooks (mounted before the resolver's token authentication). */
export function webhookRouter(deps: WebhookDeps): Express {
  const app = express();
  app.use(express.json({ limit: '3mb' }));

  app.post('/webhooks/mutate-pods', (req: Request, res: Response) => {
    const review = req.body as AdmissionReview;
    const request = review.request;
    if (request?.uid === undefined) {
      res.status(400).json({ error: { code: 'INVALID_REQUEST', message: 'not an AdmissionReview' } });
      return;
    }
    const pod = request.object as V1Pod;
    const namespace = request.namespace ?? pod.metadata?.namespace ?? '';
    const { pod: mutated, outcome } = inject(pod, { namespace, isTenant: deps.isTenant(namespace) }, deps.injectConfig());
    const patch = jsonpatch.compare(pod as object, mutated as object);
    deps.log.info({ namespace, pod: pod.metadata?.name ?? pod.metadata?.generateName, outcome, operations: patch.length }, 'pod admission');
    respond(res, request.uid, patch.length === 0 ? { allowed: true } : { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
  });

  app.post('/webhooks/validate-orkasecrets', (req: Request, res: Response) => {
    const request = (req.body as AdmissionReview).request;
    if (request?.uid === undefined) {
      res.status(400).json({ error: { code: 'INVALID_REQUEST', message: 'not an AdmissionReview' } });
      return;
    }
    // Messages name rules and fields, never values: the object may carry a plain-text value.
    const object = (request.object ?? {}) as OrkaSecret;
    const problem = validateOrkaSecret(object) ?? sealedValueProblem(object, request.namespace ?? object.metadata?.namespace ?? '');
    if (problem === undefined) return respond(res, request.uid, { allowed: true });
    deps.log.info({ namespace: request.namespace, operation: request.operation }, 'OrkaSecret refused at admission');
    respond(res, request.uid, { allowed: false, status: { code: 422, reason: 'Invalid', message: problem } });
  });
  return app;
}
