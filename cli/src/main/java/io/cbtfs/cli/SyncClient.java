package io.cbtfs.cli;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

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
      throw ControlClient.notAnswering(loc.mountPoint().get());
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

  /**
   * A consistency group's sync: every image must be served by one running mount, which drains them
   * at one instant and ships each in turn.
   *
   * @throws IllegalArgumentException (a usage error) if an image is twice in the group, the images
   *     are not in one mount, or no mount runs
   */
  static GroupReport runGroup(
      List<Path> images,
      List<TargetAddress> targets,
      Path stateDirOption,
      boolean full,
      SnapshotOption snapshot,
      SyncProgress progress)
      throws IOException {
    List<ControlRequest.GroupMember> members = new ArrayList<>();
    ImageLocator first = ImageLocator.resolve(images.get(0), stateDirOption);
    for (int i = 0; i < images.size(); i++) {
      ImageLocator loc = ImageLocator.resolve(images.get(i), stateDirOption);
      if (!loc.stateDir().equals(first.stateDir())) {
        throw new IllegalArgumentException(
            images.get(0)
                + " and "
                + images.get(i)
                + " are not in one cbtfs mount: a consistency group is the images of one mount");
      }
      for (ControlRequest.GroupMember m : members) {
        if (m.imageName().equals(loc.imageName())) {
          throw new IllegalArgumentException(images.get(i) + " is twice in the group");
        }
      }
      members.add(new ControlRequest.GroupMember(loc.imageName(), targets.get(i)));
    }
    Optional<ControlChannel> control = ControlClient.connect(first.stateDir());
    if (control.isEmpty()) {
      throw new IllegalArgumentException(
          "no cbtfs mount serves "
              + images.get(0)
              + ": a consistency group syncs in a running mount (its images drain at one instant"
              + " only while it tracks their writes)");
    }
    return inMount(
        control.get(),
        new ControlRequest.GroupSync(members, full, snapshot),
        progress,
        group ->
            group.failure().isEmpty()
                ? "the group sync had already finished: every image synced"
                : "the mount stopped the group sync: "
                    + group.failure()
                    + "; "
                    + group.committed().size()
                    + " of "
                    + members.size()
                    + " images synced, the others' targets are as they were");
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
    return inMount(
        control,
        new ControlRequest.Sync(name, target, full, snapshot),
        progress,
        report ->
            "the sync had already finished: "
                + report.target()
                + " is at generation "
                + report.generation());
  }

  private static <R> R inMount(
      ControlChannel control,
      ControlRequest<R> request,
      SyncProgress progress,
      Function<R, String> finished)
      throws IOException {
    try (CancelOnExit cancel = CancelOnExit.install(control, System.err)) {
      R report;
      try {
        report =
            ControlClient.call(
                control,
                request,
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

                  @Override
                  public void member(int index) {
                    progress.member(index);
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
      if (cancel.handOver(finished.apply(report))) {
        throw new CancelOnExit.Reported();
      }
      return report;
    }
  }
}
