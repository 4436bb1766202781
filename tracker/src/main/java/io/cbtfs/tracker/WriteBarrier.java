package io.cbtfs.tracker;

/**
 * What a write passes before it lands while a point-in-time sync of its image runs ({@link
 * ToReadSet}), or while that sync drains ({@link DrainGate}). Never throws: the guest's write must
 * not fail because of a sync.
 */
interface WriteBarrier {
  void beforeWrite(long byteOffset, long byteLength);
}
