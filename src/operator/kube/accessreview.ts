/**
 * Asks the apiserver whether a given user may do something (SubjectAccessReview). The admission
 * webhook uses it so that an OrkaSecret's `valueFrom` can only name a Secret its author may read:
 * the operator reads sources with its own rights, and must never lend them (confused deputy).
 */
import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';

/** The requesting user, as an AdmissionReview's `request.userInfo` carries it. */
export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** One question: may `user` do `verb` on `resource` `name` in `namespace`? */
export interface AccessQuestion {
  user: UserInfo;
  namespace: string;
  verb: string;
  resource: string;
  name: string;
}

/** Answers an access question; the real one asks the apiserver. */
export type AccessReviewFn = (q: AccessQuestion) => Promise<boolean>;

/** A SubjectAccessReview call. */
export function accessReviewFn(kc: KubeConfig): AccessReviewFn {
  const api = kc.makeApiClient(AuthorizationV1Api);
  return async (q) => {
    const review = await api.createSubjectAccessReview({
      body: {
        spec: {
          user: q.user.username,
          ...(q.user.uid === undefined ? {} : { uid: q.user.uid }),
          groups: q.user.groups ?? [],
          extra: q.user.extra ?? {},
          resourceAttributes: { namespace: q.namespace, verb: q.verb, group: '', resource: q.resource, name: q.name },
        },
      },
    });
    return review.status?.allowed === true && review.status.denied !== true;
  };
}
