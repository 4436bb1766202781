package io.cbtfs.cli;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.mount.MountOptions;
import io.cbtfs.syncer.Printable;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.StateFiles;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cbtfs adopt}: a hydrated overlay becomes a tracked image, incremental to its backup. */
@Command(
    name = "adopt",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header =
        "Make a hydrated overlay a tracked image whose next sync to its backup is incremental.",
    description = {
      "The last step of a restore in place (docs/OPERATIONS.md, \"Booting from a backup\"): "
          + "after a VM booted from a generation mounted with --overlay DIR and --hydrate, and "
          + "the mount printed that DIR/NAME@N.img is the whole image, stop the VM, unmount, and "
          + "run 'cbtfs adopt DIR/NAME@N.img FOLDER --from TARGET'.",
      "",
      "It moves the file into FOLDER (the backing folder of a tracking mount, not mounted now; "
          + "the same file system as DIR) as NAME, and starts its tracking there: generation N "
          + "of TARGET with the blocks the VM wrote over it as changed. The first sync of the "
          + "mounted image to TARGET then sends only those blocks, as generation N's successor; "
          + "any other target gets a full copy, as for any new image.",
      "",
      "TARGET is the archive, S3 store or receiver the generation was mounted from. It is "
          + "read (not written): it must hold the overlay's image lineage with N as its newest "
          + "generation, else the command refuses and changes nothing (move the file yourself "
          + "then: its first sync is a full copy).",
      "",
      "The written blocks are trusted only if the unmount sealed the overlay's maps and the "
          + "file is as it left it: else (a map damaged, a mount killed, the file written "
          + "outside the mount) adopt says why in one line and the first sync to TARGET "
          + "compares every block. Nothing is made in FOLDER before every check passed; the "
          + "file is linked in, its tracking saved, and only then are the overlay's names "
          + "removed (a failure before undoes the link and the state)."
    })
final class AdoptCommand implements Callable<Integer> {
  private static final String IMG = ".img";

  @Parameters(
      index = "0",
      paramLabel = "OVERLAY",
      description = "The overlay's image file, DIR/NAME@N.img, hydrated whole.")
  Path overlay;

  @Parameters(
      index = "1",
      paramLabel = "FOLDER",
      description = "The backing folder of a tracking mount to move it into.")
  Path folder;

  @Option(
      names = "--from",
      required = true,
      paramLabel = "TARGET",
      description = "archive:DIR, s3://BUCKET/[STORE/]IMAGE or cbtfs://… holding generation N.")
  String from;

  @Option(
      names = "--name",
      paramLabel = "NAME",
      description = "The image's name in FOLDER (default: NAME of NAME@N.img).")
  String name;

  @CommandLine.Mixin StateDirOption stateDir;

  @CommandLine.Mixin S3Options s3;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    String file = overlay.getFileName() == null ? "" : overlay.getFileName().toString();
    int at = file.lastIndexOf('@');
    if (!file.endsWith(IMG) || at <= 0) {
      throw new IllegalArgumentException(
          "OVERLAY must be an overlay's DIR/NAME@N.img, not " + overlay + " (see --help)");
    }
    String stem = file.substring(0, file.length() - IMG.length());
    String imageName = name != null ? name : stem.substring(0, at);
    TargetAddress target = s3.address(from);
    Path backingDir = folder.toAbsolutePath().normalize();
    Path states =
        stateDir.stateDir != null ? stateDir.stateDir : MountOptions.defaultStateDir(backingDir);
    ImageFiles images = new ImageFiles(backingDir, states);
    try {
      images.imageName("/" + imageName);
    } catch (Exception e) {
      throw new IllegalArgumentException(
          "'" + imageName + "' cannot be an image name in " + backingDir + " (see --help)");
    }
    if (!Files.isDirectory(backingDir)) {
      throw new CbtfsException("FOLDER " + backingDir + " is not a folder");
    }
    if (MountTable.stateDirOf(backingDir).isPresent() || MountTable.isReadOnlyMount(backingDir)) {
      throw new CbtfsException(
          backingDir
              + " is a cbtfs mount point: give the backing folder of the tracking mount, with"
              + " the mount stopped");
    }
    Path dir = overlay.toAbsolutePath().getParent();
    if (!Files.exists(overlay, LinkOption.NOFOLLOW_LINKS)) { // an adopt run twice, most often
      Path dest = backingDir.resolve(imageName);
      throw new CbtfsException(
          overlay
              + " does not exist"
              + (Files.exists(dest, LinkOption.NOFOLLOW_LINKS)
                  ? "; " + dest + " does: was it adopted already?"
                  : ""));
    }
    if (!Files.isDirectory(dir)) {
      throw new CbtfsException(overlay + " is no overlay (" + dir + " is not a folder)");
    }
    PrintWriter out = spec.commandLine().getOut();
    try (OverlayDirLock held = OverlayDirLock.takeUnmounted(dir)) {
      AdoptableOverlay o = AdoptableOverlay.read(held.dir(), stem, BlockGeometry.defaults());
      Path dest = backingDir.resolve(imageName);
      refuseOtherNames(o.image(), dest, states, imageName);
      refuseAnotherFileSystem(o.image(), backingDir);
      if (Files.exists(dest, LinkOption.NOFOLLOW_LINKS)) {
        throw new CbtfsException(dest + " exists already: choose another --name");
      }
      String cursor = checkTarget(target, o.base());
      new Adoption(o, images, states, imageName, cursor, out).run();
      if (o.distrust() != null) {
        out.printf(
            "%s: the first sync to %s compares every block%n",
            Printable.escaped(o.distrust()), Printable.escaped(cursor));
      }
      out.printf(
          "adopted %s as %s: generation %d of %s, with %s written over it (the next sync to"
              + " it sends %s)%n",
          Printable.escaped(overlay.toString()),
          Printable.escaped(dest.toString()),
          o.base().generation(),
          Printable.escaped(cursor),
          BlockGeometry.formatBytes(o.written().byteCount(o.byteSize())),
          o.distrust() == null ? "only those" : "what differs, compared block by block");
      out.flush();
    }
    return CbtfsCommand.EXIT_OK;
  }

  /**
   * A crash of an earlier adopt between its link and its unlink leaves the file with two names:
   * adopting it again would leave one of them behind, writable past the tracking.
   */
  private static void refuseOtherNames(Path image, Path dest, Path states, String imageName)
      throws IOException {
    int links = (Integer) Files.getAttribute(image, "unix:nlink", LinkOption.NOFOLLOW_LINKS);
    if (links <= 1) {
      return;
    }
    if (Files.exists(dest, LinkOption.NOFOLLOW_LINKS) && Files.isSameFile(image, dest)) {
      throw new CbtfsException(
          StateFiles.readState(states, imageName).isPresent()
              ? image
                  + " is adopted as "
                  + dest
                  + " already (an adopt stopped before it removed the overlay): remove "
                  + image
                  + " and its .present and .written maps"
              : image
                  + " is also "
                  + dest
                  + " (an adopt stopped part way): remove "
                  + dest
                  + ", then adopt again");
    }
    throw new CbtfsException(
        image
            + " has "
            + links
            + " names: remove the others (find -samefile "
            + image
            + "), then adopt again");
  }

  /** Checked before anything is made in FOLDER: a link across file systems fails. */
  private static void refuseAnotherFileSystem(Path image, Path backingDir) throws IOException {
    Object imageDevice = Files.getAttribute(image, "unix:dev", LinkOption.NOFOLLOW_LINKS);
    if (!imageDevice.equals(Files.getAttribute(backingDir, "unix:dev"))) {
      throw new CbtfsException(
          "cannot move "
              + image
              + " into "
              + backingDir
              + ": FOLDER must be on the same file system as the overlay");
    }
  }

  /** The target's description, once it holds the overlay's generation as its newest. */
  private static String checkTarget(TargetAddress target, OverlayBase base) throws IOException {
    try (Target t = target.open()) {
      TargetState st = t.state();
      if (!st.exists()
          || !base.lineage().equals(st.lineage())
          || st.generation() != base.generation()) {
        throw new CbtfsException(
            t.describe()
                + (st.exists()
                    ? " holds generation " + st.generation() + " of image lineage " + st.lineage()
                    : " holds nothing")
                + ", the overlay lies over generation "
                + base.generation()
                + " of "
                + base.lineage()
                + ": adopt it from the target it was mounted from while that generation is its"
                + " newest, or move the file yourself (its first sync is then a full copy)");
      }
      return t.describe();
    }
  }
}
