/**
 * The restricted-profile checker that the chart and injection tests rely on: a compliant pod
 * passes, and for every rule of the profile a pod that breaks only that rule is caught by it.
 */
import type { V1PodSpec } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { RESTRICTED_RULES, restrictedViolations } from '../../env/pod-security.js';

/** A pod that meets the restricted profile, with the settings on the containers (none at pod level). */
function compliant(): V1PodSpec {
  const sc = { allowPrivilegeEscalation: false, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' }, capabilities: { drop: ['ALL'] } };
  return {
    containers: [{ name: 'app', image: 'a', securityContext: structuredClone(sc), ports: [{ containerPort: 80 }] }],
    initContainers: [{ name: 'init', image: 'i', securityContext: structuredClone(sc) }],
    volumes: [{ name: 'tmp', emptyDir: {} }, { name: 'token', projected: { sources: [] } }],
  };
}

type Breaker = (s: V1PodSpec, annotations: Record<string, string>) => void;
const app = (s: V1PodSpec) => s.containers[0]!.securityContext!;

const breakers: Record<(typeof RESTRICTED_RULES)[number], Breaker> = {
  HostProcess: (s) => void (app(s).windowsOptions = { hostProcess: true }),
  'Host Namespaces': (s) => void (s.hostPID = true),
  'Privileged Containers': (s) => void (app(s).privileged = true),
  'Capabilities (baseline)': (s) => void (app(s).capabilities!.add = ['SYS_ADMIN']),
  'HostPath Volumes': (s) => void s.volumes!.push({ name: 'host', hostPath: { path: '/' } }),
  'Host Ports': (s) => void (s.containers[0]!.ports![0]!.hostPort = 8080),
  AppArmor: (_s, a) => void (a['container.apparmor.security.beta.kubernetes.io/app'] = 'unconfined'),
  SELinux: (s) => void (app(s).seLinuxOptions = { user: 'system_u' }),
  '/proc Mount Type': (s) => void (app(s).procMount = 'Unmasked'),
  'Seccomp (baseline)': (s) => void (app(s).seccompProfile = { type: 'Unconfined' }),
  Sysctls: (s) => void (s.securityContext = { sysctls: [{ name: 'kernel.msgmax', value: '1' }] }),
  'Volume Types': (s) => void s.volumes!.push({ name: 'nfs', nfs: { server: 'x', path: '/' } }),
  'Privilege Escalation': (s) => void delete s.initContainers![0]!.securityContext!.allowPrivilegeEscalation,
  'Running as Non-root': (s) => void delete app(s).runAsNonRoot,
  'Running as Non-root user': (s) => void (app(s).runAsUser = 0),
  Seccomp: (s) => void delete s.initContainers![0]!.securityContext!.seccompProfile,
  Capabilities: (s) => void (app(s).capabilities = { drop: ['NET_RAW'] }),
};

const alsoBreaks: Partial<Record<string, string[]>> = {
  'Capabilities (baseline)': ['Capabilities'],
  'HostPath Volumes': ['Volume Types'],
  'Seccomp (baseline)': ['Seccomp'],
};

describe('restrictedViolations', () => {
  it('passes a compliant pod, with the settings per container or at pod level', () => {
    expect(restrictedViolations(compliant())).toEqual([]);
    const podLevel: V1PodSpec = {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'app', image: 'a', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    };
    expect(restrictedViolations(podLevel)).toEqual([]);
  });

  it.each(RESTRICTED_RULES.map((r) => [r]))('catches a pod that breaks only %s', (rule) => {
    const spec = compliant();
    const annotations: Record<string, string> = {};
    breakers[rule](spec, annotations);
    const rules = new Set(restrictedViolations(spec, annotations).map((v) => v.rule));
    // A baseline break is also a break of the restricted rule that tightens it.
    expect([...rules].sort()).toEqual([rule, ...(alsoBreaks[rule] ?? [])].sort());
  });

  it('a pod with no securityContext at all breaks the restricted rules it leaves open', () => {
    const rules = restrictedViolations({ containers: [{ name: 'app', image: 'a' }] }).map((v) => v.rule);
    expect(rules.sort()).toEqual(['Capabilities', 'Privilege Escalation', 'Running as Non-root', 'Seccomp']);
  });
});
