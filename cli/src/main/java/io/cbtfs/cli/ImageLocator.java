package io.cbtfs.cli;

import io.cbtfs.fs.mount.MountOptions;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Resolves the IMAGE argument of a command: a path under a running cbtfs mount, or a backing file
 * (whose state directory is {@code --state-dir} or the default beside it).
 *
 * @param stateDir where the image's tracking lives
 * @param imageName the image's file name, its key in the state directory
 * @param mountPoint the mount it was named through, if any
 */
record ImageLocator(Path stateDir, String imageName, Optional<Path> mountPoint) {

  static ImageLocator resolve(Path image, Path stateDirOption) throws IOException {
    Path abs = image.toAbsolutePath().normalize();
    Path parent = abs.getParent();
    if (parent == null || abs.getFileName() == null) {
      throw new CbtfsException("not an image path: " + image);
    }
    String name = abs.getFileName().toString();
    Optional<Path> mounted = MountTable.stateDirOf(parent);
    if (mounted.isPresent()) {
      return new ImageLocator(mounted.get(), name, Optional.of(parent));
    }
    Path stateDir = stateDirOption != null ? stateDirOption : MountOptions.defaultStateDir(parent);
    return new ImageLocator(stateDir.toAbsolutePath().normalize(), name, Optional.empty());
  }
}
