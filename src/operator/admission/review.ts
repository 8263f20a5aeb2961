/**
 * The shape an AdmissionReview of an OrkaSecret must have before the webhooks act on it, pure.
 * The webhooks answer whoever can reach them, and acting on a review can cost a
 * SubjectAccessReview run with the operator's rights: anything but a review the apiserver would
 * send for a CREATE or UPDATE of an OrkaSecret (with a requester) is refused as a bad request,
 * before any question is asked, so the endpoint is no oracle of who may read which Secret.
 */
import { z } from 'zod';
import { GROUP, KIND, PLURAL } from '../../api/resource.js';

const names = z.string().min(1).max(253);

const objectSchema = z.looseObject({
  kind: z.literal(KIND),
  metadata: z.looseObject({
    // Empty on a create with generateName: the apiserver names the object after mutating admission.
    name: z.string().max(253).optional(),
    namespace: z.string().max(63).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.looseObject({}).optional(),
});

const requestSchema = z.looseObject({
  uid: z.string().min(1).max(128),
  resource: z.looseObject({ group: z.literal(GROUP), version: z.string(), resource: z.literal(PLURAL) }),
  subResource: z.literal('').optional(),
  operation: z.enum(['CREATE', 'UPDATE']),
  namespace: z.string().min(1).max(63),
  userInfo: z.looseObject({
    username: names,
    uid: z.string().optional(),
    groups: z.array(z.string()).max(1000).optional(),
    extra: z.record(z.string(), z.array(z.string())).optional(),
  }),
  object: objectSchema,
  oldObject: objectSchema.nullish(),
  dryRun: z.boolean().optional(),
});

const reviewSchema = z.looseObject({
  apiVersion: z.literal('admission.k8s.io/v1'),
  kind: z.literal('AdmissionReview'),
  request: requestSchema,
});

/** A well-formed review of an OrkaSecret's CREATE or UPDATE, as the webhooks use it. */
export type OrkaSecretReview = z.infer<typeof requestSchema>;

/**
 * The request of a well-formed OrkaSecret review, or which fields are wrong (names of fields,
 * never their values). An UPDATE must carry the object as it was.
 */
export function parseOrkaSecretReview(body: unknown): { ok: true; request: OrkaSecretReview } | { ok: false; problem: string } {
  const parsed = reviewSchema.safeParse(body);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(the body)'))].slice(0, 5);
    return { ok: false, problem: `not an AdmissionReview of an OrkaSecret create or update: ${fields.join(', ')}` };
  }
  const request = parsed.data.request;
  if (request.operation === 'UPDATE' && (request.oldObject === undefined || request.oldObject === null)) return { ok: false, problem: 'not an AdmissionReview of an OrkaSecret update: request.oldObject' };
  return { ok: true, request };
}
