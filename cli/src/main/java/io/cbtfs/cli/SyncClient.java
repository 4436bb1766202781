package io.cbtfs.cli;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The client half of a sync: asks the running mount to sync over its control socket when there is
 * one, else runs the sync here against the saved tracking state ({@link SyncHost#offline}).
 */
final class SyncClient {
  private SyncClient() {}

  /**
   * @param cursors the cursor policy of a sync with no mount running (a mount keeps its own)
   * @param textfile where a sync with no mount running writes its metrics, whether it succeeds or
   *     fails; null for none (a mount serves them itself)
   */
  static SyncReport run(
      Path image,
      Path stateDirOption,
      TargetAddress target,
      boolean full,
      SnapshotOption snapshot,
      TrackingOptions.Cursors cursors,
      SyncProgress progress,
      MetricsTextfile textfile)
      throws IOException {
    ImageLocator loc = ImageLocator.resolve(image, stateDirOption);
    Optional<ControlChannel> control = ControlClient.connect(loc.stateDir());
    if (control.isPresent()) {
      SyncReport report = inMount(control.get(), loc.imageName(), target, full, snapshot, progress);
      return textfile == null
          ? report
          : report.withWarning(
              "the metrics textfile is written by a sync with no mount running only: this "
                  + "mount serves these metrics on its --metrics address");
    }
    if (loc.mountPoint().isPresent()) {
      throw new CbtfsException(
          "the cbtfs mount on "
              + loc.mountPoint().get()
              + " does not answer on its control socket (is its process gone?)");
    }
    if (textfile == null) {
      return SyncHost.offline(
          image.toAbsolutePath().normalize(),
          loc,
          target,
          full,
          progress,
          cursors,
          SyncObserver.NONE);
    }
    SyncReport report;
    try {
      report =
          SyncHost.offline(
              image.toAbsolutePath().normalize(), loc, target, full, progress, cursors, textfile);
    } catch (IOException | RuntimeException e) {
      if (textfile.observed()) { // the failure is the line the operator sees; the file says 0
        try {
          textfile.write();
        } catch (IOException | RuntimeException again) {
          e.addSuppressed(again);
        }
      }
      throw e;
    }
    try {
      textfile.write();
    } catch (IOException | RuntimeException e) { // the data is synced: a warning
      return report.withWarning(
          "the metrics textfile " + textfile.file() + " was not written: " + Errors.describe(e));
    }
    return report;
  }

  /** Asks the mount to sync; Ctrl-C meanwhile cancels the mount's sync ({@link CancelOnExit}). */
  private static SyncReport inMount(
      ControlChannel control,
      String name,
      TargetAddress target,
      boolean full,
      SnapshotOption snapshot,
      SyncProgress progress)
      throws IOException {
    try (CancelOnExit cancel = CancelOnExit.install(control, System.err)) {
      SyncReport report;
      try {
        report =
            ControlClient.call(
                control,
                new ControlRequest.Sync(name, target, full, snapshot),
                new SyncProgress() {
                  @Override
                  public void update(
                      long doneBytes, long totalBytes, long doneBlocks, long totalBlocks)
                      throws IOException {
                    if (!cancel.cancelling()) { // the hook's lines, not a redrawn progress bar
                      progress.update(doneBytes, totalBytes, doneBlocks, totalBlocks);
                    }
                  }

                  @Override
                  public void drained() {
                    progress.drained();
                  }
                });
      } catch (IOException | RuntimeException e) {
        if (cancel.handOver(
            "the mount stopped the sync: "
                + Errors.describe(e)
                + "; the target is as it was and the blocks stay dirty")) {
          throw new CancelOnExit.Reported();
        }
        throw e;
      }
      if (cancel.handOver(
          "the sync had already finished: "
              + report.target()
              + " is at generation "
              + report.generation())) {
        throw new CancelOnExit.Reported();
      }
      return report;
    }
  }
}
