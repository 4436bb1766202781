package io.cbtfs.cli;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.mount.MountOptions;
import io.cbtfs.fs.overlay.SavedBlocks;
import io.cbtfs.syncer.Printable;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.DirtyTracker;
import io.cbtfs.tracker.FileStateIo;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.StateFiles;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
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
          + "then: its first sync is a full copy). The overlay's block maps are removed once the "
          + "tracking is saved."
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
      throw new CommandLine.ParameterException(
          spec.commandLine(), "OVERLAY must be an overlay's DIR/NAME@N.img, not " + overlay);
    }
    String stem = file.substring(0, file.length() - IMG.length());
    String imageName = name != null ? name : stem.substring(0, at);
    TargetAddress target = s3.address(from);
    Path dir = overlay.toAbsolutePath().getParent();
    Path backingDir = folder.toAbsolutePath().normalize();
    Path states = stateDir.stateDir != null ? stateDir.stateDir : null;
    ImageFiles images = new ImageFiles(backingDir, MountOptions.defaultStateDir(backingDir));
    try {
      images.imageName("/" + imageName);
    } catch (Exception e) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "'" + imageName + "' cannot be an image name in " + backingDir);
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
    try (OverlayDirLock held = OverlayDirLock.take(dir)) {
      Adopted a = adopt(dir, stem, backingDir, states, imageName, target);
      spec.commandLine()
          .getOut()
          .printf(
              "adopted %s as %s: generation %d of %s, with %s written over it (the next sync to"
                  + " it sends only those)%n",
              Printable.escaped(overlay.toString()),
              Printable.escaped(backingDir.resolve(imageName).toString()),
              a.generation,
              Printable.escaped(a.cursor),
              BlockGeometry.formatBytes(a.writtenBytes));
      spec.commandLine().getOut().flush();
    }
    return CbtfsCommand.EXIT_OK;
  }

  private record Adopted(long generation, String cursor, long writtenBytes) {}

  /** The checks, then the move, then the tracking, then the maps go: see the class's help. */
  private static Adopted adopt(
      Path dir, String stem, Path backingDir, Path states, String imageName, TargetAddress target)
      throws IOException {
    Path image = dir.resolve(stem + IMG);
    Path presentFile = dir.resolve(stem + ".present");
    Path writtenFile = dir.resolve(stem + ".written");
    if (!Files.isRegularFile(image, LinkOption.NOFOLLOW_LINKS)
        || !Files.exists(presentFile)
        || !Files.exists(writtenFile)) {
      throw new CbtfsException(
          image
              + " is no overlay (it needs "
              + presentFile
              + " and "
              + writtenFile
              + " beside it)");
    }
    SavedBlocks.Header h = SavedBlocks.header(writtenFile);
    OverlayBase base = OverlayBase.parse(h.base(), writtenFile);
    long size = Files.size(image);
    if (size != h.imageSize()) {
      throw new CbtfsException(
          image + " has " + size + " bytes, its overlay's maps say " + h.imageSize());
    }
    DirtyTracker written = new DirtyTracker(BlockGeometry.defaults());
    try (SavedBlocks present = SavedBlocks.open(presentFile, size, h.blockSize(), h.base());
        SavedBlocks changed = SavedBlocks.open(writtenFile, size, h.blockSize(), h.base())) {
      if (present.count() != present.blockCount()) {
        throw new CbtfsException(
            image
                + " is not hydrated yet ("
                + present.count()
                + " of "
                + present.blockCount()
                + " blocks held): mount it again with --hydrate until it is the whole image");
      }
      for (long b = 0; b < changed.blockCount(); b++) {
        if (changed.contains(b)) {
          long at = b * h.blockSize();
          written.mark(at, Math.min(h.blockSize(), size - at));
        }
      }
    }
    String cursor;
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
      cursor = t.describe();
    }
    Path dest = backingDir.resolve(imageName);
    Path stateDir = states != null ? states : MountOptions.defaultStateDir(backingDir);
    TrackingOptions options = TrackingOptions.defaults(BlockGeometry.defaults());
    try (TrackerStore store = TrackerStore.open(stateDir, options)) {
      if (StateFiles.readState(stateDir, imageName).isPresent()) {
        throw new CbtfsException(
            "'" + imageName + "' is tracked in " + stateDir + " already: choose another --name");
      }
      try {
        Files.createLink(dest, image); // never over a file of that name; same file system only
      } catch (FileAlreadyExistsException e) {
        throw new CbtfsException(dest + " exists already: choose another --name");
      } catch (IOException e) {
        throw new CbtfsException(
            "cannot move "
                + image
                + " into "
                + backingDir
                + " ("
                + Errors.describe(e)
                + "): FOLDER must be on the same file system as the overlay");
      }
      Files.delete(image);
      FileStateIo.INSTANCE.fsyncDirectory(backingDir);
      FileStateIo.INSTANCE.fsyncDirectory(dir);
      Fingerprint now = new ImageFiles(backingDir, stateDir).fingerprint(imageName);
      store.adopt(imageName, base.lineage(), base.generation(), cursor, written.snapshot(), now);
    }
    Files.delete(presentFile);
    Files.delete(writtenFile);
    FileStateIo.INSTANCE.fsyncDirectory(dir);
    return new Adopted(base.generation(), cursor, written.snapshot().byteCount(size));
  }
}
