package io.cbtfs.cli;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.SyncSource;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.Target;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;

/**
 * The server half of a sync: where the tracking is held, an image is synced to its target and the
 * sync recorded for {@code status}. The running mount holds one ({@link RunningMount}); with no
 * mount, {@link #offline} loads the saved state into one for a single sync.
 */
final class SyncHost {
  private final TrackerStore store;
  private final ImageFiles files;
  private final Path stateDir;
  private final Path mountPoint;
  private final int syncThreads;

  /**
   * @param mountPoint the mount serving the images, or null for a sync with no mount
   * @param syncThreads each sync's readers ({@link MemoryBudget#syncThreads})
   */
  SyncHost(TrackerStore store, ImageFiles files, Path stateDir, Path mountPoint, int syncThreads) {
    this.store = store;
    this.files = files;
    this.stateDir = stateDir;
    this.mountPoint = mountPoint;
    this.syncThreads = syncThreads;
  }

  /** Loads the image's tracking, syncs it to {@code address}, records the target. */
  SyncReport sync(String name, TargetAddress address, boolean full, SyncProgress progress)
      throws IOException {
    TrackedImage image = store.image(name, () -> files.fingerprint(name));
    SyncReport report;
    try (Target t = address.open()) {
      TargetPlacement.requireApart(
          t, files.backingFile(name), files.backingDir(), stateDir, mountPoint);
      report =
          new Syncer(Syncer.DEFAULT_RECORD_BYTES, syncThreads)
              .sync(new SyncSource(image, files.backingFile(name)), t, full, progress);
    }
    try {
      SyncHistory.record(stateDir, name, report, image.lineage().toString());
    } catch (IOException | RuntimeException e) { // informational, and the data is synced
      return report.withWarning("the sync history (for status) was not updated: " + e.getMessage());
    }
    return report;
  }

  /**
   * Syncs with no mount running: the saved state is loaded (and recovered), then saved again, clean
   * either way.
   */
  static SyncReport offline(
      Path backing, ImageLocator loc, TargetAddress target, boolean full, SyncProgress progress)
      throws IOException {
    if (!Files.isRegularFile(backing, LinkOption.NOFOLLOW_LINKS)) {
      throw new CbtfsException("no image at " + backing);
    }
    ImageFiles files = new ImageFiles(backing.getParent(), loc.stateDir());
    String name = loc.imageName();
    try (TrackerStore store =
        TrackerStore.open(loc.stateDir(), TrackingOptions.defaults(BlockGeometry.defaults()))) {
      SyncReport report;
      try {
        report =
            new SyncHost(
                    store,
                    files,
                    loc.stateDir(),
                    null,
                    Runtime.getRuntime().availableProcessors()) // no budget: the JVM's own limits
                .sync(name, target, full, progress);
      } catch (IOException | RuntimeException e) {
        // the drained blocks are merged back: save them clean, so the next run needs no recovery
        try {
          saveClean(store, files, name);
        } catch (IOException | RuntimeException again) {
          e.addSuppressed(again);
        }
        throw e;
      }
      try {
        saveClean(store, files, name);
      } catch (IOException | RuntimeException e) { // the data is synced: a warning
        return report.withWarning("the tracking state was not saved: " + e.getMessage());
      }
      return report;
    }
  }

  /** Saves the image's tracking with its backing file's fingerprint as of now. */
  private static void saveClean(TrackerStore store, ImageFiles files, String name)
      throws IOException {
    store.closeClean(Map.of(name, files.fingerprint(name)));
  }
}
