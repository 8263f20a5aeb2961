/**
 * The operator's serving certificate (resolver API and admission webhooks): a CA and a serving
 * certificate from the core `pki`, kept in the Secret `orka-secrets-tls` of the operator's
 * namespace (keys `ca.crt`, `tls.crt`, `tls.key`, the layout cert-manager writes too).
 *
 * Managed mode (default): the leader makes them at first start, renews the serving certificate
 * before it expires, and patches the CA bundle into the webhook configurations. Every replica
 * watches the Secret and swaps the new certificate into its running server (no restart).
 * Unmanaged mode (ORKA_TLS_MANAGED=false): the Secret comes from elsewhere (cert-manager); the
 * operator only loads, watches and publishes the CA bundle.
 */
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../../core/logger.js';
import { certInfo, createCA, generateRsaKeyPairAsync, issueServingCert, needsRenewal } from '../../core/pki.js';
import { statusCode } from '../kube/client.js';
import type { Watched } from '../kube/informers.js';
import { MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL } from '../../api/resource.js';

/** Name of the Secret with the operator's CA and serving certificate. */
export const TLS_SECRET = 'orka-secrets-tls';

const BUNDLE_CHECK_MS = 5000;

/** What an HTTPS server needs, and the CA that clients and the apiserver trust. */
export interface ServingMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Settings of the certificate manager. */
export interface CertOptions {
  namespace: string;
  hosts: string[];
  managed: boolean;
  validDays: number;
  renewBeforeDays: number;
  checkPeriodSeconds: number;
  mutatingWebhook: string;
  validatingWebhook: string;
  isLeader: () => boolean;
  log: Logger;
  now?: () => Date;
}


function decode(secret: V1Secret | undefined): (ServingMaterial & { caKeyPem?: string }) | undefined {
  const get = (k: string) => (secret?.data?.[k] === undefined ? undefined : Buffer.from(secret.data[k] as string, 'base64').toString());
  const caPem = get('ca.crt');
  const certPem = get('tls.crt');
  const keyPem = get('tls.key');
  const caKeyPem = get('ca.key');
  return caPem && certPem && keyPem ? { caPem, certPem, keyPem, ...(caKeyPem ? { caKeyPem } : {}) } : undefined;
}

/** Loads, watches, renews and publishes the serving certificate. */
export class CertManager {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private readonly secrets: Watched<V1Secret>;
  private readonly listeners: Array<(m: ServingMaterial) => void> = [];
  private current: ServingMaterial | undefined;
  private timer: NodeJS.Timeout | undefined;
  private bundleTimer: NodeJS.Timeout | undefined;

  /** `secrets`: the shared cache of the operator namespace's Secrets. */
  constructor(
    kc: KubeConfig,
    secrets: Watched<V1Secret>,
    private readonly options: CertOptions,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.admission = kc.makeApiClient(AdmissionregistrationV1Api);
    this.secrets = secrets;
    const changed = (s: V1Secret) => {
      if (s.metadata?.name === TLS_SECRET) this.load();
    };
    this.secrets.on('add', changed);
    this.secrets.on('update', changed);
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /** The material in use, if loaded. */
  material(): ServingMaterial | undefined {
    return this.current;
  }

  /** Calls `fn` with every new certificate (renewal, or a Secret written by cert-manager). */
  onChange(fn: (m: ServingMaterial) => void): void {
    this.listeners.push(fn);
  }

  private load(): void {
    const m = decode(this.secrets.get(TLS_SECRET, this.options.namespace));
    if (m === undefined || m.certPem === this.current?.certPem) return;
    this.current = { caPem: m.caPem, certPem: m.certPem, keyPem: m.keyPem };
    this.options.log.info({ notAfter: certInfo(m.certPem).notAfter, hosts: certInfo(m.certPem).hosts }, 'serving certificate loaded');
    for (const fn of this.listeners) fn(this.current);
    if (this.options.isLeader()) void this.publishCaBundle();
  }

  /** Waits until a certificate is there (the leader makes one in managed mode); starts the checks. */
  async start(): Promise<ServingMaterial> {
    await this.secrets.synced;
    this.timer = setInterval(() => void this.check(), this.options.checkPeriodSeconds * 1000);
    this.timer.unref();
    // Webhook configurations may appear (or be reset by a chart upgrade) at any time: the leader
    // looks every few seconds; two GETs, and a write only when a bundle is missing or stale.
    this.bundleTimer = setInterval(() => void this.publishCaBundle(), BUNDLE_CHECK_MS);
    this.bundleTimer.unref();
    for (;;) {
      this.load();
      if (this.current) return this.current;
      await this.check();
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Leader: makes or renews the certificate when needed, and keeps the CA bundle published. */
  async check(): Promise<void> {
    if (!this.options.isLeader()) return;
    try {
      const seen = this.secrets.get(TLS_SECRET, this.options.namespace);
      const existing = decode(seen);
      if (this.options.managed) {
        const hostsChanged = existing !== undefined && certInfo(existing.certPem).hosts.join(',') !== this.options.hosts.join(',');
        const version = seen?.metadata?.resourceVersion;
        if (existing === undefined || existing.caKeyPem === undefined) await this.issue(undefined, version);
        else if (hostsChanged || needsRenewal(existing.certPem, this.now(), this.options.renewBeforeDays)) await this.issue(existing as ServingMaterial & { caKeyPem: string }, version);
      }
      await this.publishCaBundle();
    } catch (err) {
      this.options.log.warn({ err: { message: (err as Error).message, code: statusCode(err) } }, 'certificate check failed; will retry');
    }
  }

  /**
   * Writes new material, decided from the TLS Secret as it was at `version` (undefined: there was
   * none). The write is conditional on that version: the key pairs take a while to make (on the
   * thread pool), and a Secret written meanwhile (a CA another leader made, the watch catching
   * up) must fail this write with 409, not be replaced by a second CA its pods do not trust.
   */
  private async issue(existing: (ServingMaterial & { caKeyPem: string }) | undefined, version: string | undefined): Promise<void> {
    const now = this.now();
    // A new CA needs a key pair too: both are made at once, on two threads of the pool.
    const [servingKeys, caKeys] = await Promise.all([generateRsaKeyPairAsync(), existing ? undefined : generateRsaKeyPairAsync()]);
    const ca = existing ? { certPem: existing.caPem, keyPem: existing.caKeyPem } : createCA({ commonName: 'orka-secrets-operator-ca', now, validDays: 3650, keys: caKeys });
    const serving = issueServingCert({ ca, hosts: this.options.hosts, now, validDays: this.options.validDays, keys: servingKeys });
    const body: V1Secret = {
      metadata: {
        name: TLS_SECRET,
        namespace: this.options.namespace,
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [ROLE_LABEL]: 'tls' },
        ...(version === undefined ? {} : { resourceVersion: version }),
      },
      type: 'kubernetes.io/tls',
      data: {
        'ca.crt': Buffer.from(ca.certPem).toString('base64'),
        'ca.key': Buffer.from(ca.keyPem).toString('base64'),
        'tls.crt': Buffer.from(serving.certPem).toString('base64'),
        'tls.key': Buffer.from(serving.keyPem).toString('base64'),
      },
    };
    try {
      if (version === undefined) await this.core.createNamespacedSecret({ namespace: this.options.namespace, body });
      else await this.core.replaceNamespacedSecret({ name: TLS_SECRET, namespace: this.options.namespace, body });
      this.options.log.info({ hosts: this.options.hosts, notAfter: certInfo(serving.certPem).notAfter, renewal: existing !== undefined }, existing ? 'serving certificate renewed' : 'serving certificate created');
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      // Another leader (or this one, a moment earlier) wrote it first: keep that one, its pods
      // trust its CA; the watch brings it.
      this.options.log.info({ renewal: existing !== undefined }, 'serving certificate not written: the Secret changed since the decision; keeping the one written meanwhile');
    }
  }

  /** Leader: writes the CA bundle into the webhook configurations that do not have it yet. */
  private async publishCaBundle(): Promise<void> {
    const ca = this.current?.caPem;
    if (ca === undefined || !this.options.isLeader()) return;
    const bundle = Buffer.from(ca).toString('base64');
    const patchAll = async <T extends { metadata?: object; webhooks?: Array<{ clientConfig: { caBundle?: string } }> }>(
      read: () => Promise<T>,
      replace: (body: T) => Promise<unknown>,
      what: string,
    ) => {
      try {
        const config = await read();
        if ((config.webhooks ?? []).every((w) => w.clientConfig.caBundle === bundle)) return;
        for (const w of config.webhooks ?? []) w.clientConfig.caBundle = bundle;
        await replace(config);
        this.options.log.info({ what }, 'CA bundle published to webhook configuration');
      } catch (err) {
        // Not installed yet is normal while a release is being installed: say it once at debug.
        const level = statusCode(err) === 404 ? 'debug' : 'warn';
        this.options.log[level]({ what, err: { message: (err as Error).message, code: statusCode(err) } }, 'could not publish the CA bundle; will retry');
      }
    };
    const { mutatingWebhook: m, validatingWebhook: v } = this.options;
    await patchAll(
      () => this.admission.readMutatingWebhookConfiguration({ name: m }),
      (body) => this.admission.replaceMutatingWebhookConfiguration({ name: m, body }),
      `MutatingWebhookConfiguration ${m}`,
    );
    await patchAll(
      () => this.admission.readValidatingWebhookConfiguration({ name: v }),
      (body) => this.admission.replaceValidatingWebhookConfiguration({ name: v, body }),
      `ValidatingWebhookConfiguration ${v}`,
    );
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.bundleTimer) clearInterval(this.bundleTimer);
  }
}
