package io.cbtfs.cli;

import io.cbtfs.fs.mount.Mount;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Finds running cbtfs mounts in /proc/mounts. A cbtfs mount has type {@code fuse.cbtfs} and its
 * state directory as the source (fsname), so the control socket is found from the mount point.
 */
final class MountTable {
  private MountTable() {}

  /** The state directory of the cbtfs mount on {@code mountPoint}, if there is one. */
  static Optional<Path> stateDirOf(Path mountPoint) throws IOException {
    String target = mountPoint.toAbsolutePath().normalize().toString();
    for (String line : Files.readAllLines(Path.of("/proc/mounts"), StandardCharsets.UTF_8)) {
      String[] f = line.split(" ");
      if (f.length > 2
          && f[2].equals("fuse.cbtfs")
          && Mount.unescapeMountField(f[1]).equals(target)) {
        String source = Mount.unescapeMountField(f[0]).replace("\\,", ",").replace("\\\\", "\\");
        return Optional.of(Path.of(source));
      }
    }
    return Optional.empty();
  }
}
