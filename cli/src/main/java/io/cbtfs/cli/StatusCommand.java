package io.cbtfs.cli;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.ChangeHistory;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.StateFiles;
import io.cbtfs.tracker.StateRecovery;
import io.cbtfs.tracker.TrackerState;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code cbtfs status}: what changed in an image since its last sync. */
@Command(
    name = "status",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Show what changed in an image, and where each of its targets stands.",
    description = {
      "Show an image's size, block size, dirty blocks and bytes, last committed generation, and "
          + "every target it syncs to (its cursor). IMAGE is the path under a cbtfs mount or the "
          + "backing file. A running mount answers itself; otherwise the saved state is read.",
      "",
      "The dirty blocks are what the target furthest behind lacks: the blocks written since the "
          + "last sync to any target, and those of every generation a target still lacks. Each "
          + "target shows its generation, when it last synced (ISO-8601, UTC) and how long ago, "
          + "what it lacks (unknown when its next sync compares every block), and whether it is "
          + "stale: unused for longer than the cursor age (the mount's --cursor-max-age), it "
          + "holds no history.",
      "",
      "--json prints imageSize, blockSize, dirtyBlocks, dirtyBytes, generation, ... and targets: "
          + "[{target, generation, syncedAt, lagBlocks, lagBytes, secondsSinceSync, "
          + "holdsHistory}], lagBlocks and lagBytes -1 when unknown."
    })
final class StatusCommand implements Callable<Integer> {
  @Parameters(
      paramLabel = "IMAGE",
      description = "The image, under the mount or in the backing folder.")
  Path image;

  @CommandLine.Mixin JsonOption json;

  @CommandLine.Mixin StateDirOption stateDir;

  @CommandLine.Mixin CursorAgeOption cursorAge;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    ImageStatus status = query(image, stateDir.stateDir, cursorAge.policy(spec.commandLine()));
    spec.commandLine()
        .getOut()
        .print(json.on ? status.toJson() + System.lineSeparator() : status.toText());
    spec.commandLine().getOut().flush();
    return CbtfsCommand.EXIT_OK;
  }

  /** The status of an image from its running mount or, with none, from its saved state. */
  static ImageStatus query(Path image, Path stateDirOption) throws IOException {
    return query(image, stateDirOption, TrackingOptions.Cursors.DEFAULT);
  }

  /**
   * {@link #query(Path, Path)}; {@code cursors} says which targets are stale when nothing is
   * mounted (a running mount answers with its own).
   */
  static ImageStatus query(Path image, Path stateDirOption, TrackingOptions.Cursors cursors)
      throws IOException {
    ImageLocator loc = ImageLocator.resolve(image, stateDirOption);
    Optional<ControlChannel> control = ControlClient.connect(loc.stateDir());
    if (control.isPresent()) {
      return ControlClient.call(
              control.get(), new ControlRequest.Status(loc.imageName()), SyncProgress.NONE)
          .as(image.toString());
    }
    return offline(image, loc, cursors);
  }

  private static ImageStatus offline(Path image, ImageLocator loc, TrackingOptions.Cursors cursors)
      throws IOException {
    TrackerState state =
        StateFiles.readState(loc.stateDir(), loc.imageName())
            .orElseThrow(
                () ->
                    new CbtfsException(
                        image
                            + " is not tracked: no state for '"
                            + loc.imageName()
                            + "' in "
                            + loc.stateDir()
                            + " (serve its folder with 'cbtfs mount' first)"));
    Path backing = image.toAbsolutePath();
    long size =
        loc.mountPoint().isEmpty() && Files.isRegularFile(backing)
            ? Files.size(backing)
            : state.imageSize();
    StateRecovery.Recovered recovered =
        StateRecovery.recover(loc.stateDir(), loc.imageName(), state);
    // what the target furthest behind lacks: the live set and every generation the history keeps
    DirtySet dirty =
        recovered
            .dirty()
            .union(
                DirtySet.of(
                    state.geometry(),
                    new ChangeHistory(state.geometry(), recovered.history()).all()))
            .within(size);
    return new ImageStatus(
        image.toString(),
        size,
        state.geometry().blockSize(),
        dirty.blockCount(),
        dirty.byteCount(size),
        state.committedGeneration(),
        state.lineage().toString(),
        "offline",
        state.clean(),
        state.clean() ? "" : "unclean stop: counted with the activity log's hot extents",
        recovered.verifyNextSync(),
        TargetStatus.saved(recovered, size, cursors),
        "");
  }
}
