package io.cbtfs.cli;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.StateFiles;
import io.cbtfs.tracker.StateRecovery;
import io.cbtfs.tracker.TrackerState;
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
    header = "Show what changed in an image since its last sync.",
    description = {
      "Show an image's size, block size, dirty blocks and bytes, and last committed generation. IMAGE is the path under a cbtfs mount or the backing file. A running mount answers itself; otherwise the saved state is read. --json prints imageSize, blockSize, dirtyBlocks, dirtyBytes, generation and more."
    })
final class StatusCommand implements Callable<Integer> {
  @Parameters(
      paramLabel = "IMAGE",
      description = "The image, under the mount or in the backing folder.")
  Path image;

  @CommandLine.Mixin JsonOption json;

  @CommandLine.Mixin StateDirOption stateDir;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    ImageStatus status = query(image, stateDir.stateDir);
    spec.commandLine()
        .getOut()
        .print(json.on ? status.toJson() + System.lineSeparator() : status.toText());
    spec.commandLine().getOut().flush();
    return CbtfsCommand.EXIT_OK;
  }

  /** The status of an image from its running mount or, with none, from its saved state. */
  static ImageStatus query(Path image, Path stateDirOption) throws IOException {
    ImageLocator loc = ImageLocator.resolve(image, stateDirOption);
    Optional<ControlChannel> control = ControlClient.connect(loc.stateDir());
    if (control.isPresent()) {
      return ControlClient.call(
              control.get(), new ControlRequest.Status(loc.imageName()), SyncProgress.NONE)
          .as(image.toString(), SyncHistory.read(loc.stateDir(), loc.imageName()));
    }
    return offline(image, loc);
  }

  private static ImageStatus offline(Path image, ImageLocator loc) throws IOException {
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
    DirtySet dirty = recovered.dirty().within(size);
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
        SyncHistory.read(loc.stateDir(), loc.imageName()),
        "");
  }
}
