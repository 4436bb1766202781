package io.cbtfs.cli;

import io.cbtfs.syncer.FleeceLimit;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cbtfs backup}: a point-in-time NBD export for backup software that pulls. */
@Command(
    name = "backup",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Open or end a pull backup: a frozen NBD export of an image with its dirty bitmap.",
    description = {
      "'backup begin IMAGE --name NAME' takes a point-in-time drain of IMAGE (under a mount "
          + "running with --nbd) and exports the image as it is at that instant, read-only, as "
          + "IMAGE@NAME on the mount's NBD addresses; it prints the export's URI. Its "
          + "qemu:dirty-bitmap:cbtfs (also qemu:dirty-bitmap:NAME) lists the blocks changed since "
          + "the cursor nbd:NAME's generation (every block for a new cursor). The guest's writes "
          + "go on: the old bytes of each block written meanwhile go to a fleece in the state "
          + "directory.",
      "",
      "'backup end IMAGE --name NAME' withdraws the export and moves the cursor to the drain's "
          + "generation (the consumer holds it); with --abort the cursor stays and the next "
          + "backup lists those blocks again. If the fleece filled or failed, the export's reads "
          + "failed and 'end' fails, committing nothing. See docs/OPERATIONS.md, 'Pull backups "
          + "over NBD'."
    },
    subcommands = {BackupCommand.Begin.class, BackupCommand.End.class})
final class BackupCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "name what to do: begin or end");
  }

  /** The options both subcommands take. */
  static final class Common {
    @Parameters(index = "0", paramLabel = "IMAGE", description = "The image, under its mount.")
    Path image;

    @Option(
        names = {"--name", "--cursor"},
        paramLabel = "NAME",
        required = true,
        description =
            "The backup's name: its export is IMAGE@NAME, its cursor nbd:NAME (1 to 64 letters, "
                + "digits, '.', '_', '-').")
    String name;

    @CommandLine.Mixin StateDirOption stateDir;

    @CommandLine.Mixin JsonOption json;

    /** The backup's name, checked: a bad one is a usage error. */
    String name(CommandLine.Model.CommandSpec spec) {
      try {
        return PullBackups.requireName(name);
      } catch (CbtfsException e) {
        throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
      }
    }
  }

  @Command(
      name = "begin",
      mixinStandardHelpOptions = true,
      versionProvider = CbtfsCommand.Version.class,
      header = "Export IMAGE as it is now, read-only, as IMAGE@NAME over the mount's NBD.",
      description =
          "Prints the export's URI on each NBD address of the mount (the first line is the one to"
              + " use); a summary goes to standard error.")
  static final class Begin implements Callable<Integer> {
    @CommandLine.Mixin Common common;

    @Option(
        names = "--fleece-limit",
        paramLabel = "SIZE|PCT",
        description =
            "How much the fleece may hold: a size (512M, 2G) or a percentage of the image "
                + "(default 25%%, at least 64M). When it is full the export's reads fail and "
                + "'end' commits nothing; the guest's writes go on.")
    String fleeceLimit;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    private FleeceLimit limit() {
      try {
        return fleeceLimit == null ? FleeceLimit.DEFAULT : FleeceLimit.parse(fleeceLimit);
      } catch (CbtfsException e) {
        throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
      }
    }

    @Override
    public Integer call() throws IOException {
      String name = common.name(spec);
      FleeceLimit limit = limit();
      BackupReport r =
          ask(common, loc -> new ControlRequest.BackupBegin(loc.imageName(), name, limit));
      PrintWriter out = spec.commandLine().getOut();
      if (common.json.on) {
        out.println(r.json());
      } else {
        r.uris().forEach(out::println);
        PrintWriter err = spec.commandLine().getErr();
        err.println(
            "cbtfs: backup "
                + r.export()
                + " open at generation "
                + r.generation()
                + ": "
                + r.dirtyBlocks()
                + " dirty blocks ("
                + BlockGeometry.formatBytes(r.dirtyBytes())
                + "), "
                + r.why()
                + "; end it with: cbtfs backup end "
                + common.image
                + " --name "
                + name);
        err.flush();
      }
      out.flush();
      return CbtfsCommand.EXIT_OK;
    }
  }

  @Command(
      name = "end",
      mixinStandardHelpOptions = true,
      versionProvider = CbtfsCommand.Version.class,
      header = "Withdraw the export IMAGE@NAME and commit the cursor nbd:NAME (or --abort).")
  static final class End implements Callable<Integer> {
    @CommandLine.Mixin Common common;

    @Option(
        names = "--abort",
        description = "The consumer did not finish: the cursor stays where it was.")
    boolean abort;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
      String name = common.name(spec);
      BackupReport r =
          ask(common, loc -> new ControlRequest.BackupEnd(loc.imageName(), name, abort));
      PrintWriter out = spec.commandLine().getOut();
      out.println(
          common.json.on
              ? r.json()
              : r.state().equals(BackupReport.COMMITTED)
                  ? "committed " + r.cursor() + " at generation " + r.generation()
                  : "aborted " + r.export() + ": " + r.cursor() + " stays where it was");
      out.flush();
      return CbtfsCommand.EXIT_OK;
    }
  }

  private interface RequestFor {
    ControlRequest<BackupReport> of(ImageLocator loc);
  }

  /** Sends the request to the mount serving the image: a backup needs one. */
  private static BackupReport ask(Common common, RequestFor request) throws IOException {
    ImageLocator loc = ImageLocator.resolve(common.image, common.stateDir.stateDir);
    Optional<ControlChannel> control = ControlClient.connect(loc.stateDir());
    if (control.isEmpty()) {
      throw loc.mountPoint().isPresent()
          ? ControlClient.notAnswering(loc.mountPoint().get())
          : new CbtfsException(
              "no cbtfs mount serves "
                  + common.image
                  + ": a pull backup needs a running mount with --nbd");
    }
    return ControlClient.call(control.get(), request.of(loc), SyncProgress.NONE);
  }
}
