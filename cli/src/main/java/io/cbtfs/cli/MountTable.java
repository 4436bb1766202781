package io.cbtfs.cli;

import io.cbtfs.fs.mount.ProcMounts;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Finds running cbtfs mounts in /proc/mounts. A cbtfs mount has type {@code fuse.cbtfs} and its
 * state directory as the source (fsname), so the control socket is found from the mount point.
 */
final class MountTable {
  /** The fsname of a {@code mount --read-only} starts so (a state directory's is absolute). */
  static final String READ_ONLY_PREFIX = "cbtfs-ro:";

  private MountTable() {}

  /** Whether a {@code cbtfs mount --read-only} serves {@code mountPoint}. */
  static boolean isReadOnlyMount(Path mountPoint) throws IOException {
    String target = mountPoint.toAbsolutePath().normalize().toString();
    for (ProcMounts.Entry e : ProcMounts.entries()) {
      if (e.type().equals("fuse.cbtfs")
          && e.mountPoint().equals(target)
          && e.source().startsWith(READ_ONLY_PREFIX)) {
        return true;
      }
    }
    return false;
  }

  /** The state directory of the cbtfs mount on {@code mountPoint}, if there is one. */
  static Optional<Path> stateDirOf(Path mountPoint) throws IOException {
    String target = mountPoint.toAbsolutePath().normalize().toString();
    for (ProcMounts.Entry e : ProcMounts.entries()) {
      if (e.type().equals("fuse.cbtfs")
          && e.mountPoint().equals(target)
          && !e.source().startsWith(READ_ONLY_PREFIX)) {
        // the state directory is the fsname, where FUSE's option syntax escaped ',' and '\'
        return Optional.of(Path.of(e.source().replace("\\,", ",").replace("\\\\", "\\")));
      }
    }
    return Optional.empty();
  }
}
