/**
 * Records core/v1 Events on OrkaSecrets, so `kubectl describe osec` tells what happened (and a
 * few on the operator's own Secrets, such as the end of a re-encryption on the keys Secret).
 * Event messages come from the decision and never contain a value.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../core/logger.js';
import type { PlannedEvent } from '../reconcile/decide.js';
import { API_VERSION, KIND, type OrkaSecret } from '../../api/resource.js';

/** The component name Events carry. */
export const EVENT_SOURCE = 'orka-secrets-operator';

/** Writes Events; failures are logged, never thrown (an Event is not worth a failed reconcile). */
export class EventRecorder {
  private readonly api: CoreV1Api;

  constructor(kc: KubeConfig, private readonly log: Logger, private readonly identity: string) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  private readonly pending = new Set<Promise<void>>();

  /** Records in the background; `flush` waits for what is still being written. */
  recordLater(object: OrkaSecret, event: PlannedEvent, now: Date): void {
    const p = this.record(object, event, now).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Resolves when every background write has finished. */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** Records an Event on an OrkaSecret now. */
  async record(object: OrkaSecret, event: PlannedEvent, now: Date): Promise<void> {
    const { name, namespace, uid, resourceVersion } = object.metadata;
    await this.recordOn({ apiVersion: API_VERSION, kind: KIND, name, namespace, uid, resourceVersion }, event, now);
  }

  /** Records an Event on any object (the operator's own Secrets, for instance) now. */
  async recordOn(involved: { apiVersion: string; kind: string; name: string; namespace: string; uid?: string; resourceVersion?: string }, event: { type: PlannedEvent['type']; reason: string; message: string }, now: Date): Promise<void> {
    const { name, namespace } = involved;
    try {
      await this.api.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
          involvedObject: involved,
          type: event.type,
          reason: event.reason,
          message: event.message,
          source: { component: EVENT_SOURCE, host: this.identity },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          reportingComponent: EVENT_SOURCE,
          reportingInstance: this.identity,
        },
      });
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message }, reason: event.reason }, 'could not record an event');
    }
  }
}
