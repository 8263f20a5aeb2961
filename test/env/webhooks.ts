/**
 * Webhook configurations for tests and the demo: the apiserver calls the operator on 127.0.0.1.
 * Cluster-wide objects, so tests scope them to their own namespaces with a label, and remove them.
 */
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { KEYS_SECRET } from '../../src/api/resource.js';
import { KEYRING_DATA_KEY, loadKeyRing, parseKeyRing } from '../../src/core/keyring.js';
import { stampRecord, VALUE_FROM_RECORD_ANNOTATION } from '../../src/core/valuefrom-record.js';
import { bindingOf, recordKeys } from '../../src/operator/admission/record.js';

/** Label that scopes a test's webhooks to its namespaces. */
export const SCOPE_LABEL = 'orka.io/webhook-scope';

/**
 * Creates both configurations (no caBundle: the operator publishes it), as the chart does: the
 * OrkaSecret webhooks always Fail. `failurePolicy: 'Ignore'` for every webhook stands for a
 * configuration edited by hand (or a webhook that was never installed) pointing at a `url` that
 * does not answer: what the operator must refuse on its own.
 */
export async function installWebhooks(kc: KubeConfig, args: { name: string; url: string; scope?: string; failurePolicy?: 'Ignore' }): Promise<void> {
  const osecPolicy = args.failurePolicy ?? 'Fail';
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const scope = args.scope === undefined ? [] : [{ key: SCOPE_LABEL, operator: 'In', values: [args.scope] }];
  await api.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: args.name },
      webhooks: [
        {
          name: 'pods.orka.io',
          clientConfig: { url: `${args.url}/webhooks/mutate-pods` },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
          // Only opted-in pods of tenant namespaces can ever be blocked by this webhook.
          namespaceSelector: { matchExpressions: [{ key: 'orka.io/tenant', operator: 'Exists' }, ...scope] },
          objectSelector: { matchLabels: { 'orka.io/inject': 'true' } },
          failurePolicy: args.failurePolicy ?? 'Fail',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 5,
          reinvocationPolicy: 'Never',
        },
        {
          name: 'authorize.orkasecrets.orka.io',
          clientConfig: { url: `${args.url}/webhooks/authorize-orkasecrets` },
          rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['orka.io'], apiVersions: ['v1alpha1'], resources: ['orkasecrets'] }],
          ...(scope.length > 0 ? { namespaceSelector: { matchExpressions: scope } } : {}),
          failurePolicy: osecPolicy,
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 5,
          reinvocationPolicy: 'Never',
        },
      ],
    },
  });
  await api.createValidatingWebhookConfiguration({
    body: {
      metadata: { name: args.name },
      webhooks: [
        {
          name: 'orkasecrets.orka.io',
          clientConfig: { url: `${args.url}/webhooks/validate-orkasecrets` },
          rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['orka.io'], apiVersions: ['v1alpha1'], resources: ['orkasecrets'] }],
          ...(scope.length > 0 ? { namespaceSelector: { matchExpressions: scope } } : {}),
          failurePolicy: osecPolicy,
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 5,
        },
      ],
    },
  });
}

/** Whether the operator has published its CA into both configurations. */
export async function caBundlePublished(kc: KubeConfig, name: string): Promise<boolean> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const m = await api.readMutatingWebhookConfiguration({ name });
  const v = await api.readValidatingWebhookConfiguration({ name });
  return [...(m.webhooks ?? []), ...(v.webhooks ?? [])].every((w) => (w.clientConfig.caBundle ?? '').length > 0);
}

/** Removes both configurations. */
export async function removeWebhooks(kc: KubeConfig, name: string): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  await api.deleteMutatingWebhookConfiguration({ name }).catch(() => undefined);
  await api.deleteValidatingWebhookConfiguration({ name }).catch(() => undefined);
}

/**
 * The valueFrom admission record the operator's webhook would stamp on `name` in `namespace`
 * reading `ref`, made from the operator's key ring: for tests of the reconciler that create
 * OrkaSecrets where no webhook runs (an admin's say-so, as the webhook's would be).
 */
export async function admissionRecord(kc: KubeConfig, operatorNamespace: string, namespace: string, name: string, ref: { name: string; key: string }): Promise<Record<string, string>> {
  const core = kc.makeApiClient(CoreV1Api);
  const keys = await core.readNamespacedSecret({ name: KEYS_SECRET, namespace: operatorNamespace });
  const ring = loadKeyRing(parseKeyRing(Buffer.from(keys.data?.[KEYRING_DATA_KEY] ?? '', 'base64').toString()));
  const uid = (await core.readNamespace({ name: namespace })).metadata?.uid ?? '';
  return { [VALUE_FROM_RECORD_ANNOTATION]: stampRecord(recordKeys(ring), bindingOf({ name: namespace, uid }, name, ref)) };
}
