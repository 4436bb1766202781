package io.cbtfs.cli;

import io.cbtfs.syncer.Printable;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code cbtfs forget}: drop the cursor of one target of an image. */
@Command(
    name = "forget",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Drop the cursor of a target an image no longer syncs to.",
    description = {
      "Every target an image syncs to has a cursor: the generation it holds, named by the "
          + "target's URI. The tracker keeps the changes each cursor still lacks, so a target "
          + "that is never synced again keeps that history (until its cursor is older than the "
          + "cursor age). Forgetting the cursor lets that history go; the target itself is not "
          + "touched, and 'cbtfs status' no longer lists it.",
      "",
      "If the target is synced again later, that sync stays incremental while the generation "
          + "it holds is still in the history (another target's cursor kept it); otherwise it "
          + "compares every block with the target and sends what differs.",
      "",
      "TARGET is named as for 'cbtfs sync' (a relative path, the --s3-* options and the "
          + "environment count the same way); nothing is connected to. IMAGE is the path under "
          + "a cbtfs mount (the mount forgets it) or the backing file (with no mount running)."
    })
final class ForgetCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "IMAGE", description = "The image.")
  Path image;

  @Parameters(
      index = "1",
      paramLabel = "TARGET",
      description = "file:PATH, archive:DIR, cbtfs://HOST:PORT/NAME or s3://BUCKET/[STORE/]IMAGE.")
  String target;

  @CommandLine.Mixin StateDirOption stateDir;

  @CommandLine.Mixin S3Options s3;

  @CommandLine.Mixin CursorAgeOption cursorAge;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    TrackingOptions.Cursors cursors = cursorAge.policy(spec.commandLine());
    String cursor =
        target.startsWith(PullBackups.CURSOR_PREFIX) // a pull backup's cursor: named as it is
            ? target
            : target.startsWith("cbtfs://") // a retired receiver: no pin or token needed to name it
                ? io.cbtfs.syncer.remote.RemoteTarget.cursorName(target)
                : s3.address(target).cursorName();
    String warning = forget(image, stateDir.stateDir, cursor, cursors);
    spec.commandLine()
        .getOut()
        .println(
            "forgot " + Printable.escaped(cursor) + " for " + Printable.escaped(image.toString()));
    spec.commandLine().getOut().flush();
    if (!warning.isEmpty()) {
      spec.commandLine().getErr().println("cbtfs: warning: forgot it, but " + warning);
      spec.commandLine().getErr().flush();
    }
    return CbtfsCommand.EXIT_OK;
  }

  /**
   * Drops the cursor {@code cursor} of {@code image}: through its running mount, else on the saved
   * state.
   *
   * @return a warning, empty if none: the cursor is gone either way
   * @throws CbtfsException if the image has no such cursor (naming those it has)
   */
  static String forget(
      Path image, Path stateDirOption, String cursor, TrackingOptions.Cursors cursors)
      throws IOException {
    ImageLocator loc = ImageLocator.resolve(image, stateDirOption);
    Optional<ControlChannel> control = ControlClient.connect(loc.stateDir());
    if (control.isPresent()) {
      ControlClient.call(
          control.get(), new ControlRequest.Forget(loc.imageName(), cursor), SyncProgress.NONE);
      return "";
    }
    if (loc.mountPoint().isPresent()) {
      throw ControlClient.notAnswering(loc.mountPoint().get());
    }
    return SyncHost.forgetOffline(image.toAbsolutePath().normalize(), loc, cursor, cursors);
  }
}
