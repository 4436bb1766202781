package io.cbtfs.cli;

import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The {@code --overlay} folder, made 0700 if missing (it holds a VM's disk), and held by one mount
 * at a time: two mounts writing one overlay would each trust a block map the other changes.
 */
final class OverlayDirLock implements AutoCloseable {
  private static final String LOCK_NAME = ".cbtfs-overlay.lock";

  private final Path dir;
  private final FileChannel channel;
  private final FileLock lock;

  private OverlayDirLock(Path dir, FileChannel channel, FileLock lock) {
    this.dir = dir;
    this.channel = channel;
    this.lock = lock;
  }

  /**
   * Makes {@code dir} if missing and takes its lock.
   *
   * @throws CbtfsException when it is not a folder or another mount holds it
   */
  static OverlayDirLock take(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      Files.createDirectories(
          dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }
    if (!Files.isDirectory(dir)) {
      throw new CbtfsException("--overlay " + dir + " is not a folder");
    }
    return lock(dir.toRealPath(), "--overlay %s is in use by another cbtfs mount or a cbtfs adopt");
  }

  /**
   * Takes the lock of the existing overlay folder {@code dir}, for {@code cbtfs adopt}.
   *
   * @throws CbtfsException when a mount holds it
   */
  static OverlayDirLock takeUnmounted(Path dir) throws IOException {
    return lock(
        dir.toRealPath(),
        "the overlay in %s is in use: mounted (cbtfs mount --read-only ... --overlay) or being"
            + " adopted; unmount it, or let that adopt end");
  }

  private static OverlayDirLock lock(Path real, String heldFormat) throws IOException {
    FileChannel ch =
        FileChannel.open(
            real.resolve(LOCK_NAME), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    FileLock lock;
    try {
      lock = ch.tryLock();
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
    if (lock == null) {
      ch.close();
      throw new CbtfsException(String.format(heldFormat, real));
    }
    return new OverlayDirLock(real, ch, lock);
  }

  /** The folder, as its real path. */
  Path dir() {
    return dir;
  }

  @Override
  public void close() throws IOException {
    if (channel.isOpen()) {
      lock.release();
      channel.close();
    }
  }
}
