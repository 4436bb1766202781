package io.cbtfs.cli;

import io.cbtfs.fs.mount.Mount;
import io.cbtfs.fs.mount.ProcMounts;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.tracker.CbtfsException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code cbtfs unmount}: stop a mount in order, with its tracking saved. */
@Command(
    name = "unmount",
    aliases = "umount",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Unmount a cbtfs mount, saving its tracking state.",
    description = {
      "Unmount a cbtfs mount and wait until its tracking state is saved. Fails, leaving the mount serving, while an image on it is still open (stop the VM first).",
      "",
      "Exit code 3: unmounted, but the tracking could not be saved clean (a full state disk, say); nothing is lost, the next mount recovers it as after a crash."
    })
final class UnmountCommand implements Callable<Integer> {
  @Parameters(paramLabel = "MOUNTPOINT", description = "Where the mount is.")
  Path mountPoint;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    Path mp = mountPoint.toAbsolutePath().normalize();
    if (MountTable.isReadOnlyMount(mp)) { // a backup's generations: no tracking to save
      Mount.unmount(mp);
      spec.commandLine().getOut().printf("cbtfs: unmounted %s%n", mp);
      return CbtfsCommand.EXIT_OK;
    }
    Optional<Path> stateDir = MountTable.stateDirOf(mp);
    if (stateDir.isEmpty()) {
      throw new CbtfsException("no cbtfs mount on " + mp);
    }
    Optional<ControlChannel> control = ControlClient.connect(stateDir.get());
    if (control.isPresent()) {
      try {
        ControlClient.call(control.get(), new ControlRequest.Unmount(), SyncProgress.NONE);
      } catch (CbtfsException e) {
        if (ProcMounts.isMounted(mp)) {
          throw e; // busy: nothing happened
        }
        // the unmount happened and only saving the tracking failed: the message says so
        spec.commandLine().getErr().println("cbtfs unmount: " + e.getMessage());
        spec.commandLine().getErr().flush();
        return CbtfsCommand.EXIT_UNMOUNTED_UNSAVED;
      }
      spec.commandLine()
          .getOut()
          .printf("cbtfs: unmounted %s; tracking saved in %s%n", mp, stateDir.get());
    } else {
      Mount.unmount(mp);
      spec.commandLine()
          .getOut()
          .printf(
              "cbtfs: unmounted %s; its mount process was gone, so the next mount recovers "
                  + "the tracking from %s%n",
              mp, stateDir.get());
    }
    return CbtfsCommand.EXIT_OK;
  }
}
