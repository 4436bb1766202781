package io.cbtfs.cli;

import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.TrackedImage;

/**
 * Told of every sync {@link SyncHost} ran, once it ended (the mount's metrics, an offline sync's
 * textfile), on the sync's thread while the image's tracking is still loaded.
 */
@FunctionalInterface
interface SyncObserver {
  /**
   * @param target the target's cursor name
   * @param report what it did; null when it failed
   * @param nanos how long it ran
   */
  void ended(TrackedImage image, String target, SyncReport report, long nanos);

  SyncObserver NONE = (image, target, report, nanos) -> {};
}
