package io.cbtfs.nativetests;

import io.cbtfs.fs.mount.FuseTransport;
import io.cbtfs.fs.mount.Mount;
import io.cbtfs.fs.mount.MountOptions;
import io.cbtfs.fs.mount.ProcMounts;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.SyncSource;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.Target;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A real cbtfs mount of a temporary backing folder, made by the same {@link Mount} the CLI uses.
 * {@link #close} always leaves no mount behind: an orderly unmount, else a lazy one.
 */
final class MountedFolder implements AutoCloseable {
  final Path root;
  final Path backing;
  final Path mountPoint;
  final BlockGeometry geometry;
  private Mount mount;

  private MountedFolder(Path root, BlockGeometry geometry) throws IOException {
    this.root = root;
    this.backing = Files.createDirectories(root.resolve("backing"));
    this.mountPoint = Files.createDirectories(root.resolve("mnt"));
    this.geometry = geometry;
  }

  /** A backing folder, not yet mounted: put images in {@link #backing}, then {@link #mount}. */
  static MountedFolder prepare(Path root, BlockGeometry geometry) throws IOException {
    Fuse.require();
    return new MountedFolder(root, geometry);
  }

  MountedFolder mount() throws IOException {
    return mount(true);
  }

  /** Mounts with FUSE direct I/O (the default) or with the kernel's page cache on the mount. */
  MountedFolder mount(boolean directIo) throws IOException {
    MountOptions d = MountOptions.withDefaults(backing, mountPoint, geometry);
    mount =
        Mount.start(
            new MountOptions(
                d.backingDir(),
                d.mountPoint(),
                d.stateDir(),
                d.tracking(),
                false,
                directIo,
                transport(),
                false));
    return this;
  }

  /** The transport this run of the suite tests (failsafe runs it once per transport). */
  static FuseTransport transport() {
    return FuseTransport.parse(System.getProperty("cbtfs.it.transport"));
  }

  Mount mountHandle() {
    return mount;
  }

  Path image(String name) {
    return mountPoint.resolve(name);
  }

  Path backingFile(String name) {
    return backing.resolve(name);
  }

  /** The dirty set of an image as the running mount's tracker has it. */
  DirtySet dirty(String name) {
    TrackedImage image =
        mount
            .fileSystem()
            .trackers()
            .loaded(name)
            .orElseThrow(() -> new AssertionError("image " + name + " is not tracked"));
    return image.dirtyBlocks();
  }

  /** Syncs an image of the running mount to {@code target}, as the mount's SYNC request does. */
  SyncReport sync(String name, Target target) throws IOException {
    TrackerStore store = mount.fileSystem().trackers();
    TrackedImage image = store.image(name, mount.fileSystem().files().fingerprint(name));
    return new Syncer()
        .sync(new SyncSource(image, backingFile(name)), target, false, SyncProgress.NONE);
  }

  /** Unmounts in order (unmount, join, persist). */
  void unmount() throws IOException {
    if (mount != null) {
      Mount m = mount;
      mount = null;
      m.close();
    }
  }

  @Override
  public void close() throws IOException {
    try {
      unmount();
    } finally {
      if (ProcMounts.isMounted(mountPoint)) {
        Tools.exec(List.of("fusermount", "-u", "-z", mountPoint.toString()), 30);
      }
    }
  }
}
