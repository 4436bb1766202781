package io.cbtfs.cli;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.TrackerState;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.BooleanSupplier;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
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
          + "holdsHistory}], lagBlocks and lagBytes -1 when unknown.",
      "",
      "--map draws where the dirty blocks are: the image as rows of cells, each a range of "
          + "whole blocks (the last maybe fewer), shaded by the fraction of its blocks dirty; a "
          + "cell with any dirty block is never blank. Unicode shades on a UTF-8 terminal, ASCII "
          + "otherwise. With --json: cells, blocksPerCell, bytesPerCell, dirtyBlocks, dirtyBytes "
          + "and cellDirtyBlocks (one count per cell)."
    })
final class StatusCommand implements Callable<Integer> {
  @Parameters(
      paramLabel = "IMAGE",
      description = "The image, under the mount or in the backing folder.")
  Path image;

  @CommandLine.Mixin JsonOption json;

  @CommandLine.Mixin StateDirOption stateDir;

  @CommandLine.Mixin CursorAgeOption cursorAge;

  @Option(
      names = "--map",
      description = "Draw a heat map of where the dirty blocks are (see below).")
  boolean map;

  @Option(
      names = "--target",
      paramLabel = "TARGET",
      description =
          "With --map: what this target lacks, named as for 'cbtfs sync' (default: the target "
              + "furthest behind).")
  String target;

  @Option(
      names = "--width",
      paramLabel = "N",
      description = "With --map: cells per row, 1 to 256 (default: 64; up to 16 rows).")
  Integer width;

  @Option(names = "--ascii", description = "With --map: plain ASCII shades, even on a terminal.")
  boolean ascii;

  @CommandLine.Mixin S3Options s3;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  /** Whether stdout is a terminal (a test hook): Unicode shades only there. */
  BooleanSupplier stdoutIsTerminal = () -> System.console() != null;

  /** The environment the locale is read from (a test hook). */
  Map<String, String> env = System.getenv();

  /** The most rows a map has: with 64 columns, a map fits a terminal of 24 lines. */
  static final int MAP_ROWS = 16;

  @Override
  public Integer call() throws Exception {
    if (map) {
      return drawMap();
    }
    if (target != null || ascii || width != null) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "--target, --width and --ascii go with --map");
    }
    ImageStatus status = query(image, stateDir.stateDir, cursorAge.policy(spec.commandLine()));
    spec.commandLine()
        .getOut()
        .print(json.on ? status.toJson() + System.lineSeparator() : status.toText());
    spec.commandLine().getOut().flush();
    return CbtfsCommand.EXIT_OK;
  }

  private int drawMap() throws IOException {
    int columns = width == null ? 64 : width;
    if (columns < 1 || columns > DirtyCells.MAX_CELLS / MAP_ROWS) {
      throw new CommandLine.ParameterException(
          spec.commandLine(),
          "--width must be 1 to " + DirtyCells.MAX_CELLS / MAP_ROWS + ", not " + columns);
    }
    String cursor = target == null ? "" : s3.address(target).cursorName();
    DirtyCells cells = StatusMap.query(image, stateDir.stateDir, cursor, columns * MAP_ROWS);
    PrintWriter out = spec.commandLine().getOut();
    if (json.on) {
      out.println(cells.toJson(image.toString()));
    } else {
      HeatMap.Shades shades = HeatMap.Shades.choose(stdoutIsTerminal.getAsBoolean(), env, ascii);
      new HeatMap(shades, columns).lines(image.toString(), cells).forEach(out::println);
    }
    out.flush();
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
    SavedImage saved = SavedImage.read(image, loc);
    TrackerState state = saved.state();
    DirtySet dirty = saved.dirty();
    return new ImageStatus(
        image.toString(),
        saved.size(),
        state.geometry().blockSize(),
        dirty.blockCount(),
        dirty.byteCount(saved.size()),
        state.committedGeneration(),
        state.lineage().toString(),
        "offline",
        state.clean(),
        state.clean() ? "" : "unclean stop: counted with the activity log's hot extents",
        saved.recovered().verifyNextSync(),
        TargetStatus.saved(saved.recovered(), saved.size(), cursors),
        "");
  }
}
