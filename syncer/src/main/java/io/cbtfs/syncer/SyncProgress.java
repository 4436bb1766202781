package io.cbtfs.syncer;

/** Receives the progress of a sync, from the sync's own thread, after each record. */
@FunctionalInterface
public interface SyncProgress {
  SyncProgress NONE = (doneBytes, totalBytes, doneBlocks, totalBlocks) -> {};

  void update(long doneBytes, long totalBytes, long doneBlocks, long totalBlocks);
}
