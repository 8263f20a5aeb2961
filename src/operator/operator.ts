/**
 * The operator: the shared cache, keys, controller, resolver and leader election wired
 * together. Every replica watches (once, through the shared cache) and serves; the leader also
 * makes the keys, reconciles and rotates.
 */
import { CoreV1Api, VersionApi } from '@kubernetes/client-node';
import type { Logger } from '../core/logger.js';
import { servingHosts, type OperatorConfig } from './config.js';
import { nativeSidecarFor, type InjectConfig } from './admission/inject.js';
import { CertManager } from './keys/tls.js';
import { Controller } from './reconcile/controller.js';
import { EventRecorder } from './kube/events.js';
import { assessHealth, assessView, type Health } from './health.js';
import type { PooledKubeConfig } from './kube/client.js';
import type { ClusterCache } from './kube/cache.js';
import { ApiserverProbe } from './kube/probe.js';
import { LeaderElector, type StepDownReason } from './kube/leader.js';
import { rotationDue, type KeyRing } from '../core/keyring.js';
import { KEYS_SECRET } from '../api/resource.js';
import { KeyRingStore } from './keys/ring.js';
import { Throttle } from '../core/throttle.js';
import { DataKeyStore } from './keys/datakeys.js';
import { KeyRotation } from './keys/rotation.js';
import { Reencryptor } from './keys/reencrypt.js';
import { trackResolveMemo, type OperatorMetrics } from './metrics.js';
import { TokenAuthenticator, tokenReviewFn } from './kube/tokenreview.js';
import { Resolver } from './resolver/resolver.js';
import { UsageTracker } from './resolver/usage.js';

/** The annotation on the keys Secret that asks the leader to rotate now. */
export const ROTATE_ANNOTATION = 'orka.io/rotate';
/** Name of the leader lease. */
export const LEASE_NAME = 'orka-secrets-operator';

/** A key ring that cannot be loaded is logged at most this often (it is retried every 2 s). */
export const KEY_FAILURE_LOG_INTERVAL_MS = 60_000;

/** A running operator (one replica). */
export class Operator {
  readonly keyRing: KeyRingStore;
  readonly dataKeys: DataKeyStore;
  private readonly rotation: KeyRotation;
  readonly controller: Controller;
  readonly elector: LeaderElector;
  readonly resolver: Resolver;
  readonly usage: UsageTracker;
  readonly auth: TokenAuthenticator;
  readonly certs: CertManager;
  readonly probe: ApiserverProbe;
  readonly reencryptor: Reencryptor;
  private readonly events: EventRecorder;
  private rotationTimer: NodeJS.Timeout | undefined;
  private rotating = false;
  /**
   * The leadership term: lead() and follow() each begin a new one. What lead() does after an
   * await belongs to its own term only: leadership lost meanwhile (follow() ran) must not be
   * followed by workers started on a replica that no longer leads.
   */
  private term = 0;
  private synced = false;
  /** stepDown() was called (/readyz fails from then on), and when it is done. */
  private steppingDown: Promise<void> | undefined;
  private freshnessTimer: NodeJS.Timeout | undefined;
  private wasCurrent = false;
  /** The keys' load failures, logged at most once a minute per reason (lead() retries every 2 s). */
  private readonly keyFailures = new Throttle({ intervalMs: KEY_FAILURE_LOG_INTERVAL_MS, maxKeys: 16 });

  /** The injected form, decided at start from ORKA_NATIVE_SIDECAR and the apiserver's version. */
  private nativeSidecar = false;

  constructor(
    private readonly kc: PooledKubeConfig,
    /** The shared cache (made by main.ts; every part reads it, none makes its own informers). */
    readonly cache: ClusterCache,
    private readonly config: OperatorConfig,
    private readonly log: Logger,
    private readonly metrics: OperatorMetrics,
  ) {
    const keysLog = log.child({ component: 'keys' });
    this.keyRing = new KeyRingStore(kc, this.cache.own, { namespace: config.ORKA_NAMESPACE, log: keysLog, ...(config.ORKA_SEALING_KEY_RETENTION === undefined ? {} : { sealingRetentionSeconds: config.ORKA_SEALING_KEY_RETENTION }) });
    this.dataKeys = new DataKeyStore(kc, this.cache.own, this.keyRing, { namespace: config.ORKA_NAMESPACE, log: keysLog });
    this.rotation = new KeyRotation(this.keyRing, this.dataKeys, keysLog);
    const events = (this.events = new EventRecorder(kc, log.child({ component: 'events' }), config.ORKA_POD_NAME));
    this.controller = new Controller(kc, this.cache, { ring: this.keyRing, dataKeys: this.dataKeys }, events, metrics, {
      workers: config.ORKA_WORKERS,
      operatorNamespace: config.ORKA_NAMESPACE,
      resyncPeriod: config.ORKA_RESYNC_PERIOD,
      log: log.child({ component: 'controller' }),
    });
    this.elector = new LeaderElector(
      kc,
      {
        namespace: config.ORKA_NAMESPACE,
        name: LEASE_NAME,
        identity: config.ORKA_POD_NAME,
        timing: { leaseDuration: config.ORKA_LEASE_DURATION, renewDeadline: config.ORKA_LEASE_RENEW_DEADLINE, retryPeriod: config.ORKA_LEASE_RETRY_PERIOD },
        log: log.child({ component: 'leader' }),
      },
      { onStartedLeading: () => void this.lead(), onStoppedLeading: (reason) => void this.follow(reason) },
    );
    // After a rotation, the leader moves stored values to the tenants' new data keys (see
    // keys/reencrypt.ts): progress is derived from the caches, so a new leader continues it.
    this.reencryptor = new Reencryptor(kc.makeApiClient(CoreV1Api), this.dataKeys, this.rotation, {
      ratePerSecond: config.ORKA_REENCRYPT_RATE,
      log: log.child({ component: 'reencrypt' }),
      storage: this.cache.storage,
      namespaceUid: (namespace) => this.cache.namespaceUid(namespace),
      onReencrypted: () => metrics.reencrypted.inc(),
      onComplete: ({ reencrypted }) => void this.reencryptionComplete(reencrypted),
    });
    metrics.onCollect(() => {
      metrics.reencryptionPending.reset();
      for (const [tenant, count] of this.reencryptor.plan().pendingByTenant) metrics.reencryptionPending.set({ tenant }, count);
    });
    this.keyRing.onChange(() => void this.maybeRotate());
    this.cache.namespaces.on('delete', () => void this.reconcileDataKeys());
    const memo = { ttlMs: config.ORKA_RESOLVE_MEMO_TTL * 1000, maxBytes: config.ORKA_RESOLVE_MEMO_MAX_BYTES };
    this.resolver = new Resolver(this.cache, this.dataKeys, log.child({ component: 'resolver' }), () => this.view(), memo);
    trackResolveMemo(metrics, this.resolver.memo);
    this.probe = new ApiserverProbe(kc, { periodMs: 2000, timeoutMs: 2000 });
    this.usage = new UsageTracker(kc, this.cache.orkaSecrets, { intervalSeconds: config.ORKA_USAGE_FLUSH_PERIOD, log: log.child({ component: 'usage' }) });
    this.certs = new CertManager(kc, this.cache.own, {
      namespace: config.ORKA_NAMESPACE,
      hosts: servingHosts(config),
      managed: config.ORKA_TLS_MANAGED,
      validDays: config.ORKA_CERT_VALIDITY / 86400,
      renewBeforeDays: config.ORKA_CERT_RENEW_BEFORE / 86400,
      checkPeriodSeconds: config.ORKA_CERT_CHECK_PERIOD,
      mutatingWebhook: config.ORKA_MUTATING_WEBHOOK,
      validatingWebhook: config.ORKA_VALIDATING_WEBHOOK,
      isLeader: () => this.elector.isLeader,
      log: log.child({ component: 'certs' }),
    });
    this.auth = new TokenAuthenticator(tokenReviewFn(kc, config.ORKA_TOKEN_AUDIENCE), {
      audience: config.ORKA_TOKEN_AUDIENCE,
      maxEntries: config.ORKA_TOKEN_CACHE_SIZE,
      maxCacheSeconds: config.ORKA_TOKEN_CACHE_TTL,
      negativeCacheSeconds: 10,
    });
  }

  /** Readiness and freshness now (see health.ts): what /readyz reports and resolves obey. */
  health(): Health {
    return assessHealth({
      now: Date.now(),
      synced: this.synced,
      keysLoaded: this.keyRing.current() !== undefined,
      caches: this.cache.freshness(),
      apiserver: this.probe.state,
      maxStalenessMs: this.config.ORKA_MAX_STALENESS * 1000,
      stopping: this.steppingDown !== undefined,
    });
  }

  /** Whether the view is current and how old: what every resolve checks (health() without its report). */
  view(): Pick<Health, 'current' | 'viewAgeMs'> {
    return assessView({ now: Date.now(), synced: this.synced, caches: this.cache.freshness(), maxStalenessMs: this.config.ORKA_MAX_STALENESS * 1000 });
  }

  /** Closes change streams the moment the view goes stale (resolves check it on each call). */
  private watchFreshness(): void {
    const check = () => {
      const h = this.health();
      if (h.current === this.wasCurrent) return;
      this.wasCurrent = h.current;
      const detail = h.checks.find((x) => x.name === 'caches-current')?.detail;
      if (h.current) {
        this.log.info({ detail }, 'view of the cluster is current again; serving resolves and change streams');
        return;
      }
      this.log.warn({ detail }, 'view of the cluster is stale; closing change streams, refusing resolves');
      this.resolver.closeStreams();
    };
    this.freshnessTimer = setInterval(check, 250);
    this.freshnessTimer.unref();
  }

  /** Starts watching, then takes part in the election. */
  async start(): Promise<void> {
    const server = await this.serverVersion();
    this.nativeSidecar = nativeSidecarFor(this.config.ORKA_NATIVE_SIDECAR, server);
    this.log.info({ setting: this.config.ORKA_NATIVE_SIDECAR, server: server?.gitVersion, nativeSidecar: this.nativeSidecar }, 'sidecar form chosen');
    this.probe.start();
    await this.cache.synced;
    this.synced = true;
    this.log.info('caches synced');
    this.watchFreshness();
    this.elector.start();
    this.usage.start();
  }

  /** The apiserver's version; undefined when it cannot be read (auto then means the classic form). */
  private async serverVersion(): Promise<{ major: string; minor: string; gitVersion: string } | undefined> {
    try {
      return await this.kc.makeApiClient(VersionApi).getCode();
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'cannot read the apiserver version; injecting the classic sidecar form');
      return undefined;
    }
  }

  private async lead(): Promise<void> {
    const term = ++this.term;
    this.metrics.isLeader.set(1);
    try {
      await this.keyRing.ensure();
    } catch (err) {
      // Retried every 2 s for as long as it lasts (a refused key ring waits for a person): the line
      // goes out the first time, then at most once a minute, saying how many it stands for; the
      // keys readiness check and the metric say it all along.
      const message = (err as Error).message;
      const held = this.keyFailures.pass(message);
      if (held !== undefined) this.log.error({ err: { message }, ...(held > 0 ? { suppressed: held } : {}) }, 'could not load or create the keys; retrying every 2 s (this line at most once a minute)');
      setTimeout(() => void (term === this.term && this.lead()), 2000).unref();
      return;
    }
    if (term !== this.term) return;
    this.controller.startWorkers();
    await this.finishRotation();
    if (term !== this.term) return;
    this.reencryptor.start();
    void this.reconcileDataKeys();
    this.rotationTimer = setInterval(() => void this.maybeRotate(), 5000);
    this.rotationTimer.unref();
  }

  private async follow(reason: StepDownReason): Promise<void> {
    this.term++;
    this.metrics.isLeader.set(0);
    if (this.rotationTimer) clearInterval(this.rotationTimer);
    // Losing the lease means another replica may reconcile now: a write this replica started as
    // leader must not land later (over a frozen connection it could land minutes later), so every
    // request in flight fails now. A graceful shutdown released the lease itself: it lets
    // in-flight work finish instead.
    if (reason !== 'shutdown') this.kc.dropConnections();
    await Promise.all([this.controller.stopWorkers({ fence: reason !== 'shutdown' }), this.reencryptor.stop()]);
  }

  /** Leader: data keys follow their namespaces (deleted with them, never reused by a namesake). */
  async reconcileDataKeys(): Promise<void> {
    if (!this.elector.isLeader) return;
    try {
      await this.dataKeys.reconcile((ns) => this.cache.namespaceUid(ns));
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'could not tidy the data keys; will try at the next namespace deletion or leadership');
    }
  }

  /** Leader: a rotation cut short by the end of the previous leader's process is finished first. */
  private async finishRotation(): Promise<void> {
    if (this.rotating) return;
    this.rotating = true;
    try {
      await this.rotation.finish();
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'could not finish a rotation that had stopped half-way; will try again at the next leadership');
    } finally {
      this.rotating = false;
    }
  }

  /**
   * Rotates when the period has passed or the keys Secret carries the rotate annotation: as the
   * cache shows it (cheap, every 5 s), then as the API does (the cache can be behind a rotation
   * another leader made).
   */
  async maybeRotate(): Promise<void> {
    if (!this.elector.isLeader || this.rotating) return;
    const ring = this.keyRing.current();
    if (ring === undefined) return;
    const due = (keys: KeyRing, requested: boolean) => requested || rotationDue(keys, new Date(), this.config.ORKA_KEY_ROTATION_PERIOD);
    const requested = this.keyRing.annotation(ROTATE_ANNOTATION) !== undefined;
    if (!due(ring, requested)) return;
    this.rotating = true;
    try {
      this.log.info({ reason: requested ? `annotation ${ROTATE_ANNOTATION} on Secret ${KEYS_SECRET}` : 'rotation period elapsed' }, 'rotating keys');
      const rotated = await this.rotation.rotate((stored, annotations) => due(stored, annotations[ROTATE_ANNOTATION] !== undefined));
      if (rotated === undefined) {
        this.log.info('no rotation after all: the keys Secret, read from the API, shows it was already made');
        return;
      }
      this.metrics.keyRotations.inc();
      this.reencryptor.kick();
    } catch (err) {
      this.log.error({ err: { message: (err as Error).message } }, 'key rotation failed; will retry');
    } finally {
      this.rotating = false;
    }
  }

  /** A person-visible record on the keys Secret that a rotation's re-encryption has finished. */
  private async reencryptionComplete(reencrypted: number): Promise<void> {
    const ref = this.keyRing.secretRef();
    if (ref === undefined) return;
    await this.events.recordOn(
      { apiVersion: 'v1', kind: 'Secret', name: KEYS_SECRET, namespace: this.config.ORKA_NAMESPACE, ...ref },
      { type: 'Normal', reason: 'ReencryptionComplete', message: `every stored value is under its tenant's active data key (${reencrypted} re-encrypted); earlier data keys removed` },
      new Date(),
    );
  }

  /**
   * The first half of a graceful stop: not ready from now on, no new work, what is in flight
   * finished, the lease released (another replica leads at once). The cache, the certificates and
   * the resolver keep going: the drain still answers resolves and webhooks.
   */
  stepDown(): Promise<void> {
    this.steppingDown ??= (async () => {
      if (this.rotationTimer) clearInterval(this.rotationTimer);
      await Promise.all([this.controller.stopWorkers(), this.reencryptor.stop()]);
      await this.elector.stop();
    })();
    return this.steppingDown;
  }

  /** The rest, once nothing is served any more: usage flushed, watches and probes stopped. */
  async stop(): Promise<void> {
    await this.stepDown();
    clearInterval(this.freshnessTimer);
    this.probe.stop();
    await this.usage.stop();
    await this.certs.stop();
    await this.cache.stop();
  }

  /** How pods get the sidecar now (the CA comes from the certificate in use). */
  injectConfig(): InjectConfig {
    const c = this.config;
    return {
      image: c.ORKA_SIDECAR_IMAGE,
      imagePullPolicy: c.ORKA_SIDECAR_IMAGE_PULL_POLICY,
      operatorUrl: c.ORKA_OPERATOR_SERVICE_URL ?? `https://orka-secrets-operator.${c.ORKA_NAMESPACE}.svc:${c.ORKA_RESOLVER_PORT}`,
      caPem: this.certs.material()?.caPem ?? '',
      port: c.ORKA_SIDECAR_PORT,
      metricsPort: c.ORKA_SIDECAR_PORT + 1,
      metricsAddress: c.ORKA_SIDECAR_METRICS_ADDRESS,
      securityContext: c.ORKA_SIDECAR_SECURITY_CONTEXT,
      tokenAudience: c.ORKA_TOKEN_AUDIENCE,
      tokenExpirationSeconds: Math.max(600, c.ORKA_SIDECAR_TOKEN_EXPIRATION),
      resources: { requests: { cpu: c.ORKA_SIDECAR_CPU_REQUEST, memory: c.ORKA_SIDECAR_MEMORY_REQUEST }, limits: { memory: c.ORKA_SIDECAR_MEMORY_LIMIT, ...(c.ORKA_SIDECAR_CPU_LIMIT ? { cpu: c.ORKA_SIDECAR_CPU_LIMIT } : {}) } },
      nativeSidecar: this.nativeSidecar,
    };
  }
}
