/**
 * The OrkaSecret resource and the objects the operator owns, as TypeScript types and constants.
 * Shapes follow crds/orkasecret.yaml (every field and condition: docs/crd.md).
 */

import type { V1ObjectMeta } from '@kubernetes/client-node';

/** API group and version of OrkaSecret. */
export const GROUP = 'orka.io';
export const VERSION = 'v1alpha1';
export const PLURAL = 'orkasecrets';
export const KIND = 'OrkaSecret';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** The label that makes a namespace a tenant; its value is the tenant id. */
export const TENANT_LABEL = 'orka.io/tenant';
/** Labels on every object the operator creates. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'orka-secrets';
/** On a storage Secret: the OrkaSecret (object name) it stores. */
export const STORAGE_FOR_LABEL = 'orka.io/orkasecret';
/** What a Secret in the operator's namespace is: `keyring`, `data-key` or `tls`. */
export const ROLE_LABEL = 'orka.io/role';
/** On a data-key Secret: the tenant namespace whose data key it holds. */
export const DATA_KEY_LABEL = 'orka.io/data-key-for';
/** Prefix of storage Secret names: `orkasecret-stripe-api-key` stores `stripe-api-key`. */
export const STORAGE_PREFIX = 'orkasecret-';
/** Prefix of data-key Secret names in the operator namespace: `orka-dk-<tenant namespace>`. */
export const DATA_KEY_PREFIX = 'orka-dk-';

/**
 * Secret types never read as a value source: a service account's token and Helm's release
 * records (which hold rendered values of every chart) belong to the cluster, not to a tenant.
 */
export const REFUSED_SOURCE_TYPES: readonly string[] = ['kubernetes.io/service-account-token', 'helm.sh/release.v1'];

/** A reference to a key of a Secret in the same namespace. */
export interface SecretKeyRef {
  name: string;
  key: string;
}

/** spec of an OrkaSecret. */
export interface OrkaSecretSpec {
  description?: string;
  sealedValue?: string;
  valueFrom?: { secretKeyRef?: SecretKeyRef };
}

/** One condition, as in metav1.Condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** status of an OrkaSecret. */
export interface OrkaSecretStatus {
  secretName?: string;
  reference?: string;
  version?: number;
  valueUpdatedAt?: string;
  observedGeneration?: number;
  conditions?: Condition[];
  usage?: { lastResolvedAt?: string; resolveCount?: number };
}

/** An OrkaSecret object as read from the API. */
export interface OrkaSecret {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec?: OrkaSecretSpec;
  status?: OrkaSecretStatus;
}

/** Condition reasons (also used as Event reasons). */
export const Reason = {
  Stored: 'Stored',
  InvalidName: 'InvalidName',
  NotATenant: 'NotATenant',
  NoValue: 'NoValue',
  SealedForAnotherSecret: 'SealedForAnotherSecret',
  /** Sealed for this namespace and name, but for another tenant id than the namespace's orka.io/tenant label. */
  SealedForAnotherTenant: 'SealedForAnotherTenant',
  /** Sealed by an earlier release (bound to the namespace name only) where the namespace does not accept that format. */
  NamespaceBoundSealedValue: 'NamespaceBoundSealedValue',
  SourceNotFound: 'SourceNotFound',
  DecryptFailed: 'DecryptFailed',
  ValueTooLarge: 'ValueTooLarge',
  /** The value's bytes are not UTF-8 text (values are text; binary data is stored base64-encoded). */
  ValueNotUTF8: 'ValueNotUTF8',
  /** Event only: a value stored is very short (masking it in logs hides little). */
  ShortValue: 'ShortValue',
  ConflictingSources: 'ConflictingSources',
  SourceRefused: 'SourceRefused',
  InvalidSource: 'InvalidSource',
  /**
   * spec.valueFrom has no admission record that whoever set it may read the Secret (created while
   * the webhook could not answer, before the check existed, or with the record copied or edited):
   * the source is not read until someone who may read it re-checks it.
   */
  ValueFromNotAuthorized: 'ValueFromNotAuthorized',
  StorageDeleted: 'StorageDeleted',
  /** The tenant's data key is gone (its Secret deleted): a value with no source to store again is lost. */
  DataKeyLost: 'DataKeyLost',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** The Ready condition type. */
export const READY = 'Ready';

/** Name of the storage Secret of an OrkaSecret. */
export function storageName(objectName: string): string {
  return `${STORAGE_PREFIX}${objectName}`;
}

/** Name of the data-key Secret of a tenant namespace (in the operator's namespace). */
export function dataKeySecretName(namespace: string): string {
  return `${DATA_KEY_PREFIX}${namespace}`;
}

/** The work-queue key of an object. */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Splits a work-queue key. */
export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** Name of the key ring Secret in the operator's namespace. */
export const KEYS_SECRET = 'orka-secrets-keys';
/** Name of the ConfigMap with the public sealing certificate. */
export const CERT_CONFIGMAP = 'orka-secrets-sealing-cert';
/** On a data-key Secret: the UID of the namespace the key was made for. */
export const NAMESPACE_UID_ANNOTATION = 'orka.io/namespace-uid';
