/**
 * `keys restore`'s plan for the data keys (dataKeysToRestore, pure): over the release vectors'
 * backup, which data-key Secrets to create, which the cluster keeps, and which it holds wrapped by
 * a key ring newer than the backup (the restore refuses those: exit 2).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ACTIVE_DATA_KEY_FIELD, previousDataKeyField } from '../../../src/api/datakey.js';
import { DATA_KEY_LABEL } from '../../../src/api/resource.js';
import { decodeBackup } from '../../../src/cli/backupfile.js';
import { dataKeysToRestore } from '../../../src/cli/keys.js';
import { generateDataKey, wrapDataKey } from '../../../src/core/envelope.js';

const v = JSON.parse(readFileSync(new URL('../fixtures/release-vectors.json', import.meta.url), 'utf8')) as { tenant: string; dataKeySecret: V1Secret; backup: string };
const backup = async () => (await decodeBackup(v.backup, 'backup.yaml', () => Promise.reject(new Error('not encrypted')))).backup;
const name = v.dataKeySecret.metadata?.name as string;
/** A data key of the tenant wrapped by a KEK the backup's ring does not hold (a ring made since). */
const newerWrap = () => wrapDataKey({ kek: { id: 'kek-made-after-the-backup', key: randomBytes(32) }, tenant: v.tenant, dataKey: generateDataKey() }).toString('base64');

describe('dataKeysToRestore', () => {
  it('creates what the cluster lacks; keeps what the backup\'s ring opens', async () => {
    const b = await backup();
    expect(b.dataKeys.map((d) => d.name)).toEqual([name]);
    expect(dataKeysToRestore(b, [])).toEqual({ create: b.dataKeys, kept: [], foreign: [] });
    expect(dataKeysToRestore(b, [v.dataKeySecret])).toEqual({ create: [], kept: [name], foreign: [] });
    expect(v.dataKeySecret.metadata?.labels?.[DATA_KEY_LABEL]).toBe(v.tenant);
  });

  it('a data key in the cluster wrapped by a ring newer than the backup is foreign: not kept, not replaced', async () => {
    const b = await backup();
    const rewrapped: V1Secret = { ...v.dataKeySecret, data: { [ACTIVE_DATA_KEY_FIELD]: newerWrap() } };
    expect(dataKeysToRestore(b, [rewrapped])).toEqual({ create: [], kept: [], foreign: [name] });
    // One key of the Secret the ring cannot open is enough (a previous key kept after a rotation).
    const mixed: V1Secret = { ...v.dataKeySecret, data: { ...v.dataKeySecret.data, [previousDataKeyField('dk-later')]: newerWrap() } };
    expect(dataKeysToRestore(b, [mixed])).toEqual({ create: [], kept: [], foreign: [name] });
  });
});
