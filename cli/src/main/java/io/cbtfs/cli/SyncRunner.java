package io.cbtfs.cli;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.SyncSource;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.target.Targets;
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
import java.util.Optional;

/**
 * Runs a sync where it must run: inside the running mount (over its control socket) when there is
 * one, else offline against the saved tracking state, holding the state directory's lock.
 */
final class SyncRunner {
  private SyncRunner() {}

  static SyncReport run(
      Path image, Path stateDirOption, String targetUri, boolean full, SyncProgress progress)
      throws IOException {
    String target = Targets.absolute(targetUri, Path.of("").toAbsolutePath());
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
    return offline(image.toAbsolutePath().normalize(), loc, target, full, progress);
  }

  /** Asks the mount to sync; Ctrl-C meanwhile cancels the mount's sync ({@link CancelOnExit}). */
  private static SyncReport inMount(
      ControlChannel control, String name, String target, boolean full, SyncProgress progress)
      throws IOException {
    try (CancelOnExit cancel = CancelOnExit.install(control, System.err)) {
      Map<String, String> fields;
      try {
        fields =
            ControlClient.call(
                control,
                ControlRequest.sync(name, target, full),
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
      SyncReport report = SyncReport.fromFields(fields);
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

  /** Sync with no mount running: the saved state is loaded (and recovered), then saved again. */
  private static SyncReport offline(
      Path backing, ImageLocator loc, String target, boolean full, SyncProgress progress)
      throws IOException {
    if (!Files.isRegularFile(backing, LinkOption.NOFOLLOW_LINKS)) {
      throw new CbtfsException("no image at " + backing);
    }
    ImageFiles files = new ImageFiles(backing.getParent(), loc.stateDir());
    try (TrackerStore store =
        TrackerStore.open(loc.stateDir(), TrackingOptions.defaults(BlockGeometry.defaults()))) {
      SyncReport report;
      try {
        report = sync(store, files, loc.stateDir(), null, loc.imageName(), target, full, progress);
      } catch (IOException | RuntimeException e) {
        // the drained blocks are merged back: save them clean, so the next run needs no recovery
        try {
          saveClean(store, files, loc.imageName());
        } catch (IOException | RuntimeException again) {
          e.addSuppressed(again);
        }
        throw e;
      }
      try {
        saveClean(store, files, loc.imageName());
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

  /** Sync inside the mount process (the control server's SYNC request). */
  static SyncReport inMount(
      io.cbtfs.fs.mount.Mount mount,
      String name,
      String target,
      boolean full,
      SyncProgress progress)
      throws IOException {
    ImageFiles files = mount.fileSystem().files();
    files.existingImage(name);
    mount.flushKernelCache(name); // --writeback-cache: acknowledged writes reach the tracker first
    return sync(
        mount.fileSystem().trackers(),
        files,
        mount.options().stateDir(),
        mount.options().mountPoint(),
        name,
        target,
        full,
        progress);
  }

  /** The one sync step of both paths: load the image's tracking, sync, record the target. */
  private static SyncReport sync(
      TrackerStore store,
      ImageFiles files,
      Path stateDir,
      Path mountPoint,
      String name,
      String target,
      boolean full,
      SyncProgress progress)
      throws IOException {
    TrackedImage image = store.image(name, () -> files.fingerprint(name));
    SyncReport report;
    try (Target t = Targets.parse(target, Path.of("/"))) {
      TargetPlacement.requireApart(
          t, files.backingFile(name), files.backingDir(), stateDir, mountPoint);
      report =
          new Syncer()
              .sync(
                  new SyncSource(image, files.backingFile(name), store::persist),
                  t,
                  full,
                  progress);
    }
    try {
      SyncHistory.record(stateDir, name, report, image.lineage().toString());
    } catch (IOException | RuntimeException e) { // informational, and the data is synced
      return report.withWarning("the sync history (for status) was not updated: " + e.getMessage());
    }
    return report;
  }
}
