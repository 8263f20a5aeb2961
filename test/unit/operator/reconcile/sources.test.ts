import { describe, expect, it } from 'vitest';
import { SourceIndex } from '../../../../src/operator/reconcile/sources.js';

describe('SourceIndex', () => {
  it('finds the OrkaSecrets reading a Secret, in its namespace only', () => {
    const index = new SourceIndex();
    index.set('a', 'one', 'creds');
    index.set('a', 'two', 'creds');
    index.set('b', 'three', 'creds');
    index.set('a', 'four', undefined);
    expect(index.readersOf('a', 'creds').toSorted()).toEqual(['a/one', 'a/two']);
    expect(index.readersOf('b', 'creds')).toEqual(['b/three']);
    expect(index.readersOf('a', 'other')).toEqual([]);
  });

  it('follows an OrkaSecret that changes its source, drops its value source, or is deleted', () => {
    const index = new SourceIndex();
    index.set('a', 'one', 'old');
    index.set('a', 'one', 'new');
    expect(index.readersOf('a', 'old')).toEqual([]);
    expect(index.readersOf('a', 'new')).toEqual(['a/one']);
    index.set('a', 'one', undefined); // now a sealedValue
    expect(index.readersOf('a', 'new')).toEqual([]);
    index.set('a', 'two', 'new');
    index.delete('a', 'two');
    expect(index.readersOf('a', 'new')).toEqual([]);
  });
});
