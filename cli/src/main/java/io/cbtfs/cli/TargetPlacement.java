package io.cbtfs.cli;

import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.Targets;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where a local target may not be: the image it copies (a sync would overwrite its own source), the
 * tracking state folder (it would overwrite cbtfs's own state), the folder a running mount serves
 * (its files would be served as images, and written past the mount's tracking), or under the mount
 * (its writes would come back through the mount as changes of another image). An existing file that
 * is no replica is refused by the target itself unless the sync is {@code --full}.
 */
final class TargetPlacement {
  private TargetPlacement() {}

  /**
   * @param mountPoint the running mount's folder, or null for a sync with no mount
   * @throws CbtfsException naming the target and why it cannot be there
   */
  static void requireApart(
      Target target, Path backingFile, Path backingDir, Path stateDir, Path mountPoint)
      throws IOException {
    Optional<Path> local = target.localPath();
    if (local.isEmpty()) {
      return;
    }
    Path path = Targets.realFolder(local.get());
    if (Files.exists(path, LinkOption.NOFOLLOW_LINKS)
        && Files.exists(backingFile)
        && Files.isSameFile(path, backingFile)) {
      throw refused(target, "it is the image itself");
    }
    Path folder = path.getParent();
    // by identity, not spelling: a bind mount names the same folder by another path
    if (mountPoint != null && sameFolder(folder, backingDir)) {
      throw refused(
          target, "it lies in the backing folder, whose files the mount serves as images");
    }
    if (sameFolder(path, backingDir)) {
      throw refused(target, "it is the backing folder");
    }
    if (within(path, stateDir)) {
      throw refused(target, "it lies in the tracking state folder " + stateDir);
    }
    if (mountPoint != null && path.startsWith(Targets.realFolder(mountPoint))) {
      throw refused(target, "it lies under the mount " + mountPoint);
    }
  }

  /** Whether {@code a} and {@code b} are one existing folder, by whatever paths. */
  private static boolean sameFolder(Path a, Path b) throws IOException {
    return a != null && Files.isDirectory(a) && Files.isDirectory(b) && Files.isSameFile(a, b);
  }

  /** Whether {@code path} or one of its existing folders is {@code dir}. */
  private static boolean within(Path path, Path dir) throws IOException {
    for (Path p = path; p != null; p = p.getParent()) {
      if (sameFolder(p, dir)) {
        return true;
      }
    }
    return false;
  }

  private static CbtfsException refused(Target target, String why) {
    return new CbtfsException(
        "refusing to sync to " + target.describe() + ": " + why + "; choose another folder");
  }
}
