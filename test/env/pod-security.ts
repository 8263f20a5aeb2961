/**
 * The Pod Security Standards' "restricted" profile (which includes "baseline"), checked rule by
 * rule on a pod spec, the way Pod Security admission checks it (kubernetes.io/docs/concepts/
 * security/pod-security-standards, policy version "latest"). Kubernetes 1.20, the version of the
 * test control plane, has no Pod Security admission, so tests check the fields the profile
 * checks instead of asking the apiserver. Pure: a pod spec in, the broken rules out.
 */
import type { V1Container, V1PodSpec, V1SecurityContext } from '@kubernetes/client-node';

/** One broken rule: the rule's name in the standard, and where. */
export interface Violation {
  rule: string;
  where: string;
}

/** Every rule of the restricted profile, in the standard's order (baseline first). */
export const RESTRICTED_RULES = [
  'HostProcess',
  'Host Namespaces',
  'Privileged Containers',
  'Capabilities (baseline)',
  'HostPath Volumes',
  'Host Ports',
  'AppArmor',
  'SELinux',
  '/proc Mount Type',
  'Seccomp (baseline)',
  'Sysctls',
  'Volume Types',
  'Privilege Escalation',
  'Running as Non-root',
  'Running as Non-root user',
  'Seccomp',
  'Capabilities',
] as const;

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];

type AnyContainer = V1Container & { securityContext?: V1SecurityContext & { appArmorProfile?: { type?: string } } };

/** The rules of the restricted profile that `spec` (with its pod `annotations`) breaks; empty when it meets the profile. */
export function restrictedViolations(spec: V1PodSpec, annotations: Record<string, string> = {}): Violation[] {
  const out: Violation[] = [];
  const add = (rule: (typeof RESTRICTED_RULES)[number], where: string): void => void out.push({ rule, where });
  const pod = (spec.securityContext ?? {}) as NonNullable<V1PodSpec['securityContext']> & { appArmorProfile?: { type?: string } };
  const containers: Array<[string, AnyContainer]> = [
    ...(spec.initContainers ?? []).map((c): [string, AnyContainer] => [`initContainers[${c.name}]`, c]),
    ...spec.containers.map((c): [string, AnyContainer] => [`containers[${c.name}]`, c]),
    ...((spec.ephemeralContainers ?? []) as AnyContainer[]).map((c): [string, AnyContainer] => [`ephemeralContainers[${c.name}]`, c]),
  ];

  // Baseline.
  if (pod.windowsOptions?.hostProcess === true) add('HostProcess', 'securityContext.windowsOptions.hostProcess');
  for (const [where, c] of containers) if (c.securityContext?.windowsOptions?.hostProcess === true) add('HostProcess', where);
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (spec[field] === true) add('Host Namespaces', field);
  for (const [where, c] of containers) if (c.securityContext?.privileged === true) add('Privileged Containers', where);
  for (const [where, c] of containers) for (const cap of c.securityContext?.capabilities?.add ?? []) if (!BASELINE_CAPABILITIES.has(cap)) add('Capabilities (baseline)', `${where} adds ${cap}`);
  for (const v of spec.volumes ?? []) if (v.hostPath) add('HostPath Volumes', `volumes[${v.name}]`);
  for (const [where, c] of containers) for (const p of c.ports ?? []) if (p.hostPort !== undefined && p.hostPort !== 0) add('Host Ports', where);
  for (const [key, value] of Object.entries(annotations)) {
    if (key.startsWith('container.apparmor.security.beta.kubernetes.io/') && value !== 'runtime/default' && !value.startsWith('localhost/')) add('AppArmor', key);
  }
  for (const [where, profile] of [['securityContext', pod.appArmorProfile], ...containers.map(([w, c]) => [w, c.securityContext?.appArmorProfile])] as Array<[string, { type?: string } | undefined]>) {
    if (profile?.type !== undefined && profile.type !== 'RuntimeDefault' && profile.type !== 'Localhost') add('AppArmor', where);
  }
  for (const [where, se] of [['securityContext', pod.seLinuxOptions], ...containers.map(([w, c]) => [w, c.securityContext?.seLinuxOptions])] as Array<[string, V1SecurityContext['seLinuxOptions']]>) {
    if (!se) continue;
    if (!SELINUX_TYPES.has(se.type ?? '') || (se.user ?? '') !== '' || (se.role ?? '') !== '') add('SELinux', where);
  }
  for (const [where, c] of containers) if (c.securityContext?.procMount !== undefined && c.securityContext.procMount !== 'Default') add('/proc Mount Type', where);
  if (pod.seccompProfile?.type === 'Unconfined') add('Seccomp (baseline)', 'securityContext');
  for (const [where, c] of containers) if (c.securityContext?.seccompProfile?.type === 'Unconfined') add('Seccomp (baseline)', where);
  for (const s of pod.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) add('Sysctls', s.name);

  // Restricted.
  for (const v of spec.volumes ?? []) {
    const kinds = Object.keys(v).filter((k) => k !== 'name' && (v as unknown as Record<string, unknown>)[k] !== undefined);
    if (kinds.some((k) => !RESTRICTED_VOLUMES.includes(k))) add('Volume Types', `volumes[${v.name}] (${kinds.join(', ')})`);
  }
  for (const [where, c] of containers) if (c.securityContext?.allowPrivilegeEscalation !== false) add('Privilege Escalation', `${where} allowPrivilegeEscalation`);
  // runAsNonRoot: true at pod level or on every container, and false nowhere.
  for (const [where, c] of containers) {
    const own = c.securityContext?.runAsNonRoot;
    if (own === false || (own !== true && pod.runAsNonRoot !== true)) add('Running as Non-root', `${where} runAsNonRoot`);
  }
  if (pod.runAsNonRoot === false) add('Running as Non-root', 'securityContext.runAsNonRoot');
  if (pod.runAsUser === 0) add('Running as Non-root user', 'securityContext.runAsUser');
  for (const [where, c] of containers) if (c.securityContext?.runAsUser === 0) add('Running as Non-root user', where);
  const allowedSeccomp = (t: string | undefined): boolean => t === 'RuntimeDefault' || t === 'Localhost';
  if (pod.seccompProfile?.type !== undefined && !allowedSeccomp(pod.seccompProfile.type)) add('Seccomp', 'securityContext.seccompProfile');
  for (const [where, c] of containers) {
    const own = c.securityContext?.seccompProfile?.type;
    if (own !== undefined ? !allowedSeccomp(own) : !allowedSeccomp(pod.seccompProfile?.type)) add('Seccomp', `${where} seccompProfile`);
  }
  for (const [where, c] of containers) {
    const caps = c.securityContext?.capabilities;
    if (!(caps?.drop ?? []).includes('ALL')) add('Capabilities', `${where} does not drop ALL`);
    for (const cap of caps?.add ?? []) if (cap !== 'NET_BIND_SERVICE') add('Capabilities', `${where} adds ${cap}`);
  }
  return out;
}
