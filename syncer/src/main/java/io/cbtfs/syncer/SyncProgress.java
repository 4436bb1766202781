package io.cbtfs.syncer;

import java.io.IOException;

/**
 * Receives the progress of a sync, from the sync's own thread, after each record. It is also the
 * sync's cancellation point: an exception thrown here fails the sync as any I/O failure does (the
 * target keeps what it had, the drained blocks stay dirty).
 */
@FunctionalInterface
public interface SyncProgress {
  SyncProgress NONE = (doneBytes, totalBytes, doneBlocks, totalBlocks) -> {};

  /**
   * @throws IOException to stop the sync (a cancelled request), before the target's commit
   */
  void update(long doneBytes, long totalBytes, long doneBlocks, long totalBlocks)
      throws IOException;

  /**
   * The sync took its dirty set: the instant a point-in-time sync's target will hold. Called once,
   * before the first record; a guest frozen for the sync ({@code --pre-hook}) may thaw now.
   */
  default void drained() {}

  /**
   * A consistency group's sync moves on to its member {@code index} (0 first): the records that
   * follow are that image's. Never called for a single image.
   */
  default void member(int index) {}
}
