/**
 * Key rotation, which spans the key ring (./ring.ts) and the data keys (./datakeys.ts): a new
 * active key of each kind in the ring, then a new active data key for every tenant with its
 * earlier ones re-wrapped under the new KEK, then the KEKs nothing is wrapped with any more leave
 * the ring. Leader only. The re-encryption of stored values follows (./reencrypt.ts).
 */
import { envelopeKeyId } from '../../core/envelope.js';
import type { Logger } from '../../core/logger.js';
import { wrappedDataKeys } from '../../api/datakey.js';
import type { DataKeyStore } from './datakeys.js';
import type { KeyRingStore } from './ring.js';

/** Rotates and retires keys across the ring and the data keys. */
export class KeyRotation {
  constructor(
    private readonly ring: Pick<KeyRingStore, 'rotate' | 'read' | 'retire'>,
    private readonly dataKeys: Pick<DataKeyStore, 'replaceAll' | 'keksInUse' | 'removePrevious'>,
    private readonly log: Logger,
  ) {}

  /**
   * A new active key of each kind, then a new active data key for every tenant, with the
   * tenant's earlier data keys re-wrapped under the new KEK (they keep opening the values stored
   * with them until the re-encryption has moved those to the new key). Nothing is wrapped with
   * the old KEK after this, so it leaves the ring at once: a leaked KEK opens nothing stored in
   * the cluster afterwards, and a leaked data key only what is not yet re-encrypted.
   */
  async rotate(due: Parameters<KeyRingStore['rotate']>[0]): Promise<{ kek: string; sealing: string; rewrapped: number } | undefined> {
    const ring = await this.ring.rotate(due);
    if (ring === undefined) return undefined;
    const rewrapped = await this.dataKeys.replaceAll(ring);
    const retired = await this.retireUnused();
    const kek = ring.activeKek().id;
    const sealing = ring.activeSealing().id;
    this.log.info({ kekId: kek, sealingKeyId: sealing, rewrapped, retired }, 'keys rotated');
    return { kek, sealing, rewrapped };
  }

  /**
   * Finishes a rotation that stopped half-way (the process ended between writing the ring and
   * replacing every data key): the data keys still wrapped with an older KEK get their new data
   * key now, then the KEKs nothing uses leave the ring. After a whole rotation, or none, there is
   * nothing to do. Counts the tenants whose data key was replaced.
   */
  async finish(): Promise<number> {
    const ring = await this.ring.read();
    const active = ring.activeKek().id;
    const behind = (s: Parameters<typeof wrappedDataKeys>[0]) => {
      try {
        return wrappedDataKeys(s).some((k) => envelopeKeyId(k.wrapped) !== active);
      } catch {
        return false;
      }
    };
    const replaced = await this.dataKeys.replaceAll(ring, behind);
    if (replaced === 0) return 0;
    const retired = await this.retireUnused();
    this.log.warn({ kekId: active, replaced, retired }, 'finished a rotation that had stopped half-way: new data keys for the tenants it had not reached');
    return replaced;
  }

  /** Removes the earlier data key `id` of `tenant` (the re-encryption moved its values), then any KEK only it used. */
  async removePreviousDataKey(tenant: string, id: string): Promise<boolean> {
    if (!(await this.dataKeys.removePrevious(tenant, id))) return false;
    await this.retireUnused();
    return true;
  }

  /** The KEKs no data key is wrapped with, and sealing keys past their retention, leave the ring. */
  private async retireUnused(): Promise<number> {
    return this.ring.retire(await this.dataKeys.keksInUse());
  }
}
