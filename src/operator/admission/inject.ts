/**
 * Sidecar injection, pure: `inject(pod, context, config)` returns the pod as it should be; the
 * webhook's JSON patch is the diff between the two (vault-k8s' Handler vs Mutate split).
 * Injecting an injected pod changes nothing.
 */
import type { V1Container, V1Pod, V1Probe, V1SecurityContext } from '@kubernetes/client-node';
import type { Tenancy } from '../../api/tenancy.js';
import { IMAGE_ENTRYPOINT, IMAGE_NODE, SIDECAR_NODE_FLAGS } from '../../sidecar/node-flags.js';

/** The label that opts a pod in. */
export const INJECT_LABEL = 'orka.io/inject';
/** The annotation that marks a pod as injected. */
export const STATUS_ANNOTATION = 'orka.io/status';
/** Name of the injected container and of its token volume. */
export const SIDECAR_NAME = 'orka-secrets';
export const TOKEN_VOLUME = 'orka-secrets-token';
/** Where the sidecar reads its projected token. */
export const TOKEN_DIR = '/var/run/secrets/orka';
/** Name of the sidecar's metrics port when it is declared (a PodMonitor scrapes it by this name). */
export const METRICS_PORT_NAME = 'orka-metrics';

/**
 * The sidecar's default securityContext: Pod Security "restricted" on its own (every field that
 * profile checks), so the sidecar never makes a pod that meets the profile fail it, whatever the
 * pod-level settings say; as the image's non-root user 65532.
 */
export const SIDECAR_SECURITY_CONTEXT: V1SecurityContext = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** How to inject. */
export interface InjectConfig {
  image: string;
  imagePullPolicy: string;
  /** The resolver API, as the sidecar reaches it. */
  operatorUrl: string;
  /** The operator's CA (public), handed to the sidecar inline. */
  caPem: string;
  port: number;
  metricsPort: number;
  /** Where the sidecar serves /metrics; default 127.0.0.1. Any other address declares the port, to be scraped. */
  metricsAddress?: string;
  tokenAudience: string;
  tokenExpirationSeconds: number;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  /** The sidecar container's securityContext; default SIDECAR_SECURITY_CONTEXT. */
  securityContext?: V1SecurityContext;
  /** Kubernetes >= 1.28: the sidecar as an init container with restartPolicy Always. */
  nativeSidecar: boolean;
}

/** ORKA_NATIVE_SIDECAR: the native form where the apiserver has it on by default, or forced either way. */
export type NativeSidecarSetting = 'auto' | 'true' | 'false';

/** The Kubernetes minor version from which sidecar containers (SidecarContainers) are on by default. */
export const NATIVE_SIDECAR_MINOR = 29;

/**
 * Whether to inject the native form. `auto` asks the apiserver's version: from 1.29 the kubelet
 * runs init containers with restartPolicy Always as sidecars, so a Job's pod completes when its
 * runner does. Before that (or when the version is unknown) the classic form, where the runner
 * ends the sidecar with POST /v1/quit. Minor versions like "29+" (managed clusters) count as 29.
 */
export function nativeSidecarFor(setting: NativeSidecarSetting, server: { major?: string; minor?: string } | undefined): boolean {
  if (setting !== 'auto') return setting === 'true';
  const major = Number.parseInt(server?.major ?? '', 10);
  const minor = Number.parseInt(server?.minor ?? '', 10);
  if (!Number.isFinite(major) || !Number.isFinite(minor)) return false;
  return major > 1 || (major === 1 && minor >= NATIVE_SIDECAR_MINOR);
}

/** Why a pod was or was not injected. */
export type InjectOutcome = 'injected' | 'not-requested' | 'already-injected' | 'excluded-namespace' | 'not-a-tenant' | 'host-network';

/**
 * Why a pod with `host-network` outcome is refused (the webhook denies it; nothing is injected).
 * On the host network the sidecar's 127.0.0.1 is the node's loopback, which every host-network
 * pod and every process of the node can reach.
 */
export const HOST_NETWORK_REFUSAL =
  'pods with orka.io/inject=true cannot use hostNetwork: the sidecar serves secrets on 127.0.0.1, which on the host network is the node\'s loopback, open to every host-network pod and node process. Remove hostNetwork: true, or the orka.io/inject label';

function hasSidecar(pod: V1Pod): boolean {
  const spec = pod.spec;
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].some((c) => c.name === SIDECAR_NAME);
}

/**
 * The sidecar's startup probe: the kubelet cannot reach 127.0.0.1 inside the pod, so a Node
 * one-liner in the container asks /healthz there. A native sidecar holds back the containers that
 * follow it until this passes; in the classic form the client's connection retries cover the gap.
 */
export function startupProbe(port: number): V1Probe {
  const script = `require('http').get('http://127.0.0.1:${port}/healthz',(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`;
  return { exec: { command: [IMAGE_NODE, '-e', script] }, periodSeconds: 1, timeoutSeconds: 5, failureThreshold: 60 };
}

/** The sidecar container. */
export function sidecarContainer(config: InjectConfig): V1Container {
  const metricsAddress = config.metricsAddress ?? '127.0.0.1';
  const scraped = !LOOPBACK.has(metricsAddress);
  return {
    name: SIDECAR_NAME,
    image: config.image,
    imagePullPolicy: config.imagePullPolicy,
    // Node with the sidecar's V8 flags (src/sidecar/node-flags.ts), then the image's entrypoint.
    command: [IMAGE_NODE, ...SIDECAR_NODE_FLAGS, IMAGE_ENTRYPOINT],
    args: ['sidecar'],
    env: [
      { name: 'ORKA_OPERATOR_URL', value: config.operatorUrl },
      { name: 'ORKA_TOKEN_FILE', value: `${TOKEN_DIR}/token` },
      { name: 'ORKA_CA_PEM', value: config.caPem },
      { name: 'ORKA_SIDECAR_PORT', value: String(config.port) },
      { name: 'ORKA_SIDECAR_METRICS_PORT', value: String(config.metricsPort) },
      ...(scraped ? [{ name: 'ORKA_SIDECAR_METRICS_ADDRESS', value: metricsAddress }] : []),
    ],
    // The secrets port stays on loopback and undeclared; only a metrics port open to the pod network is named.
    ...(scraped ? { ports: [{ name: METRICS_PORT_NAME, containerPort: config.metricsPort, protocol: 'TCP' }] } : {}),
    resources: { requests: { ...config.resources.requests }, limits: { ...config.resources.limits } },
    startupProbe: startupProbe(config.port),
    securityContext: structuredClone(config.securityContext ?? SIDECAR_SECURITY_CONTEXT),
    volumeMounts: [{ name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true }],
    ...(config.nativeSidecar ? { restartPolicy: 'Always' } : {}),
  } as V1Container;
}

/** Where a pod is admitted: its namespace and whether that is a tenant (and if not, why). */
export interface InjectContext {
  namespace: string;
  tenancy: Tenancy;
}

/** Decides whether a pod in `namespace` gets the sidecar. */
export function injectOutcome(pod: V1Pod, context: InjectContext): InjectOutcome {
  if (pod.metadata?.labels?.[INJECT_LABEL] !== 'true') return 'not-requested';
  // The one tenancy rule (src/api/tenancy.ts): the operator's namespace and kube-* never are.
  if (!context.tenancy.tenant) return context.tenancy.never ? 'excluded-namespace' : 'not-a-tenant';
  // Before already-injected: a pod that brings its own sidecar container is just as exposed.
  if (pod.spec?.hostNetwork === true) return 'host-network';
  if (pod.metadata.annotations?.[STATUS_ANNOTATION] === 'injected' || hasSidecar(pod)) return 'already-injected';
  return 'injected';
}

/**
 * The pod with the sidecar, its token volume, ORKA_SECRETS_URL and the status annotation. The
 * input is never modified: the result has new objects along the paths that change and shares
 * every other part with the input, so the diff that becomes the webhook's patch skips the shared
 * parts (managed fields, status, untouched fields) by identity instead of walking them.
 */
export function inject(pod: V1Pod, context: InjectContext, config: InjectConfig): { pod: V1Pod; outcome: InjectOutcome } {
  const outcome = injectOutcome(pod, context);
  if (outcome !== 'injected') return { pod, outcome };
  const spec = pod.spec ?? { containers: [] };
  const url = { name: 'ORKA_SECRETS_URL', value: `http://127.0.0.1:${config.port}` };
  const withUrl = (c: V1Container): V1Container => ({ ...c, env: [...(c.env ?? []).filter((e) => e.name !== url.name), url] });
  const containers = spec.containers.map(withUrl);
  const tokenVolume = {
    name: TOKEN_VOLUME,
    projected: { sources: [{ serviceAccountToken: { audience: config.tokenAudience, expirationSeconds: config.tokenExpirationSeconds, path: 'token' } }] },
  };
  const out: V1Pod = {
    ...pod,
    metadata: { ...pod.metadata, annotations: { ...pod.metadata?.annotations, [STATUS_ANNOTATION]: 'injected' } },
    spec: {
      ...spec,
      // Native sidecars start before, and outlive, the init containers that follow them.
      ...(config.nativeSidecar
        ? { containers, initContainers: [sidecarContainer(config), ...(spec.initContainers ?? []).map(withUrl)] }
        : { containers: [...containers, sidecarContainer(config)] }),
      volumes: [...(spec.volumes ?? []), tokenVolume],
    },
  };
  return { pod: out, outcome };
}
