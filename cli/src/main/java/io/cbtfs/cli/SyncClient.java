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
   */
  static SyncReport run(
      Path image,
      Path stateDirOption,
      TargetAddress target,
      boolean full,
      TrackingOptions.Cursors cursors,
      SyncProgress progress)
      throws IOException {
    ImageLocator loc = ImageLocator.resolve(image, stateDirOption);
    Optional<ControlChannel> control = ControlClient.connect(loc.stateDir());
    if (control.isPresent()) {
      return inMount(control.get(), loc.imageName(), target, full, progress);
    }
    if (loc.mountPoint().isPresent()) {
      throw new CbtfsException(
          "the cbtfs mount on "
              + loc.mountPoint().get()
              + " does not answer on its control socket (is its process gone?)");
    }
    return SyncHost.offline(
        image.toAbsolutePath().normalize(), loc, target, full, progress, cursors);
  }

  /** Asks the mount to sync; Ctrl-C meanwhile cancels the mount's sync ({@link CancelOnExit}). */
  private static SyncReport inMount(
      ControlChannel control,
      String name,
      TargetAddress target,
      boolean full,
      SyncProgress progress)
      throws IOException {
    try (CancelOnExit cancel = CancelOnExit.install(control, System.err)) {
      SyncReport report;
      try {
        report =
            ControlClient.call(
                control,
                new ControlRequest.Sync(name, target, full),
                (doneBytes, totalBytes, doneBlocks, totalBlocks) -> {
                  if (!cancel.cancelling()) { // the hook's lines, not a redrawn progress bar
                    progress.update(doneBytes, totalBytes, doneBlocks, totalBlocks);
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
