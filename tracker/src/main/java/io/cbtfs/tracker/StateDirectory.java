package io.cbtfs.tracker;

import com.sun.security.auth.module.UnixSystem;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * The rules a state directory must meet. A mount often runs as root and writes state files, a lock
 * and its control socket there: in a folder another user can write (a shared 1777 one, say), that
 * user could plant a symbolic link for root to write through. So a missing folder is created with
 * mode 0700 (the folder alone: its parent must exist), and an existing one is used as it is, only
 * if it belongs to this user and no one else can write it. cbtfs never changes the mode of a folder
 * it did not create.
 */
public final class StateDirectory {
  private static final Set<PosixFilePermission> WRITABLE_BY_OTHERS =
      Set.of(PosixFilePermission.GROUP_WRITE, PosixFilePermission.OTHERS_WRITE);

  private StateDirectory() {}

  /**
   * Checks {@code dir} without creating anything: it is a safe existing folder, or missing in a
   * folder that exists.
   *
   * @throws CbtfsException saying which rule it breaks
   */
  public static void check(Path dir) throws IOException {
    PosixFileAttributes attributes;
    try {
      attributes = Files.readAttributes(dir, PosixFileAttributes.class);
    } catch (NoSuchFileException e) {
      Path parent = dir.toAbsolutePath().getParent();
      if (parent == null || !Files.isDirectory(parent)) {
        throw new CbtfsException(
            "state directory "
                + dir
                + " cannot be made: the folder "
                + parent
                + " does not exist (cbtfs creates the state directory, not its parents)");
      }
      return;
    }
    if (!attributes.isDirectory()) {
      throw new CbtfsException("state directory " + dir + " is not a directory");
    }
    long owner = ((Number) Files.getAttribute(dir, "unix:uid")).longValue();
    long me = new UnixSystem().getUid();
    if (owner != me) {
      throw new CbtfsException(
          "state directory "
              + dir
              + " belongs to another user (uid "
              + owner
              + ", this is uid "
              + me
              + "): give cbtfs a folder of its own user");
    }
    Set<PosixFilePermission> mode = attributes.permissions();
    if (mode.stream().anyMatch(WRITABLE_BY_OTHERS::contains)) {
      throw new CbtfsException(
          "state directory "
              + dir
              + " is writable by other users ("
              + PosixFilePermissions.toString(mode)
              + "): give cbtfs a folder only its user can write, or a new one (it creates it 0700)");
    }
  }

  /**
   * Makes {@code dir} ready for a {@link TrackerStore}: creates it with mode 0700 if it is missing,
   * else checks it (and leaves its mode alone).
   *
   * @throws CbtfsException as {@link #check}
   */
  public static void prepare(Path dir) throws IOException {
    check(dir);
    if (Files.exists(dir)) {
      return; // checked: a safe folder
    }
    try {
      Files.createDirectory(dir);
    } catch (FileAlreadyExistsException e) {
      check(dir); // made meanwhile by someone else: the same rules
      return;
    }
    // createDirectory's mode passes through the umask: set it, on the folder cbtfs just made
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
  }
}
